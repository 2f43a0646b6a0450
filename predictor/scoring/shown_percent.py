"""How a probability is written for a reader (page, course table, spreadsheet; spec section 5c).

A shown probability is never "0 %" or "100 %": under 1 % it is written "< 1", above 99 % "> 99",
otherwise as a whole percent rounded half up. The ends of an interval keep one decimal under 1 %
("0.3"), and "< 0.1" below 0.1 %, so an interval under 1 % still says how far under it reaches.
The API keeps the numbers themselves (never exactly 0 or 1, see the calibration maps).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

UNDER = 0.01  # below this: "< 1"
OVER = 0.99  # above this: "> 99"
FINE_UNDER = 0.001  # an interval end below this: "< 0.1"


def whole_percent(fraction: float) -> int:
    return int(Decimal(repr(fraction * 100)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def shown_percent(fraction: float) -> str:
    """A probability in percent, for reading: "< 1", "7", "> 99"."""
    if fraction < UNDER:
        return "< 1"
    if fraction > OVER:
        return "> 99"
    return str(whole_percent(fraction))


def shown_interval_end(fraction: float) -> str:
    """An interval end in percent: whole percents from 1 % up, one decimal below."""
    if fraction < FINE_UNDER:
        return "< 0.1"
    if fraction < UNDER:
        tenth = Decimal(repr(fraction * 100)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        return f"{min(tenth, Decimal('0.9'))}"
    return shown_percent(fraction)


def sheet_percent(fraction: float | None):
    """A spreadsheet cell: the percent with one decimal (a number), or the text "< 1" / "> 99"
    where one decimal could read as 0 or 100."""
    if fraction is None:
        return None
    if fraction < UNDER or fraction > OVER:
        return shown_percent(fraction)
    return round(fraction * 100, 1)


def percent_words(fraction: float):
    """The shown percent in words for assistive technology ("less than 1 %")."""
    if fraction < UNDER:
        return _("less than 1 %")
    if fraction > OVER:
        return _("more than 99 %")
    return f"{whole_percent(fraction)} %"
