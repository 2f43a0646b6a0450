"""POST /api/v1/predict/batch: many rows in one request, per-row results or per-row errors."""

from __future__ import annotations

import io
import json

import pytest

from predictor.models import PredictionLog
from tests.conftest import CYTOKINES

pytestmark = pytest.mark.django_db
URL = "/api/v1/predict/batch"
CYTO = {k: float(v) for k, v in CYTOKINES.items()}


def _post(client, body, lang="en", **extra):
    return client.post(f"{URL}?lang={lang}", data=json.dumps(body),
                       content_type="application/json", **extra)


def test_each_row_gets_its_own_predictions_or_its_own_errors(client, tiny_context_models):
    body = {"horizon": "all", "rows": [
        {"id": "a", "values": CYTO},
        {"id": "b", "values": {**CYTO, "il6": "x"}},
        {"id": "c", "values": CYTO, "context": {"crs_grade": 1, "day": 4}},
        {"id": "d", "context": {"crs_grade": 2, "day": 3}},
        "not an object",
    ]}
    response = _post(client, body)
    assert response.status_code == 200
    data = response.json()
    assert data["summary"] == {"rows": 5, "scored": 3, "failed": 2}
    results = data["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [len(r.get("predictions", [])) for r in results] == [3, 0, 3, 3, 0]
    assert results[1]["status"] == 400 and "il6" in results[1]["errors"]
    assert results[4]["status"] == 400 and "values" in results[4]["errors"]
    first = results[0]["predictions"][0]
    assert first["combination"] == "4" and first["interval"][0] <= first["probability"]
    assert first["probability"] <= first["interval"][1]
    with_context = results[2]["predictions"][0]
    assert with_context["no_lab_reference"]["model_version"] == "h1-0-ctx-v1"
    assert with_context["model_version"] == "h1-4-ctx-v1"
    assert results[3]["predictions"][0]["combination"] == "0"


def test_the_batch_answers_what_the_single_api_answers(client, tiny_context_models):
    row = {"values": CYTO, "context": {"crs_grade": 2, "day": 5}}
    single = client.post("/api/v1/predict", data=json.dumps({**row, "horizon": 2}),
                         content_type="application/json").json()
    batch = _post(client, {"rows": [row], "horizon": 2}).json()["results"][0]["predictions"][0]
    for key in ("probability", "interval", "model_version", "combination", "labs_change"):
        assert batch[key] == single[key], key
    assert batch["no_lab_reference"]["probability"] == single["no_lab_reference"]["probability"]


def test_every_kind_of_row_answers_what_the_single_api_answers(client, tiny_context_models):
    """The batch reads its answers from columns, the single API from prediction objects: for
    each kind of row (imputed, ignored, flagged, with context, reference alone) they agree."""
    one_missing = {k: v for k, v in CYTO.items() if k != "il6"}
    rows = [
        {"values": one_missing},  # il6 imputed from the file's median
        {"values": {**CYTO, "pt": 12.0}},  # a lone panel-1 value the cytokine file ignores
        # flagged: unusual even for CAR-T patients (4000 pg/mL is not, issue 16)
        {"values": {**CYTO, "il6": 40000.0}, "context": {"crs_grade": 2, "day": 5}},
        {"context": {"crs_grade": 1, "day": 2}},  # the no-lab reference alone
        {"values": one_missing, "context": {"crs_grade": 0, "day": 9}},
    ]
    results = _post(client, {"rows": rows, "horizon": "all"}).json()["results"]
    for row, result in zip(rows, results):
        single = client.post("/api/v1/predict", data=json.dumps({**row, "horizon": "all"}),
                             content_type="application/json").json()
        assert len(result["predictions"]) == len(single["predictions"]) == 3, row
        for got, want in zip(result["predictions"], single["predictions"]):
            for key in ("horizon", "combination", "probability", "interval", "reference",
                        "model_version", "ignored", "unused", "imputed"):
                assert got[key] == want[key], (row, key)
            assert got.get("context") == want["context"]
            assert got["raw_probability"] == pytest.approx(want["raw_probability"], abs=1e-6)
            assert len(got["flagged"]) == len(want["warnings"]), row
            if want["context"] is not None:
                for key in ("labs_change", "labs_add_information"):
                    assert got[key] == want[key], (row, key)
                if want["no_lab_reference"] is None:
                    assert got["no_lab_reference"] is None
                else:
                    for key in ("probability", "interval", "reference", "model_version"):
                        assert got["no_lab_reference"][key] == want["no_lab_reference"][key]
    assert results[0]["predictions"][0]["imputed"] == ["il6"]
    assert results[1]["predictions"][0]["ignored"] == ["pt"]
    assert results[2]["predictions"][0]["flagged"] == ["il6"]
    assert results[3]["predictions"][0]["combination"] == "0"


def test_row_errors_come_in_the_requested_language(client, tiny_models):
    body = {"rows": [{"values": {**CYTO, "il6": "abc"}}], "horizon": 1}
    english = _post(client, body, lang="en").json()["results"][0]["errors"]["il6"][0]
    chinese = _post(client, body, lang="zh-hans").json()["results"][0]["errors"]["il6"][0]
    assert english != chinese and any("\u4e00" <= ch <= "\u9fff" for ch in chinese)


@pytest.mark.parametrize("body, key", [
    ({"horizon": 1}, "rows"),
    ({"rows": [], "horizon": 1}, "rows"),
    ({"rows": {"values": CYTO}, "horizon": 1}, "rows"),
    ({"rows": [{"values": CYTO}], "horizon": 7}, "horizon"),
])
def test_a_request_wrong_as_a_whole_is_a_400_naming_the_field(client, tiny_models, body, key):
    response = _post(client, body)
    assert response.status_code == 400 and key in response.json()["errors"]


def test_more_rows_than_the_limit_are_refused_whole(client, tiny_models, settings):
    settings.PRCRS_BATCH_MAX_ROWS = 3
    response = _post(client, {"rows": [{"values": CYTO}] * 4, "horizon": 1})
    assert response.status_code == 413
    assert "3" in response.json()["errors"]["rows"][0]


def test_not_json_is_415_and_broken_json_is_400(client, tiny_models):
    assert client.post(URL, data="rows=1", content_type="text/plain").status_code == 415
    broken = client.post(URL, data="{\"rows\": [", content_type="application/json")
    assert broken.status_code == 400 and "__all__" in broken.json()["errors"]


def test_a_batch_larger_than_the_single_apis_body_limit_is_accepted(client, tiny_models, settings):
    rows = [{"id": i, "values": CYTO} for i in range(800)]
    body = json.dumps({"rows": rows, "horizon": 1})
    assert len(body) > settings.PRCRS_API_MAX_BODY_BYTES
    response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["summary"]["scored"] == 800


def test_a_body_over_the_batch_limit_is_413(client, tiny_models, settings):
    settings.PRCRS_BATCH_MAX_BODY_BYTES = 1000
    response = _post(client, {"rows": [{"values": CYTO}] * 40, "horizon": 1})
    assert response.status_code == 413


def test_scored_rows_are_logged_once_per_horizon_and_failed_rows_are_not(client, tiny_models):
    _post(client, {"rows": [{"values": CYTO}, {"values": {"il6": 1}}], "horizon": "all"})
    assert PredictionLog.objects.count() == 3


def test_a_sheet_upload_is_scored_row_by_row(client, tiny_context_models):
    lines = ["day\tcrs_grade\t" + "\t".join(CYTO),
             "0\t0\t" + "\t".join(str(v) for v in CYTO.values()),
             "1\t1\t" + "\t".join(str(v) for v in CYTO.values())]
    sheet = io.BytesIO(("\n".join(lines) + "\n").encode())
    sheet.name = "course.csv"
    response = client.post(f"{URL}?lang=en", data={"sheet": sheet, "horizon": "1"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["summary"]["scored"] == 2
    assert data["results"][1]["predictions"][0]["context"] == {"crs_grade": 1, "day": 1}


def test_an_uploaded_sheet_stays_in_memory(client, tiny_models, settings, tmp_path):
    # Were Django to spill the upload into a temporary file, this folder does not exist.
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "no-such-folder")
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 16
    lines = ["day\t" + "\t".join(CYTO), "0\t" + "\t".join(str(v) for v in CYTO.values())]
    sheet = io.BytesIO(("\n".join(lines) + "\n").encode())
    sheet.name = "course.csv"
    response = client.post(f"{URL}?lang=en", data={"sheet": sheet, "horizon": "1"})
    assert response.status_code == 200, response.content
    assert response.json()["summary"]["scored"] == 1


def test_a_sheet_that_cannot_be_read_is_a_400_that_says_why(client, tiny_models):
    png = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    png.name = "course.xlsx"
    response = client.post(f"{URL}?lang=en", data={"sheet": png, "horizon": "1"})
    assert response.status_code == 400 and response.json()["errors"]["sheet"]
