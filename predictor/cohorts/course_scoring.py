"""A course or cohort sheet scored and validated in memory (spec section 9): plain functions
shared by the course page (``predictor.web.course_views``) and the validation API
(``predictor.api.validate``).

- ``score_rows``: every day through ``predict_batch`` (one batched forward per slot), today's
  CRS grade and day as the clinical context when both are known.
- ``validate_rows``: the same scoring, then per horizon the outcome of each day (grade >= 3 on
  day d + k of the same patient) and ``cohort_validation.validate_cohort``.
- ``pack_course``/``unpack_course``: the parsed sheet carried back by the page in a hidden field,
  so nothing is stored on the server between "score", "open a patient", "download" and
  "validate". The carried text is the normalised sheet (factor keys, catalogue units) compressed
  (a cohort of thousands of rows must fit in a form field under Django's
  DATA_UPLOAD_MAX_MEMORY_SIZE); it is read back through the same parser as a paste, so a
  tampered field is checked like any paste, and its inflation is bounded like an upload.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from django.utils.translation import gettext_lazy as _

from predictor.catalogue import FACTORS, REFERENCE_COMBINATION
from predictor.cohorts.cohort_validation import (
    NO_PREDICTION,
    NO_REFERENCE,
    CohortReport,
    HorizonRows,
    outcomes_from_course,
    validate_cohort,
)
from predictor.scoring.batch import BatchRow, RowOutcome, predict_batch
from predictor.sheets import Course, SheetError, read_course, read_pasted
from predictor.sheets.limits import sheet_limits

_BROKEN_CARRY = _("The sheet carried by the page could not be read; paste or upload it again.")


@dataclass(frozen=True)
class DayRow:
    """One patient-day, from a sheet row or an API row. ``values`` in the models' units."""

    values: dict
    day: int | None = None
    crs_grade: int | None = None
    patient: str = ""
    id: object = None


def day_rows(course: Course) -> list[DayRow]:
    """The course's rows as DayRows (id = the sheet row number)."""
    return [DayRow(values=dict(r.values), day=r.day, crs_grade=r.crs_grade,
                   patient=r.patient or "", id=r.row) for r in course.rows]


def _context(row: DayRow) -> dict | None:
    if row.crs_grade is None or row.day is None:
        return None
    return {"crs_grade": row.crs_grade, "day": row.day}


def score_rows(rows: Sequence[DayRow], horizons: Iterable[int],
               refused: Mapping[int, dict] | None = None) -> list[RowOutcome]:
    """One RowOutcome per row, in order (per-row errors, never all-or-nothing). ``refused``:
    rows (by index) already known to be wrong, with their errors: they fail with a 400 and are
    not scored. No side effects: the caller decides what goes to the prediction log."""
    refused = refused or {}
    kept = [i for i in range(len(rows)) if i not in refused]
    scored = iter(predict_batch([BatchRow(rows[i].values, _context(rows[i]), rows[i].id)
                                 for i in kept], list(horizons), percent_input=False))
    if not refused:
        return list(scored)
    return [RowOutcome(i, row.id, errors=dict(refused[i]), status=400) if i in refused
            else replace(next(scored), index=i) for i, row in enumerate(rows)]


def reference_of(prediction) -> float | None:
    """The no-lab reference's probability beside ``prediction`` (itself when it answered
    alone), or None."""
    if prediction.combination == REFERENCE_COMBINATION:
        return prediction.probability
    ref = prediction.no_lab_reference
    return None if ref is None else ref.probability


def _reference_raw(prediction) -> float | None:
    if prediction.combination == REFERENCE_COMBINATION:
        return prediction.raw_probability
    ref = prediction.no_lab_reference
    return None if ref is None else ref.raw_probability


def validate_rows(rows: Sequence[DayRow], horizons: Sequence[int], *, seed: int,
                  outcomes: list[RowOutcome] | None = None, resamples: int | None = None
                  ) -> CohortReport:
    """Score ``rows`` (unless their ``outcomes`` are given) and validate the active models
    against each day's outcome, per horizon, with patient-bootstrap intervals seeded by
    ``seed``. Rows must carry days that do not repeat within a patient (the sheet parser and
    ``check_validation_rows`` make sure)."""
    horizons = list(horizons)
    if outcomes is None:
        outcomes = score_rows(rows, horizons)
    by_patient: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_patient.setdefault(row.patient, []).append(i)
    reports = []
    for horizon in horizons:
        labels: list = [None] * len(rows)
        reasons: list = [None] * len(rows)
        onset: list = [False] * len(rows)
        for indices in by_patient.values():
            found = outcomes_from_course(days=[rows[i].day for i in indices],
                                         grades=[rows[i].crs_grade for i in indices],
                                         horizon=horizon)
            for j, i in enumerate(indices):
                labels[i], reasons[i], onset[i] = (found.labels[j], found.reasons[j],
                                                   found.new_onset[j])
        probability, raw, ref, ref_raw, why = [], [], [], [], []
        for outcome in outcomes:
            prediction = next((p for p in outcome.predictions if p.horizon == horizon), None)
            if prediction is None:
                probability.append(None), raw.append(None), ref.append(None)
                ref_raw.append(None), why.append(NO_PREDICTION)
                continue
            probability.append(prediction.probability)
            raw.append(prediction.raw_probability)
            ref.append(reference_of(prediction))
            ref_raw.append(_reference_raw(prediction))
            why.append(None)
        any_reference = any(r is not None for r in ref)
        reports.append(HorizonRows(
            horizon=horizon, patients=[r.patient for r in rows], probability=probability,
            raw_probability=raw, outcome=labels,
            reference_probability=ref if any_reference else None,
            reference_raw_probability=ref_raw if any_reference else None,
            outcome_reasons=reasons, prediction_reasons=why, new_onset=onset,
            reference_missing=None if any_reference else NO_REFERENCE))
    extra = {} if resamples is None else {"resamples": resamples}
    return validate_cohort(horizons=reports, seed=seed, **extra)


# ----------------------------------------------------------------------------- the carried sheet


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def course_text(course: Course) -> str:
    """The course as tab-separated text the sheet reader reads back to the same rows: factor
    keys as headers (catalogue units, fractions 0-1), only the columns that hold a value.
    Empty lines keep every row at its number in the user's sheet, so a row named on the page
    after a round trip is still the row the user sees in their own file."""
    keys = [f.key for f in FACTORS if any(f.key in r.values for r in course.rows)]
    headers = (["patient"] if course.is_cohort else []) + ["day", "crs_grade"] + keys
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    first = course.rows[0].row if course.rows else 2
    out.write("\n" * max(0, first - 2))
    writer.writerow(headers)
    line = max(1, first - 1)
    for r in course.rows:
        out.write("\n" * max(0, r.row - line - 1))
        writer.writerow(([r.patient] if course.is_cohort else [])
                        + [r.day, "" if r.crs_grade is None else r.crs_grade]
                        + [_number(r.values[k]) if k in r.values else "" for k in keys])
        line = max(line + 1, r.row)
    return out.getvalue()


def _only_patient(text: str, patient: str) -> str:
    """``text`` with every other patient's record blanked (kept as an empty line, so row numbers
    stay): opening one patient of a large cohort parses that patient's rows only."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    found = False
    for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter="\t")):
        if number == 0 or (cells and cells[0].strip() == patient):
            writer.writerow(cells)
            found = found or number > 0
        else:
            out.write("\n")
    return out.getvalue() if found else text  # no such patient: the caller says so


def pack_course(course: Course) -> str:
    """The course as a compact ASCII string for a hidden form field."""
    return base64.urlsafe_b64encode(zlib.compress(course_text(course).encode(), 9)).decode()


def unpack_course(packed: str, *, patient: str | None = None) -> Course:
    """The Course back from ``pack_course``'s string (with ``patient``: that patient's rows
    only, when the course is a cohort); SheetError when it is not one (or inflates beyond the
    sheet size limit)."""
    limit = sheet_limits().max_bytes
    try:
        data = base64.urlsafe_b64decode(packed.strip().encode("ascii"))
        inflater = zlib.decompressobj()
        text = inflater.decompress(data, limit + 1)
        if len(text) > limit or not inflater.eof:
            raise ValueError("too large or truncated")
        text = text.decode("utf-8")
    except (ValueError, binascii.Error, zlib.error, UnicodeError):
        raise SheetError.of(_BROKEN_CARRY) from None
    if not text.strip():
        raise SheetError.of(_BROKEN_CARRY)
    body = text.lstrip("\n")
    if patient and body.startswith("patient\t"):
        try:  # the blank lines before the header stay, so the row numbers do
            text = text[:len(text) - len(body)] + _only_patient(body, patient)
        except csv.Error:
            raise SheetError.of(_BROKEN_CARRY) from None
    return read_course(read_pasted(text), system="si")
