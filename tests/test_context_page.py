"""The physician's page with clinical context (today's CRS grade and the day since infusion):
the form section, its errors, the language switch, and the result with the no-lab reference
beside it and a 95 % interval on every probability. Django test client, real database, real
tiny TorchScript files of format version 2 (tests/model_files.py, tests/conftest.py).
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.template.defaultfilters import floatformat
from django.test import Client
from django.utils import translation

from predictor.catalogue import CONTEXT_BOTH, REFERENCE_COMBINATION
from predictor.scoring.prediction import predict
from tests.conftest import CYTOKINES, install_model
from tests.model_files import tiny_model_bytes
from tests.test_pages import field_block, text_of, text_of_html, typical_middle

EN, ZH = "/en/", "/zh-hans/"
CONTEXT = {"crs_grade": "1", "day": "4"}


@pytest.fixture
def client() -> Client:
    return Client()


def result_text(response) -> str:
    section = re.search(r'<section id="result".*?</section>', response.content.decode(), re.S)
    assert section, "no result section"
    return text_of_html(section.group(0))


def result_html(response) -> str:
    section = re.search(r'<section id="result".*?</section>', response.content.decode(), re.S)
    assert section, "no result section"
    return unescape(section.group(0))


def expected(values: dict, horizon: int, language: str, context: dict | None = None):
    with translation.override(language):
        return predict(values, [horizon], percent_input=True, context=context)[0]


def percent(p: float) -> str:
    return floatformat(p * 100, 0)


def with_interval(probability: float, interval: tuple[float, float]) -> str:
    """As the page shows it: "31% (19–46%)"."""
    return f"{percent(probability)}% ({percent(interval[0])}–{percent(interval[1])}%)"


def gettext_in(language: str, message: str) -> str:
    with translation.override(language):
        return translation.gettext(message)


def selected_grade(response) -> str | None:
    select = re.search(r'<select name="crs_grade".*?</select>', response.content.decode(), re.S)
    assert select, "no grade select"
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    return chosen.group(1) if chosen else None


def day_value(response) -> str | None:
    tag = re.search(r'<input[^>]*name="day"[^>]*>', response.content.decode())
    assert tag, "no day input"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else None


# --- the form --------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "legend", "grade", "day", "about"), [
    (EN, "What you already know", "Today's CRS grade (ASTCT)", "Day since CAR-T infusion",
     "Optional but recommended: what you already know improves the estimate."),
    (ZH, "您已掌握的信息", "今日 CRS 分级（ASTCT）", "CAR-T 输注后天数",
     "选填，但建议填写：您已掌握的信息能让估计更准确。"),
])
def test_the_context_section_sits_above_the_panels_labelled_in_the_page_language(
        client, db, url, legend, grade, day, about):
    response = client.get(url)
    html = response.content.decode()
    text = text_of(response)
    for expected_text in (legend, grade, day, about):
        assert expected_text in text, expected_text
    assert html.index('class="context-inputs"') < html.index('<details class="panel"')
    assert '<label for="id_crs_grade">' in html and '<label for="id_day">' in html
    # Grade is a choice of 0-4 with "not given" first and chosen; day is typed.
    options = re.findall(r'<option value="([^"]*)"', html)
    assert options == ["", "0", "1", "2", "3", "4"]
    assert selected_grade(response) == ""  # "not given"
    assert re.search(r'<input[^>]*name="day"[^>]*inputmode="numeric"', html)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_grade_without_a_day_is_refused_next_to_the_day_field(client, tiny_context_models,
                                                                  language):
    url = EN if language == "en" else ZH
    response = client.post(url, {**CYTOKINES, "crs_grade": "2", "horizon": "1"})
    assert response.status_code == 200
    message = gettext_in(language, "Enter both today's CRS grade and the day since infusion, or "
                                   "neither: the models that use them need both.")
    if language == "zh-hans":
        assert message.isascii() is False  # really translated
    block = field_block(response, "day")
    assert message in block and 'aria-invalid="true"' in block
    assert message not in field_block(response, "crs_grade")
    assert selected_grade(response) == "2"  # what was chosen stays
    assert 'id="result"' not in response.content.decode()
    summary = re.search(r'id="error-summary".*?</div>', response.content.decode(), re.S)
    assert summary and 'href="#id_day"' in summary.group(0)


def test_a_day_without_a_grade_is_refused_next_to_the_grade_field(client, tiny_context_models):
    response = client.post(EN, {**CYTOKINES, "day": "5", "horizon": "1"})
    assert "Enter both today's CRS grade" in field_block(response, "crs_grade")
    assert day_value(response) == "5"


@pytest.mark.parametrize(("data", "key", "message"), [
    ({"crs_grade": "1", "day": "61"}, "day", "whole number from 0 to 60"),
    ({"crs_grade": "1", "day": "4.5"}, "day", "whole number from 0 to 60"),
    ({"crs_grade": "7", "day": "4"}, "crs_grade", "whole number from 0 to 4"),
])
def test_a_context_value_out_of_range_is_refused_on_its_field(client, tiny_context_models, data,
                                                              key, message):
    response = client.post(EN, {**CYTOKINES, **data, "horizon": "1"})
    assert message in field_block(response, key)
    assert 'id="result"' not in response.content.decode()


def test_the_language_switch_keeps_grade_and_day(client, tiny_context_models):
    response = client.post(ZH, {**CYTOKINES, **CONTEXT, "horizon": "all",
                                "switch_language": "zh-hans"})
    assert response.status_code == 200
    assert selected_grade(response) == "1" and day_value(response) == "4"
    assert 'id="result"' not in response.content.decode()


# --- the result with context -----------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_with_context_the_result_shows_the_reference_beside_with_intervals(
        client, tiny_context_models, language):
    url = EN if language == "en" else ZH
    response = client.post(url, {**CYTOKINES, **CONTEXT, "horizon": "1"})
    assert response.status_code == 200
    want = expected(CYTOKINES, 1, language, CONTEXT)
    ref = want.no_lab_reference
    assert want.model_version == "h1-4-ctx-v1" and ref is not None
    text = result_text(response)
    assert with_interval(want.probability, want.interval) in text
    assert with_interval(ref.probability, ref.interval) in text
    assert ref.model_version in text
    html = result_html(response)
    prefix = url.rstrip("/")
    assert f'href="{prefix}/models/1/4/context/"' in html  # the card of the file that answered
    assert f'href="{prefix}/models/1/0/context/"' in html  # the reference's card
    points = int(percent(want.probability)) - int(percent(ref.probability))
    with translation.override(language):
        if points > 0:
            change = translation.ngettext(
                "Without labs %(without)s%%, with labs %(withlabs)s%%: the labs add "
                "+%(points)s point.",
                "Without labs %(without)s%%, with labs %(withlabs)s%%: the labs add "
                "+%(points)s points.", points)
        else:
            pytest.fail("the tiny context files are built so that the labs raise the estimate")
        line = change % {"without": percent(ref.probability),
                         "withlabs": percent(want.probability), "points": points}
    assert line in text
    if language == "zh-hans":
        assert "Without labs" not in text


def test_every_horizon_with_context_has_its_own_reference(client, tiny_context_models):
    html = client.post(EN, {**CYTOKINES, **CONTEXT, "horizon": "all"}).content.decode()
    for h in (1, 2, 3):
        assert f"h{h}-4-ctx-v1" in html and f"h{h}-0-ctx-v1" in html
    assert html.count('class="no-lab-reference"') == 3
    assert "CRS grade 1, day 4 since infusion" in text_of_html(html)


def test_when_the_labs_add_nothing_the_result_says_so(client, tiny_context_models):
    install_model(1, "4", context=CONTEXT_BOTH, data=tiny_model_bytes(
        1, "4", context=CONTEXT_BOTH, manifest_extra={"labs_add_information": False}))
    text = result_text(client.post(EN, {**CYTOKINES, **CONTEXT, "horizon": "1"}))
    # the headline is the no-lab reference's number (issue 15), so its version answers
    assert "h1-0-ctx-v1" in text
    assert "For these inputs the labs do not change the estimate." in text
    assert "the labs add" not in text and "the labs lower" not in text
    chinese = result_text(client.post(ZH, {**CYTOKINES, **CONTEXT, "horizon": "1"}))
    assert gettext_in("zh-hans", "For these inputs the labs do not change the estimate.") in chinese


def test_context_without_any_lab_value_answers_with_the_reference_alone(client,
                                                                        tiny_context_models):
    response = client.post(EN, {**CONTEXT, "horizon": "2"})
    assert response.status_code == 200
    want = expected({}, 2, "en", CONTEXT)
    assert want.combination == REFERENCE_COMBINATION
    text = result_text(response)
    assert "No lab value was entered: this is the no-lab reference" in text
    assert with_interval(want.probability, want.interval) in text
    assert "h2-0-ctx-v1" in text
    assert 'href="/en/models/2/0/context/"' in result_html(response)
    assert 'class="no-lab-reference"' not in result_html(response)  # not beside itself


def test_without_a_context_file_the_labs_only_model_answers_and_says_why(client, tiny_models):
    install_model(1, REFERENCE_COMBINATION, context=CONTEXT_BOTH)
    response = client.post(EN, {**CYTOKINES, **CONTEXT, "horizon": "1"})
    text = result_text(response)
    assert "h1-4-v1" in text
    assert "the labs-only model answered, without today's CRS grade and day" in text
    assert "h1-0-ctx-v1" in text  # the reference is still shown beside
    assert 'href="/en/models/1/4/"' in result_html(response)  # the card of the labs-only file
    assert "the labs add" not in text  # the labs-only file is not "labs on top of the context"


# --- the result without context ----------------------------------------------------------------

def test_a_labs_only_result_has_its_interval_and_says_what_the_context_would_add(client, db):
    install_model(1, "4", data=tiny_model_bytes(1, "4", manifest_extra={
        "metrics": {"patient_cv": {"auroc": 0.8312, "brier": 0.091}}}))
    install_model(1, "4", context=CONTEXT_BOTH, data=tiny_model_bytes(
        1, "4", context=CONTEXT_BOTH, manifest_extra={
            "metrics": {"patient_cv": {"auroc": 0.9288, "brier": 0.072}}}))
    response = client.post(EN, {**CYTOKINES, "horizon": "1"})
    want = expected(CYTOKINES, 1, "en")
    text = result_text(response)
    assert with_interval(want.probability, want.interval) in text
    assert ("Adding today's CRS grade and the day since infusion raises this model's "
            "cross-validated AUROC from 0.83 to 0.93.") in text
    assert "Brier score 0.091 without them, 0.072 with them (lower is better)." in text
    assert 'class="no-lab-reference"' not in result_html(response)
    chinese = result_text(client.post(ZH, {**CYTOKINES, "horizon": "1"}))
    assert "0.83" in chinese and "0.93" in chinese and "Adding today" not in chinese


def test_without_figures_for_the_context_the_result_invites_to_enter_it(client, tiny_models):
    text = result_text(client.post(EN, {**CYTOKINES, "horizon": "1"}))
    assert "Enter today's CRS grade and the day since infusion above" in text


def test_an_input_the_model_does_not_use_is_named_with_the_result(client, db):
    install_model(1, "3", data=tiny_model_bytes(1, "3", manifest_extra={
        "unused_factor_keys": ["chloride"]}))
    response = client.post(EN, {**typical_middle(3), "horizon": "1"})
    text = result_text(response)
    assert "h1-3-v1" in text
    assert "Accepted but not used by this model: Chloride" in text
    chinese = result_text(client.post(ZH, {**typical_middle(3), "horizon": "1"}))
    assert gettext_in("zh-hans", "Accepted but not used by this model:") in chinese
    assert "氯" in chinese


def test_a_context_prediction_keeps_the_safety_wording_and_lists(client, tiny_context_models):
    values = {k: v for k, v in CYTOKINES.items() if k != "il17a"}
    values["d_dimer"] = "0.3"
    text = result_text(client.post(EN, {**values, **CONTEXT, "horizon": "1"}))
    assert "For research use only." in text and "does not replace clinical judgement" in text
    assert "IL-17A" in text and "D-dimer" in text  # imputed and ignored
    assert "Panel combination 4" in text


def test_the_context_result_page_has_no_inline_script_or_style(client, tiny_context_models):
    html = client.post(EN, {**CYTOKINES, **CONTEXT, "horizon": "all"}).content.decode()
    assert 'class="no-lab-reference"' in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html and " style=" not in html


def test_a_context_that_adds_nothing_to_the_auroc_is_not_called_a_raise(client, db):
    install_model(2, "4", data=tiny_model_bytes(2, "4", manifest_extra={
        "metrics": {"patient_cv": {"auroc": 0.83}}}))
    install_model(2, "4", context=CONTEXT_BOTH, data=tiny_model_bytes(
        2, "4", context=CONTEXT_BOTH, manifest_extra={"metrics": {"patient_cv": {"auroc": 0.8}}}))
    text = result_text(client.post(EN, {**CYTOKINES, "horizon": "2"}))
    assert ("Adding today's CRS grade and the day since infusion does not raise this model's "
            "cross-validated AUROC (0.83 without them, 0.80 with them).") in text
    assert "raises" not in text and "Brier score" not in text  # no Brier figures, none shown
