"""Published bedside scores (spec section 11): m-EASIX and EASIX from the catalogue's units, shown
on the page and in the API wherever their three values are entered (whatever the panels), always
as published scores with their source; evaluated on the same patient-level folds as the models
and compared on the model cards from the JSON the pipeline writes."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from predictor.bedside_scores.evaluation import (
    FILE_NAME,
    evaluate_bedside_scores,
    write_bedside_evaluation,
)
from predictor.bedside_scores.scores import bedside_scores, easix, m_easix
from predictor.catalogue import FACTOR_KEYS
from predictor.training import synthetic
from predictor.training.data import cart_frame_to_cohort, horizon_rows
from predictor.training.folds import fold_vector, patient_folds
from tests.conftest import CYTOKINES, install_model

# CRP 80 mg/L = 8 mg/dL and creatinine 88.42 umol/L = 1 mg/dL: m-EASIX 240 x 8 / 60 = 32,
# EASIX 240 x 1 / 60 = 4.
BEDSIDE = {"ldh": "240", "crp": "80", "platelets": "60"}


def test_the_formulas_convert_the_catalogue_units_first():
    assert m_easix(240.0, 80.0, 60.0) == pytest.approx(32.0)
    assert easix(240.0, 88.42, 60.0) == pytest.approx(4.0)


def test_each_score_needs_its_own_three_values_and_a_platelet_count_above_zero():
    both = bedside_scores({"ldh": 240.0, "crp": 80.0, "platelets": 60.0, "creatinine": 88.42})
    assert [(s.score.key, round(s.value, 9)) for s in both] == [("m_easix", 32.0),
                                                                 ("easix", 4.0)]
    assert both[0].log2 == pytest.approx(5.0) and both[1].log2 == pytest.approx(2.0)
    assert dict(both[0].inputs) == {"ldh": 240.0, "crp": 80.0, "platelets": 60.0}
    assert [s.score.key for s in bedside_scores({"ldh": 240.0, "crp": 80.0})] == []
    assert bedside_scores({"ldh": 240.0, "crp": 80.0, "platelets": 0.0}) == ()
    zero = bedside_scores({"ldh": 240.0, "crp": 0.0, "platelets": 60.0})
    assert zero[0].value == 0.0 and zero[0].log2 is None


# --- page and API ----------------------------------------------------------------------------

def post_api(client, body: dict, lang: str):
    return client.post(f"/api/v1/predict?lang={lang}", data=json.dumps(body),
                       content_type="application/json")


@pytest.mark.parametrize("lang, note", [
    ("en", "A published score, not this site's model"),
    ("zh-hans", "已发表的评分，并非本网站的模型")])
def test_the_api_carries_the_scores_the_values_allow_with_their_source(client, tiny_models,
                                                                      lang, note):
    # Cytokines complete panel 4; LDH, CRP and platelets complete no panel and are ignored by
    # the model, but the scores still use them.
    data = post_api(client, {"values": {**CYTOKINES, **BEDSIDE}, "horizon": 1}, lang).json()
    assert data["combination"] == "4"
    [score] = data["bedside_scores"]
    assert score["key"] == "m_easix" and score["value"] == pytest.approx(32.0)
    assert score["log2"] == pytest.approx(5.0)
    assert score["inputs"] == {"ldh": 240.0, "crp": 80.0, "platelets": 60.0}
    assert "Blood Adv. 2021;5(17):3397-3406" in score["source"]
    assert note in score["note"]
    without = post_api(client, {"values": CYTOKINES, "horizon": 1}, lang).json()
    assert without["bedside_scores"] == []


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.mark.parametrize("lang, title, not_ours, formula", [
    ("en", "Published bedside scores", "not this site's model",
     "LDH (U/L) × creatinine (mg/dL) / platelets (10⁹/L)"),
    ("zh-hans", "已发表的床旁评分", "并非本网站的模型", "LDH（U/L）× 肌酐（mg/dL）/ 血小板（10⁹/L）")])
def test_the_page_shows_both_scores_apart_from_the_estimate(client, tiny_models, lang, title,
                                                           not_ours, formula):
    html = client.post(f"/{lang}/", {**CYTOKINES, **BEDSIDE, "creatinine": "88.42",
                                     "horizon": "1"}).content.decode()
    box = re.search(r"<div class=\"bedside-scores\".*?</dl>\s*</article>\s*</div>", html, re.S)
    assert box, "no bedside scores box"
    text = page_text(box.group(0))
    assert title in text and not_ours in text and formula in text
    assert "m-EASIX 32" in text and "EASIX 4" in text
    assert "Pennisi M" in text and "Korell F" in text


# --- evaluation and the model cards ----------------------------------------------------------

@pytest.fixture(scope="module")
def cohort():
    return cart_frame_to_cohort(synthetic.cart_frame(n_patients=40, seed=3))


def test_the_evaluation_uses_the_models_rows_and_patient_folds(cohort):
    found = evaluate_bedside_scores(cohort, folds=4, seed=11)
    rows = horizon_rows(cohort, 2)
    x = {k: rows.x[:, FACTOR_KEYS.index(k)] for k in ("ldh", "crp", "platelets")}
    by_hand = x["ldh"] * x["crp"] / 10 / x["platelets"]
    figures = found["horizons"]["2"]["all"]["m_easix"]
    assert figures["n"] == len(rows) and figures["severe"] == int(rows.y.sum())
    assert figures["auroc"] == pytest.approx(roc_auc_score(rows.y, by_hand))
    fold = fold_vector(rows.patient, patient_folds(cohort, 4, 11))
    assert len(figures["fold_auroc"]) == 4
    for f, value in enumerate(figures["fold_auroc"]):
        mask = fold == f
        if 0 < rows.y[mask].sum() < mask.sum():
            assert value == pytest.approx(roc_auc_score(rows.y[mask], by_hand[mask]))
    onset = found["horizons"]["2"]["new_onset"]["easix"]
    assert onset["n"] == int((rows.grade_today < 3).sum())


@pytest.mark.parametrize("lang, header", [("en", "Published bedside scores on the same patients"),
                                          ("zh-hans", "同一批患者上的已发表床旁评分")])
def test_the_card_shows_the_written_figures_beside_the_model(client, db, settings, tmp_path,
                                                            cohort, lang, header):
    settings.PRCRS_BUNDLED_MODELS_DIR = tmp_path
    path = write_bedside_evaluation(cohort, tmp_path, folds=4, seed=11)
    assert path == Path(tmp_path, FILE_NAME)
    written = json.loads(path.read_text())["horizons"]["1"]
    install_model(1, "4")
    html = client.get(f"/{lang}/models/1/4/").content.decode()
    section = re.search(r'<section[^>]*id="bedside-scores".*?</section>', html, re.S)
    assert section, "no comparison on the card"
    text = page_text(section.group(0))
    assert header in text
    for key in ("m_easix", "easix"):
        assert f"{written['all'][key]['auroc']:.3f}" in text
        assert f"{written['new_onset'][key]['auroc']:.3f}" in text
    assert "0.500" in text  # the tiny file's own patient_cv AUROC from its manifest


def test_without_written_figures_the_card_has_no_comparison(client, db, settings, tmp_path):
    settings.PRCRS_BUNDLED_MODELS_DIR = tmp_path
    install_model(1, "4")
    html = client.get("/en/models/1/4/").content.decode()
    assert 'id="bedside-scores"' in html and "bedside-comparison" not in html
    assert "is not available for this model yet" in html


def test_the_bundled_figures_are_the_ones_the_sheet_gives():
    """models_store/bedside_scores.json is what the evaluation writes, not typed by hand."""
    root = Path(__file__).resolve().parents[1]
    sheet = root.parent / "shared" / "data" / "prcrs-public" / "CAR-T.xlsx"
    if not sheet.exists():
        pytest.skip(f"public dataset not found at {sheet}")
    from predictor.training.data import load_cart

    stored = json.loads((root / "models_store" / FILE_NAME).read_text())
    fresh = evaluate_bedside_scores(load_cart(sheet), folds=stored["folds"], seed=stored["seed"])
    for h, subsets in fresh["horizons"].items():
        for subset, scores in subsets.items():
            for key, figures in scores.items():
                assert stored["horizons"][h][subset][key]["auroc"] == \
                    pytest.approx(figures["auroc"]), (h, subset, key)
    assert np.isfinite(fresh["horizons"]["1"]["all"]["m_easix"]["auroc"])


def test_crp_entered_in_mg_dl_gives_the_same_score_not_a_tenfold_one(client, tiny_models):
    body = {"values": {**CYTOKINES, "ldh": 240, "crp": 8, "platelets": 60}, "horizon": 1,
            "units": {"crp": "mg/dL"}}
    data = post_api(client, body, "en").json()
    assert data["bedside_scores"][0]["value"] == pytest.approx(32.0)
    assert data["bedside_scores"][0]["inputs"]["crp"] == pytest.approx(80.0)
