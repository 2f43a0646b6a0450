"""US conventional units in the JSON APIs (spec section 10): ``"units"`` in the single and the
batch prediction, the SI values used in the answer, bad units refused, units in the catalogue.

Real database, real tiny TorchScript models: their output depends on every input (the mean of
log1p of the inputs), so the same raw probability from a US request and from the SI request
with the hand-converted values shows that the model got the SI value.
"""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client

from predictor.catalogue import FACTORS_BY_KEY, panel_factor_keys

PREDICT = "/api/v1/predict"
BATCH = "/api/v1/predict/batch"
CATALOGUE = "/api/v1/catalogue"

# Spec section 10's factors, converted by hand with its fixed factors: (key, US unit, a value
# in it, the same value in the catalogue's unit, the catalogue's unit).
SPEC_CASES = [
    ("glucose", "mg/dL", 126.0, 126 / 18.016, "mmol/L"),
    ("creatinine", "mg/dL", 1.2, 1.2 * 88.42, "µmol/L"),
    ("calcium", "mg/dL", 9.5, 9.5 / 4.008, "mmol/L"),
    ("uric_acid", "mg/dL", 5.0, 5 * 59.48, "µmol/L"),
    ("albumin", "g/dL", 4.0, 40.0, "g/L"),
    ("fibrinogen", "mg/dL", 300.0, 3.0, "g/L"),
]
# Every value of the four panels in the middle of its typical range (API units, fractions).
SI_VALUES = {key: sum(FACTORS_BY_KEY[key].typical) / 2
             for panel in (1, 2, 3, 4) for key in panel_factor_keys(panel)}
# The same patient-day written as a US laboratory reports it, for "units": "us".
US_WHOLE = {"glucose": 90.0, "creatinine": 0.9, "calcium": 9.4, "uric_acid": 4.5, "albumin": 4.2,
            "fibrinogen": 280.0, "hemoglobin": 13.5, "prealbumin": 25.0, "triglyceride": 120.0}
US_AS_SI = {"glucose": 90 / 18.016, "creatinine": 0.9 * 88.42, "calcium": 9.4 / 4.008,
            "uric_acid": 4.5 * 59.48, "albumin": 42.0, "fibrinogen": 2.8, "hemoglobin": 135.0,
            "prealbumin": 250.0, "triglyceride": 120 / 88.57}


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


def post(client, url, body, lang="en"):
    return client.post(f"{url}?lang={lang}", data=json.dumps(body),
                       content_type="application/json")


@pytest.mark.parametrize(("key", "unit", "us_value", "si_value", "si_unit"), SPEC_CASES)
def test_a_spec_factor_in_its_us_unit_reaches_the_model_as_its_si_value(
        client, tiny_models, key, unit, us_value, si_value, si_unit):
    us = post(client, PREDICT, {"values": {**SI_VALUES, key: us_value}, "horizon": 1,
                                "units": {key: unit}})
    si = post(client, PREDICT, {"values": {**SI_VALUES, key: si_value}, "horizon": 1})
    assert us.status_code == 200, us.content
    answer = us.json()
    assert answer["combination"] == "1234"
    assert answer["raw_probability"] == pytest.approx(si.json()["raw_probability"], rel=1e-12)
    converted = answer["converted"]
    assert list(converted) == [key]
    assert converted[key]["entered"] == us_value and converted[key]["unit"] == unit
    assert converted[key]["si"] == pytest.approx(si_value, rel=1e-12)
    assert converted[key]["si_unit"] == si_unit
    # The number taken as SI would give another answer (or be refused): the unit matters.
    as_si = post(client, PREDICT, {"values": {**SI_VALUES, key: us_value}, "horizon": 1})
    assert as_si.status_code == 400 or (
        as_si.json()["raw_probability"] != pytest.approx(answer["raw_probability"], rel=1e-9))


def test_units_us_takes_every_factor_with_a_us_unit_in_it_for_all_horizons(client, tiny_models):
    us = post(client, PREDICT, {"values": {**SI_VALUES, **US_WHOLE}, "horizon": "all",
                                "units": "us"})
    si = post(client, PREDICT, {"values": {**SI_VALUES, **US_AS_SI}, "horizon": "all"})
    assert us.status_code == 200, us.content
    for mine, theirs in zip(us.json()["predictions"], si.json()["predictions"]):
        assert mine["raw_probability"] == pytest.approx(theirs["raw_probability"], rel=1e-12)
        assert set(mine["converted"]) == set(US_WHOLE)
        assert theirs["converted"] == {}


def test_si_is_the_default_and_converts_nothing(client, tiny_models):
    plain = post(client, PREDICT, {"values": SI_VALUES, "horizon": 1}).json()
    said = post(client, PREDICT, {"values": SI_VALUES, "horizon": 1, "units": "si"}).json()
    assert plain["raw_probability"] == said["raw_probability"]
    assert plain["converted"] == said["converted"] == {}


def test_crp_is_taken_in_mg_dl_only_when_written_explicitly(client, tiny_models):
    values = {**SI_VALUES, **US_WHOLE, "crp": 5.0}
    switched = post(client, PREDICT, {"values": values, "horizon": 1, "units": "us"}).json()
    assert "crp" not in switched["converted"]
    explicit = post(client, PREDICT, {"values": {**SI_VALUES, "crp": 5.0}, "horizon": 1,
                                      "units": {"crp": "mg/dL"}}).json()
    assert explicit["converted"]["crp"]["si"] == pytest.approx(50.0)
    in_mg_l = post(client, PREDICT, {"values": {**SI_VALUES, "crp": 50.0}, "horizon": 1}).json()
    assert explicit["raw_probability"] == pytest.approx(in_mg_l["raw_probability"], rel=1e-12)


def test_an_explicit_percent_unit_takes_a_percentage_as_typed(client, tiny_models):
    percent = post(client, PREDICT, {"values": {**SI_VALUES, "neutrophil_pct": 57.5},
                                     "horizon": 1, "units": {"neutrophil_pct": "%"}})
    fraction = post(client, PREDICT, {"values": {**SI_VALUES, "neutrophil_pct": 0.575},
                                      "horizon": 1})
    assert percent.status_code == 200, percent.content
    assert percent.json()["raw_probability"] == fraction.json()["raw_probability"]


@pytest.mark.parametrize(("lang", "name"), [("en", "Glucose"), ("zh-hans", "葡萄糖")])
def test_a_unit_the_factor_does_not_accept_is_a_400_listing_the_accepted_ones(
        client, tiny_models, lang, name):
    response = post(client, PREDICT, {"values": SI_VALUES, "horizon": 1,
                                      "units": {"glucose": "mg/L"}}, lang=lang)
    assert response.status_code == 400
    [message] = response.json()["errors"]["glucose"]
    assert "mg/L" in message and name in message
    assert "mmol/L" in message and "mg/dL" in message


@pytest.mark.parametrize("units", ["metric", 3, ["us"], {"sugar": "mg/dL"}, {"glucose": 18}])
def test_units_that_are_not_a_system_or_a_map_of_factor_units_are_refused(client, tiny_models,
                                                                          units):
    response = post(client, PREDICT, {"values": SI_VALUES, "horizon": 1, "units": units})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors.get("units") or errors.get("glucose")


@pytest.mark.parametrize(("lang", "start"), [("en", "2000 mg/dL = 111 mmol/L: "),
                                             ("zh-hans", "2000 mg/dL = 111 mmol/L：")])
def test_a_limit_message_shows_the_value_as_entered_and_its_si_equivalent(client, tiny_models,
                                                                          lang, start):
    response = post(client, PREDICT, {"values": {**SI_VALUES, "glucose": 2000}, "horizon": 1,
                                      "units": "us"}, lang=lang)
    assert response.status_code == 400
    [message] = response.json()["errors"]["glucose"]
    assert message.startswith(start), message
    assert "0.5" in message and "60" in message  # the catalogue's limits, in mmol/L


def test_a_typical_range_warning_shows_both_values(client, tiny_models):
    answer = post(client, PREDICT, {"values": {**SI_VALUES, "glucose": 200}, "horizon": 1,
                                    "units": {"glucose": "mg/dl"}}).json()
    assert any(w.startswith("Glucose: 200 mg/dL = 11.1 mmol/L: ") for w in answer["warnings"])


def test_the_catalogue_lists_every_unit_each_factor_accepts(client, db):
    factors = {f["key"]: f for f in client.get(CATALOGUE + "?lang=en").json()["factors"]}
    for key, unit, us_value, si_value, si_unit in SPEC_CASES:
        symbols = [u["symbol"] for u in factors[key]["units"]]
        assert symbols[0] == si_unit and unit in symbols
        assert factors[key]["us_unit"] == unit
        us = next(u for u in factors[key]["units"] if u["symbol"] == unit)
        assert us["us"] is True
        assert us_value * us["multiply"] / us["divide"] == pytest.approx(si_value, rel=1e-12)
    assert factors["crp"]["us_unit"] is None
    assert "mg/dL" in [u["symbol"] for u in factors["crp"]["units"]]
    assert factors["il6"]["us_unit"] is None and len(factors["il6"]["units"]) == 1
    assert factors["neutrophil_pct"]["units"][0]["divide"] == 100.0


# --- the batch API -------------------------------------------------------------------------------

def test_batch_units_apply_to_every_row_and_a_row_may_say_its_own(client, tiny_models):
    us_row = {**SI_VALUES, **US_WHOLE}
    si_row = {**SI_VALUES, **US_AS_SI}
    body = {"units": "us", "horizon": 1, "rows": [
        {"id": "us", "values": us_row},
        {"id": "si", "values": si_row, "units": "si"},
        {"id": "glucose", "values": {**si_row, "glucose": 90.0}, "units": {"glucose": "mg/dL"}},
    ]}
    response = post(client, BATCH, body)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    raws = [r["predictions"][0]["raw_probability"] for r in results]
    assert raws[1] == pytest.approx(raws[0], rel=1e-12)
    assert raws[2] == pytest.approx(raws[0], rel=1e-12)
    assert set(results[0]["converted"]) == set(US_WHOLE)
    assert "converted" not in results[1]
    assert results[2]["converted"]["glucose"]["si"] == pytest.approx(90 / 18.016)
    single = post(client, PREDICT, {"values": si_row, "horizon": 1}).json()
    assert raws[0] == pytest.approx(single["raw_probability"], rel=1e-12)


def test_a_bad_row_unit_fails_that_row_alone_with_the_accepted_units(client, tiny_models):
    body = {"horizon": 1, "rows": [
        {"id": 1, "values": SI_VALUES},
        {"id": 2, "values": SI_VALUES, "units": {"creatinine": "mmol/dL"}},
        {"id": 3, "values": {**SI_VALUES, "glucose": 2000}, "units": "us"},
        {"id": 4, "values": SI_VALUES},
    ]}
    response = post(client, BATCH, body, lang="zh-hans")
    assert response.status_code == 200
    data = response.json()
    assert data["summary"] == {"rows": 4, "scored": 2, "failed": 2}
    results = data["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["id"] for r in results] == [1, 2, 3, 4]
    assert results[1]["status"] == 400
    [message] = results[1]["errors"]["creatinine"]
    assert "肌酐" in message and "µmol/L" in message and "mg/dL" in message
    assert results[2]["errors"]["glucose"][0].startswith("2000 mg/dL = 111 mmol/L：")
    assert results[3]["predictions"][0]["raw_probability"] == \
        results[0]["predictions"][0]["raw_probability"]


def test_a_bad_top_level_unit_refuses_the_whole_batch(client, tiny_models):
    response = post(client, BATCH, {"horizon": 1, "units": {"albumin": "mg/dL"},
                                    "rows": [{"values": SI_VALUES}]})
    assert response.status_code == 400
    assert "g/dL" in response.json()["errors"]["albumin"][0]


def test_a_sheet_upload_takes_unlabelled_columns_in_us_units_when_asked(client, tiny_models):
    keys = list(SI_VALUES)
    values = {**SI_VALUES, **US_WHOLE}
    lines = ["day\t" + "\t".join(keys), "0\t" + "\t".join(repr(values[k]) for k in keys)]

    def upload(**fields):
        sheet = io.BytesIO(("\n".join(lines) + "\n").encode())
        sheet.name = "course.csv"
        return client.post(f"{BATCH}?lang=en", data={"sheet": sheet, "horizon": "1", **fields})

    in_us = upload(units="us")
    assert in_us.status_code == 200, in_us.content
    raw = in_us.json()["results"][0]["predictions"][0]["raw_probability"]
    single = post(client, PREDICT, {"values": {**SI_VALUES, **US_AS_SI}, "horizon": 1}).json()
    assert raw == pytest.approx(single["raw_probability"], rel=1e-9)
    # 90 mmol/L of glucose, 280 g/L of fibrinogen: that row is refused, naming them (a bad
    # cell fails its row, as a JSON row's bad value does, not the whole sheet)
    in_si = upload()
    assert in_si.status_code == 200
    [row] = in_si.json()["results"]
    assert row["status"] == 400 and "predictions" not in row
    assert {"glucose", "fibrinogen"} <= set(row["errors"])
