"""Parsing and plausibility checks of entered lab values (spec section 1 and 2).

Plain functions: the form, the API and the tests call them without a request. Messages are lazy
translations, so they come out in whatever language is active when they are rendered.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import FACTORS, FACTORS_BY_KEY, FactorSpec
from predictor.inputs.cart_ranges_data import CART_RANGES

# Full-width digits and punctuation as typed with a Chinese input method; the ideographic full
# stop (what "." gives in a Chinese input mode) and the Arabic decimal separator are decimal points.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，－＋％　。\u066b", "0123456789.,-+% ..")
# Characters used only to group thousands (never a decimal mark): spaces of every width, the
# Swiss apostrophe and the Arabic thousands separator.
_GROUP_ONLY = " \u00a0\u2009\u202f'\u2019\u066c"
# Plain ASCII digits with at most one "." (always the decimal point): unambiguous.
_PLAIN = re.compile(r"^[+-]?\d{1,15}(\.\d{1,15})?$")
_NUMBER = re.compile(r"^[+-]?(\d+([.]\d*)?|[.]\d+)([eE][+-]?\d+)?$")
# DOTALL and fullmatch: the pattern matches any text, so it never returns None (text holding a
# line break once failed to match and was subscripted).
_SIGN = re.compile(r"(?P<sign>[+-]?)(?P<mantissa>.*?)(?P<exponent>[eE][+-]?\d+)?", re.DOTALL)
# Control characters (line breaks included) inside a value: a paste gone wrong, never a number.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# "1,234": a comma followed by exactly three digits after a well-formed first group reads either
# as a decimal comma (1.234) or as a thousands separator (1234).
_COMMA_THREE = re.compile(r"^[1-9]\d{0,2},\d{3}$")
# Grouped thousands with a "," or "." or space-like separator and an optional decimal part
# marked with the other character: "12,345,678", "1,234.5", "1.234.567", "1.234,5", "1 234,5".
_GROUPED = [
    re.compile(r"^[1-9]\d{0,2}(,\d{3})+([.]\d*)?$"),
    re.compile(r"^[1-9]\d{0,2}([.]\d{3}){2,}(,\d*)?$"),
    re.compile(r"^[1-9]\d{0,2}([.]\d{3})+,\d*$"),
    re.compile(r"^[1-9]\d{0,2}([%s]\d{3})+([.,]\d*)?$" % re.escape(_GROUP_ONLY)),
]


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
    # The development CAR-T patients' 0.5-99.5 percentile (issue 16 item 5); None: not known,
    # and the typical (healthy) range warns as before.
    cart_min: float | None = None
    cart_max: float | None = None

    @classmethod
    def from_spec(cls, spec: FactorSpec) -> FactorLimits:
        cart = CART_RANGES.get(spec.key, (None, None))
        return cls(spec.key, spec.is_fraction, *spec.hard, *spec.typical, unit=spec.unit,
                   cart_min=cart[0], cart_max=cart[1])

    @property
    def uses_cart_range(self) -> bool:
        return self.cart_min is not None and self.cart_max is not None

    # A value is flagged only when it is unusual both for healthy adults and for CAR-T
    # patients: a haemoglobin of 140 g/L is above most CAR-T patients' but not worth a check.
    @property
    def warn_min(self) -> float:
        """Below this a value is flagged (the typical range alone where no CAR-T range)."""
        if not self.uses_cart_range:
            return self.typical_min
        return min(self.cart_min, self.typical_min)

    @property
    def warn_max(self) -> float:
        if not self.uses_cart_range:
            return self.typical_max
        return max(self.cart_max, self.typical_max)


DEFAULT_LIMITS: dict[str, FactorLimits] = {f.key: FactorLimits.from_spec(f) for f in FACTORS}


class Message:
    """A translatable message and its values, worded only when shown, in the language active
    then. ``_("...") % values`` would word it at once: for a 10,000-row sheet with flagged
    values that is most of the checking time, and the language at check time may not be the
    one the answer is shown in."""

    __slots__ = ("template", "values")

    def __init__(self, template, values: Mapping[str, object]):
        self.template = template
        self.values = values

    def __str__(self) -> str:
        return str(self.template) % self.values

    def __repr__(self) -> str:
        return f"Message({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


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


class AmbiguousNumber(NotANumber):
    """A value with two readings a thousandfold apart (``1,234``): both kept, neither chosen."""

    def __init__(self, raw: object, *, thousands: str, decimal: str):
        super().__init__(raw)
        self.thousands = thousands
        self.decimal = decimal


class GroupedNumber(NotANumber):
    """A value written with thousands separators (``12,345,678``): one reading, still refused so
    that a separator never has to be guessed; ``plain`` is how to write it."""

    def __init__(self, raw: object, *, plain: str):
        super().__init__(raw)
        self.plain = plain


def parse_number(raw: object) -> tuple[float, bool] | None:
    """Read one entered value. Returns (number, had a % sign), None when nothing was entered.

    Accepts ``12.5``, ``12,5`` (comma as decimal mark), full-width ``１２．５``, digits of any
    script, an exponent and a trailing ``%``. ``.`` alone is always the decimal point
    (``1.234`` is 1.234). Never guesses a separator: ``1,234`` (1234 or 1.234?) raises
    ``AmbiguousNumber`` with both readings; a value with thousands separators (``1,234.5``,
    ``1 234``) raises ``GroupedNumber`` with the plain way to write it. JSON numbers are
    unambiguous and taken as they are.
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
    if _PLAIN.match(raw):  # the common case, "12.5" or "48": one reading, nothing to decide
        return float(raw), False
    text = _ascii_digits(raw.translate(_FULL_WIDTH)).strip()
    if not text:
        return None
    if _CONTROL.search(text):
        raise NotANumber(raw)
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    suffix = "%" if percent else ""
    parts = _SIGN.fullmatch(text)
    sign, mantissa, exponent = parts["sign"], parts["mantissa"], parts["exponent"] or ""
    if _COMMA_THREE.match(mantissa):
        raise AmbiguousNumber(raw, thousands=sign + mantissa.replace(",", "") + exponent + suffix,
                              decimal=sign + mantissa.replace(",", ".") + exponent + suffix)
    if any(pattern.match(mantissa) for pattern in _GROUPED):
        raise GroupedNumber(raw, plain=sign + _ungrouped(mantissa) + exponent + suffix)
    if mantissa.count(",") == 1 and "." not in mantissa:
        text = sign + mantissa.replace(",", ".") + exponent
    if not _NUMBER.match(text):
        raise NotANumber(raw)
    value = float(text)
    if not math.isfinite(value):
        raise NotANumber(raw)
    return value, percent


def _ascii_digits(text: str) -> str:
    # float() reads Arabic-Indic or Devanagari digits too; made ASCII here so the patterns
    # and the messages that show a reading deal with one kind of digit.
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def _ungrouped(mantissa: str) -> str:
    """``1,234.5`` -> ``1234.5``, ``1.234,5`` -> ``1234.5``, ``1 234`` -> ``1234``."""
    digits = re.split(r"[^\d]", mantissa)
    last_separator = mantissa[len(mantissa) - len(digits[-1]) - 1]
    grouping = mantissa[len(digits[0])]
    if len(digits) > 1 and last_separator != grouping:  # the last one marks the decimals
        return "".join(digits[:-1]) + "." + digits[-1]
    return "".join(digits)


def _show(value: float) -> str:
    return f"{value:.6g}"


def check_value(key: str, raw: object, limits: FactorLimits, *, percent_input: bool):
    """Check one value. Returns (model-unit value or None, error or None, flag or None)."""
    try:
        parsed = parse_number(raw)
    except AmbiguousNumber as exc:
        return None, _("%(value)s could mean %(thousands)s or %(decimal)s: write %(thousands)s "
                       "or %(decimal)s.") % {"value": str(raw).strip(),
                                             "thousands": exc.thousands,
                                             "decimal": exc.decimal}, None
    except GroupedNumber as exc:
        return None, _("Write %(value)s without thousands separators: %(plain)s.") % {
            "value": str(raw).strip(), "plain": exc.plain}, None
    except NotANumber:
        return None, _("Enter a number, for example 12.5."), None
    if parsed is None:
        return None, None, None
    number, had_percent = parsed
    if limits.is_fraction:
        return _check_fraction(number, had_percent, limits, percent_input=percent_input)
    if had_percent:  # "5%" for glucose: never read as 5 mmol/L
        return None, not_a_percentage(key), None
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


_NOT_A_PERCENTAGE = _("%(factor)s is not a percentage; remove the percent sign or the "
                      "percentage format.")


def _name(key: str) -> str:
    spec = FACTORS_BY_KEY.get(key)
    if spec is None:
        return key
    return spec.name_zh if (translation.get_language() or "").startswith("zh") else spec.name_en


factor_name = lazy(_name, str)  # a factor's name in the language active when it is shown


def not_a_percentage(key: str) -> Message:
    """The refusal of a percent sign (or a percentage format) on a factor that is no
    percentage, the same on the form, the APIs and sheets."""
    return Message(_NOT_A_PERCENTAGE, {"factor": factor_name(key)})


_OUT_OF_RANGE = _("%(value)s %(unit)s is outside the accepted range %(low)s–%(high)s %(unit)s. "
                  "Check the value and its unit.")
_OUT_OF_TYPICAL = _("%(value)s %(unit)s is outside the typical range %(low)s–%(high)s %(unit)s; "
                    "please double-check it.")
_UNUSUAL_FOR_CART = _("%(value)s %(unit)s is unusual even for CAR-T patients (usual range of "
                      "healthy adults and of the development CAR-T patients: %(low)s–%(high)s "
                      "%(unit)s); please check the value and its unit.")


def _out_of_range(value: float, low: float, high: float, unit: str) -> Message:
    return Message(_OUT_OF_RANGE, {"value": _show(value), "low": _show(low), "high": _show(high),
                                   "unit": unit})


def _flag(value: float, limits: FactorLimits, unit: str, scale: float = 1) -> Message | None:
    # The one place the flag rule lives (batch_intake applies warn_min/warn_max column-wise).
    if limits.warn_min <= value <= limits.warn_max:
        return None
    return Message(_UNUSUAL_FOR_CART if limits.uses_cart_range else _OUT_OF_TYPICAL, {
        "value": _show(value * scale), "low": _show(limits.warn_min * scale),
        "high": _show(limits.warn_max * scale), "unit": unit})


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


# --- many rows of plain numbers at once (batch scoring) ------------------------------------------

class LazyFlags(Mapping):
    """One row's typical-range flags, each message made only when read: a 10,000-row batch
    flags hundreds of thousands of values, and most answers need only which keys were flagged."""

    __slots__ = ("_values", "_keys", "_limits")

    def __init__(self, values: Mapping[str, float], keys: tuple[str, ...],
                 limits: Mapping[str, FactorLimits]):
        self._values, self._keys, self._limits = values, keys, limits

    def __getitem__(self, key: str) -> Message:
        if key not in self._keys:
            raise KeyError(key)
        limits = self._limits[key]
        if limits.is_fraction:
            return _flag(self._values[key], limits, "%", scale=100)
        return _flag(self._values[key], limits, limits.unit)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
