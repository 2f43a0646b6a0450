"""Inputs outside what a file was trained on are never extrapolated silently (spec 5c, issue 15).

A file's manifest may record ``trained_ranges`` (written by ``predictor.training.trained_ranges``):
the days and the rows per CRS grade it was trained on. What the site does with them:

- a day beyond the last trained day is CLAMPED to that day before the module sees it (the
  bundled files also clamp inside, an uploaded one may not), and the answer says so;
- a grade the training data barely hold (fewer than ``SPARSE_GRADE_ROWS`` patient-days) is
  served, because the bundled models are monotone in the grade (risk never falls as the grade
  rises, tested on every shipped file), and the answer says how few days it rests on.

A manifest without (or with an unreadable) ``trained_ranges`` changes nothing and warns nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

SPARSE_GRADE_ROWS = 30  # fewer patient-days than this with a grade: "barely held"


@dataclass(frozen=True)
class RangeWarning:
    """One input outside the trained range: ``code`` "day_clamped" or "grade_sparse"."""

    code: str
    input: str
    value: int
    used: int
    rows: int | None = None

    @property
    def message(self):
        if self.code == "day_clamped":
            return _("Day %(day)d is beyond the last day this model was trained on (day "
                     "%(last)d): the estimate shown is the one for day %(last)d, not an "
                     "extrapolation.") % {"day": self.value, "last": self.used}
        return _("Only %(rows)d patient-days with CRS grade %(grade)d were in this model's "
                 "training data: the estimate for this grade is uncertain (the model never gives "
                 "a lower risk for a higher grade).") % {"rows": self.rows or 0,
                                                          "grade": self.value}

    def as_json(self) -> dict:
        return {"code": self.code, "input": self.input, "value": self.value, "used": self.used,
                "rows": self.rows, "message": str(self.message)}


def _whole(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


def last_trained_day(manifest: Mapping) -> int | None:
    ranges = manifest.get("trained_ranges") if isinstance(manifest, Mapping) else None
    day = ranges.get("day") if isinstance(ranges, Mapping) else None
    return _whole(day.get("max")) if isinstance(day, Mapping) else None


def grade_rows(manifest: Mapping) -> dict[int, int] | None:
    ranges = manifest.get("trained_ranges") if isinstance(manifest, Mapping) else None
    grade = ranges.get("crs_grade") if isinstance(ranges, Mapping) else None
    rows = grade.get("rows") if isinstance(grade, Mapping) else None
    if not isinstance(rows, Mapping):
        return None
    out = {}
    for key, count in rows.items():
        g, n = _whole(_number(key)), _whole(count)
        if g is not None and n is not None:
            out[g] = n
    return out


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def model_context(manifest: Mapping, context: Mapping[str, int] | None
                  ) -> Mapping[str, int] | None:
    """The context a file's module is given: the day clamped to its last trained day."""
    last = last_trained_day(manifest)
    if context is None or last is None or context.get("day") is None \
            or context["day"] <= last:
        return context
    return {**context, "day": last}


def range_warnings(manifests: Iterable[Mapping], context: Mapping[str, int] | None
                   ) -> tuple[RangeWarning, ...]:
    """What the answer must say about ``context`` for the files that serve it (the model and
    the no-lab reference beside it), each warning once."""
    if not context:
        return ()
    found: dict[str, RangeWarning] = {}
    for manifest in manifests:
        day, last = context.get("day"), last_trained_day(manifest)
        if day is not None and last is not None and day > last and "day" not in found:
            found["day"] = RangeWarning("day_clamped", "day", int(day), last)
        grade, rows = context.get("crs_grade"), grade_rows(manifest)
        if grade is not None and rows is not None and "crs_grade" not in found:
            n = rows.get(int(grade), 0)
            if n < SPARSE_GRADE_ROWS:
                found["crs_grade"] = RangeWarning("grade_sparse", "crs_grade", int(grade),
                                                  int(grade), n)
    return tuple(found[k] for k in ("crs_grade", "day") if k in found)
