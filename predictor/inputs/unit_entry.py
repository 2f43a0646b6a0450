"""Values as a user entered them, in the units they chose, turned into the catalogue's units
before ``predictor.scoring.prediction.predict`` (spec section 10), with a record of every
conversion.

The form's unit switch and the APIs' ``"units"`` come here; the rules about units themselves
(which units a factor accepts, the fixed factors) are ``predictor.inputs.units``. The plausibility
limits and typical ranges stay the catalogue's, in SI: they are applied to the converted value,
and the messages about a converted value are prefixed with what was entered and what it became
("126 mg/dL = 6.99 mmol/L: ..."), so the user sees both numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import FACTORS_BY_KEY
from predictor.inputs.units import SYSTEMS, Unit, accepted_units, default_unit, find_unit, si_unit
from predictor.inputs.validation import NotANumber, factor_name, parse_number

UNKNOWN_UNITS = _("\"units\" must be \"si\", \"us\", or a JSON object mapping factor keys to "
                  "units such as {\"glucose\": \"mg/dL\"}.")


def show_converted(value: float) -> str:
    """A converted number as shown to a physician: three significant digits (6.99 mmol/L,
    106 µmol/L), whole numbers from 1,000 up; the exact value is what the model gets."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def show_entered(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True)
class Conversion:
    """One value entered in a unit other than the catalogue's, and what the model got."""

    key: str
    entered: float
    unit: str
    si: float
    si_unit: str

    def describe(self) -> str:
        """``126 mg/dL = 6.99 mmol/L``."""
        return (f"{show_entered(self.entered)} {self.unit} = "
                f"{show_converted(self.si)} {self.si_unit}")

    def as_json(self) -> dict:
        return {"entered": self.entered, "unit": self.unit, "si": self.si,
                "si_unit": self.si_unit}


@dataclass
class EnteredValues:
    """``values`` for predict(): converted numbers for the converted keys, everything else as
    given (so the validation words its usual messages); ``conversions`` by factor key."""

    values: dict[str, object] = field(default_factory=dict)
    conversions: dict[str, Conversion] = field(default_factory=dict)


class UnitsRefused(ValueError):
    """A ``"units"`` choice that cannot be used; ``errors`` by factor key (or "units")."""

    def __init__(self, errors: dict[str, list]):
        super().__init__(errors)
        self.errors = errors


def unit_not_accepted(key: str, written: object):
    """The message for a unit factor ``key`` does not take, listing the ones it does."""
    return _format(_("“%(unit)s” is not a unit for %(factor)s; use one of: %(units)s."),
                   unit=str(written), factor=factor_name(key),
                   units=", ".join(u.symbol for u in accepted_units(key)))


def parse_units(raw: object) -> tuple[str, dict[str, Unit]]:
    """The unit choice of an API request: ``None`` or ``"si"`` (the catalogue's units),
    ``"us"`` (every factor with a US conventional unit in it), or ``{"glucose": "mg/dL", ...}``
    (per factor, the others in the catalogue's units). Returns (system, units by key); raises
    UnitsRefused naming each factor whose unit is not accepted."""
    if raw is None:
        return "si", {}
    if isinstance(raw, str):
        system = raw.strip().lower()
        if system in SYSTEMS:
            return system, {}
        raise UnitsRefused({"units": [UNKNOWN_UNITS]})
    if not isinstance(raw, dict):
        raise UnitsRefused({"units": [UNKNOWN_UNITS]})
    errors: dict[str, list] = {}
    units: dict[str, Unit] = {}
    for key, written in raw.items():
        if key not in FACTORS_BY_KEY:
            errors.setdefault("units", []).append(_format(
                _("\"units\" names %(key)s, which is not a factor key."), key=str(key)))
            continue
        unit = find_unit(key, written) if isinstance(written, str) else None
        if unit is None:
            errors[key] = [unit_not_accepted(key, written)]
        else:
            units[key] = unit
    if errors:
        raise UnitsRefused(errors)
    return "si", units


def convert_entered(raw_values: Mapping[str, object], *, system: str = "si",
                    units: Mapping[str, Unit] | None = None,
                    percent_input: bool) -> EnteredValues:
    """Each entered value of a factor in its unit (``units[key]``, else the ``system``'s)
    turned into the catalogue's unit. A value that does not parse, or one already in the
    catalogue's unit, is passed on as given: predict() checks it as before. ``percent_input``
    as for predict(): the API (False) takes a percentage factor with an explicit ``%`` unit as
    a percent (45 -> 45 %); the form already takes percentages."""
    units = units or {}
    if system == "si" and not units:
        return EnteredValues(dict(raw_values))  # nothing to convert: the common, fast case
    entered = EnteredValues()
    for key, raw in raw_values.items():
        entered.values[key] = raw
        if key not in FACTORS_BY_KEY:
            continue  # the validation reports an unknown key
        unit = units.get(key) or default_unit(key, system=system)
        try:
            parsed = parse_number(raw)
        except NotANumber:
            continue
        if parsed is None:
            continue
        number = parsed[0]
        if unit.percent:
            if not percent_input and key in units:
                entered.values[key] = f"{number!r}%"  # the validation's own percent rule
            continue
        if unit == si_unit(key):
            continue
        si = unit.to_si(number)
        entered.values[key] = si
        entered.conversions[key] = Conversion(key, number, unit.symbol, si, si_unit(key).symbol)
    return entered


def _annotate(conversion: Conversion, message) -> object:
    return _format(_("%(entered)s: %(message)s"), entered=conversion.describe(), message=message)


def annotate_errors(errors: Mapping[str, list], conversions: Mapping[str, Conversion]
                    ) -> dict[str, list]:
    """``errors`` by key, each message about a converted value prefixed with what was entered
    and what it became (the limits are checked, and worded, in the catalogue's unit)."""
    return {key: [_annotate(conversions[key], m) for m in messages] if key in conversions
            else list(messages) for key, messages in errors.items()}


def annotate_flags(flags: Mapping[str, object], conversions: Mapping[str, Conversion]
                   ) -> dict[str, object]:
    """Typical-range flags by key, prefixed like ``annotate_errors``."""
    return {key: _annotate(conversions[key], flag) if key in conversions else flag
            for key, flag in flags.items()}


def _apply(template, params: dict) -> str:
    return str(template) % {name: str(value) for name, value in params.items()}


_lazy_apply = lazy(_apply, str)


def _format(template, /, **params):
    """``template % params``, worded when shown, in the language active then."""
    return _lazy_apply(template, params)
