"""POST /api/v1/validate: the active models validated on a posted cohort, as JSON.

Real tiny TorchScript files (tests/conftest.py); the AUROC is checked against a brute-force
count over pairs of days computed here from the batch predictions, not from the module under
test.
"""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import Workbook

from predictor.scoring.batch import BatchRow, predict_batch
from tests.conftest import CYTOKINES

pytestmark = pytest.mark.django_db
URL = "/api/v1/validate"
CYTO = {k: float(v) for k, v in CYTOKINES.items()}


def _post(client, body, lang="en", **extra):
    return client.post(f"{URL}?lang={lang}", data=json.dumps(body),
                       content_type="application/json", **extra)


def mixed_cohort(n: int = 10, days: int = 7) -> list[dict]:
    """Patients whose IL-6 and grades overlap: neither labs nor grade separate perfectly."""
    rows = []
    for i in range(n):
        for d in range(days):
            grade = (i + d) % 5 if i % 3 else min(4, d // 2)
            il6 = 5 + 40 * ((i * 7 + d * 3) % 11)
            rows.append({"patient": f"P{i}", "day": d, "crs_grade": grade,
                         "values": dict(CYTO, il6=il6), "id": f"P{i}-{d}"})
    return rows


def brute_auroc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def test_the_report_matches_an_independent_count_on_a_mixed_cohort(client, tiny_context_models):
    rows = mixed_cohort()
    response = _post(client, {"rows": rows, "horizon": 2, "seed": 11})
    assert response.status_code == 200
    data = response.json()
    assert data["seed"] == 11 and data["resampling_unit"] == "patient"
    (report,) = data["horizons"]
    assert report["horizon"] == 2 and report["rows_total"] == 70
    # The last two days of each patient have no outcome day in the sheet.
    assert report["rows_scored"] == 50 and report["unscored"] == {"outcome_day_missing": 20}

    grade = {(r["patient"], r["day"]): r["crs_grade"] for r in rows}
    kept = [r for r in rows if (r["patient"], r["day"] + 2) in grade]
    outcomes = predict_batch([BatchRow(r["values"], {"crs_grade": r["crs_grade"],
                                                     "day": r["day"]}) for r in kept], [2],
                             percent_input=False)
    labels = [int(grade[(r["patient"], r["day"] + 2)] >= 3) for r in kept]
    models = [o.predictions[0].probability for o in outcomes]
    reference = [o.predictions[0].no_lab_reference.probability for o in outcomes]
    figures = report["all_rows"]
    assert figures["models"]["auroc"]["value"] == pytest.approx(brute_auroc(models, labels))
    assert figures["reference"]["auroc"]["value"] == pytest.approx(
        brute_auroc(reference, labels))
    brier = sum((p - y) ** 2 for p, y in zip(models, labels)) / len(labels)
    assert figures["models"]["brier"]["value"] == pytest.approx(brier)
    low, high = figures["models"]["auroc"]["low"], figures["models"]["auroc"]["high"]
    assert low <= figures["models"]["auroc"]["value"] <= high
    onset = report["new_onset"]["counts"]
    assert onset["rows"] == sum(r["crs_grade"] < 3 for r in kept)
    assert "outcome_day_missing" in data["reasons"] and data["row_errors"] == []


def test_a_row_the_models_cannot_score_is_counted_and_named_not_fatal(
        client, tiny_context_models):
    rows = mixed_cohort(4, 4)
    rows[1] = {**rows[1], "values": {**rows[1]["values"], "il6": "lots"}}
    data = _post(client, {"rows": rows, "horizon": 1}, lang="zh-hans").json()
    assert data["horizons"][0]["unscored"] == {"outcome_day_missing": 4, "no_prediction": 1}
    (error,) = data["row_errors"]
    assert error["index"] == 1 and error["id"] == "P0-1" and "il6" in error["errors"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["errors"]["il6"][0])


def test_the_same_seed_gives_the_same_report_and_another_seed_other_intervals(
        client, tiny_context_models):
    rows = mixed_cohort(8, 6)
    first = _post(client, {"rows": rows, "horizon": 1, "seed": 3}).json()
    again = _post(client, {"rows": rows, "horizon": 1, "seed": 3}).json()
    other = _post(client, {"rows": rows, "horizon": 1, "seed": 4}).json()
    assert first["horizons"] == again["horizons"]
    figures = [r["horizons"][0]["all_rows"]["models"] for r in (first, other)]
    assert figures[0]["auroc"]["value"] == figures[1]["auroc"]["value"]
    # A rank figure on 8 patients can land on the same percentiles by chance (calibrated
    # probabilities tie often); the Brier score's interval moves with any other resample.
    assert any((figures[0][m]["low"], figures[0][m]["high"])
               != (figures[1][m]["low"], figures[1][m]["high"]) for m in ("auroc", "brier"))


def test_a_separating_cohort_has_an_auroc_of_one_for_every_horizon(client, tiny_context_models):
    rows = [{"patient": f"P{i}", "day": d, "crs_grade": 3 if i % 2 else 0,
             "values": dict(CYTO, il6=20000 if i % 2 else 1)}
            for i in range(6) for d in range(5)]
    data = _post(client, {"rows": rows, "horizon": "all"}).json()
    assert [h["horizon"] for h in data["horizons"]] == [1, 2, 3]
    for h in data["horizons"]:
        assert h["rows_scored"] == 6 * (5 - h["horizon"])
        assert h["all_rows"]["models"]["auroc"] == {
            "value": 1.0, "low": 1.0, "high": 1.0, "resamples": h["all_rows"]["models"][
                "auroc"]["resamples"], "undefined": None, "interval_undefined": None}


def test_a_cohort_sheet_upload_gives_the_same_report_as_json_rows(client, tiny_context_models):
    rows = mixed_cohort(6, 5)
    book = Workbook()
    sheet = book.active
    sheet.append(["patient", "day", "crs_grade", *CYTOKINES])
    for r in rows:
        sheet.append([r["patient"], r["day"], r["crs_grade"], *r["values"].values()])
    data = io.BytesIO()
    book.save(data)
    upload = io.BytesIO(data.getvalue())
    upload.name = "cohort.xlsx"
    from_sheet = client.post(f"{URL}?lang=en", {"sheet": upload, "horizon": "3", "seed": "5"})
    assert from_sheet.status_code == 200, from_sheet.content
    from_json = _post(client, {"rows": rows, "horizon": 3, "seed": 5})
    assert from_sheet.json()["horizons"] == from_json.json()["horizons"]


def test_a_bad_row_is_a_400_naming_the_row_in_the_requested_language(
        client, tiny_context_models):
    rows = mixed_cohort(2, 3)
    rows[1] = {**rows[1], "patient": ""}
    rows[2] = {**rows[2], "day": 0}  # repeats day 0 of P0 (row 0)
    english = _post(client, {"rows": rows}, lang="en")
    chinese = _post(client, {"rows": rows}, lang="zh-hans")
    assert english.status_code == chinese.status_code == 400
    errors = english.json()["errors"]
    assert set(errors) == {"rows[1]", "rows[2]"}
    assert "patient" in errors["rows[1]"][0] and "repeated" in errors["rows[2]"][0]
    assert "重复" in chinese.json()["errors"]["rows[2]"][0]


@pytest.mark.parametrize("body, key, status", [
    ({"rows": []}, "rows", 400),
    ({"rows": [{"patient": "A", "day": 0, "values": CYTO}], "horizon": 9}, "horizon", 400),
    ({"rows": [{"patient": "A", "day": 0, "values": CYTO}], "seed": -1}, "seed", 400),
    ({"rows": [{"patient": "A", "day": 0, "values": CYTO}], "seed": "x"}, "seed", 400),
])
def test_a_request_wrong_as_a_whole_names_the_field(client, tiny_models, body, key, status):
    response = _post(client, body)
    assert response.status_code == status and key in response.json()["errors"]


def test_a_sheet_without_a_patient_column_or_not_json_is_refused(client, tiny_models, settings):
    upload = io.BytesIO(b"day,il6\n0,48\n")
    upload.name = "course.csv"
    response = client.post(f"{URL}?lang=en", {"sheet": upload})
    assert response.status_code == 400 and "patient" in response.json()["errors"]["sheet"][0]
    assert client.post(URL, data="x", content_type="text/plain").status_code == 415
    assert client.get(URL).status_code == 405
    settings.PRCRS_BATCH_MAX_ROWS = 2
    assert _post(client, {"rows": mixed_cohort(1, 3)}).status_code == 413


def test_over_the_rate_limit_the_validation_is_refused_with_429(
        client, tiny_context_models, settings):
    from predictor.access.rate_limits import LIMITER

    LIMITER.reset()
    settings.PRCRS_RATE_LIMITS = True
    settings.PRCRS_RATE_LIMIT_PREDICTIONS = 20  # 3 x 6 rows at one horizon fit once
    rows = mixed_cohort(3, 6)
    try:
        first = _post(client, {"rows": rows, "horizon": 1}, REMOTE_ADDR="192.0.2.82")
        second = _post(client, {"rows": rows, "horizon": 1}, REMOTE_ADDR="192.0.2.82")
    finally:
        LIMITER.reset()
    assert first.status_code == 200
    assert second.status_code == 429 and second["Retry-After"].isdigit()
    assert "__all__" in second.json()["errors"]
