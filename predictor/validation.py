"""Parsing and plausibility checks of entered lab values (spec section 1 and 2).

Plain functions: the form, the API and the tests call them without a request. Messages are lazy
translations, so they come out in whatever language is active when they are rendered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from predictor.catalogue import FACTORS, FactorSpec

# Full-width digits and punctuation as typed with a Chinese input method.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，－＋％　", "0123456789.,-+% ")
_NUMBER = re.compile(r"^[+-]?(\d+([.]\d*)?|[.]\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class FactorLimits:
    """What validation needs to know about one factor (from the database or the catalogue)."""

    key: str
    is_fraction: bool
    hard_min: float
    hard_max: float
    typical_min: float
    typical_max: float
    unit: str = ""

    @classmethod
    def from_spec(cls, spec: FactorSpec) -> FactorLimits:
        return cls(spec.key, spec.is_fraction, *spec.hard, *spec.typical, unit=spec.unit)


DEFAULT_LIMITS: dict[str, FactorLimits] = {f.key: FactorLimits.from_spec(f) for f in FACTORS}


@dataclass
class CheckedValues:
    """Valid values in model units (fractions 0-1), per-field errors, and typical-range flags."""

    values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, list] = field(default_factory=dict)
    flags: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, key: str, message) -> None:
        self.errors.setdefault(key, []).append(message)


class NotANumber(ValueError):
    pass


def parse_number(raw: object) -> tuple[float, bool] | None:
    """Read one entered value. Returns (number, had a % sign), None when nothing was entered.

    Accepts ``12.5``, ``12,5`` (comma as decimal mark), full-width ``１２．５`` and a trailing
    ``%``. Thousands separators are refused rather than guessed (``1,234.5``).
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise NotANumber(raw)
    if isinstance(raw, (int, float)):
        try:
            number = float(raw)  # a JSON integer of 400 digits overflows here
        except OverflowError:
            raise NotANumber(raw) from None
        if not math.isfinite(number):
            raise NotANumber(raw)
        return number, False
    if not isinstance(raw, str):
        raise NotANumber(raw)
    text = raw.translate(_FULL_WIDTH).strip()
    if not text:
        return None
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if not _NUMBER.match(text):
        raise NotANumber(raw)
    value = float(text)
    if not math.isfinite(value):
        raise NotANumber(raw)
    return value, percent


def _show(value: float) -> str:
    return f"{value:.6g}"


def check_value(key: str, raw: object, limits: FactorLimits, *, percent_input: bool):
    """Check one value. Returns (model-unit value or None, error or None, flag or None)."""
    try:
        parsed = parse_number(raw)
    except NotANumber:
        return None, _("Enter a number, for example 12.5."), None
    if parsed is None:
        return None, None, None
    number, had_percent = parsed
    if limits.is_fraction:
        return _check_fraction(number, had_percent, limits, percent_input=percent_input)
    if not limits.hard_min <= number <= limits.hard_max:
        return None, _out_of_range(number, limits.hard_min, limits.hard_max, limits.unit), None
    return number, None, _flag(number, limits, limits.unit)


def _check_fraction(number: float, had_percent: bool, limits: FactorLimits, *,
                    percent_input: bool):
    as_percent = had_percent or percent_input
    if not as_percent and number > 1:
        return None, _(
            "Give this percentage as a fraction between 0 and 1 (45 % is 0.45), "
            "or add a percent sign (45%)."), None
    value = number / 100.0 if as_percent else number
    if not limits.hard_min <= value <= limits.hard_max:
        return None, _out_of_range(value * 100, limits.hard_min * 100, limits.hard_max * 100,
                                   "%"), None
    return value, None, _flag(value, limits, "%", scale=100)


def _out_of_range(value: float, low: float, high: float, unit: str):
    return _("%(value)s %(unit)s is outside the accepted range %(low)s–%(high)s %(unit)s. "
             "Check the value and its unit.") % {
        "value": _show(value), "low": _show(low), "high": _show(high), "unit": unit}


def _flag(value: float, limits: FactorLimits, unit: str, scale: float = 1):
    if limits.typical_min <= value <= limits.typical_max:
        return None
    return _("%(value)s %(unit)s is outside the typical range %(low)s–%(high)s %(unit)s; "
             "please double-check it.") % {
        "value": _show(value * scale), "low": _show(limits.typical_min * scale),
        "high": _show(limits.typical_max * scale), "unit": unit}


def check_values(raw_values: Mapping[str, object], *,
                 limits: Mapping[str, FactorLimits] = DEFAULT_LIMITS,
                 percent_input: bool, min_values: int = 5) -> CheckedValues:
    """Check every entered value, then the at-least-``min_values`` rule.

    ``percent_input``: the web form takes percentages (45 means 45 %); the API takes the
    models' fractions (0.45) and refuses a bare number above 1 so 45 can never mean 0.45.
    """
    result = CheckedValues()
    for key, raw in raw_values.items():
        if key not in limits:
            result.add_error(key, _("Unknown factor."))
            continue
        value, error, flag = check_value(key, raw, limits[key], percent_input=percent_input)
        if error is not None:
            result.add_error(key, error)
        elif value is not None:
            result.values[key] = value
            if flag is not None:
                result.flags[key] = flag
    if not result.errors and len(result.values) < min_values:
        result.add_error("__all__", _("Please enter at least %(count)d values.") % {
            "count": min_values})
    return result
