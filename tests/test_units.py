"""US conventional units and their conversion to the catalogue's units (spec section 10)."""

import pytest

from predictor.catalogue import FACTORS
from predictor.inputs.units import (accepted_units, convert_values, default_unit, find_unit,
                             keys_with_us_unit, si_unit, to_si, us_unit)

# Spec section 10, verbatim: (factor, US value, expected SI value).
SPEC_FACTORS = [
    ("glucose", 100.0, 100 / 18.016),
    ("creatinine", 1.0, 88.42),
    ("calcium", 10.0, 10 / 4.008),
    ("uric_acid", 5.0, 5 * 59.48),
    ("albumin", 4.0, 40.0),
    ("fibrinogen", 300.0, 3.0),
]


@pytest.mark.parametrize(("key", "us_value", "si_value"), SPEC_FACTORS)
def test_it_converts_the_spec_factors_from_us_units(key, us_value, si_value):
    assert to_si(key, us_value, system="us") == pytest.approx(si_value, rel=1e-12)
    assert to_si(key, us_value, unit=us_unit(key).symbol) == pytest.approx(si_value, rel=1e-12)


def test_it_gives_the_spec_units_for_the_spec_factors():
    assert {key: us_unit(key).symbol for key, _, _ in SPEC_FACTORS} == {
        "glucose": "mg/dL", "creatinine": "mg/dL", "calcium": "mg/dL", "uric_acid": "mg/dL",
        "albumin": "g/dL", "fibrinogen": "mg/dL"}


def test_it_converts_a_physiological_glucose_to_the_known_si_value():
    # 90 mg/dL is 5.0 mmol/L, 1.0 mg/dL creatinine about 88 µmol/L: a sanity check on direction.
    assert to_si("glucose", 90, unit="mg/dl") == pytest.approx(4.9956, abs=1e-3)
    assert to_si("creatinine", 1.2, unit="MG/DL") == pytest.approx(106.1, abs=0.01)


def test_it_adds_only_the_documented_extra_us_units():
    assert set(keys_with_us_unit()) == {
        "glucose", "creatinine", "calcium", "uric_acid", "albumin", "fibrinogen",
        "hemoglobin", "prealbumin", "triglyceride"}
    assert to_si("hemoglobin", 13.5, system="us") == pytest.approx(135.0)
    assert to_si("triglyceride", 150, system="us") == pytest.approx(1.6936, abs=1e-3)
    assert to_si("prealbumin", 25, system="us") == pytest.approx(250.0)


def test_it_takes_crp_in_mg_per_dl_only_when_the_unit_is_written():
    assert to_si("crp", 5, system="us") == 5  # the US switch leaves CRP in mg/L
    assert to_si("crp", 5, unit="mg/dL") == pytest.approx(50.0)


@pytest.mark.parametrize("spelling", ["mg/dL", "mg/dl", "MG/DL", "mg / dL", "ｍｇ／ｄＬ"])
def test_it_accepts_common_spellings_of_a_unit(spelling):
    assert find_unit("glucose", spelling) is us_unit("glucose")


@pytest.mark.parametrize(("key", "spelling"), [
    ("creatinine", "µmol/L"), ("creatinine", "μmol/L"), ("creatinine", "umol/l"),
    ("wbc", "10^9/L"), ("wbc", "×10⁹/L"), ("wbc", "x10^9/l"), ("wbc", "K/uL"),
    ("rbc", "×10¹²/L"), ("rbc", "10^12/L"), ("sodium", "mEq/L"), ("alt", "IU/L"),
    ("ferritin", "µg/L"), ("d_dimer", "mg/L FEU"), ("neutrophil_pct", "%"),
])
def test_it_accepts_same_magnitude_spellings_of_the_catalogue_unit(key, spelling):
    unit = find_unit(key, spelling)
    assert unit is si_unit(key)
    assert unit.to_si(7.5) == 7.5


def test_it_refuses_a_unit_the_factor_does_not_take():
    assert find_unit("glucose", "g/L") is None
    assert find_unit("il6", "mg/dL") is None
    with pytest.raises(ValueError):
        to_si("glucose", 100, unit="mmol/dL")


def test_the_catalogue_unit_comes_first_and_is_the_si_default():
    for spec in FACTORS:
        assert accepted_units(spec.key)[0].symbol == spec.unit
        assert default_unit(spec.key, system="si").symbol == spec.unit


def test_the_us_switch_leaves_factors_without_a_us_unit_alone():
    assert default_unit("il6", system="us").symbol == "pg/mL"
    assert default_unit("sodium", system="us").symbol == "mmol/L"
    with pytest.raises(ValueError):
        default_unit("il6", system="metric")


def test_it_converts_a_whole_set_of_values_with_the_us_switch_and_per_value_units():
    converted = convert_values({"glucose": 180.16, "il6": 40, "creatinine": 100,
                                "unknown": 3}, system="us", units={"creatinine": "µmol/L"})
    assert converted == {"glucose": pytest.approx(10.0), "il6": 40, "creatinine": 100,
                         "unknown": 3}
