"""A probability as a natural frequency with a fixed denominator of 100: "about 7 in 100
patient-days like this one". People read "7 in 100" more correctly than "7 %", and a fixed
denominator lets two numbers be compared at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

DENOMINATOR = 100


@dataclass(frozen=True)
class NaturalFrequency:
    count: int  # of 100, as drawn in the icon array (0 for under 1 in 100)
    below_one: bool  # under 1 in 100: "fewer than 1 in 100"
    above_99: bool  # over 99 in 100 yet not certain: "more than 99 in 100"
    text: str


def of_100(probability: float) -> int:
    """Whole patient-days of 100, rounded half up, as the page rounds percents."""
    return int(Decimal(repr(probability * DENOMINATOR)).quantize(Decimal(1),
                                                                 rounding=ROUND_HALF_UP))


def natural_frequency(probability: float, when: str) -> NaturalFrequency:
    """``when``: the horizon in words ("tomorrow"), already translated."""
    count = of_100(probability)
    if probability < 0.01:
        return NaturalFrequency(0, True, False, _(
            "Fewer than 1 in 100 patient-days like this one are followed by severe CRS "
            "%(when)s.") % {"when": when})
    if probability > 0.99:
        return NaturalFrequency(min(count, 99), False, True, _(
            "More than 99 in 100 patient-days like this one are followed by severe CRS "
            "%(when)s.") % {"when": when})
    return NaturalFrequency(count, False, False, ngettext(
        "About %(count)d in 100 patient-days like this one is followed by severe CRS %(when)s.",
        "About %(count)d in 100 patient-days like this one are followed by severe CRS "
        "%(when)s.", count) % {"count": count, "when": when})


def short_frequency(probability: float) -> str:
    """The same for a table cell: "about 7 in 100", "fewer than 1 in 100"."""
    if probability < 0.01:
        return _("fewer than 1 in 100")
    if probability > 0.99:
        return _("more than 99 in 100")
    return _("about %(count)d in 100") % {"count": of_100(probability)}
