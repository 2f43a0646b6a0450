"""Why this number (issue 16, item 2): the contribution of each entered value, in points on the
calibrated scale, checked against real TorchScript files whose answer is known: a file whose
output depends on IL-6 alone (every other value must contribute exactly 0, IL-6 the whole
change), a no-lab reference that depends on the CRS grade alone, a file that fails on batches.
Then the API (always), the page, the course table and the batch API (on request), in both
languages."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from html import unescape
from pathlib import Path

import numpy as np
import pytest
import torch
from django.test import Client

from predictor.catalogue import CONTEXT_BOTH, REFERENCE_COMBINATION
from predictor.explanations.contributions import CONTEXT_REFERENCE, change_matrix, explain
from predictor.explanations.for_predictions import explain_all
from predictor.scoring.prediction import predict
from predictor.scoring.registry import REGISTRY
from tests.conftest import CYTOKINES, install_model
from tests.model_files import tiny_model_bytes

pytestmark = pytest.mark.django_db
LN9 = math.log(9.0)
IL6_MEDIAN = 5.2


class OneInput(torch.nn.Module):
    """Severe logit = scale * (x[:, index] - centre): the raw probability is 0.9 at
    centre + ln 9 / scale and 0.1 at centre - ln 9 / scale; every other input is ignored."""

    def __init__(self, index: int, centre: float, scale: float):
        super().__init__()
        self.index, self.centre, self.scale = index, centre, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.scale * (x[:, self.index] - self.centre)
        return torch.stack([torch.zeros_like(z), z], dim=1)


class FailsOnBatches(torch.nn.Module):
    """Answers one row, raises on more: the contributions' batched forward fails."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.size(0) > 1:
            raise RuntimeError("one row at a time")
        return torch.stack([torch.zeros_like(x[:, 0]), torch.log1p(x[:, 2])], dim=1)


class ScoresItsBatchSize(torch.nn.Module):
    """Severe logit = the number of rows in the forward: the raw score says which forward gave
    it (one row alone: sigmoid(1); the row with k perturbed copies: sigmoid(1 + k))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.zeros_like(x[:, 0]) + float(x.size(0))
        return torch.stack([torch.zeros_like(z), z], dim=1)


def batch_score(rows: int) -> float:
    return 1 / (1 + math.exp(-rows))


def step_baseline(rows: int = 200) -> str:
    """Scores spread over (0, 1), severe exactly above 0.5: calibrated near 0 % at a raw 0.1 and
    near 100 % at a raw 0.9 (every window there lies on one side of 0.5; the calibration never
    says exactly 0 or 1, so the whole swing is ``swing_points`` of the file's own map)."""
    lines = ["probability,severe"]
    for i in range(rows):
        p = (i + 0.5) / rows
        lines.append(f"{p:.4f},{int(p > 0.5)}")
    return "\n".join(lines) + "\n"


def install_il6_only(horizon: int = 1):
    # IL-6 is input 2 of the cytokine panel; 48 pg/mL -> raw 0.9, the median 5.2 -> raw 0.1.
    centre = (48 + IL6_MEDIAN) / 2
    module = OneInput(2, centre, LN9 / (48 - centre))
    medians = {"il2": 3.7, "il4": 3.6, "il6": IL6_MEDIAN, "il10": 3.8, "tnf_alpha": 3.9,
               "ifn_gamma": 4.9, "il17a": 4.55}
    return install_model(horizon, "4", data=tiny_model_bytes(
        horizon, "4", module=module, baseline=step_baseline(),
        manifest_extra={"medians": medians}))


def swing_points(horizon: int = 1, combination: str = "4", context: str = "") -> float:
    """The known answer: points between the calibrated raw 0.9 and raw 0.1 of the file."""
    lookup = REGISTRY.snapshot().get(horizon, combination, context).calibration.lookup
    swing = 100 * (lookup(0.9).probability - lookup(0.1).probability)
    assert swing > 90  # the step baseline puts nearly the whole scale between the two
    return swing


def install_grade_only_reference(horizon: int = 1):
    # Input 0 of the reference is the CRS grade: grade 3 -> raw 0.9, grade 0 -> raw 0.1.
    module = OneInput(0, 1.5, LN9 / 1.5)
    return install_model(horizon, REFERENCE_COMBINATION, context=CONTEXT_BOTH, data=tiny_model_bytes(
        horizon, REFERENCE_COMBINATION, module=module, baseline=step_baseline(),
        context=CONTEXT_BOTH))


# --- the known answers -----------------------------------------------------------------------

def test_a_file_that_reads_il6_alone_gets_the_whole_change_on_il6_and_zero_elsewhere(db):
    install_il6_only()
    [result] = predict(CYTOKINES, [1], percent_input=True)
    assert result.combination == "4" and result.probability > 0.95
    first, *rest = result.contributions
    assert (first.key, first.value, first.reference) == ("il6", 48.0, IL6_MEDIAN)
    # IL-6 48 gives the top of the map, IL-6 5.2 (the median) its bottom: the whole swing.
    assert first.points == pytest.approx(swing_points())
    assert [c.points for c in rest] == [0.0] * 6
    # Ties keep the catalogue order, so the list reads the same every time.
    assert [c.key for c in rest] == ["il2", "il4", "il10", "tnf_alpha", "ifn_gamma", "il17a"]


def test_a_value_at_the_training_median_contributes_nothing(db):
    install_il6_only()
    [result] = predict({**CYTOKINES, "il6": str(IL6_MEDIAN)}, [1], percent_input=True)
    assert all(c.points == 0.0 for c in result.contributions)


def test_a_lowering_value_has_a_negative_change(db):
    install_il6_only()
    # The same file with a median of 48: IL-6 5.2 takes the estimate from 100 % to 0 %.
    model = REGISTRY.snapshot().get(1, "4")
    vector = [3.1, 2.5, IL6_MEDIAN, 7.2, 4.4, 12.0, 6.0]
    high_median = replace(model, medians={**model.medians, "il6": 48.0})
    [first, *_] = explain(high_median, vector)
    assert (first.key, first.points) == ("il6", pytest.approx(-swing_points()))


def test_the_crs_grade_and_the_day_are_explained_for_the_no_lab_reference(db):
    install_grade_only_reference()
    [result] = predict({}, [1], percent_input=True, context={"crs_grade": 3, "day": 4})
    assert result.combination == REFERENCE_COMBINATION
    by_key = {c.key: c for c in result.contributions}
    assert set(by_key) == {"crs_grade", "day"}
    assert by_key["crs_grade"].reference == CONTEXT_REFERENCE["crs_grade"]
    assert by_key["crs_grade"].points == pytest.approx(
        swing_points(1, REFERENCE_COMBINATION, CONTEXT_BOTH))
    assert by_key["day"].points == 0.0
    assert result.contributions[0].key == "crs_grade"


def test_imputed_and_unused_values_are_not_listed_as_entered(tiny_models):
    blood = {"rbc": "3.1", "hemoglobin": "95", "wbc": "4.2", "neutrophil_pct": "60",
             "neutrophil_count": "2.5", "lymphocyte_pct": "25", "lymphocyte_count": "1.0",
             "platelets": "150", "monocyte_pct": "8"}  # monocyte_count missing: imputed
    [result] = predict(blood, [1], percent_input=True)
    assert "monocyte_count" in result.imputed
    keys = {c.key for c in result.contributions}
    assert keys == set(blood)


def test_a_file_that_fails_on_the_batched_forward_still_answers_without_contributions(db):
    install_model(1, "4", data=tiny_model_bytes(1, "4", module=FailsOnBatches()))
    [result] = predict(CYTOKINES, [1], percent_input=True)
    assert 0 <= result.probability <= 1 and result.contributions == ()


def test_a_prediction_takes_its_score_from_the_forward_that_explains_it(db):
    install_model(1, "4", data=tiny_model_bytes(1, "4", module=ScoresItsBatchSize()))
    [result] = predict(CYTOKINES, [1], percent_input=True)
    assert len(result.contributions) == 7  # every cytokine differs from the file's medians
    # One forward of the row and its 7 perturbed copies: no second forward of the row alone.
    assert result.raw_probability == pytest.approx(batch_score(8))
    [alone] = predict(CYTOKINES, [1], percent_input=True, explain=False)
    assert alone.raw_probability == pytest.approx(batch_score(1)) and alone.contributions == ()


def test_only_the_file_whose_number_leads_is_explained(db):
    # The labs + context file says its labs add nothing: the reference's number leads, and only
    # the reference is explained (grade and day: two perturbed copies), in that same forward.
    install_model(1, "4", context=CONTEXT_BOTH, data=tiny_model_bytes(
        1, "4", module=ScoresItsBatchSize(), context=CONTEXT_BOTH,
        manifest_extra={"labs_add_information": False}))
    install_model(1, REFERENCE_COMBINATION, context=CONTEXT_BOTH, data=tiny_model_bytes(
        1, REFERENCE_COMBINATION, module=ScoresItsBatchSize(), context=CONTEXT_BOTH))
    [result] = predict(CYTOKINES, [1], percent_input=True, context={"crs_grade": 2, "day": 5})
    assert result.with_labs is not None
    assert result.with_labs.raw_probability == pytest.approx(batch_score(1))
    assert result.raw_probability == pytest.approx(batch_score(3))
    assert {c.key for c in result.contributions} == {"crs_grade", "day"}


def test_the_batched_form_gives_the_same_answer_as_one_at_a_time(tiny_context_models):
    rows = [dict(CYTOKINES, il6=str(v)) for v in (2, 48, 900)]
    single = [predict(r, [2], percent_input=True, context={"crs_grade": 1, "day": 4})[0]
              for r in rows]
    together = explain_all(REGISTRY.snapshot(), single)
    for one, both in zip(single, together):
        assert [(c.key, round(c.change, 12)) for c in one.contributions] == \
            [(c.key, round(c.change, 12)) for c in both]
    model = REGISTRY.snapshot().get(2, "4", CONTEXT_BOTH)
    vectors = np.array([model.input_vector(p.inputs, p.context) for p in single], np.float32)
    assert change_matrix(model, vectors).shape == (3, model.width)


def test_the_context_reference_values_are_the_development_medians():
    sheet = Path(__file__).resolve().parents[2] / "shared" / "data" / "prcrs-public" / "CAR-T.xlsx"
    if not sheet.exists():
        pytest.skip(f"public dataset not found at {sheet}")
    from predictor.training.data import horizon_rows, load_cart

    rows = horizon_rows(load_cart(sheet), 1)
    assert CONTEXT_REFERENCE == {"crs_grade": float(np.median(rows.grade_today)),
                                 "day": float(np.median(rows.day))}


# --- where it is shown -----------------------------------------------------------------------

def post_json(client: Client, url: str, body: dict, lang: str):
    return client.post(f"{url}?lang={lang}", data=json.dumps(body),
                       content_type="application/json")


@pytest.mark.parametrize("lang, text, name", [
    ("en", "IL-6 48 pg/mL raised the estimate by {} points", "IL-6"),
    ("zh-hans", "白细胞介素-6 (IL-6) 48 pg/mL 使估计值升高 {} 个百分点", "白细胞介素-6 (IL-6)")])
def test_the_api_always_carries_the_contributions_in_the_request_language(client, lang, text,
                                                                          name):
    install_il6_only()
    data = post_json(client, "/api/v1/predict", {"values": CYTOKINES, "horizon": 1}, lang).json()
    first = data["contributions"][0]
    assert first["name"] == name
    swing = swing_points()
    assert first["key"] == "il6" and first["reference"] == 5.2
    assert first["points"] == pytest.approx(swing, abs=0.05)
    assert text.format(round(swing)) in first["text"]
    assert [c["points"] for c in data["contributions"][1:]] == [0.0] * 6


def page_text(html: str) -> str:
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.mark.parametrize("lang, title, text, small", [
    ("en", "Why this number", "IL-6 48 pg/mL raised the estimate by {} points",
     "Changed it by less than 1 point: IL-2 3.1 pg/mL"),
    ("zh-hans", "为什么是这个数值", "48 pg/mL 使估计值升高 {} 个百分点", "影响不足 1 个百分点：")])
def test_the_result_page_says_why_in_the_page_language(client, lang, title, text, small):
    install_il6_only()
    html = client.post(f"/{lang}/", {**CYTOKINES, "horizon": "1"}).content.decode()
    found = page_text(html)
    assert title in found and text.format(round(swing_points())) in found and small in found


def test_the_batch_api_adds_contributions_only_on_request(client, tiny_context_models):
    rows = [{"values": CYTOKINES}, {"values": CYTOKINES, "context": {"crs_grade": 2, "day": 5}},
            {"values": {"il6": "x"}}]
    plain = post_json(client, "/api/v1/predict/batch", {"rows": rows, "horizon": "all"}, "en")
    assert all("contributions" not in p for r in plain.json()["results"]
               for p in r.get("predictions", []))
    asked = post_json(client, "/api/v1/predict/batch",
                      {"rows": rows, "horizon": "all", "contributions": True}, "zh-hans").json()
    results = asked["results"]
    assert "errors" in results[2]
    single = post_json(client, "/api/v1/predict",
                       {"values": CYTOKINES, "horizon": "all",
                        "context": {"crs_grade": 2, "day": 5}}, "zh-hans").json()
    for batch_p, single_p in zip(results[1]["predictions"], single["predictions"]):
        assert [(c["key"], c["points"]) for c in batch_p["contributions"]] == \
            [(c["key"], c["points"]) for c in single_p["contributions"]]
    assert {c["key"] for c in results[1]["predictions"][0]["contributions"]} == \
        set(CYTOKINES) | {"crs_grade", "day"}


@pytest.mark.parametrize("lang, label", [("en", "Largest changes, in points:"),
                                         ("zh-hans", "影响最大的数值（百分点）：")])
def test_the_course_table_shows_the_largest_changes(client, lang, label):
    for horizon in (1, 2, 3):  # a course is scored at every horizon
        install_il6_only(horizon)
    text = "\t".join(["day", *CYTOKINES]) + "\n" + "\t".join(["0", *CYTOKINES.values()]) + "\n"
    html = client.post(f"/{lang}/course/", {"text": text}).content.decode()
    found = page_text(html)
    assert f"{label} " in found and f"48 pg/mL +{round(swing_points())}" in found


def test_a_file_uploaded_without_a_manifest_is_explained_from_the_typical_ranges(db):
    """No training medians: each value is replaced by the middle of its typical range."""
    from predictor.catalogue import FACTORS_BY_KEY

    install_model(1, "4", data=tiny_model_bytes(1, "4", with_manifest=False))
    [result] = predict(CYTOKINES, [1], percent_input=True)
    assert {c.key for c in result.contributions} == set(CYTOKINES)
    il6 = next(c for c in result.contributions if c.key == "il6")
    assert il6.reference == sum(FACTORS_BY_KEY["il6"].typical) / 2
