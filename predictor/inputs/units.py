"""Units a lab value may be entered in, and their conversion to the catalogue's units (spec 10).

The models were trained in the catalogue's units (SI, percentages as fractions 0-1). Users may
give US conventional units where they differ; every conversion is a fixed multiplication or
division, so it is stored as the published factor itself (``/ 18.016`` stays a division).

Beyond the six factors of spec section 10, this module adds US units only where the US unit truly
differs and the factor is a fixed, published one (SI conversion tables of the AMA Manual of Style;
Young DS, Ann Intern Med 1987;106:114-29):

- hemoglobin g/dL x 10 -> g/L (a unit prefix, exact);
- prealbumin mg/dL x 10 -> mg/L (a unit prefix, exact);
- triglycerides mg/dL / 88.57 -> mmol/L (triolein, 885.7 g/mol; the AMA factor 0.01129).

C-reactive protein is also reported in mg/dL by some US laboratories and in mg/L (the catalogue's
unit) by others, so ``mg/dL`` is accepted when written explicitly (x 10) but the "us" switch does
not take CRP in it: guessing between the two would be a tenfold error.

Other spellings of the same magnitude are accepted as the catalogue unit itself: ``mEq/L`` for
the monovalent ions, ``µg/L`` for ferritin, ``mg/L`` for D-dimer (= µg/mL), ``IU/L`` for
enzymes, and the US cell-count units (×10³/µL = ×10⁹/L, ×10⁶/µL = ×10¹²/L).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from predictor.catalogue import FACTORS, FACTORS_BY_KEY

SYSTEMS: tuple[str, ...] = ("si", "us")


@dataclass(frozen=True)
class Unit:
    """One unit a factor accepts. ``value * multiply / divide`` is the value in catalogue units;
    ``percent`` marks the percentage unit of a fraction factor (value / 100, checked as such by
    predictor.inputs.validation)."""

    symbol: str
    multiply: float = 1.0
    divide: float = 1.0
    us: bool = False  # the unit the "us" switch selects for this factor
    percent: bool = False
    spellings: tuple[str, ...] = ()

    def to_si(self, value: float) -> float:
        """The value in the catalogue's unit (for a percent unit: still in percent; the
        validation's fraction check divides by 100)."""
        return value * self.multiply / self.divide

    def from_si(self, value: float) -> float:
        """A catalogue-unit value in this unit (the inverse of ``to_si``), e.g. a typical
        range shown in mg/dL."""
        return value * self.divide / self.multiply


def normalise_unit(text: str) -> str:
    """A unit as compared: NFKC (full-width and superscripts folded), case-folded, without
    spaces, ``^`` or a leading multiplication sign, micro sign spelled ``u``."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    folded = "".join(folded.split()).replace("^", "").replace("μ", "u")
    return folded.lstrip("×x*")


_COUNT_9 = ("10^9/L", "10*9/L", "G/L", "×10³/µL", "10^3/uL", "10*3/uL", "K/uL", "10^3/mm3",
            "/nL")
_COUNT_12 = ("10^12/L", "10*12/L", "T/L", "×10⁶/µL", "10^6/uL", "10*6/uL", "M/uL", "10^6/mm3",
             "/pL")
_ENZYME = ("IU/L",)

# Extra units per factor key, beyond the catalogue unit (always accepted, first).
_EXTRA: dict[str, tuple[Unit, ...]] = {
    "glucose": (Unit("mg/dL", divide=18.016, us=True),),
    "creatinine": (Unit("mg/dL", multiply=88.42, us=True),),
    "calcium": (Unit("mg/dL", divide=4.008, us=True),),
    "uric_acid": (Unit("mg/dL", multiply=59.48, us=True),),
    "albumin": (Unit("g/dL", multiply=10.0, us=True),),
    "fibrinogen": (Unit("mg/dL", divide=100.0, us=True),),
    "hemoglobin": (Unit("g/dL", multiply=10.0, us=True),),
    "prealbumin": (Unit("mg/dL", multiply=10.0, us=True),),
    "triglyceride": (Unit("mg/dL", divide=88.57, us=True),),
    "crp": (Unit("mg/dL", multiply=10.0),),
}
_SAME_MAGNITUDE: dict[str, tuple[str, ...]] = {
    "d_dimer": ("mg/L", "mg/L FEU", "µg/mL FEU"),
    "ferritin": ("µg/L",),
    "sodium": ("mEq/L",), "potassium": ("mEq/L",), "chloride": ("mEq/L",),
    "hbdh": _ENZYME, "ggt": _ENZYME, "alt": _ENZYME, "ast": _ENZYME, "alp": _ENZYME,
    "ldh": _ENZYME,
    "wbc": _COUNT_9, "neutrophil_count": _COUNT_9, "lymphocyte_count": _COUNT_9,
    "monocyte_count": _COUNT_9, "platelets": _COUNT_9, "rbc": _COUNT_12,
    "pt": ("sec", "秒"), "aptt": ("sec", "秒"),
}


@cache
def accepted_units(key: str) -> tuple[Unit, ...]:
    """Every unit factor ``key`` accepts; the catalogue's unit first."""
    spec = FACTORS_BY_KEY[key]
    base = Unit(spec.unit, percent=spec.is_fraction,
                spellings=_SAME_MAGNITUDE.get(key, ()))
    return (base, *_EXTRA.get(key, ()))


def si_unit(key: str) -> Unit:
    """The catalogue's unit of factor ``key`` (what the models take)."""
    return accepted_units(key)[0]


def us_unit(key: str) -> Unit | None:
    """The US conventional unit of ``key`` where it differs from the catalogue's, else None."""
    return next((u for u in accepted_units(key) if u.us), None)


def keys_with_us_unit() -> tuple[str, ...]:
    """Factor keys (catalogue order) that the "us" switch takes in a US unit."""
    return tuple(f.key for f in FACTORS if us_unit(f.key) is not None)


def default_unit(key: str, *, system: str) -> Unit:
    """The unit a value of ``key`` is taken in when nothing else is said: under ``system="us"``
    its US unit where it has one, otherwise the catalogue's."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown unit system {system!r}")
    return (us_unit(key) if system == "us" else None) or si_unit(key)


def find_unit(key: str, written: str) -> Unit | None:
    """The unit of ``key`` written as ``written`` (``mg/dl``, ``mg/dL``, ``µmol/L``...), or None
    when ``key`` accepts no such unit."""
    wanted = normalise_unit(written)
    for unit in accepted_units(key):
        if wanted in {normalise_unit(s) for s in (unit.symbol, *unit.spellings)}:
            return unit
    return None


def to_si(key: str, value: float, *, unit: str | Unit | None = None,
          system: str = "si") -> float:
    """``value`` of factor ``key`` in the catalogue's unit. ``unit`` (a symbol or a Unit) wins
    over ``system``. Raises ValueError for a unit the factor does not accept. A percentage stays
    in percent: fractions are the validation's business (it refuses 45 meaning 0.45)."""
    if unit is None:
        chosen = default_unit(key, system=system)
    elif isinstance(unit, Unit):
        chosen = unit
    else:
        chosen = find_unit(key, unit)
        if chosen is None:
            raise ValueError(f"{key} does not accept the unit {unit!r}")
    return chosen.to_si(value)


def convert_values(values: Mapping[str, float], *, system: str = "si",
                   units: Mapping[str, str] | None = None) -> dict[str, float]:
    """Numeric values per factor key in catalogue units: each in its ``units[key]`` if given,
    else in the ``system``'s unit. Unknown keys pass through untouched (the validation reports
    them). Raises ValueError for a unit a factor does not accept."""
    units = units or {}
    return {key: (to_si(key, value, unit=units.get(key), system=system)
                  if key in FACTORS_BY_KEY else value)
            for key, value in values.items()}
