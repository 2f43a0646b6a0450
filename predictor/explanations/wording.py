"""Contributions in words, in the active language: "IL-6 48 pg/mL raised the estimate by 9
points", and the same as JSON for the APIs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from predictor.explanations.contributions import Contribution


def whole_points(contribution: Contribution) -> int:
    """Its size in whole percentage points, rounded half up (as the page rounds percents)."""
    return int(Decimal(repr(abs(contribution.points))).quantize(Decimal(1),
                                                                rounding=ROUND_HALF_UP))


def _number(value: float) -> str:
    return f"{value:.6g}"


def value_text(key: str, value: float, factors: Mapping) -> str:
    """``IL-6 48 pg/mL``, ``neutrophil percentage 74.6%``, ``CRS grade 2 today``."""
    if key == "crs_grade":
        return _("CRS grade %(grade)s today") % {"grade": int(value)}
    if key == "day":
        return _("day %(day)s since infusion") % {"day": int(value)}
    factor = factors.get(key)
    if factor is None:
        return f"{key} {_number(value)}"
    if factor.is_fraction:
        return f"{factor.name} {_number(value * 100)}%"
    return f"{factor.name} {_number(value)} {factor.unit}"


def sentence(contribution: Contribution, factors: Mapping) -> str:
    """One contribution as a sentence fragment, in the active language."""
    what = value_text(contribution.key, contribution.value, factors)
    points = whole_points(contribution)
    if points == 0:
        return _("%(what)s changed the estimate by less than 1 point") % {"what": what}
    if contribution.change > 0:
        return ngettext("%(what)s raised the estimate by %(points)d point",
                        "%(what)s raised the estimate by %(points)d points",
                        points) % {"what": what, "points": points}
    return ngettext("%(what)s lowered the estimate by %(points)d point",
                    "%(what)s lowered the estimate by %(points)d points",
                    points) % {"what": what, "points": points}


def as_json(contributions: Iterable[Contribution], factors: Mapping) -> list[dict]:
    """The API's ``contributions``: largest first, ``points`` in percentage points (signed),
    ``reference`` the value each input was replaced by (the file's training median)."""
    out = []
    for c in contributions:
        factor = factors.get(c.key)
        out.append({"key": c.key, "name": _name(c.key, factor), "value": c.value,
                    "reference": c.reference, "points": round(c.points, 2),
                    "text": sentence(c, factors)})
    return out


def _name(key: str, factor) -> str:
    if key == "crs_grade":
        return _("Today's CRS grade (ASTCT)")
    if key == "day":
        return _("Day since CAR-T infusion")
    return str(factor.name) if factor is not None else key


def short(contributions: Iterable[Contribution], factors: Mapping, *, top: int = 3) -> str:
    """The largest few as a table cell: ``IL-6 48 pg/mL +9 · ferritin 900 ng/mL −2`` (whole
    points; changes under one point left out)."""
    parts = []
    for c in contributions:
        points = whole_points(c)
        if points == 0:
            continue
        sign = "+" if c.change > 0 else "−"
        parts.append(f"{value_text(c.key, c.value, factors)} {sign}{points}")
        if len(parts) == top:
            break
    return " · ".join(parts)
