"""One intake for every way in (predictor/inputs/intake.py): the same number and whole-number
readings, the live limits for sheets as for the form and the APIs, a ``%`` refused on a factor
that is no percentage everywhere, and a batch sheet failing per row as JSON rows do. Django test
client, real database, real tiny TorchScript files (tests/conftest.py)."""

from __future__ import annotations

import json
import math

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from predictor.inputs.intake import whole_number
from predictor.live_catalogue import forget_cached_catalogue
from predictor.models import Factor
from tests.conftest import CYTOKINES

pytestmark = pytest.mark.django_db
GLUCOSE = "Glucose is not a percentage"


@pytest.mark.parametrize("raw, expected", [
    (3, 3), (3.0, 3), ("3", 3), ("３", 3), (" 4 ", 4), ("4.0", 4),
    (3.5, None), (True, None), ("3%", None), ("1\n2", None), (math.nan, None),
    (math.inf, None), (-math.inf, None), (float("1e400"), None), (99, None), (-1, None),
    ("", None), (None, None), ([], None)])
def test_whole_number_reads_days_and_grades_one_way(raw, expected):
    assert whole_number(raw, 0, 60) == expected


def _glucose_sheet() -> str:
    header = "day\tglucose\t" + "\t".join(CYTOKINES)
    return f"{header}\n0\t5%\t" + "\t".join(CYTOKINES.values()) + "\n"


def test_five_percent_glucose_is_refused_on_the_form(client, tiny_models):
    response = client.post("/en/", dict(CYTOKINES, glucose="5%", horizon="1"))
    assert response.status_code == 200
    assert GLUCOSE in response.content.decode()


def test_five_percent_glucose_is_refused_by_the_api(client, tiny_models):
    response = client.post("/api/v1/predict?lang=en", content_type="application/json",
                           data=json.dumps({"values": dict(CYTOKINES, glucose="5%"),
                                            "horizon": 1}))
    assert response.status_code == 400
    assert GLUCOSE in response.json()["errors"]["glucose"][0]


def test_five_percent_glucose_fails_its_batch_row_alone(client, tiny_models):
    rows = [{"values": dict(CYTOKINES, glucose="5%")}, {"values": dict(CYTOKINES)}]
    response = client.post("/api/v1/predict/batch?lang=en", content_type="application/json",
                           data=json.dumps({"rows": rows, "horizon": 1}))
    first, second = response.json()["results"]
    assert GLUCOSE in first["errors"]["glucose"][0]
    assert "predictions" in second


def test_five_percent_glucose_is_refused_in_a_sheet_with_the_same_words(client, tiny_models):
    response = client.post("/en/course/", {"text": _glucose_sheet(), "action": "score"})
    assert GLUCOSE in response.content.decode()
    with translation.override("zh-hans"):
        response = client.post("/zh-hans/course/", {"text": _glucose_sheet(),
                                                    "action": "score"})
    assert "葡萄糖" in response.content.decode() and "不是百分比" in response.content.decode()


def _batch_sheet(client, text: str):
    upload = SimpleUploadedFile("c.csv", text.encode(), content_type="text/csv")
    return client.post("/api/v1/predict/batch?lang=en", {"sheet": upload, "horizon": "1"})


def test_a_batch_sheet_fails_per_row_like_json_rows(client, tiny_models):
    header = "day\t" + "\t".join(CYTOKINES)
    good = "\t".join(CYTOKINES.values())
    bad = good.replace(CYTOKINES["il6"], "abc", 1)
    response = _batch_sheet(client, f"{header}\n0\t{good}\n1\t{bad}\n2\t{good}\n")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert ["predictions" in r for r in results] == [True, False, True]
    assert results[1]["id"] == 3 and results[1]["status"] == 400
    assert list(results[1]["errors"]) == ["il6"]
    assert response.json()["summary"] == {"rows": 3, "scored": 2, "failed": 1}


def test_sheets_check_the_limits_an_admin_edited_like_the_form(client, tiny_models):
    header = "day\t" + "\t".join(CYTOKINES)
    values = dict(CYTOKINES, il6="300000")  # above the catalogue's 200,000 pg/mL
    text = f"{header}\n0\t" + "\t".join(values.values()) + "\n"
    refused = _batch_sheet(client, text).json()["results"][0]
    assert "il6" in refused["errors"]
    Factor.objects.filter(key="il6").update(hard_max=500_000)
    forget_cached_catalogue()
    accepted = _batch_sheet(client, text).json()["results"][0]
    assert "predictions" in accepted, accepted
    form = client.post("/en/", dict(CYTOKINES, il6="300000", horizon="1"))
    assert "outside the accepted range" not in form.content.decode()
    page = client.post("/en/course/", {"text": text, "action": "score"})
    assert "outside the accepted range" not in page.content.decode()
    Factor.objects.filter(key="il6").update(hard_max=100)
    forget_cached_catalogue()
    page = client.post("/en/course/", {"text": text, "action": "score"})
    assert "outside the accepted range" in page.content.decode()


def test_a_validation_sheet_fails_per_row_like_json_rows(client, tiny_models):
    header = "patient\tday\tcrs_grade\t" + "\t".join(CYTOKINES)
    good = "\t".join(CYTOKINES.values())
    bad = good.replace(CYTOKINES["il6"], "abc", 1)
    lines = [header] + [f"P{p}\t{d}\t{(p + d) % 5}\t{bad if (p, d) == (1, 2) else good}"
                        for p in range(4) for d in range(5)]
    upload = SimpleUploadedFile("c.csv", ("\n".join(lines) + "\n").encode())
    response = client.post("/api/v1/validate?lang=en", {"sheet": upload, "horizon": "1"})
    assert response.status_code == 200, response.content
    [failed] = response.json()["row_errors"]
    assert failed["status"] == 400 and list(failed["errors"]) == ["il6"]
    assert failed["id"] == 1 + 5 + 2 + 1  # the sheet row of P1's day 2


def test_a_validation_sheet_without_a_day_in_a_row_is_still_refused_whole(client, tiny_models):
    header = "patient\tday\t" + "\t".join(CYTOKINES)
    good = "\t".join(CYTOKINES.values())
    text = f"{header}\nP1\t0\t{good}\nP1\tx\t{good}\n"
    upload = SimpleUploadedFile("c.csv", text.encode())
    response = client.post("/api/v1/validate?lang=en", {"sheet": upload, "horizon": "1"})
    assert response.status_code == 400
    assert "day" in " ".join(response.json()["errors"]["sheet"]).lower()


CHECKS = ("check_values", "check_context", "parse_number", "whole_number")


def test_every_way_in_reads_its_values_through_the_intake_module():
    """No view, API, sheet or scoring module reaches past the intake for the checks: a second
    path that parses or checks values its own way is what let them disagree."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "predictor"
    behind = {"predictor.inputs.validation", "predictor.inputs.context"}
    allowed = {root / "inputs", root / "sheets"}  # the intake's own parts
    bypass = []
    for path in root.rglob("*.py"):
        if any(folder in path.parents for folder in allowed) or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in behind:
                names = {a.name for a in node.names} & set(CHECKS)
                if names:
                    bypass.append(f"{path.relative_to(root)}: {sorted(names)}")
    assert not bypass, bypass
