"""Inputs beyond what a file was trained on (issue 15 item 4) and the "labs add nothing"
headline (item 5), served: the single prediction, the batch, both APIs, the result page, the
course page and its download, and the model card, in both languages. Real tiny TorchScript
files (tests/model_files.py) whose manifests record trained ranges, in the real database."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape

import pytest
from django.test import Client
from django.utils import translation

from predictor.catalogue import CONTEXT_BOTH
from predictor.scoring.batch import BatchRow, predict_batch
from predictor.scoring.prediction import predict
from predictor.scoring.trained_ranges import SPARSE_GRADE_ROWS
from tests.conftest import CYTOKINES, install_model
from tests.model_files import tiny_model_bytes

pytestmark = pytest.mark.django_db
RANGES = {"rows": 900, "labs": {"il6": {"min": 1.0, "max": 5000.0}},
          "crs_grade": {"min": 0, "max": 4, "rows": {"0": 500, "1": 250, "2": 90, "3": 50,
                                                     "4": 9}},
          "day": {"min": 0, "max": 14}}
CYTO = {k: float(v) for k, v in CYTOKINES.items()}


def is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _install(h=1, *, labs_flag=None, ranges=RANGES):
    extra = {"trained_ranges": ranges} if ranges else {}
    flag = {} if labs_flag is None else {"labs_add_information": labs_flag}
    install_model(h, "4", context=CONTEXT_BOTH, bias=0.4, data=tiny_model_bytes(
        h, "4", context=CONTEXT_BOTH, bias=0.4, manifest_extra={**extra, **flag}))
    install_model(h, "0", context=CONTEXT_BOTH, bias=-0.3, data=tiny_model_bytes(
        h, "0", context=CONTEXT_BOTH, bias=-0.3, manifest_extra=extra))


def _one(context, values=CYTOKINES):
    return predict(values, [1], percent_input=False, context=context)[0]


# --- the day beyond the trained days ---------------------------------------------------------

def test_a_day_beyond_the_last_trained_day_is_answered_as_that_day_and_says_so():
    _install()
    late, last = _one({"crs_grade": 1, "day": 45}), _one({"crs_grade": 1, "day": 14})
    # the tiny model rises with the day: without the clamp day 45 would give more
    assert late.raw_probability == pytest.approx(last.raw_probability)
    assert late.no_lab_reference.raw_probability == pytest.approx(
        last.no_lab_reference.raw_probability)
    assert _one({"crs_grade": 1, "day": 10}).raw_probability < last.raw_probability
    [warning] = late.range_warnings
    assert (warning.code, warning.value, warning.used) == ("day_clamped", 45, 14)
    assert last.range_warnings == ()
    with translation.override("en"):
        assert "beyond the last day this model was trained on (day 14)" in str(warning.message)
    with translation.override("zh-hans"):
        assert is_chinese(str(warning.message)) and "14" in str(warning.message)


def test_the_reference_alone_clamps_the_day_too():
    _install()
    late = predict({}, [1], percent_input=False, context={"crs_grade": 0, "day": 60})[0]
    assert late.combination == "0"
    assert late.raw_probability == pytest.approx(
        predict({}, [1], percent_input=False, context={"crs_grade": 0, "day": 14})[0]
        .raw_probability)
    assert [w.code for w in late.range_warnings] == ["day_clamped"]


def test_a_grade_the_data_barely_hold_is_flagged_with_its_row_count():
    _install()
    sparse = _one({"crs_grade": 4, "day": 3})
    [warning] = sparse.range_warnings
    assert (warning.code, warning.value, warning.rows) == ("grade_sparse", 4, 9)
    assert 9 < SPARSE_GRADE_ROWS
    assert _one({"crs_grade": 3, "day": 3}).range_warnings == ()
    both = _one({"crs_grade": 4, "day": 30})
    assert [w.code for w in both.range_warnings] == ["grade_sparse", "day_clamped"]


def test_a_file_without_trained_ranges_is_served_as_before_without_warnings():
    _install(ranges=None)
    late, last = _one({"crs_grade": 1, "day": 45}), _one({"crs_grade": 1, "day": 14})
    assert late.raw_probability > last.raw_probability and late.range_warnings == ()


def test_the_batch_clamps_and_warns_exactly_as_one_prediction():
    _install()
    rows = [BatchRow(CYTO, {"crs_grade": 4, "day": 45}), BatchRow(CYTO, {"crs_grade": 1,
                                                                          "day": 3}),
            BatchRow({}, {"crs_grade": 0, "day": 50})]
    outcomes = predict_batch(rows, [1], percent_input=False)
    single = [_one({"crs_grade": 4, "day": 45}), _one({"crs_grade": 1, "day": 3}),
              predict({}, [1], percent_input=False, context={"crs_grade": 0, "day": 50})[0]]
    for outcome, want in zip(outcomes, single):
        [got] = outcome.predictions
        assert got.raw_probability == pytest.approx(want.raw_probability, abs=1e-6)
        assert got.probability == pytest.approx(want.probability)
        assert got.range_warnings == want.range_warnings


def _post(client, path, body, lang="en"):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       HTTP_ACCEPT_LANGUAGE=lang)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_apis_carry_the_warnings(lang):
    _install()
    client = Client()
    body = _post(client, "/api/v1/predict", {"values": CYTOKINES, "horizon": 1,
                                              "context": {"crs_grade": 4, "day": 45}}, lang).json()
    assert [w["code"] for w in body["range_warnings"]] == ["grade_sparse", "day_clamped"]
    assert body["range_warnings"][1]["used"] == 14
    for w in body["range_warnings"]:
        assert w["message"] in body["warnings"]
        assert is_chinese(w["message"]) == (lang == "zh-hans")
    batch = _post(client, "/api/v1/predict/batch", {"horizon": 1, "rows": [
        {"values": CYTOKINES, "context": {"crs_grade": 4, "day": 45}},
        {"values": CYTOKINES, "context": {"crs_grade": 1, "day": 2}}]}, lang).json()
    first, second = (r["predictions"][0] for r in batch["results"])
    assert first["warnings"] == body["warnings"][-2:]
    assert first["probability"] == pytest.approx(body["probability"])
    assert second["warnings"] == [] and second["range_warnings"] == []


def _result_text(response) -> str:
    match = re.search(r'<section id="result".*?</section>', response.content.decode(), re.S)
    assert match, "no result section"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", match.group(0))))


def test_the_result_page_shows_the_warnings_in_both_languages():
    _install()
    client = Client()
    form = {**CYTOKINES, "crs_grade": "4", "day": "45", "horizon": "1"}
    text = _result_text(client.post("/en/", form))
    assert "Day 45 is beyond the last day this model was trained on (day 14)" in text
    assert "Only 9 patient-days with CRS grade 4" in text
    chinese = _result_text(client.post("/zh-hans/", form))
    with translation.override("zh-hans"):
        want = str(_one({"crs_grade": 4, "day": 45}).range_warnings[1].message)
    assert want in chinese and is_chinese(want)


def test_the_course_page_and_its_download_carry_the_warnings():
    for h in (1, 2, 3):
        _install(h)
    client = Client()
    header = ["day", "CRS grade", *CYTOKINES]
    lines = ["\t".join(header)] + ["\t".join([str(d), "1", *CYTOKINES.values()])
                                   for d in (13, 14, 20)]
    page = client.post("/en/course/", {"text": "\n".join(lines) + "\n"})
    assert page.status_code == 200
    html = unescape(page.content.decode())
    assert "Day 20 is beyond the last day this model was trained on (day 14)" in html
    assert "Day 13 is beyond" not in html
    sheet = re.search(r'name="sheet" value="([^"]*)"', page.content.decode()).group(1)
    raw = client.post("/en/course/", {"sheet": unescape(sheet), "action": "course",
                                      "download": "csv"})
    table = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    notes = table[0].index("Notes")
    assert "Day 20 is beyond" in table[3][notes] and table[1][notes] == ""


# --- the labs add nothing: the reference leads --------------------------------------------------

def test_when_the_labs_add_nothing_the_headline_is_the_reference_and_the_labs_number_stays():
    _install(labs_flag=False, ranges=None)
    result = _one({"crs_grade": 1, "day": 4})
    ref = result.no_lab_reference
    assert result.labs_add_information is False
    assert (result.probability, result.interval) == (ref.probability, ref.interval)
    assert result.model_version == ref.model_version == "h1-0-ctx-v1"
    assert result.with_labs.model_version == "h1-4-ctx-v1"
    assert result.with_labs.probability != ref.probability  # a different file, another number
    assert result.labs_change == pytest.approx(result.with_labs.probability - ref.probability)
    body = _post(Client(), "/api/v1/predict", {"values": CYTOKINES, "horizon": 1,
                                               "context": {"crs_grade": 1, "day": 4}}).json()
    assert body["probability"] == pytest.approx(ref.probability)
    assert body["headline"] == "no_lab_reference"
    assert body["with_labs"]["probability"] == pytest.approx(result.with_labs.probability)
    assert body["labs_add_information"] is False and body["labs_note"]
    batch = _post(Client(), "/api/v1/predict/batch", {"horizon": 1, "rows": [
        {"values": CYTOKINES, "context": {"crs_grade": 1, "day": 4}}]}).json()
    [row] = batch["results"][0]["predictions"]
    assert row["probability"] == pytest.approx(ref.probability)
    assert row["with_labs"]["probability"] == pytest.approx(result.with_labs.probability)
    [outcome] = predict_batch([BatchRow(CYTO, {"crs_grade": 1, "day": 4})], [1],
                              percent_input=False)
    assert outcome.predictions[0].probability == pytest.approx(ref.probability)


def test_the_page_says_the_reference_leads_in_both_languages():
    _install(labs_flag=False, ranges=None)
    client = Client()
    form = {**CYTOKINES, "crs_grade": "1", "day": "4", "horizon": "1"}
    text = _result_text(client.post("/en/", form))
    assert "so the probability shown is the one without lab values" in text
    result = _one({"crs_grade": 1, "day": 4})
    assert f"The model with the labs gives {round(result.with_labs.probability * 100)}%" in text
    chinese = _result_text(client.post("/zh-hans/", form))
    assert "因此显示的是不含化验指标" in chinese


def test_a_context_file_without_the_flag_makes_neither_claim():
    _install(labs_flag=None, ranges=None)
    result = _one({"crs_grade": 1, "day": 4})
    assert result.labs_add_information is None and result.with_labs is None
    assert result.probability != result.no_lab_reference.probability
    body = _post(Client(), "/api/v1/predict", {"values": CYTOKINES, "horizon": 1,
                                               "context": {"crs_grade": 1, "day": 4}}).json()
    assert body["labs_add_information"] is None and body["labs_note"] is None
    assert body["headline"] == "model" and body["with_labs"] is None
    text = _result_text(Client().post("/en/", {**CYTOKINES, "crs_grade": "1", "day": "4",
                                               "horizon": "1"}))
    assert "do not change the estimate" not in text
    card = Client().get("/en/models/1/4/context/").content.decode()
    assert 'id="labs-add-information"' not in card


# --- the model card ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_the_card_shows_the_trained_ranges_and_labels_uploaded_figures(lang):
    _install()
    html = unescape(Client().get(f"/{lang}/models/1/4/context/").content.decode())
    days = re.search(r'<dd id="trained-days">(.*?)</dd>', html, re.S).group(1)
    grades = re.search(r'<dd id="trained-grades">(.*?)</dd>', html, re.S).group(1)
    assert "14" in days and "9" in grades and 'trained-grade-sparse' in grades
    assert 'class="notice notice-warning uploader-figures"' in html
    if lang == "en":
        assert "a later day is answered as day 14 (never extrapolated)" in days
        assert "the uploader's" in html
    else:
        assert is_chinese(days) and "上传者" in html
