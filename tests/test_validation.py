"""Parsing and plausibility checks of entered values (predictor.inputs.validation), without a
request."""

from __future__ import annotations

import dataclasses

import math

import pytest
from django.utils import translation

from predictor.catalogue import FACTORS, FACTORS_BY_KEY
from predictor.inputs.validation import (
    DEFAULT_LIMITS,
    FactorLimits,
    AmbiguousNumber,
    GroupedNumber,
    NotANumber,
    check_value,
    check_values,
    parse_number,
)

CRP = DEFAULT_LIMITS["crp"]
NEUT_PCT = DEFAULT_LIMITS["neutrophil_pct"]
FIVE_CYTOKINES = {"il2": 3, "il4": 2, "il6": 40, "il10": 5, "tnf_alpha": 4}


def chinese(msgid: str) -> str | None:
    """The compiled Chinese text of ``msgid``, or None where the catalogue lacks it."""
    with translation.override("zh-hans"):
        text = translation.gettext(msgid)
    return None if text == msgid else text


# --- parse_number --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("12.5", (12.5, False)),
    ("12,5", (12.5, False)),  # comma as the decimal mark
    ("  7 ", (7.0, False)),
    (".5", (0.5, False)),
    ("5.", (5.0, False)),
    ("+3", (3.0, False)),
    ("-0.25", (-0.25, False)),
    ("1e3", (1000.0, False)),
    ("０.５", (0.5, False)),  # full-width digits
    ("０．５", (0.5, False)),  # full-width point
    ("１２，５", (12.5, False)),  # full-width comma
    ("45%", (45.0, True)),
    ("45 %", (45.0, True)),
    ("４５％", (45.0, True)),
    ("45,5%", (45.5, True)),
    (3, (3.0, False)),
    (0.45, (0.45, False)),
])
def test_it_reads_numbers_as_typed(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000"])
def test_nothing_entered_is_none(raw):
    assert parse_number(raw) is None


@pytest.mark.parametrize("raw", [
    "abc", "12a", "1,234.5", "1.234,5", "1,2,3", "nan", "NaN", "inf", "-Infinity", "1e999",
    "%", "4 5", "0x10", "--1", True, False, float("nan"), float("inf"), [1], {"a": 1},
    10 ** 400, "1" + "0" * 400,
])
def test_it_refuses_what_is_not_a_number(raw):
    with pytest.raises(NotANumber):
        parse_number(raw)


# --- one value: hard limits and typical range ----------------------------------------------------

def test_a_value_in_the_typical_range_is_accepted_without_a_flag():
    assert check_value("crp", "5", CRP, percent_input=False) == (5.0, None, None)


def test_without_a_car_t_range_the_typical_range_flags():
    healthy_only = dataclasses.replace(CRP, cart_min=None, cart_max=None)
    value, error, flag = check_value("crp", "300", healthy_only, percent_input=False)
    assert (value, error) == (300.0, None)
    with translation.override("en"):
        assert str(flag) == ("300 mg/L is outside the typical range 0–10 mg/L; "
                             "please double-check it.")


def test_a_value_unusual_even_for_car_t_patients_is_accepted_and_flagged():
    assert check_value("crp", "300", CRP, percent_input=False) == (300.0, None, None)
    value, error, flag = check_value("crp", "900", CRP, percent_input=False)
    assert (value, error) == (900.0, None)
    with translation.override("en"):
        assert str(flag) == ("900 mg/L is unusual even for CAR-T patients (usual range of healthy "
                             "adults and of the development CAR-T patients: 0–315.4 mg/L); "
                             "please check the value and its unit.")


def test_a_message_is_worded_in_the_language_active_when_it_is_shown():
    _, _, flag = check_value("crp", "900", CRP, percent_input=False)
    _, error, _ = check_value("crp", "5000", CRP, percent_input=False)
    with translation.override("zh-hans"):
        chinese = (str(flag), str(error))
    with translation.override("en"):
        english = (str(flag), str(error))
    assert "unusual even for CAR-T" in english[0] and "accepted range" in english[1]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in chinese)


@pytest.mark.parametrize("raw", ["1000.5", "-1", "5000"])
def test_a_value_outside_the_hard_limits_is_refused(raw):
    value, error, flag = check_value("crp", raw, CRP, percent_input=False)
    assert value is None and flag is None
    with translation.override("en"):  # worded when shown, in the language active then
        assert str(error).endswith("is outside the accepted range 0–1000 mg/L. "
                                   "Check the value and its unit.")


@pytest.mark.parametrize("raw", ["0", "1000"])
def test_the_hard_limits_themselves_are_accepted(raw):
    value, error, _flag = check_value("crp", raw, CRP, percent_input=False)
    assert error is None and value == float(raw)


def test_every_catalogue_factor_accepts_the_middle_of_its_typical_range():
    for spec in FACTORS:
        middle = sum(spec.typical) / 2
        value, error, flag = check_value(spec.key, middle, DEFAULT_LIMITS[spec.key],
                                         percent_input=False)
        assert (value, error, flag) == (middle, None, None), spec.key


def test_limits_may_come_from_elsewhere_than_the_catalogue():
    limits = {"crp": FactorLimits("crp", False, 0, 50, 0, 5, unit="mg/L")}
    result = check_values({"crp": "60"}, limits=limits, percent_input=False, min_values=1)
    assert list(result.errors) == ["crp"]


# --- percentages ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("0.6", 0.6), (0.6, 0.6), ("60%", 0.6), ("６０％", 0.6), ("1", 1.0), ("0", 0.0)])
def test_the_api_takes_fractions_and_converts_a_percent_sign(raw, expected):
    value, error, _flag = check_value("neutrophil_pct", raw, NEUT_PCT, percent_input=False)
    assert error is None
    assert value == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["45", 45, "1.5", 60.0])
def test_the_api_refuses_a_bare_percentage_above_one(raw):
    value, error, _flag = check_value("neutrophil_pct", raw, NEUT_PCT, percent_input=False)
    assert value is None
    with translation.override("en"):  # a lazy message: rendered in the language active now
        assert str(error) == ("Give this percentage as a fraction between 0 and 1 "
                              "(45 % is 0.45), or add a percent sign (45%).")


@pytest.mark.parametrize("raw, expected", [("60", 0.6), ("60%", 0.6), ("0.5", 0.005), ("100", 1)])
def test_the_form_takes_percentages(raw, expected):
    value, error, _flag = check_value("neutrophil_pct", raw, NEUT_PCT, percent_input=True)
    assert error is None
    assert value == pytest.approx(expected)


@pytest.mark.parametrize("raw, percent_input", [("120", True), ("120%", False), ("-5%", False)])
def test_a_percentage_beyond_0_100_is_refused_in_percent(raw, percent_input):
    value, error, _flag = check_value("neutrophil_pct", raw, NEUT_PCT,
                                      percent_input=percent_input)
    assert value is None
    with translation.override("en"):
        assert "is outside the accepted range 0–100 %" in str(error)


def test_a_percentage_outside_its_typical_range_is_flagged_in_percent():
    healthy_only = dataclasses.replace(NEUT_PCT, cart_min=None, cart_max=None)
    value, error, flag = check_value("neutrophil_pct", "90%", healthy_only, percent_input=False)
    assert value == pytest.approx(0.9) and error is None
    with translation.override("en"):
        assert str(flag) == "90 % is outside the typical range 40–75 %; please double-check it."
    # with the CAR-T range (11.39-98.31 %), 90 % is usual and 99.5 % is not
    assert check_value("neutrophil_pct", "90%", NEUT_PCT, percent_input=False)[2] is None
    with translation.override("en"):
        flag = str(check_value("neutrophil_pct", "99.5%", NEUT_PCT, percent_input=False)[2])
    assert flag.startswith("99.5 % is unusual even for CAR-T patients") and "11.39–98.31 %" in flag


def test_a_percent_sign_on_a_non_percentage_is_refused_not_ignored():
    # "5%" of CRP could be a typo or a value from another field: never read as 5 mg/L.
    value, error, _flag = check_value("crp", "5%", CRP, percent_input=True)
    assert value is None and error is not None


# --- check_values: all values and the five-value rule --------------------------------------------

def test_valid_values_come_back_in_model_units_with_their_flags():
    raw = dict(FIVE_CYTOKINES, neutrophil_pct="45%", crp="900", il17a="")
    result = check_values(raw, percent_input=False)
    assert result.ok
    assert result.values == pytest.approx(dict(FIVE_CYTOKINES, neutrophil_pct=0.45, crp=900.0))
    assert "il17a" not in result.values  # empty means not entered
    # IL-6 40 pg/mL is above the healthy 0-10 but usual in CAR-T patients; CRP 900 mg/L is not
    assert set(result.flags) == {"crp"}


def test_each_bad_value_is_reported_under_its_key():
    raw = dict(FIVE_CYTOKINES, crp="abc", sodium="20", il99="1")
    result = check_values(raw, percent_input=False)
    assert set(result.errors) == {"crp", "sodium", "il99"}
    with translation.override("en"):
        assert [str(m) for m in result.errors["il99"]] == ["Unknown factor."]


@pytest.mark.parametrize("count", [0, 1, 4])
def test_fewer_than_five_values_are_refused(count):
    raw = dict(list(FIVE_CYTOKINES.items())[:count])
    with translation.override("en"):
        result = check_values(raw, percent_input=False)
        assert [str(m) for m in result.errors["__all__"]] == ["Please enter at least 5 values."]


def test_blank_fields_do_not_count_towards_five():
    raw = dict(list(FIVE_CYTOKINES.items())[:4], il17a="  ", tnf_alpha=None)
    assert "__all__" in check_values(raw, percent_input=False).errors


def test_five_values_are_enough():
    assert check_values(FIVE_CYTOKINES, percent_input=False).ok


def test_the_minimum_is_configurable():
    assert check_values({"il2": 3}, percent_input=False, min_values=1).ok
    assert not check_values(FIVE_CYTOKINES, percent_input=False, min_values=6).ok


def test_the_five_value_rule_waits_for_the_other_errors_to_be_fixed():
    # A wrong value plus too few: report the wrong value; the count follows once it is fixed.
    result = check_values({"il2": "x", "il4": 2}, percent_input=False)
    assert list(result.errors) == ["il2"]


def test_every_factor_key_is_known():
    assert set(DEFAULT_LIMITS) == set(FACTORS_BY_KEY)


# --- languages -----------------------------------------------------------------------------------

MESSAGES = [
    ("Enter a number, for example 12.5.", lambda: check_value("crp", "x", CRP,
                                                                 percent_input=False)[1]),
    ("Unknown factor.", lambda: check_values({"foo": 1}, percent_input=False).errors["foo"][0]),
    ("Please enter at least 5 values.",
     lambda: check_values({"il2": 1}, percent_input=False).errors["__all__"][0]),
    ("20 mmol/L is outside the accepted range 90–200 mmol/L. Check the value and its unit.",
     lambda: check_value("sodium", "20", DEFAULT_LIMITS["sodium"], percent_input=False)[1]),
    ("Give this percentage as a fraction between 0 and 1 (45 % is 0.45), or add a percent "
     "sign (45%).", lambda: check_value("neutrophil_pct", "45", NEUT_PCT, percent_input=False)[1]),
]
MSGIDS = {
    "Enter a number, for example 12.5.": "Enter a number, for example 12.5.",
    "Unknown factor.": "Unknown factor.",
    "Please enter at least 5 values.": "Please enter at least %(count)d values.",
    "20 mmol/L is outside the accepted range 90–200 mmol/L. Check the value and its unit.":
        "%(value)s %(unit)s is outside the accepted range %(low)s–%(high)s %(unit)s. "
        "Check the value and its unit.",
    "Give this percentage as a fraction between 0 and 1 (45 % is 0.45), or add a percent "
    "sign (45%).": "Give this percentage as a fraction between 0 and 1 (45 % is 0.45), "
                   "or add a percent sign (45%).",
}


@pytest.mark.parametrize("english, make", MESSAGES, ids=[m[0][:30] for m in MESSAGES])
def test_messages_in_english(english, make):
    with translation.override("en"):
        assert str(make()) == english


@pytest.mark.parametrize("english, make", MESSAGES, ids=[m[0][:30] for m in MESSAGES])
def test_messages_in_chinese(english, make):
    assert chinese(MSGIDS[english]) is not None, "not in the compiled Chinese catalogue"
    with translation.override("zh-hans"):
        text = str(make())
    assert text != english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text


def test_a_message_follows_the_language_active_when_it_is_rendered():
    error = check_value("crp", "x", CRP, percent_input=False)[1]  # lazy, no % formatting
    with translation.override("en"):
        assert str(error) == "Enter a number, for example 12.5."
    with translation.override("zh-hans"):
        assert str(error) != "Enter a number, for example 12.5."


def test_not_a_number_never_slips_through_as_nan():
    result = check_values(dict(FIVE_CYTOKINES, crp=float("nan")), percent_input=False)
    assert "crp" in result.errors
    assert all(math.isfinite(v) for v in result.values.values())


# --- shapes that could be read two ways (issue 10, item 4) ----------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("0,45", (0.45, False)),  # a comma before fewer or more than three digits: decimal only
    ("1,23", (1.23, False)),
    ("1,2345", (1.2345, False)),
    ("0,450", (0.45, False)),  # "0" cannot start a thousands group
    ("00,450", (0.45, False)),
    ("1234,567", (1234.567, False)),  # four digits before: no thousands group
    ("1.234", (1.234, False)),  # "." alone is always the decimal point
    ("1234", (1234.0, False)),
    ("１２３４", (1234.0, False)),
    ("45%", (45.0, True)),
    ("+5", (5.0, False)),
    (".5", (0.5, False)),
    (",5", (0.5, False)),
    ("5.", (5.0, False)),
    ("5,", (5.0, False)),
    ("1e3", (1000.0, False)),
    ("1,5e3", (1500.0, False)),
    ("1。5", (1.5, False)),  # ideographic full stop, as a Chinese input mode types "."
    ("١٢٣٤", (1234.0, False)),  # Arabic-Indic digits
    ("١٫٥", (1.5, False)),  # Arabic decimal separator
])
def test_it_accepts_shapes_with_one_reading_only(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw, thousands, decimal", [
    ("1,234", "1234", "1.234"),
    ("123,456", "123456", "123.456"),
    ("-1,234", "-1234", "-1.234"),
    ("+1,234", "+1234", "+1.234"),
    ("1,234e3", "1234e3", "1.234e3"),
    ("1,234%", "1234%", "1.234%"),
    ("１，２３４", "1234", "1.234"),  # full-width comma
    (" 1,000 ", "1000", "1.000"),
])
def test_it_refuses_a_thousandfold_ambiguity_with_both_readings(raw, thousands, decimal):
    with pytest.raises(AmbiguousNumber) as refused:
        parse_number(raw)
    assert (refused.value.thousands, refused.value.decimal) == (thousands, decimal)


@pytest.mark.parametrize("raw, plain", [
    ("1,234.5", "1234.5"),
    ("1.234,5", "1234.5"),
    ("12,345,678", "12345678"),
    ("1.234.567", "1234567"),
    ("1.234.567,89", "1234567.89"),
    ("1,234,567.89", "1234567.89"),
    ("1 234", "1234"),
    ("1 234,5", "1234.5"),
    ("1\u00a0234", "1234"),  # no-break space
    ("1\u202f234", "1234"),  # narrow no-break space
    ("1'234", "1234"),
    ("١٬٢٣٤", "1234"),  # Arabic thousands separator
])
def test_it_refuses_thousands_separators_and_says_how_to_write_the_value(raw, plain):
    with pytest.raises(GroupedNumber) as refused:
        parse_number(raw)
    assert refused.value.plain == plain


@pytest.mark.parametrize("raw", ["1,234,5", "1,2,3", "1.5.5", "1、5", "4 5", "12, 15", "1,23,456",
                                 "一千", "1_000", "e5", "1,234 567"])
def test_it_refuses_other_separator_shapes_as_not_a_number(raw):
    with pytest.raises(NotANumber) as refused:
        parse_number(raw)
    assert type(refused.value) is NotANumber


@pytest.mark.parametrize("language, message", [
    ("en", "1,234 could mean 1234 or 1.234: write 1234 or 1.234."),
    ("zh-hans", "1,234 可能是 1234，也可能是 1.234：请写成 1234 或 1.234。"),
])
def test_the_ambiguity_message_shows_both_readings_in_the_active_language(language, message):
    with translation.override(language):
        _value, error, _flag = check_value("il6", "1,234", DEFAULT_LIMITS["il6"],
                                           percent_input=False)
        assert str(error) == message


def test_the_grouped_message_says_how_to_write_the_value():
    with translation.override("en"):
        _value, error, _flag = check_value("il6", "1,234.5", DEFAULT_LIMITS["il6"],
                                           percent_input=False)
        assert str(error) == "Write 1,234.5 without thousands separators: 1234.5."
    assert chinese("Write %(value)s without thousands separators: %(plain)s.")


def test_a_json_number_is_never_ambiguous():
    assert parse_number(1234) == (1234.0, False)
    assert parse_number(1.234) == (1.234, False)
    assert check_values({**FIVE_CYTOKINES, "il6": "1,234"}, percent_input=False).errors["il6"]
