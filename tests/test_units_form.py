"""The form's unit switch (spec section 10): SI or US conventional units, in both languages,
without JavaScript; what the model got is read back from the prediction log (the model input
``predict`` built), so the conversion is checked where it matters.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from predictor.catalogue import FACTORS_BY_KEY, panel_factor_keys
from predictor.inputs.unit_entry import convert_entered
from predictor.live_catalogue import live_catalogue
from predictor.models import PredictionLog
from predictor.web.forms import PredictionForm

EN, ZH = "/en/", "/zh-hans/"

# Spec section 10's factors, converted by hand: (key, US unit, typed, SI value, SI unit, the
# SI value as the result shows it).
SPEC_CASES = [
    ("glucose", "mg/dL", "126", 126 / 18.016, "mmol/L", "6.99"),
    ("creatinine", "mg/dL", "1.2", 1.2 * 88.42, "µmol/L", "106"),
    ("calcium", "mg/dL", "9.5", 9.5 / 4.008, "mmol/L", "2.37"),
    ("uric_acid", "mg/dL", "5", 5 * 59.48, "µmol/L", "297"),
    ("albumin", "g/dL", "4", 40.0, "g/L", "40"),
    ("fibrinogen", "mg/dL", "300", 3.0, "g/L", "3"),
]
# A patient-day as a US laboratory reports it (every factor that has a US unit).
US_TYPED = {"glucose": "90", "creatinine": "0,9", "calcium": "9.4", "uric_acid": "4.5",
            "albumin": "4.2", "fibrinogen": "280", "hemoglobin": "13.5", "prealbumin": "25",
            "triglyceride": "120"}


def typical_middle() -> dict[str, str]:
    """Every factor of the four panels in the middle of its typical range, as the form takes
    it (percentages as 45)."""
    values = {}
    for panel in (1, 2, 3, 4):
        for key in panel_factor_keys(panel):
            spec = FACTORS_BY_KEY[key]
            values[key] = f"{sum(spec.typical) / 2 * (100 if spec.is_fraction else 1):g}"
    return values


@pytest.fixture
def client() -> Client:
    return Client()


def text_of(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()
    return text.replace(" : ", ": ")  # "<strong>Glucose</strong>: ..." reads "Glucose: ..."


def field_block(response, key: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<div class="field[^"]*">\s*<label for="id_{key}">.*?</div>\s*</div>',
                      html, flags=re.S)
    assert match, f"no field block for {key}"
    return unescape(match.group(0))


def checked_unit(response) -> str:
    found = re.findall(r'<input[^>]*name="units"[^>]*>', response.content.decode())
    checked = [re.search(r'value="(\w+)"', tag).group(1) for tag in found if "checked" in tag]
    assert len(found) == 2 and len(checked) == 1, found
    return checked[0]


def model_input() -> dict[str, float]:
    return PredictionLog.objects.order_by("-id").first().values["inputs"]


def test_the_unit_switch_sits_above_the_panels_in_both_languages(client, db):
    english = client.get(EN)
    html = english.content.decode()
    assert html.index('class="unit-choice') < html.index('<details class="panel"')
    assert checked_unit(english) == "si"
    text = text_of(english)
    assert "Units of the lab values" in text and "SI units" in text
    assert "US conventional units" in text and "Glucose (mg/dL)" in text
    chinese = text_of(client.get(ZH))
    assert "检验值的单位" in chinese and "国际单位（SI）" in chinese and "美国常用单位" in chinese
    assert "葡萄糖 (mg/dL)" in chinese and "Units of the lab values" not in chinese
    assert "美国常用单位适用于" in chinese


@pytest.mark.parametrize(("key", "unit", "typed", "si", "si_unit", "shown"), SPEC_CASES)
def test_a_spec_factor_typed_in_its_us_unit_reaches_the_model_in_si(
        client, tiny_models, key, unit, typed, si, si_unit, shown):
    data = {**typical_middle(), **US_TYPED, key: typed, "units": "us", "horizon": "1"}
    response = client.post(EN, data)
    assert response.status_code == 200
    assert 'id="result"' in response.content.decode(), text_of(response)[:2000]
    assert model_input()[key] == pytest.approx(si, rel=1e-12)
    name = FACTORS_BY_KEY[key].name_en
    assert f"{name}: {typed} {unit} = {shown} {si_unit}" in text_of(response)


def test_every_us_value_is_converted_and_the_others_are_kept(client, tiny_models):
    data = {**typical_middle(), **US_TYPED, "units": "us", "horizon": "1"}
    client.post(EN, data)
    inputs = model_input()
    assert inputs["hemoglobin"] == pytest.approx(135.0)
    assert inputs["prealbumin"] == pytest.approx(250.0)
    assert inputs["triglyceride"] == pytest.approx(120 / 88.57)
    assert inputs["creatinine"] == pytest.approx(0.9 * 88.42)  # "0,9": a decimal comma
    assert inputs["crp"] == float(typical_middle()["crp"])  # never switched to mg/dL
    assert inputs["neutrophil_pct"] == pytest.approx(float(typical_middle()["neutrophil_pct"])
                                                     / 100)  # percentages as before


def test_the_us_switch_works_on_the_chinese_page(client, tiny_models):
    data = {**typical_middle(), **US_TYPED, "glucose": "126", "units": "us", "horizon": "all"}
    response = client.post(ZH, data)
    text = text_of(response)
    assert "已换算为国际单位的数值" in text and "预测前已换算为以下国际单位数值" in text
    assert "葡萄糖: 126 mg/dL = 6.99 mmol/L" in text
    assert model_input()["glucose"] == pytest.approx(126 / 18.016)
    assert checked_unit(response) == "us"


def test_the_same_numbers_in_si_are_refused_or_taken_as_si(client, tiny_models):
    data = {**typical_middle(), "glucose": "126", "horizon": "1"}  # no switch: SI, 126 mmol/L
    response = client.post(EN, data)
    assert 'id="result"' not in response.content.decode()
    assert "126 mmol/L is outside the accepted range" in field_block(response, "glucose")
    assert "mg/dL =" not in field_block(response, "glucose")


def test_with_us_units_the_labels_and_typical_ranges_are_in_us_units(client, tiny_models):
    response = client.post(EN, {"glucose": "x", "units": "us", "horizon": "1"})
    glucose = field_block(response, "glucose")
    assert re.search(r'class="field-unit"[^>]*>mg/dL<', glucose)
    assert "Healthy adults: 70.3–110" in re.sub(r"\s+", " ", glucose)  # 3.9–6.1 mmol/L
    albumin = field_block(response, "albumin")
    assert re.search(r'class="field-unit"[^>]*>g/dL<', albumin)
    assert "Healthy adults: 3.5–5.5" in re.sub(r"\s+", " ", albumin)
    il6 = field_block(response, "il6")
    assert re.search(r'class="field-unit"[^>]*>pg/mL<', il6) and "data-unit-us" not in il6
    # Without the switch: SI, and both labels are there for the script to relabel.
    si = field_block(client.get(EN), "glucose")
    assert re.search(r'class="field-unit"[^>]*>mmol/L<', si)
    assert 'data-unit-si="mmol/L"' in si and 'data-unit-us="mg/dL"' in si
    assert 'data-typical-us="70.3–110"' in si


@pytest.mark.parametrize(("page", "start"), [(EN, "2000 mg/dL = 111 mmol/L: "),
                                             (ZH, "2000 mg/dL = 111 mmol/L：")])
def test_a_value_over_the_limits_shows_the_value_typed_and_its_si_equivalent(
        client, tiny_models, page, start):
    data = {**typical_middle(), **US_TYPED, "glucose": "2000", "units": "us", "horizon": "1"}
    response = client.post(page, data)
    assert 'id="result"' not in response.content.decode()
    block = field_block(response, "glucose")
    assert start in block
    assert "0.5–60 mmol/L" in block  # the catalogue's limits, applied to the SI value
    assert 'value="2000"' in block


def test_a_typical_range_warning_shows_both_values(client, tiny_models):
    data = {**typical_middle(), **US_TYPED, "glucose": "200", "units": "us", "horizon": "1"}
    response = client.post(EN, data)
    warning = "200 mg/dL = 11.1 mmol/L: 11.1012 mmol/L is unusual even for CAR-T patients"
    assert warning in field_block(response, "glucose")
    assert f"Glucose: {warning}" in text_of(response)  # the result's list of flagged values


@pytest.mark.parametrize(("page", "other"), [(ZH, EN), (EN, ZH)])
def test_the_language_switch_keeps_the_unit_choice(client, tiny_models, page, other):
    data = {**US_TYPED, "units": "us", "horizon": "1", "switch_language": other}
    switched = client.post(other, data)
    assert checked_unit(switched) == "us"
    assert re.search(r'class="field-unit"[^>]*>mg/dL<', field_block(switched, "glucose"))
    assert 'id="result"' not in switched.content.decode()
    back = client.post(page, {**US_TYPED, "horizon": "1", "switch_language": page})
    assert checked_unit(back) == "si"  # nothing said: SI, as before


def test_a_unit_system_that_is_not_offered_is_refused_on_the_switch(client, tiny_models):
    response = client.post(EN, {**typical_middle(), "units": "metric", "horizon": "1"})
    html = response.content.decode()
    assert 'id="result"' not in html and "unit-choice has-error" in html
    assert "Select a valid choice" in text_of(response)


def test_the_conversion_is_one_plain_function_the_form_calls(db):
    form = PredictionForm(live_catalogue(None), data={"glucose": "９０", "il6": "48",
                                                      "neutrophil_pct": "60%", "albumin": "x",
                                                      "units": "us", "horizon": "1"})
    assert form.is_valid()
    entered = form.entered_values()
    assert entered.values["glucose"] == pytest.approx(90 / 18.016)  # full-width digits
    assert entered.values["il6"] == "48" and entered.values["neutrophil_pct"] == "60%"
    assert entered.values["albumin"] == "x"  # left for the validation to explain
    assert set(entered.conversions) == {"glucose"}
    assert entered.conversions["glucose"].describe() == "90 mg/dL = 5 mmol/L"
    plain = convert_entered({"glucose": "90"}, percent_input=True)
    assert plain.values == {"glucose": "90"} and not plain.conversions
