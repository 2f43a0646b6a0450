"""Many rows' inputs, checked and grouped by the lab keys they hold (batch scoring, spec section 9).

A cohort's rows share a handful of key patterns (which values were measured), so rows are grouped
by their pattern and whether they carry a context, and each group's values become one numpy matrix
whose checks (hard limits, context ranges, typical-range flags) run column by column. A row the
quick reading cannot take as it is (text, a percent sign, a value out of range, too few values, a
half context) goes through the same checks as one prediction, ``check_values`` and
``check_context``, which word its errors; if it passes them it joins a group like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import CRS_GRADE_RANGE, DAY_RANGE
from predictor.inputs.intake import check_context, check_values, context_given, nothing_entered
from predictor.inputs.validation import FactorLimits, LazyFlags

_NUMBERS = frozenset((float, int))


@dataclass
class RowGroup:
    """Rows that hold the same lab keys (in the same order) and all carry a context or none.

    ``x[j]`` are the values of row ``rows[j]`` in model units, columns in ``keys`` order; with a
    context, ``grade[j]`` and ``day[j]``. ``atypical`` marks values outside the typical range
    (rows read quickly); ``flags`` holds the flags ``check_values`` gave (rows checked one by
    one). ``reference_only``: a context and no lab value, answered by the no-lab reference.
    """

    keys: tuple[str, ...]
    rows: np.ndarray
    x: np.ndarray
    context: bool
    grade: np.ndarray | None = None
    day: np.ndarray | None = None
    atypical: np.ndarray | None = None
    flags: list[Mapping] | None = None
    reference_only: bool = False
    # Python lists made once per group when rows are read one by one: numpy scalars are slow.
    _x_list: list | None = field(default=None, repr=False)
    _flagged: list | None = field(default=None, repr=False)
    _context_list: list | None = field(default=None, repr=False)

    def values(self, j: int) -> dict[str, float]:
        if self._x_list is None:
            self._x_list = self.x.tolist()
        return dict(zip(self.keys, self._x_list[j]))

    def _flagged_keys(self) -> list[tuple[str, ...]]:
        if self._flagged is None:
            self._flagged = [tuple(k for k, out in zip(self.keys, row) if out)
                             for row in self.atypical.tolist()]
        return self._flagged

    def row_flags(self, j: int, values: dict[str, float],
                  limits: Mapping[str, FactorLimits]) -> Mapping:
        if self.flags is not None:
            return self.flags[j]
        flagged = self._flagged_keys()[j]
        return LazyFlags(values, flagged, limits) if flagged else {}

    def flagged(self, j: int) -> list[str]:
        """The keys of row ``j`` outside their typical range, sorted."""
        return sorted(self.flags[j] if self.flags is not None else self._flagged_keys()[j])

    def row_context(self, j: int) -> dict[str, int] | None:
        if not self.context:
            return None
        if self._context_list is None:
            self._context_list = list(zip(self.grade.tolist(), self.day.tolist()))
        grade, day = self._context_list[j]
        return {"crs_grade": grade, "day": day}  # check_context's order


@dataclass
class Intake:
    groups: list[RowGroup] = field(default_factory=list)
    errors: dict[int, dict[str, list]] = field(default_factory=dict)  # row -> errors (a 400)


def take_rows(rows: Sequence, *, limits: Mapping[str, FactorLimits], percent_input: bool,
              min_values: int) -> Intake:
    """Check every row (``.values``, ``.context``) and group the good ones; bad rows get the
    errors one prediction would give them, keyed by row index."""
    intake = Intake()
    buckets: dict[tuple, list[int]] = {}
    grades: list[int] = [0] * len(rows)
    days: list[int] = [0] * len(rows)
    one_by_one: list[int] = []
    for i, row in enumerate(rows):
        values, context = row.values, row.context
        if percent_input or type(values) is not dict:
            one_by_one.append(i)
            continue
        if context:
            if type(context) is not dict or len(context) != 2:
                one_by_one.append(i)
                continue
            grade, day = context.get("crs_grade"), context.get("day")
            if type(grade) is not int or type(day) is not int:  # bool and text read one by one
                one_by_one.append(i)
                continue
            grades[i], days[i] = grade, day
            key = (tuple(values), True)
        else:
            key = (tuple(values), False)
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = [i]
        else:
            bucket.append(i)
    grade_of, day_of = np.array(grades, dtype=np.int64), np.array(days, dtype=np.int64)
    for (keys, has_context), members in buckets.items():
        one_by_one.extend(_read_bucket(intake, rows, keys, has_context, members, grade_of,
                                       day_of, limits, min_values))
    _check_one_by_one(intake, rows, sorted(one_by_one), limits, percent_input, min_values)
    return intake


def _read_bucket(intake: Intake, rows, keys: tuple[str, ...], has_context: bool,
                 members: list[int], grades, days, limits, min_values: int) -> list[int]:
    """Add the bucket's rows that pass every check as a group; return the others' indices."""
    # with grade and day, loose labs never block an answer: the at-least-five rule is for
    # answers that rest on labs alone (issue 16, as in prediction.predict)
    if (not has_context and len(keys) < min_values) or any(k not in limits for k in keys):
        return members
    flat = list(chain.from_iterable(rows[i].values.values() for i in members))
    if not set(map(type, flat)) <= _NUMBERS:
        plain = [i for i in members if set(map(type, rows[i].values.values())) <= _NUMBERS]
        others = sorted(set(members) - set(plain))
        return others + (_read_bucket(intake, rows, keys, has_context, plain, grades, days,
                                      limits, min_values) if plain else [])
    try:
        x = np.array(flat, dtype=np.float64).reshape(len(members), len(keys))
    except OverflowError:  # an integer of hundreds of digits: check_values words it
        return members
    index = np.asarray(members, dtype=np.int64)
    lows = np.array([limits[k].hard_min for k in keys])
    highs = np.array([limits[k].hard_max for k in keys])
    fine = (np.isfinite(x) & (x >= lows) & (x <= highs)).all(axis=1)
    grade = day = None
    if has_context:
        grade, day = grades[index], days[index]
        fine &= _context_fine(grade, day)
    return _split(intake, keys, has_context, index, x, fine, grade, day, limits)


def _split(intake: Intake, keys, has_context: bool, index: np.ndarray, x: np.ndarray,
           fine: np.ndarray, grade, day, limits) -> list[int]:
    """The fine rows become a group; the others are returned to be checked one by one."""
    if fine.any():
        kept = x[fine]
        # the flag rule of validation._flag: the CAR-T range where known, else the typical one
        typical_low = np.array([limits[k].warn_min for k in keys])
        typical_high = np.array([limits[k].warn_max for k in keys])
        intake.groups.append(RowGroup(
            keys, index[fine], kept, has_context,
            grade[fine] if has_context else None, day[fine] if has_context else None,
            atypical=(kept < typical_low) | (kept > typical_high),
            reference_only=has_context and not keys))
    return index[~fine].tolist()


def _context_fine(grade: np.ndarray, day: np.ndarray) -> np.ndarray:
    return ((grade >= CRS_GRADE_RANGE[0]) & (grade <= CRS_GRADE_RANGE[1])
            & (day >= DAY_RANGE[0]) & (day <= DAY_RANGE[1]))


def _check_one_by_one(intake: Intake, rows, indices: list[int], limits, percent_input: bool,
                      min_values: int) -> None:
    """The rules of one prediction, row by row; the rows that pass are grouped by key pattern."""
    passed: dict[tuple, list] = {}
    for i in indices:
        row = rows[i]
        values = row.values if isinstance(row.values, Mapping) else None
        context = row.context if isinstance(row.context, Mapping) else None
        if values is None:
            intake.errors[i] = {"values": [_("\"values\" must be a JSON object mapping factor "
                                             "keys to numbers.")]}
            continue
        checked_context = check_context(context)
        reference_only = context_given(context) and nothing_entered(values)
        checked = check_values(values, limits=limits, percent_input=percent_input,
                               min_values=0 if context_given(context) else min_values)
        if not checked.ok or not checked_context.ok:
            errors = dict(checked.errors)
            for key, messages in checked_context.errors.items():
                errors.setdefault(key, []).extend(messages)
            intake.errors[i] = errors
            continue
        ctx = checked_context.values
        key = (tuple(checked.values), ctx is not None, reference_only)
        passed.setdefault(key, []).append((i, checked, ctx))
    for (keys, has_context, reference_only), members in passed.items():
        x = np.array([[checked.values[k] for k in keys] for _, checked, _ in members],
                     dtype=np.float64).reshape(len(members), len(keys))
        intake.groups.append(RowGroup(
            keys, np.array([i for i, _, _ in members], dtype=np.int64), x, has_context,
            np.array([c["crs_grade"] for _, _, c in members], dtype=np.int64)
            if has_context else None,
            np.array([c["day"] for _, _, c in members], dtype=np.int64)
            if has_context else None,
            flags=[checked.flags for _, checked, _ in members], reference_only=reference_only))
