"""Issue 16 item 8: model cards a physician can read. With the manifests the training pipeline
writes (read from the bundled files in models_store/), the Chinese card shows no internal key
and no English word outside a short list of names (AUROC, LightGBM, ...); every card has the
TRIPOD+AI sections that apply and a marked place for the published bedside scores. Real
database, real model files, both languages. The widths (390 and 1280 px) are checked in
Chromium in tests/test_model_card_browser.py.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
import torch
from django.test import Client

from predictor.catalogue import CONTEXT_BOTH
from tests.conftest import install_model
from tests.model_files import tiny_model_bytes

STORE = Path(__file__).resolve().parents[1] / "models_store"
MANIFEST_FIELDS = ("metrics", "training_data", "model_type", "unused_factor_keys",
                   "unused_factor_note", "sodium_rule", "baseline_source", "labs_add_information",
                   "final_training")
# Names that stay as they are in a Chinese text (metrics, products, units, sources).
ALLOWED = {"AUROC", "AUPRC", "Brier", "CRS", "ASTCT", "LightGBM", "PrCRS", "CAR", "SHA",
           "Wei", "BMC", "Bioinformatics", "EASIX", "IFN", "TNF", "HBDH", "BNP", "PCT", "APTT",
           "GT", "ALT", "AST", "ALP", "LDH", "CRP", "IL", "mmol", "umol", "µmol", "pg", "mL",
           "ng", "mg", "U", "L", "g", "s", "et", "al", "ctx", "v", "h", "pt", "csv",
           "T", "A", "m", "Wilson", "d", "UTC"}  # CAR-T, IL-17A, m-EASIX, a name, day d + k
INTERNAL = ("threshold_cv_median", "grade_day", "patient_cv", "no_lab_reference", "labs_only",
            "ctx_ens", "ens_trees", "unused_factor", "sodium_rule")


def real_manifest(name: str) -> dict:
    extra = {"manifest.json": ""}
    torch.jit.load(str(STORE / name), _extra_files=extra)
    manifest = json.loads(extra["manifest.json"])
    return {k: manifest[k] for k in MANIFEST_FIELDS if k in manifest}


def main_text(response) -> str:
    html = response.content.decode()
    main = re.search(r"<main.*?</main>", html, re.S).group(0)
    main = re.sub(r"<svg.*?</svg>", " ", main, flags=re.S)
    main = re.sub(r"<code.*?</code>", " ", main, flags=re.S)  # SHA-256, code version
    main = re.sub(r"<cite.*?</cite>", " ", main, flags=re.S)  # a paper's citation, as published
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", main)))


@pytest.fixture
def bundled_like(db):
    """Slots with tiny real files carrying the manifests of the bundled files."""
    for name, combination, context in (("h1_c4_ctx.pt", "4", CONTEXT_BOTH),
                                       ("h1_c4.pt", "4", ""),
                                       ("h1_c0_ctx.pt", "0", CONTEXT_BOTH)):
        data = tiny_model_bytes(1, combination, context=context,
                                manifest_extra=real_manifest(name))
        install_model(1, combination, data=data, context=context)


@pytest.mark.parametrize("url", ["/zh-hans/models/1/4/context/", "/zh-hans/models/1/4/",
                                 "/zh-hans/models/1/0/context/"])
def test_the_chinese_card_has_no_internal_key_and_no_english_word(bundled_like, url):
    text = main_text(Client().get(url))
    for key in INTERNAL:
        assert key not in text, key
    words = {w for w in re.findall(r"[A-Za-z]+", text) if w not in ALLOWED}
    assert not words, (sorted(words), text)


@pytest.mark.parametrize(("language", "sections"), [
    ("en", ("Intended use and users", "Population and setting", "Outcome",
            "Predictors and missing values", "Sample size and events",
            "New onset: days with CRS grade below 3", "Limitations", "Calibration",
            "Published bedside scores on the same patients")),
    ("zh-hans", ("预期用途和使用者", "人群和场景", "结局", "预测因子和缺失值", "样本量和事件数",
                 "新发：CRS 分级低于 3 级的患者日", "局限性", "同一批患者上的已发表床旁评分")),
])
def test_each_card_follows_the_tripod_items_that_apply(bundled_like, language, sections):
    text = main_text(Client().get(f"/{language}/models/1/4/context/"))
    for section in sections:
        assert section in text, section
    # figures from the manifest as the pipeline wrote them (patient-days, severe, new onset)
    metrics = real_manifest("h1_c4_ctx.pt")["metrics"]
    for figure in (metrics["patient_cv"]["n"], metrics["patient_cv"]["severe"],
                   metrics["patient_cv_new_onset"]["n"],
                   f'{metrics["patient_cv_new_onset"]["auprc"]:.3f}'):
        assert str(figure) in text, figure


def test_the_limitations_name_the_imputation_by_grade_and_the_unit_slips(bundled_like):
    text = main_text(Client().get("/en/models/1/4/"))
    assert "median of the same CRS grade" in text
    assert "sodium" in text and "chloride" in text and "single centre" in text.lower()


def test_the_bedside_scores_place_is_marked(bundled_like):
    html = Client().get("/en/models/1/4/context/").content.decode()
    assert 'id="bedside-scores"' in html
    assert "m-EASIX" in html
