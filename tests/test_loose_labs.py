"""Issue 16 item 1: with today's CRS grade and day, labs that complete no panel never block an
answer. The no-lab reference answers; every entered value is listed as used or not, with the
reason; the page and the API name the values that would complete a panel and what that model
adds (from its file's cross-validated figures). Real tiny TorchScript files, real database.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.test import Client
from django.utils import translation

from predictor.catalogue import CONTEXT_BOTH, FACTOR_KEYS, REFERENCE_COMBINATION, panel_factor_keys
from predictor.scoring import value_use as vu
from predictor.scoring.prediction import InvalidInput, predict
from tests.conftest import install_model
from tests.model_files import tiny_model_bytes
from tests.test_context_page import result_text

# What is on the chart this morning (the physician): no panel is complete.
LOOSE = {"il6": "48", "crp": "35", "ferritin": "900", "il10": "7.2", "ifn_gamma": "12"}
CONTEXT = {"crs_grade": "1", "day": "4"}
CARD_METRICS = {"metrics": {
    "patient_cv": {"auroc": 0.97},
    "patient_cv_new_onset": {"auroc": 0.966, "auprc": 0.438, "brier": 0.0261},
    "no_lab_reference_cv_new_onset": {"auroc": 0.939, "auprc": 0.426, "brier": 0.0281}}}


@pytest.fixture
def with_card_figures(tiny_context_models):
    """The cytokine labs + context file for tomorrow states its new-onset CV figures."""
    data = tiny_model_bytes(1, "4", bias=0.3, context=CONTEXT_BOTH, manifest_extra=CARD_METRICS)
    install_model(1, "4", data=data, context=CONTEXT_BOTH)
    return tiny_context_models


def test_loose_labs_with_grade_and_day_get_the_no_lab_reference(with_card_figures):
    [result] = predict(LOOSE, [1], percent_input=True, context=CONTEXT)
    [alone] = predict({}, [1], percent_input=True, context=CONTEXT)

    assert result.combination == REFERENCE_COMBINATION
    assert result.probability == alone.probability and result.interval == alone.interval
    assert {u.key: (u.used, u.reason) for u in result.value_use} == {
        k: (False, vu.NO_COMPLETE_PANEL) for k in LOOSE}
    assert set(result.ignored) == set(LOOSE)
    cytokines = result.completions[0]
    assert cytokines.combination == "4"
    assert set(cytokines.missing) == set(panel_factor_keys(4)) - set(LOOSE)
    assert cytokines.model.auprc == pytest.approx(0.438)
    assert cytokines.reference.auprc == pytest.approx(0.426)


def test_fewer_than_five_loose_labs_with_context_still_answer(tiny_context_models):
    [result] = predict({"crp": "35", "il6": "48"}, [2], percent_input=True, context=CONTEXT)
    assert result.combination == REFERENCE_COMBINATION and len(result.value_use) == 2


def test_without_context_loose_labs_still_name_the_missing_values(tiny_context_models):
    with translation.override("en"):
        with pytest.raises(InvalidInput) as raised:
            predict(LOOSE, [1], percent_input=True)
        message = str(raised.value.errors["__all__"][0])
    assert "No panel combination is complete" in message


def test_a_complete_panel_lists_used_and_outside_values(tiny_context_models):
    values = {k: "5" for k in panel_factor_keys(4)} | {"crp": "35", "ferritin": "900"}
    [result] = predict(values, [1], percent_input=True, context=CONTEXT)
    assert result.combination == "4" and result.completions == ()
    uses = {u.key: u.reason for u in result.value_use}
    assert uses["il6"] == vu.USED and uses["crp"] == vu.OUTSIDE_COMBINATION


@pytest.mark.parametrize(("language", "kind", "used_text", "gain"), [
    ("en", "The lab values entered complete no panel", "not used: it completes no panel",
     "AUPRC 0.44 with this model, 0.43 without labs"),
    ("zh-hans", "所填化验值未能补全任何一组指标", "未使用：它不能补全任何一组指标",
     "此模型 AUPRC 为 0.44，不用化验值为 0.43"),
])
def test_the_page_says_which_values_were_used_and_what_would_complete_a_panel(
        with_card_figures, language, kind, used_text, gain):
    response = Client().post(f"/{language}/", {**LOOSE, **CONTEXT, "horizon": "1",
                                               "units": "si"})
    assert response.status_code == 200
    text = result_text(response)
    assert kind in text and used_text in text and gain in text
    with translation.override(language):
        from predictor.live_catalogue import live_catalogue
        names = {k: str(f.name) for k, f in live_catalogue(None).by_key.items()}
    for key in LOOSE:
        assert names[key] in text
    assert names["il17a"] in text  # named as a value that would complete the cytokine panel


@pytest.mark.parametrize(("lang", "reason_word"), [("en", "completes no panel"),
                                                   ("zh-hans", "不能补全")])
def test_the_api_lists_value_use_and_completions(with_card_figures, lang, reason_word):
    body = {"values": {"il6": 48, "crp": 35, "ferritin": 900, "il10": 7.2, "ifn_gamma": 12},
            "context": {"crs_grade": 1, "day": 4}, "horizon": 1}
    response = Client().post(f"/api/v1/predict?lang={lang}", json.dumps(body),
                             content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["combination"] == REFERENCE_COMBINATION
    assert {u["key"] for u in data["value_use"]} == set(body["values"])
    assert all(not u["used"] and u["reason"] == vu.NO_COMPLETE_PANEL for u in data["value_use"])
    assert reason_word in data["value_use"][0]["reason_text"]
    first = data["completions"][0]
    assert first["combination"] == "4" and "il17a" in first["missing"]
    assert first["new_onset_cv"]["auprc"] == pytest.approx(0.438)


# --- the any-labs evaluation (predictor/training/any_labs.py) ------------------------------------

def test_loose_lab_masks_complete_no_panel_and_never_use_chloride():
    from predictor.training.any_labs import AnyLabsOptions, loose_lab_mask

    mask = loose_lab_mask(5000, np.random.default_rng(0), AnyLabsOptions(max_keep=0.9))
    for panel in (2, 3, 4):
        idx = [FACTOR_KEYS.index(k) for k in panel_factor_keys(panel)]
        assert not mask[:, idx].all(axis=1).any()
    assert not mask[:, FACTOR_KEYS.index("chloride")].any()
    assert mask.any(axis=1).all()


def test_any_labs_evaluation_runs_on_the_same_folds_and_applies_the_rule():
    from predictor.training.any_labs import (
        AnyLabsOptions,
        beats_reference,
        evaluate_any_labs,
        should_ship,
    )
    from predictor.training.data import cart_frame_to_cohort, horizon_rows
    from predictor.training.folds import patient_folds, patient_table
    from predictor.training.recipe import small_recipe
    from predictor.training.synthetic import cart_frame

    cart = cart_frame_to_cohort(cart_frame(40, seed=3))
    ids, ever = patient_table(cart.patient, cart.grade)
    result = evaluate_any_labs(horizon_rows(cart, 1), patient_folds(cart, 3, 0),
                               {int(p): bool(e) for p, e in zip(ids, ever)}, small_recipe(),
                               AnyLabsOptions(copies=2))
    for name in ("any_labs", "reference"):
        assert result[name]["new_onset"]["n"] == int((horizon_rows(cart, 1).grade_today < 3).sum())
    better = {"any_labs": {"new_onset": {"auprc": 0.5, "brier": 0.02}},
              "reference": {"new_onset": {"auprc": 0.4, "brier": 0.03}}}
    worse_brier = {"any_labs": {"new_onset": {"auprc": 0.5, "brier": 0.04}},
                   "reference": {"new_onset": {"auprc": 0.4, "brier": 0.03}}}
    assert beats_reference(better) and not beats_reference(worse_brier)
    assert not should_ship({"a": {1: better}, "b": {1: worse_brier}})
    assert should_ship({"a": {1: better, 2: better}})


# --- the batch path (course page, batch API) answers the same way --------------------------------

def test_batch_rows_with_loose_labs_and_context_get_the_reference_like_predict(
        with_card_figures):
    from predictor.scoring.batch import BatchRow, predict_batch

    values = {"il6": 48.0, "crp": 35.0, "ferritin": 900.0, "il10": 7.2, "ifn_gamma": 12.0}
    context = {"crs_grade": 1, "day": 4}
    [outcome, few, alone] = predict_batch(
        [BatchRow(values, context), BatchRow({"crp": 35.0}, context), BatchRow(values)], [1],
        percent_input=False)
    [single] = predict(values, [1], percent_input=False, context=context)
    [batch] = outcome.predictions
    assert batch.combination == REFERENCE_COMBINATION == single.combination
    assert batch.probability == pytest.approx(single.probability)
    assert batch.value_use == single.value_use and set(batch.ignored) == set(values)
    assert [c.combination for c in batch.completions] == [c.combination
                                                          for c in single.completions]
    assert few.predictions and few.predictions[0].combination == REFERENCE_COMBINATION
    assert not alone.predictions and alone.errors  # without context: still refused


def test_the_course_page_scores_loose_lab_days_with_the_reference(tiny_context_models):
    text = "day\tcrs_grade\til6\tcrp\tferritin\n3\t1\t48\t35\t900\n4\t1\t60\t50\t1200\n"
    response = Client().post("/en/course/", {"text": text})
    assert response.status_code == 200
    html = response.content.decode()
    assert "h1-0-ctx-v1" in html and "Why this row was not scored" not in html
