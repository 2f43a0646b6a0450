"""The public model card pages, in both languages, from real installed model versions."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from predictor.calibration import CalibrationTable
from predictor.model_card_views import calibration_chart, localized, metric_tables
from predictor.models import ModelVersion
from tests.conftest import install_model


def card_url(horizon, combination, lang="en") -> str:
    with translation.override(lang):
        return reverse("model_card", args=[horizon, combination])


@pytest.fixture
def card_version(db) -> ModelVersion:
    mv = install_model(2, "123", bias=0.3)
    mv.manifest["metrics"] = {"patient_cv": {"auroc": 0.8312, "auprc": 0.41, "brier": 0.088,
                                             "ece": 0.031, "sensitivity": 0.75,
                                             "specificity": 0.81}}
    mv.save(update_fields=["manifest"])
    return mv


def test_the_card_shows_version_provenance_metrics_and_calibration_in_english(card_version):
    response = Client().get(card_url(2, "123"))
    assert response.status_code == 200
    page = response.content.decode()
    for expected in ("h2-123-v1", card_version.sha256, "synthetic test data", "tiny linear",
                     "AUROC", "0.831", "0.410", "Brier score", "0.088", "0.031", "0.750", "0.810",
                     "patient-level cross-validation", "60 held-out patient-days",
                     "css/model_card.css"):
        assert expected in page, expected
    assert 'href="/en/models/"' in page


def test_the_card_shows_the_chinese_training_description_on_the_chinese_page(card_version):
    page = Client().get(card_url(2, "123", "zh-hans")).content.decode()
    assert "合成测试数据" in page and "synthetic test data" not in page
    assert card_url(2, "123", "zh-hans").startswith("/zh-hans/")


def test_the_calibration_chart_is_inline_svg_without_script_or_style(card_version):
    page = Client().get(card_url(2, "123")).content.decode()
    card = page[page.index('id="model-card"'):page.index("</article>")]
    assert "<svg" in card and '<polyline class="curve" points="' in card
    assert "<script" not in card and "style=" not in card and "<style" not in card
    points = re.search(r'<polyline class="curve" points="([^"]+)"', card).group(1).split()
    assert len(points) > 10
    assert all(44 <= float(p.split(",")[0]) <= 276 for p in points)


def test_the_chart_is_monotone_like_the_lookup():
    table = CalibrationTable([i / 50 for i in range(50)], [int(i % 3 == 0 or i > 35)
                                                           for i in range(50)])
    chart = calibration_chart(table)
    ys = [d["y"] for d in chart["dots"]]  # SVG y grows downwards: probability never falls
    assert ys == sorted(ys, reverse=True)


@pytest.mark.parametrize("slot", [(9, "1234"), (1, "5"), (1, "12"), (0, "4")])
def test_an_unknown_slot_is_not_found(slot, db):
    assert Client().get(f"/en/models/{slot[0]}/{slot[1]}/").status_code == 404


def test_a_slot_without_an_active_model_is_not_found(db):
    install_model(1, "4", activate=False)
    assert Client().get(card_url(1, "4")).status_code == 404
    assert Client().get(card_url(3, "2")).status_code == 404


def test_the_card_follows_activation(card_version):
    newer = install_model(2, "123", bias=1.0)
    page = Client().get(card_url(2, "123")).content.decode()
    assert newer.label in page and newer.sha256 in page and card_version.sha256 not in page


def test_the_index_lists_every_slot_and_links_the_active_ones(tiny_models):
    with translation.override("en"):
        index = reverse("model_cards")
    page = Client().get(index).content.decode()
    for (h, c), mv in tiny_models.items():
        assert f'href="{card_url(h, c)}"' in page
        assert mv.label in page


def test_the_index_says_when_a_slot_has_no_model(db):
    install_model(1, "4")
    with translation.override("en"):
        page = Client().get(reverse("model_cards")).content.decode()
    assert "h1-4-v1" in page and page.count("no model installed") == 17


def test_metric_tables_accept_flat_and_nested_metrics():
    headers, rows, others = metric_tables({"auroc": 0.7, "custom": 3})
    assert [h["key"] for h in headers] == ["auroc"] and rows[0]["cells"] == ["0.700"]
    assert others == [{"name": "", "items": [{"label": "custom", "value": "3"}]}]
    headers, rows, others = metric_tables({"patient_cv": {"auroc": 0.7, "ece": float("nan")},
                                           "external": {"auroc": 0.65, "auroc_ci": [0.6, 0.7]}})
    assert rows[0]["cells"] == ["0.700", "—"] and rows[1]["cells"] == ["0.650", "—"]
    assert others[0]["items"] == [{"label": "auroc_ci", "value": "0.600–0.700"}]
    assert metric_tables(None) == ([], [], [])


def test_the_card_shows_a_training_pipeline_manifest(card_version):
    card_version.manifest["metrics"] = {
        "patient_cv": {"auroc": 0.79, "auprc": 0.3, "brier": 0.07, "brier_raw": 0.09,
                       "ece": 0.02, "sensitivity": 0.7, "specificity": 0.8, "threshold": 0.2,
                       "n": 900, "severe": 60, "threshold_cv_median": 0.21},
        "patient_cv_new_onset": {"auroc": 0.74, "n": 800, "severe": 30},
        "no_lab_reference_auroc": {"grade": 0.66, "grade_day": 0.68},
        "notes": "5-fold CV grouped by patient",
    }
    card_version.save(update_fields=["manifest"])
    page = Client().get(card_url(2, "123")).content.decode()
    for expected in ("0.790", "900", "days before onset", "reference without lab values",
                     "grade_day", "0.680", "threshold_cv_median", "5-fold CV grouped by patient"):
        assert expected in page, expected


def test_localized_texts_fall_back_to_the_other_language():
    with translation.override("en"):
        assert localized({"zh-hans": "中文"}) == "中文"
        assert localized("plain") == "plain"
    with translation.override("zh-hans"):
        assert localized({"en": "x", "zh-hans": "中"}) == "中"
