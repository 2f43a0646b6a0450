"""What the outcome means today (issue 16, item 4): the result says the outcome in words, and
when today's CRS grade is already 3 or 4 that the number is whether severe CRS persists; the
cards label the new-onset figures as those of days with grade below 3. Both languages."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from tests.conftest import CYTOKINES, install_model
from tests.model_files import tiny_model_bytes

pytestmark = pytest.mark.django_db


def api(client, body: dict, lang: str) -> dict:
    return client.post(f"/api/v1/predict?lang={lang}", data=json.dumps(body),
                       content_type="application/json").json()


@pytest.mark.parametrize("lang, grade, horizon, text, persistence", [
    ("en", 1, 1, "Outcome: CRS grade 3 or higher tomorrow, on day 5 since infusion.", False),
    ("en", 3, 2, "Today's CRS grade is already 3: this number is the probability that severe "
                 "CRS (grade 3 or higher) persists the day after tomorrow, on day 6 since "
                 "infusion.", True),
    ("zh-hans", 4, 1, "今日 CRS 已为 4 级：此数值是重度 CRS（≥3 级）在明天（输注后第 5 天）仍持续的概率。",
     True),
    ("zh-hans", 2, 3, "预测结局：大后天（输注后第 7 天）CRS 达到 3 级或以上。", False)])
def test_the_api_says_the_outcome_and_when_it_is_persistence(client, tiny_context_models, lang,
                                                            grade, horizon, text, persistence):
    data = api(client, {"values": CYTOKINES, "horizon": horizon,
                        "context": {"crs_grade": grade, "day": 4}}, lang)
    assert data["outcome"] == text and data["persistence"] is persistence


def test_without_a_context_the_outcome_names_the_horizon_only(client, tiny_models):
    data = api(client, {"values": CYTOKINES, "horizon": 3}, "en")
    assert data["outcome"] == "Outcome: CRS grade 3 or higher in three days."
    assert data["persistence"] is False


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.mark.parametrize("lang, grade, expected", [
    ("en", 3, "this number is the probability that severe CRS (grade 3 or higher) persists "
              "tomorrow"),
    ("zh-hans", 3, "仍持续的概率"),
    ("en", 0, "Outcome: CRS grade 3 or higher tomorrow, on day 5 since infusion."),
    ("zh-hans", 0, "预测结局：明天（输注后第 5 天）CRS 达到 3 级或以上。")])
def test_the_result_page_states_the_outcome(client, tiny_context_models, lang, grade, expected):
    html = client.post(f"/{lang}/", {**CYTOKINES, "crs_grade": str(grade), "day": "4",
                                     "horizon": "1"}).content.decode()
    statement = re.search(r'<p class="outcome-statement">(.*?)</p>', html, re.S)
    assert statement and expected in text_of(statement.group(1))


@pytest.mark.parametrize("lang, label", [
    ("en", "patient-level cross-validation, new onset: days with CRS grade below 3 today"),
    ("zh-hans", "患者级交叉验证，新发：当日 CRS 分级低于 3 级的患者日")])
def test_the_card_labels_the_new_onset_figures_as_grade_below_3(client, db, lang, label):
    metrics = {"patient_cv": {"auroc": 0.9, "n": 100, "severe": 10},
               "patient_cv_new_onset": {"auroc": 0.8, "n": 90, "severe": 5}}
    install_model(1, "4", data=tiny_model_bytes(1, "4", manifest_extra={"metrics": metrics}))
    page = text_of(client.get(f"/{lang}/models/1/4/").content.decode())
    assert label in page and "days before onset" not in page


@pytest.mark.parametrize("lang, note", [
    ("en", "CRS grade 3 or higher today: these numbers are whether severe CRS persists."),
    ("zh-hans", "今日 CRS 已达 3 级或以上：这些数值是重度 CRS 仍持续的概率。")])
def test_the_course_table_says_which_days_are_about_persistence(client, tiny_context_models,
                                                                lang, note):
    text = "\t".join(["day", "crs_grade", *CYTOKINES]) + "\n" + "".join(
        "\t".join([str(day), str(grade), *CYTOKINES.values()]) + "\n"
        for day, grade in ((2, 1), (3, 3), (4, 4)))
    html = client.post(f"/{lang}/course/", {"text": text}).content.decode()
    rows = re.findall(r'<tr[^>]*data-row="\d+">(.*?)</tr>', html, re.S)
    assert [note in text_of(row) for row in rows] == [False, True, True]
