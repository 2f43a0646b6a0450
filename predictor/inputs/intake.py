"""One intake for every way in: the form, the JSON API, the batch and validation APIs, the course
page's sheets (and later FHIR Observations) turn what came in into the same checked values here.

- one number parser (``parse_number``: decimal commas, full-width digits, ``%``; control
  characters and line breaks refused), one whole-number reader for the day and the CRS grade
  (``whole_number``: NaN, infinities and ``1e400`` refused before any ``int()``);
- one set of limits: the live ones an admin may have edited (``live_limits``), for sheets as
  for the form and the APIs;
- one set of per-value messages (``predictor.inputs.validation``), a ``%`` refused on a factor
  that is no percentage everywhere;
- one per-row failure: a sheet read for a batch keeps each row's problems on that row
  (``row_errors``), as a JSON row's errors stay on it.

Views and APIs adapt the request to these functions and their results to the answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from predictor.inputs.context import ALL, check_context, context_given, whole_number
from predictor.inputs.validation import FactorLimits, NotANumber, check_values, parse_number
from predictor.sheets import Course, Sheet, SheetError, read_course
from predictor.sheets.course import MAX_PROBLEMS_RAISED
from predictor.sheets.headers import FACTOR

# Every way in imports these from here: the form, the JSON, batch and validation APIs, the course
# page, the FHIR and CDS Hooks adapters.
__all__ = ["ALL", "NotANumber", "check_context", "check_values", "context_given", "failed_values",
           "live_limits", "nothing_entered", "parse_number", "row_errors", "sheet_course",
           "whole_number"]


def nothing_entered(raw_values: Mapping[str, object]) -> bool:
    """No lab value at all (blank form fields count as nothing; a value that cannot be read
    counts as something entered, so that its error is shown)."""
    for raw in raw_values.values():
        try:
            if parse_number(raw) is not None:
                return False
        except NotANumber:
            return False
    return True


def live_limits() -> Mapping[str, FactorLimits]:
    """The plausibility limits and typical ranges in force now (the admin's edits included)."""
    # Imported here: the live catalogue reads the database, the parsers above do not.
    from predictor.live_catalogue import live_catalogue
    from predictor.scoring.registry import REGISTRY

    return live_catalogue(REGISTRY.snapshot().stamp).limits


def sheet_course(sheet: Sheet, *, system: str = "si", require_day: bool = True,
                 strict: bool = True) -> Course:
    """A sheet read as a course or cohort against the live limits (``read_course``: header
    problems always raise; ``strict=False`` keeps each row's problems on that row)."""
    return read_course(sheet, system=system, limits=live_limits(), require_day=require_day,
                       strict=strict)


def failed_values(course: Course) -> dict[int, dict[str, list]]:
    """For a batch read of ``course`` (``strict=False``): the rows whose only problems are values
    that cannot be read, by index, with their errors; each fails alone, as a JSON row does.
    Problems that place a row in the course (its day, grade or patient, a value without a
    header) still refuse the sheet: raises SheetError with them."""
    values = {column.label for column in course.columns if column.kind == FACTOR}
    placing = [p for row in course.rows for p in row.problems if p.column not in values]
    if placing:
        raise SheetError(placing[:MAX_PROBLEMS_RAISED])
    return {i: row_errors(course, row) for i, row in enumerate(course.rows) if row.problems}


def row_errors(course: Course, row) -> dict[str, list]:
    """A sheet row's problems keyed as a JSON row's errors are: the factor key for a value,
    ``day``/``crs_grade``/``patient`` for those, ``__all__`` for the row as a whole."""
    keys = {column.label: (column.key if column.kind == FACTOR else column.kind)
            for column in course.columns}
    errors: dict[str, list] = {}
    for problem in row.problems:
        key = keys.get(problem.column, ALL) if problem.column else ALL
        errors.setdefault(key, []).append(problem.message)
    return errors
