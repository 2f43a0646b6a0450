"""Clinical context (spec section 8): parsing, slot choice, the no-lab reference beside every
answer, intervals, the API and the prediction log, with real tiny TorchScript files of format
version 2 in the real database."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from django.test import Client
from django.utils import translation

from predictor.catalogue import CONTEXT_BOTH, panel_factor_keys
from predictor.inputs.context import NotAnInteger, check_context, parse_integer
from predictor.models import PredictionLog
from predictor.scoring.intervals import wilson_rate_interval
from predictor.scoring.prediction import InvalidInput, ModelOutputInvalid, ModelUnavailable, predict
from predictor.scoring.registry import REGISTRY
from tests.conftest import CYTOKINES, install_model
from tests.model_files import TinyModel, tiny_model_bytes

PREDICT = "/api/v1/predict"
CONTEXT = {"crs_grade": 1, "day": 4}


def is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def post(client: Client, body: dict, lang: str = "en"):
    return client.post(PREDICT, data=json.dumps(body), content_type="application/json",
                       HTTP_ACCEPT_LANGUAGE=lang)


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


# --- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (2, 2), (2.0, 2), ("2", 2), ("２", 2), (" 4 ", 4), ("4.0", 4), ("+3", 3), ("　３　", 3),
    ("", None), (None, None), ("  ", None)])
def test_it_reads_whole_numbers_in_every_shape_people_type(raw, expected):
    assert parse_integer(raw) == expected


@pytest.mark.parametrize("raw", [1.5, "1.5", "two", True, False, [1], {"a": 1}, "1e1", "4,0",
                                 float("nan"), float("inf"), "9" * 30])
def test_it_refuses_anything_that_is_not_a_whole_number(raw):
    with pytest.raises(NotAnInteger):
        parse_integer(raw)


def test_a_valid_context_is_parsed_to_integers():
    checked = check_context({"crs_grade": "２", "day": 4.0})
    assert checked.ok and checked.values == {"crs_grade": 2, "day": 4}


@pytest.mark.parametrize("raw", [None, {}, {"crs_grade": "", "day": " "},
                                 {"crs_grade": None, "day": None}])
def test_no_context_at_all_is_no_context(raw):
    checked = check_context(raw)
    assert checked.ok and checked.values is None


@pytest.mark.parametrize("raw, key", [
    ({"crs_grade": 5, "day": 4}, "crs_grade"), ({"crs_grade": -1, "day": 4}, "crs_grade"),
    ({"crs_grade": 1, "day": 61}, "day"), ({"crs_grade": 1, "day": -1}, "day"),
    ({"crs_grade": 1.5, "day": 4}, "crs_grade"), ({"crs_grade": 1, "day": "two"}, "day"),
    ({"crs_grade": True, "day": 4}, "crs_grade")])
def test_a_bad_or_out_of_range_value_is_refused_by_its_key(raw, key):
    checked = check_context(raw)
    assert not checked.ok and checked.values is None
    assert list(checked.errors) == [key]


def test_the_limits_themselves_are_accepted():
    assert check_context({"crs_grade": 0, "day": 0}).values == {"crs_grade": 0, "day": 0}
    assert check_context({"crs_grade": 4, "day": 60}).values == {"crs_grade": 4, "day": 60}


@pytest.mark.parametrize("raw", [{"crs_grade": 2}, {"day": 3}, {"crs_grade": "", "day": 3}])
@pytest.mark.parametrize("lang, word", [("en", "both"), ("zh-hans", "两")])
def test_one_without_the_other_is_refused_in_the_users_language(raw, lang, word):
    with translation.override(lang):  # as in a request: the request's language is active
        checked = check_context(raw)
        [message] = [str(m) for m in checked.errors["__all__"]]
    assert word in message
    assert is_chinese(message) == (lang == "zh-hans")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_range_messages_name_the_range_in_the_users_language(lang):
    with translation.override(lang):
        checked = check_context({"crs_grade": 7, "day": 99})
        grade = str(checked.errors["crs_grade"][0])
        day = str(checked.errors["day"][0])
    assert "0" in grade and "4" in grade and "60" in day
    assert is_chinese(grade) == is_chinese(day) == (lang == "zh-hans")


# --- predict(): slot choice ------------------------------------------------------------------

def test_with_context_the_labs_and_context_file_answers_with_the_reference_beside(
        tiny_context_models):
    [result] = predict(CYTOKINES, [1], percent_input=False, context={"crs_grade": "1", "day": 4})

    assert result.model_version == "h1-4-ctx-v1" and result.combination == "4"
    assert result.context == {"crs_grade": 1, "day": 4}
    ref = result.no_lab_reference
    assert ref is not None and ref.model_version == "h1-0-ctx-v1"
    model = REGISTRY.snapshot().get(1, "4", CONTEXT_BOTH)
    vector = [float(CYTOKINES[k]) for k in model.factor_keys] + [1.0, 4.0]
    assert result.raw_probability == pytest.approx(model.raw_probability(vector))
    assert result.labs_change == pytest.approx(result.probability - ref.probability)
    assert result.interval == model.calibration.lookup(result.raw_probability).interval
    reference_model = REGISTRY.snapshot().get(1, "0", CONTEXT_BOTH)
    assert ref.interval == reference_model.calibration.lookup(ref.raw_probability).interval
    assert result.context_gain is None and not result.context_model_missing


def test_the_context_values_go_after_the_labs_in_the_declared_order(db):
    # A file that declares day first: the site must feed (labs..., day, grade).
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH,
                            manifest_extra={"context_keys": ["day", "crs_grade"]})
    install_model(1, "4", data=data, context=CONTEXT_BOTH)
    model = REGISTRY.snapshot().get(1, "4", CONTEXT_BOTH)
    assert model.context_keys == ("day", "crs_grade")
    assert model.input_vector(CYTOKINES_FLOAT, {"crs_grade": 3, "day": 9})[-2:] == [9.0, 3.0]
    assert model.input_vector(CYTOKINES_FLOAT, {"crs_grade": 3, "day": 9})[:7] == [
        CYTOKINES_FLOAT[k] for k in panel_factor_keys(4)]


CYTOKINES_FLOAT = {k: float(v) for k, v in CYTOKINES.items()}


def test_without_context_the_labs_only_file_answers_with_the_gain_from_the_manifests(
        tiny_context_models):
    [result] = predict(CYTOKINES, [2], percent_input=False)

    assert result.model_version == "h2-4-v1" and result.context is None
    assert result.no_lab_reference is None and result.labs_change is None
    gain = result.context_gain
    # tests/model_files.manifest() gives every tiny file patient_cv auroc 0.5.
    assert gain.labs_only_auroc == 0.5 and gain.with_context_auroc == 0.5


def test_a_v1_file_still_serves_unchanged_next_to_v2_files(tiny_context_models):
    [without] = predict(CYTOKINES, [1], percent_input=False)
    model = REGISTRY.snapshot().get(1, "4")
    assert model.context_keys == () and model.manifest["format_version"] == 1
    assert without.raw_probability == pytest.approx(
        model.raw_probability([CYTOKINES_FLOAT[k] for k in panel_factor_keys(4)]))


def test_with_context_and_no_lab_value_the_reference_answers_alone(tiny_context_models):
    results = predict({}, [1, 2, 3], percent_input=False, context=CONTEXT)

    assert [r.combination for r in results] == ["0", "0", "0"]
    assert [r.model_version for r in results] == ["h1-0-ctx-v1", "h2-0-ctx-v1", "h3-0-ctx-v1"]
    assert all(r.no_lab_reference is None and r.context == CONTEXT for r in results)


def test_blank_form_fields_count_as_no_lab_value(tiny_context_models):
    [result] = predict({"il6": "", "crp": "  "}, [1], percent_input=True,
                       context={"crs_grade": "2", "day": "5"})
    assert result.combination == "0"


def test_with_context_a_few_labs_still_need_five_values(tiny_context_models):
    with pytest.raises(InvalidInput) as caught:
        predict({"il6": 40, "crp": 5}, [1], percent_input=False, context=CONTEXT)
    assert "__all__" in caught.value.errors


def test_without_context_and_without_labs_it_is_refused(tiny_context_models):
    with pytest.raises(InvalidInput):
        predict({}, [1], percent_input=False)


def test_context_and_value_errors_are_reported_together(tiny_context_models):
    with pytest.raises(InvalidInput) as caught:
        predict({**CYTOKINES, "il6": "lots"}, [1], percent_input=False,
                context={"crs_grade": 9, "day": 4})
    assert set(caught.value.errors) == {"il6", "crs_grade"}


def test_with_context_but_no_context_file_the_labs_only_file_answers_and_says_so(db):
    install_model(1, "4")
    install_model(1, "0", context=CONTEXT_BOTH)
    [result] = predict(CYTOKINES, [1], percent_input=False, context=CONTEXT)

    assert result.model_version == "h1-4-v1" and result.context_model_missing
    assert result.context == CONTEXT
    assert result.no_lab_reference.model_version == "h1-0-ctx-v1"


def test_with_context_but_no_reference_the_answer_comes_without_it(db):
    install_model(1, "4", context=CONTEXT_BOTH)
    [result] = predict(CYTOKINES, [1], percent_input=False, context=CONTEXT)
    assert result.model_version == "h1-4-ctx-v1" and result.no_lab_reference is None


def test_no_reference_installed_and_no_labs_gives_503(db):
    install_model(1, "4", context=CONTEXT_BOTH)
    with translation.override("en"), pytest.raises(ModelUnavailable) as caught:
        predict({}, [1], percent_input=False, context=CONTEXT)
    assert "no-lab reference" in str(caught.value)


def test_a_context_file_says_when_its_labs_add_nothing(db):
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH,
                            manifest_extra={"labs_add_information": False,
                                            "unused_factor_keys": ["il17a"]})
    install_model(1, "4", data=data, context=CONTEXT_BOTH)
    [result] = predict(CYTOKINES, [1], percent_input=False, context=CONTEXT)
    assert result.labs_add_information is False
    assert result.unused == ("il17a",)


def test_imputation_with_context_uses_the_context_files_medians(db):
    medians = {k: 1.0 for k in panel_factor_keys(4)}
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH, manifest_extra={"medians": medians})
    install_model(1, "4", data=data, context=CONTEXT_BOTH)
    values = {k: v for k, v in CYTOKINES.items() if k != "il17a"}
    values["crp"] = 5  # a fifth-plus value outside the combination is fine
    [result] = predict(values, [1], percent_input=False, context=CONTEXT)
    assert result.imputed == {"il17a": 1.0}


# --- exceptions inside a model ---------------------------------------------------------------

class RaisesOnHighValues(torch.nn.Module):
    """Fine on typical values, raises where a value is huge (as an upload could)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x > 1000.0).any()):
            raise RuntimeError("index out of range in self")
        return torch.zeros([x.shape[0], 2])


def test_a_model_that_raises_inside_forward_is_a_503_with_its_version_logged(
        db, client, caplog):
    install_model(1, "4", data=tiny_model_bytes(1, "4", module=RaisesOnHighValues()))
    high = {**CYTOKINES, "il6": 150000}

    with caplog.at_level(logging.ERROR, logger="predictor.scoring.prediction"):
        with pytest.raises(ModelOutputInvalid):
            predict(high, [1], percent_input=False)
        response = post(client, {"values": high, "horizon": 1})

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "h1-4-v1 gave no valid result" in response.json()["errors"]["__all__"][0]
    assert any("h1-4-v1" in r.getMessage() for r in caplog.records)
    assert post(client, {"values": CYTOKINES, "horizon": 1}).status_code == 200


class RaisesLateInTheCourse(torch.nn.Module):
    """A reference that loads and warms up (day 7) but raises from day 30 on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x[:, -1] > 30.0).any()):
            raise RuntimeError("day out of the fitted range")
        return torch.zeros([x.shape[0], 2])


def test_a_reference_model_that_raises_is_a_503_too(db, client):
    install_model(1, "4", context=CONTEXT_BOTH)
    install_model(1, "0", context=CONTEXT_BOTH, data=tiny_model_bytes(
        1, "0", context=CONTEXT_BOTH, module=RaisesLateInTheCourse()))
    late = {"crs_grade": 1, "day": 40}

    assert predict({}, [1], percent_input=False, context=CONTEXT)[0].combination == "0"
    with pytest.raises(ModelOutputInvalid):
        predict({}, [1], percent_input=False, context=late)
    response = post(client, {"values": CYTOKINES, "horizon": 1, "context": late})
    assert response.status_code == 503
    assert "h1-0-ctx-v1 gave no valid result" in response.json()["errors"]["__all__"][0]


# --- the API ---------------------------------------------------------------------------------

def test_the_api_answers_with_context_the_reference_and_intervals(client, tiny_context_models):
    response = post(client, {"values": CYTOKINES, "horizon": 1, "context": CONTEXT})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == "h1-4-ctx-v1" and body["context"] == CONTEXT
    lo, hi = body["interval"]
    assert 0 <= lo <= body["probability"] <= hi <= 1
    ref = body["no_lab_reference"]
    assert ref["model_version"] == "h1-0-ctx-v1"
    reference_model = REGISTRY.snapshot().get(1, "0", CONTEXT_BOTH)
    assert ref["interval"] == list(
        reference_model.calibration.lookup(ref["raw_probability"]).interval)
    assert (f"of the {ref['reference']['n']} reference patient-days with the nearest model "
            f"scores, {ref['reference']['severe']} developed severe CRS") in ref["explanation"]
    assert body["labs_change"] == pytest.approx(body["probability"] - ref["probability"])
    # the tiny files carry no labs_add_information: no claim either way (issue 15)
    assert body["labs_add_information"] is None and body["labs_note"] is None
    assert "context_note" not in body


def test_the_api_without_context_says_what_the_context_would_add(client, tiny_context_models):
    body = post(client, {"values": CYTOKINES, "horizon": 1}).json()
    assert body["context"] is None and "no_lab_reference" not in body
    assert body["context_gain"]["labs_only_auroc"] == 0.5
    assert "does not raise" in body["context_note"] and "0.50" in body["context_note"]
    zh = post(client, {"values": CYTOKINES, "horizon": 1}, lang="zh-hans").json()
    assert is_chinese(zh["context_note"])


def test_without_any_context_file_there_is_no_context_note(client, tiny_models):
    body = post(client, {"values": CYTOKINES, "horizon": 1}).json()
    assert body["context_note"] is None
    assert body["context_gain"]["with_context_auroc"] is None


def test_the_api_answers_the_reference_alone_without_values(client, tiny_context_models):
    body = post(client, {"horizon": "all", "context": {"crs_grade": 3, "day": 2}}).json()
    assert [p["combination"] for p in body["predictions"]] == ["0", "0", "0"]
    assert all(p["no_lab_reference"] is None for p in body["predictions"])


@pytest.mark.parametrize("context, key", [
    ([1, 4], "context"), ("1,4", "context"), ({"crs_grade": 1, "day": 4, "weight": 70}, "context"),
    ({"crs_grade": 1.5, "day": 4}, "crs_grade"), ({"crs_grade": 1, "day": 61}, "day"),
    ({"crs_grade": True, "day": 4}, "crs_grade"), ({"crs_grade": 1}, "__all__"),
    ({"day": 1}, "__all__")])
def test_the_api_refuses_a_bad_context_with_field_errors(client, tiny_context_models, context,
                                                         key):
    response = post(client, {"values": CYTOKINES, "horizon": 1, "context": context})
    assert response.status_code == 400
    assert key in response.json()["errors"]
    assert not PredictionLog.objects.exists()


def test_the_api_refuses_a_bad_context_in_chinese(client, tiny_context_models):
    response = post(client, {"values": CYTOKINES, "horizon": 1, "context": {"crs_grade": 1}},
                    lang="zh-hans")
    assert is_chinese(response.json()["errors"]["__all__"][0])
    response = post(client, {"values": CYTOKINES, "horizon": 1, "context": [1]}, lang="zh-hans")
    assert is_chinese(response.json()["errors"]["context"][0])


def test_the_catalogue_describes_the_context_inputs(client, db):
    body = client.get("/api/v1/catalogue?lang=en").json()
    inputs = {i["key"]: i for i in body["context"]["inputs"]}
    assert (inputs["crs_grade"]["min"], inputs["crs_grade"]["max"]) == (0, 4)
    assert (inputs["day"]["min"], inputs["day"]["max"]) == (0, 60)
    assert "both or neither" in body["context"]["rule"]


# --- intervals: K = 0, K = N, small N, through the API ---------------------------------------

def _baseline(rows: int, severe_top: int) -> str:
    """``rows`` scores spread over (0, 1); the ``severe_top`` highest are severe."""
    lines = ["probability,severe"]
    for i in range(rows):
        lines.append(f"{(i + 0.5) / rows:.4f},{1 if i >= rows - severe_top else 0}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("bias, rows, severe_top, expect", [
    (-20.0, 200, 40, "K=0"), (20.0, 200, 40, "K=N"), (0.0, 20, 10, "small N")])
def test_every_probability_carries_its_wilson_interval(client, db, bias, rows, severe_top,
                                                       expect):
    # A baseline without a patient column: the interval is the Wilson interval of the fitted
    # probability over the N nearest reference days, strictly inside (0, 1) even at K = 0 or N.
    baseline = _baseline(rows, severe_top)
    install_model(1, "4", data=tiny_model_bytes(1, "4", bias=bias, context=CONTEXT_BOTH,
                                                baseline=baseline), context=CONTEXT_BOTH)
    install_model(1, "0", data=tiny_model_bytes(1, "0", bias=bias, context=CONTEXT_BOTH,
                                                baseline=baseline), context=CONTEXT_BOTH)
    body = post(client, {"values": CYTOKINES, "horizon": 1, "context": CONTEXT}).json()

    for answer in (body, body["no_lab_reference"]):
        k, n = answer["reference"]["severe"], answer["reference"]["n"]
        lo, hi = answer["interval"]
        want = wilson_rate_interval(answer["probability"], n)
        assert (lo, hi) == pytest.approx((float(want[0]), float(want[1])))
        if expect == "K=0":
            assert k == 0 and 0 < lo and hi < 0.2
        elif expect == "K=N":
            assert k == n and hi < 1 and 0.7 < lo < 1
        else:
            assert n <= 20 and hi - lo > 0.3  # few reference days: a wide interval
        assert 0 < lo <= answer["probability"] <= hi < 1
        assert all(math.isfinite(v) for v in (lo, hi))


# --- the prediction log ----------------------------------------------------------------------

def test_the_log_records_the_context_and_the_reference_probability(client, tiny_context_models):
    body = post(client, {"values": CYTOKINES, "horizon": 1, "context": CONTEXT}).json()
    row = PredictionLog.objects.get()
    assert row.context == CONTEXT
    assert row.reference_probability == pytest.approx(body["no_lab_reference"]["probability"])
    assert row.model_version == "h1-4-ctx-v1"


def test_the_log_of_a_labs_only_answer_has_no_context(client, tiny_context_models):
    post(client, {"values": CYTOKINES, "horizon": 1})
    row = PredictionLog.objects.get()
    assert row.context is None and row.reference_probability is None


def test_the_log_of_the_reference_alone_keeps_its_probability(client, tiny_context_models):
    body = post(client, {"horizon": 2, "context": CONTEXT}).json()
    row = PredictionLog.objects.get()
    assert row.combination == "0" and row.context == CONTEXT
    assert row.reference_probability == pytest.approx(body["probability"])
    assert row.values["inputs"] == {}


# --- readiness -------------------------------------------------------------------------------

def test_readyz_covers_the_context_slots(client, tiny_context_models):
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["active"] == 39
    assert "h1-4-ctx" in body["loaded"] and "h3-0-ctx" in body["loaded"]


def test_readyz_names_a_context_slot_that_failed_to_load(client, tiny_context_models):
    from predictor.scoring.registry import Snapshot

    loaded = REGISTRY.snapshot()
    slot = (2, "0", CONTEXT_BOTH)
    broken = Snapshot(loaded.stamp, {k: v for k, v in loaded.models.items() if k != slot})
    REGISTRY._snapshot = broken  # what this process serves: everything but the reference
    REGISTRY._last_check = 1e18  # and no re-check before the probe
    try:
        body = client.get("/readyz?lang=en", HTTP_ACCEPT_LANGUAGE="en").json()
    finally:
        REGISTRY.reset()
    assert body["status"] == "unavailable"
    assert "h2-0-ctx" in " ".join(body["reasons"])


def test_a_context_file_of_the_wrong_width_fails_its_warm_up_and_is_not_served(db):
    # A labs-only width (7) in a context slot: the warm-up feeds 9 values.
    from predictor.model_versions.baselines import parse_baseline_csv
    from predictor.model_versions.versions import activate, record_version
    from tests.model_files import baseline_csv

    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH, width=7)
    activate(record_version(horizon=1, combination="4", context=CONTEXT_BOTH, data=data,
                            original_name="x.pt", manifest=None,
                            baseline=parse_baseline_csv(baseline_csv())))
    snapshot = REGISTRY.snapshot()
    assert snapshot.get(1, "4", CONTEXT_BOTH) is None
    assert (1, "4", CONTEXT_BOTH) in snapshot.failures
