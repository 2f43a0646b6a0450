"""Contributions in words, in the active language: "IL-6 48 pg/mL raised the estimate by 9
points", and the same as JSON for the APIs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from predictor.explanations.contributions import Contribution
from predictor.live_catalogue import language_field


def whole_points(contribution: Contribution) -> int:
    """Its size in whole percentage points, rounded half up (as the page rounds percents)."""
    return int(Decimal(repr(abs(contribution.points))).quantize(Decimal(1),
                                                                rounding=ROUND_HALF_UP))


def _number(value: float) -> str:
    return f"{value:.6g}"


def _text(text, field: str | None) -> str:
    """A catalogue text (``Texts``, or any object with ``str``) in the language of ``field``."""
    return text.text(field) if field is not None and hasattr(text, "text") else str(text)


def value_text(key: str, value: float, factors: Mapping, field: str | None = None) -> str:
    """``IL-6 48 pg/mL``, ``neutrophil percentage 74.6%``, ``CRS grade 2 today``. ``field``:
    the active language's ``Texts`` field when the caller has read it already."""
    if key == "crs_grade":
        return _("CRS grade %(grade)s today") % {"grade": int(value)}
    if key == "day":
        return _("day %(day)s since infusion") % {"day": int(value)}
    factor = factors.get(key)
    if factor is None:
        return f"{key} {_number(value)}"
    if factor.is_fraction:
        return f"{_text(factor.name, field)} {_number(value * 100)}%"
    return f"{_text(factor.name, field)} {_number(value)} {_text(factor.unit, field)}"


def sentence(contribution: Contribution, factors: Mapping, field: str | None = None) -> str:
    """One contribution as a sentence fragment, in the active language."""
    what = value_text(contribution.key, contribution.value, factors, field)
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
    field = language_field()  # once for all the names and units below
    for c in contributions:
        factor = factors.get(c.key)
        out.append({"key": c.key, "name": _name(c.key, factor, field), "value": c.value,
                    "reference": c.reference, "points": round(c.points, 2),
                    "text": sentence(c, factors, field)})
    return out


def _name(key: str, factor, field: str | None = None) -> str:
    if key == "crs_grade":
        return _("Today's CRS grade (ASTCT)")
    if key == "day":
        return _("Day since CAR-T infusion")
    return _text(factor.name, field) if factor is not None else key


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
