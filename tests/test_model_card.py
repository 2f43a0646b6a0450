"""The public model card pages, in both languages, from real installed model versions."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from predictor.models import ModelVersion
from predictor.scoring.calibration import build_calibration
from predictor.web.model_card_views import calibration_chart, localized, metric_tables
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
    table = build_calibration("windows", None, [i / 50 for i in range(50)],
                              [int(i % 3 == 0 or i > 35) for i in range(50)])
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
    # 3 horizons x (6 labs-only + 6 labs + context + the no-lab reference) slots, one served.
    assert "h1-4-v1" in page and page.count("no model installed") == 3 * 13 - 1


def test_metric_tables_accept_flat_and_nested_metrics():
    headers, rows, others = metric_tables({"auroc": 0.7, "custom": 3})
    assert [h["key"] for h in headers] == ["auroc"] and rows[0]["cells"] == ["0.700"]
    assert others == [{"name": "", "items": [{"label": "custom", "value": "3"}]}]
    headers, rows, others = metric_tables({"patient_cv": {"auroc": 0.7, "ece": float("nan")},
                                           "external": {"auroc": 0.65, "auroc_ci": [0.6, 0.7]}})
    assert rows[0]["cells"] == ["0.700", "—"] and rows[1]["cells"] == ["0.650", "—"]
    with translation.override("en"):
        headers, rows, others = metric_tables({"external": {"auroc": 0.65,
                                                            "auroc_ci": [0.6, 0.7]}})
    assert others[0]["items"] == [{"label": "AUROC, 95 % interval", "value": "0.600–0.700"}]
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
    for expected in ("0.790", "900", "patient-level cross-validation, new onset: days with CRS grade below 3 today",
                     "reference without lab values", "today's CRS grade and the day since "
                     "infusion", "0.680", "decision threshold, median over the cross-validation "
                     "folds", "5-fold CV grouped by patient"):
        assert expected in page.replace("&#x27;", "'"), expected
    for internal in ("grade_day", "threshold_cv_median", "patient_cv"):  # issue 16 item 8
        assert internal not in page, internal


def test_localized_texts_fall_back_to_the_other_language():
    with translation.override("en"):
        assert localized({"zh-hans": "中文"}) == "中文"
        assert localized("plain") == "plain"
    with translation.override("zh-hans"):
        assert localized({"en": "x", "zh-hans": "中"}) == "中"


# --- 95 % intervals and clinical context (spec section 8) ------------------------------------------

def calibration_table_rows(page: str) -> list[list[str]]:
    table = re.search(r'<table class="calibration-table">.*?</table>', page, re.S).group(0)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S) if "<td" in row]


def test_the_calibration_table_gives_each_probability_its_interval_and_literal_counts(
        card_version):
    from predictor.scoring.registry import serving_calibration
    from predictor.scoring.shown_percent import shown_interval_end, shown_percent

    page = Client().get(card_url(2, "123")).content.decode()
    assert "95% interval" in page
    table = serving_calibration(card_version.manifest, card_version.baseline,
                                card_version.baseline_windows)
    rows = calibration_table_rows(page)
    assert len(rows) == 11
    for raw, probability, interval, counts in rows:
        ref = table.lookup(float(raw))
        k, n = map(int, re.fullmatch(r"(\d+) of (\d+) severe", counts).groups())
        assert (k, n) == (ref.severe, ref.n)
        assert probability == f"{shown_percent(ref.probability)}%"
        low, high = ref.interval
        assert interval == f"{shown_interval_end(low)}–{shown_interval_end(high)}%"
        assert 0 < low <= ref.probability <= high < 1


def test_the_interval_column_is_headed_in_chinese_on_the_chinese_card(card_version):
    page = Client().get(card_url(2, "123", "zh-hans")).content.decode()
    assert "95% 区间" in page and "95% interval" not in page


def context_card_url(horizon, combination, lang="en") -> str:
    with translation.override(lang):
        return reverse("model_card_context", args=[horizon, combination])


@pytest.fixture
def context_card(db) -> ModelVersion:
    """A labs + context file of slot (1, "3") with the pipeline's optional manifest keys, the
    labs-only file of the same slot and the no-lab reference of horizon 1."""
    from predictor.catalogue import CONTEXT_BOTH
    from tests.model_files import tiny_model_bytes

    install_model(1, "3")
    install_model(1, "0", context=CONTEXT_BOTH)
    return install_model(1, "3", context=CONTEXT_BOTH, data=tiny_model_bytes(
        1, "3", context=CONTEXT_BOTH, manifest_extra={
            "metrics": {"patient_cv": {"auroc": 0.9312, "brier": 0.061},
                        "no_lab_reference_cv": {"auroc": 0.9044, "brier": 0.066}},
            "unused_factor_keys": ["chloride"],
            "unused_factor_note": {"en": "Chloride in the sheet is mostly not chloride.",
                                   "zh-hans": "表中的氯大多不是氯。"},
            "labs_add_information": True}))


def test_a_context_card_has_its_own_address_inputs_and_reference_figures(context_card):
    assert context_card_url(1, "3") == "/en/models/1/3/context/"
    response = Client().get(context_card_url(1, "3"))
    assert response.status_code == 200
    page = unescape(response.content.decode())
    for expected in ("h1-3-ctx-v1", context_card.sha256, "today's CRS grade and the day since "
                     "infusion", "Today's CRS grade (ASTCT 0–4)", "Day since CAR-T infusion",
                     "0.931", "0.904", "0.061", "0.066",
                     "no-lab reference (CRS grade and day only), same patients and folds",
                     "Accepted but not used by this model:", "Chloride in the sheet is mostly "
                     "not chloride."):
        assert expected in page, expected
    # Its own inputs: the 16 biochemistry values, then grade and day.
    inputs = re.search(r'<ol class="inputs">(.*?)</ol>', page, re.S).group(1)
    assert inputs.count("<li") == 18 and inputs.rindex("Day since") > inputs.index("Sodium")
    # Links to the labs-only file of the same slot and to the reference.
    assert 'href="/en/models/1/3/"' in page and 'href="/en/models/1/0/context/"' in page
    assert 'id="labs-add-information">yes<' in page


def test_the_labs_only_card_still_lives_at_its_old_address_and_links_the_context_card(
        context_card):
    page = Client().get(card_url(1, "3")).content.decode()
    assert "h1-3-v1" in page and "h1-3-ctx-v1" in page
    assert 'href="/en/models/1/3/context/"' in page
    assert "none (lab values only)" in page


def test_the_unused_note_is_in_the_page_language(context_card):
    page = Client().get(context_card_url(1, "3", "zh-hans")).content.decode()
    assert "表中的氯大多不是氯。" in page and "mostly not chloride" not in page
    assert "可以填写，但该模型不使用" in page


def test_the_reference_card_lives_at_combination_0_with_context_only(context_card):
    response = Client().get(context_card_url(1, "0"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "h1-0-ctx-v1" in page and "The no-lab reference" in page
    inputs = re.search(r'<ol class="inputs">(.*?)</ol>', page, re.S).group(1)
    assert inputs.count("<li") == 2
    assert Client().get("/en/models/1/0/").status_code == 404  # no labs-only reference
    assert Client().get(context_card_url(2, "0")).status_code == 404  # not installed
    assert Client().get("/en/models/1/5/context/").status_code == 404


def test_a_card_whose_labs_add_nothing_says_so(db):
    from predictor.catalogue import CONTEXT_BOTH
    from tests.model_files import tiny_model_bytes

    install_model(3, "2", context=CONTEXT_BOTH, data=tiny_model_bytes(
        3, "2", context=CONTEXT_BOTH, manifest_extra={"labs_add_information": False}))
    page = Client().get(context_card_url(3, "2")).content.decode()
    assert "For these inputs the labs do not change the estimate" in page
    assert 'id="labs-add-information">no:' in page


def test_the_index_links_the_context_cards_and_the_reference(tiny_context_models):
    with translation.override("en"):
        page = Client().get(reverse("model_cards")).content.decode()
    for (h, c, context), mv in tiny_context_models.items():
        url = context_card_url(h, c) if context else card_url(h, c)
        assert f'href="{url}"' in page, url
        assert mv.label in page
    assert "no model installed" not in page


def test_card_url_points_each_version_at_its_own_card(context_card):
    from predictor.web.model_card_views import card_url as version_card_url

    labs_only = ModelVersion.objects.get(horizon=1, combination="3", context="")
    reference = ModelVersion.objects.get(horizon=1, combination="0")
    with translation.override("zh-hans"):
        assert version_card_url(labs_only) == "/zh-hans/models/1/3/"
        assert version_card_url(context_card) == "/zh-hans/models/1/3/context/"
        assert version_card_url(reference) == "/zh-hans/models/1/0/context/"
