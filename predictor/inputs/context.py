"""Parsing and checking the clinical context: today's CRS grade and the day since infusion.

Spec section 8: both inputs are optional, integers, and go together (one without the other is
refused: a model that takes both cannot be given half, and guessing the other would be invented
data). Plain functions, used by ``predict`` (so the form and the API share them) and the API's
shape checks. Messages are lazy translations, rendered in the request's language.

Errors are keyed ``crs_grade``, ``day`` (a bad value) or ``__all__`` (one without the other).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from predictor.catalogue import CONTEXT_KEYS, CRS_GRADE_RANGE, DAY_RANGE

ALL = "__all__"
RANGES: dict[str, tuple[int, int]] = {"crs_grade": CRS_GRADE_RANGE, "day": DAY_RANGE}
# Full-width digits, sign and point as typed with a Chinese input method, and the ideographic space.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．－＋　", "0123456789.-+ ")
# "4", "+4", "4.0", "4." are integers; "4.5", "4e0" or "4,0" are not taken as one.
_INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$")


class NotAnInteger(ValueError):
    pass


@dataclass
class CheckedContext:
    """The parsed context ({"crs_grade": 1, "day": 4}) or None, and errors by key."""

    values: dict[str, int] | None = None
    errors: dict[str, list] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, key: str, message) -> None:
        self.errors.setdefault(key, []).append(message)


def parse_integer(raw: object) -> int | None:
    """One entered whole number: an int, an integral float, or a string such as "2", "２" or
    " 4 ". None when nothing was entered; ``NotAnInteger`` for anything else (1.5, "two", True).
    """
    if raw is None:
        return None
    if isinstance(raw, bool):  # JSON true is not grade 1
        raise NotAnInteger(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise NotAnInteger(raw)
        return int(raw)
    if not isinstance(raw, str):
        raise NotAnInteger(raw)
    text = raw.translate(_FULL_WIDTH).strip()
    if not text:
        return None
    if len(text) > 20 or not _INTEGER.match(text):
        raise NotAnInteger(raw)
    return int(text.split(".", 1)[0])


def whole_number(raw: object, low: int, high: int) -> int | None:
    """A day or CRS grade from any source (a JSON number, form text, a sheet cell), or None
    when it is not a whole number from ``low`` to ``high``. ``True`` is not 1, ``4.5`` is not
    4, and a non-finite number is refused before it could reach an ``int()``."""
    try:
        number = parse_integer(raw)
    except NotAnInteger:
        return None
    return number if number is not None and low <= number <= high else None


def _is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.translate(_FULL_WIDTH).strip())


def context_given(raw: Mapping[str, object] | None) -> bool:
    """Whether anything was entered for the context (a blank form field counts as nothing)."""
    return bool(raw) and any(not _is_blank(raw.get(key)) for key in CONTEXT_KEYS)


def _value_error(key: str):
    low, high = RANGES[key]
    if key == "crs_grade":
        return _("Enter today's CRS grade as a whole number from %(low)d to %(high)d (ASTCT).") % {
            "low": low, "high": high}
    return _("Enter the day since CAR-T infusion as a whole number from %(low)d to %(high)d "
             "(the infusion day is 0).") % {"low": low, "high": high}


def check_context(raw: Mapping[str, object] | None) -> CheckedContext:
    """Check a context as typed or posted: ``{"crs_grade": ..., "day": ...}``, None or empty.

    Both values or neither; each an integer within its range. Keys other than the two are
    ignored here (the API refuses them before calling, see ``unknown_context_keys``).
    """
    result = CheckedContext()
    if not context_given(raw):
        return result
    assert raw is not None
    parsed: dict[str, int] = {}
    for key in CONTEXT_KEYS:
        try:
            value = parse_integer(raw.get(key))
        except NotAnInteger:
            result.add_error(key, _value_error(key))
            continue
        if value is None:
            continue
        low, high = RANGES[key]
        if not low <= value <= high:
            result.add_error(key, _value_error(key))
            continue
        parsed[key] = value
    missing = [key for key in CONTEXT_KEYS if _is_blank(raw.get(key))]
    if missing:
        result.add_error(ALL, _("Enter both today's CRS grade and the day since infusion, or "
                                "neither: the models that use them need both."))
    if result.ok:
        result.values = {key: parsed[key] for key in CONTEXT_KEYS}
    return result


def unknown_context_keys(raw: Mapping[str, object]) -> list[str]:
    """Keys of a posted context object that are not context inputs (the API refuses them)."""
    return [str(key) for key in raw if key not in CONTEXT_KEYS]
