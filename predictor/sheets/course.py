"""A Sheet read as a patient's course (one row per day) or a cohort (a ``patient`` column).

Result rows carry the day, the optional CRS grade and patient, and the lab values in the
catalogue's units, with per-cell problems naming the sheet row and the header as written.
Course rules: one row per day, days increasing down the sheet, per patient in a cohort
(a cohort's patients may be interleaved; each patient's rows are checked in sheet order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from predictor.inputs.validation import DEFAULT_LIMITS, FactorLimits
from predictor.sheets.cells import read_day, read_factor_cell, read_grade, read_patient
from predictor.sheets.errors import Problem, SheetError, lazy_format
from predictor.sheets.headers import (CRS_GRADE, DAY, EMPTY, FACTOR, PATIENT, Column,
                                      match_headers)
from predictor.sheets.sheet import Sheet, column_letter, is_blank

MAX_PROBLEMS_RAISED = 50

_NO_DAY_COLUMN = _("The sheet has no day column: add a column “day” (days since the CAR-T "
                   "infusion, infusion day = 0).")
_NO_HEADER = _("This cell has a value but its column has no header.")
_REPEATED = _("Day %(day)s is repeated (also in row %(other)s): one row per day.")
_OUT_OF_ORDER = _("The days are out of order: day %(day)s comes after day %(previous)s (row "
                  "%(other)s); sort the rows by day.")
_MORE = _("…and %(count)s more problems.")


@dataclass
class CourseRow:
    """One sheet row: ``values`` in catalogue units (fractions 0-1) keyed by factor key,
    ``entered`` the value as written and the unit it was read in (to show the conversion),
    ``flags`` the typical-range notes, ``problems`` what is wrong with this row."""

    row: int
    day: int | None = None
    crs_grade: int | None = None
    patient: str | None = None
    values: dict[str, float] = field(default_factory=dict)
    entered: dict[str, tuple[object, str]] = field(default_factory=dict)
    flags: dict[str, object] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Course:
    columns: list[Column]
    rows: list[CourseRow]
    is_cohort: bool = False

    @property
    def problems(self) -> list[Problem]:
        return [problem for row in self.rows for problem in row.problems]

    def patients(self) -> dict[str, list[CourseRow]]:
        """Rows per patient, patients in order of first appearance (one "" group for a
        single course)."""
        groups: dict[str, list[CourseRow]] = {}
        for row in self.rows:
            groups.setdefault(row.patient or "", []).append(row)
        return groups

    def raise_for_problems(self) -> None:
        """SheetError with every row problem (at most MAX_PROBLEMS_RAISED, then a count)."""
        problems = self.problems
        if not problems:
            return
        shown = problems[:MAX_PROBLEMS_RAISED]
        if len(problems) > len(shown):
            shown.append(Problem(lazy_format(_MORE, count=len(problems) - len(shown))))
        raise SheetError(shown)


def _read_row(number: int, cells: tuple, columns: list[Column], *,
              limits: Mapping[str, FactorLimits]) -> CourseRow:
    row = CourseRow(number)
    for column in columns:
        value = cells[column.index] if column.index < len(cells) else None
        where = {"row": number, "column": column.label}
        if column.kind == FACTOR:
            used, error, flag = read_factor_cell(value, column, limits=limits[column.key])
            if error is not None:
                row.problems.append(Problem(error, **where))
            elif used is not None:
                row.values[column.key] = used
                row.entered[column.key] = (value, column.unit.symbol)
                if flag is not None:
                    row.flags[column.key] = flag
        elif column.kind == DAY:
            row.day, error = read_day(value)
            if error is not None:
                row.problems.append(Problem(error, **where))
        elif column.kind == CRS_GRADE:
            row.crs_grade, error = read_grade(value)
            if error is not None:
                row.problems.append(Problem(error, **where))
        elif column.kind == PATIENT:
            row.patient, error = read_patient(value)
            if error is not None:
                row.problems.append(Problem(error, **where))
        elif column.kind == EMPTY and not is_blank(value):
            row.problems.append(Problem(_NO_HEADER, row=number,
                                        column=column_letter(column.index)))
    for index in range(len(columns), len(cells)):
        if not is_blank(cells[index]):
            row.problems.append(Problem(_NO_HEADER, row=number, column=column_letter(index)))
    return row


def _check_days(rows: list[CourseRow], day_label: str) -> None:
    """Within each patient, days must increase strictly down the sheet."""
    last: dict[str | None, CourseRow] = {}
    for row in rows:
        if row.day is None:
            continue
        previous = last.get(row.patient)
        if previous is not None and row.day == previous.day:
            row.problems.append(Problem(lazy_format(_REPEATED, day=row.day, other=previous.row),
                                        row=row.row, column=day_label))
            continue
        if previous is not None and row.day < previous.day:
            row.problems.append(Problem(
                lazy_format(_OUT_OF_ORDER, day=row.day, previous=previous.day,
                            other=previous.row), row=row.row, column=day_label))
            continue
        last[row.patient] = row


def read_course(sheet: Sheet, *, system: str = "si",
                limits: Mapping[str, FactorLimits] = DEFAULT_LIMITS,
                require_day: bool = True, strict: bool = True) -> Course:
    """Read ``sheet`` as a course or cohort.

    ``system`` ("si" or "us"): the unit of factor columns whose header names none.
    ``require_day``: a course needs its day column (the batch API may score rows without).
    ``strict``: raise SheetError for any row problem (the course page: nothing half-done);
    otherwise problems stay on their rows (the batch API: per-row errors). Header problems and
    a missing day column always raise."""
    columns = match_headers(sheet.headers, system=system)
    kinds = {column.kind: column for column in columns}
    if require_day and DAY not in kinds:
        raise SheetError.of(_NO_DAY_COLUMN)
    rows = [_read_row(r.number, r.cells, columns, limits=limits) for r in sheet.rows]
    if DAY in kinds:
        _check_days(rows, kinds[DAY].label)
    course = Course(columns=columns, rows=rows, is_cohort=PATIENT in kinds)
    if strict:
        course.raise_for_problems()
    return course
