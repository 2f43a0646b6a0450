"""A patient's course (or a cohort) from an EHR export: a FHIR Bundle holding several days of
Observations, read into the same ``Course`` a pasted sheet gives (spec section 9), so the course
page and the cohort validation start from it unchanged.

One row per patient and calendar date (the date as the EHR wrote it): per factor the most recent
value of that date (two different values at the same time are refused), today's CRS grade of
that date, and the day since infusion from that date's day Observation or else from the
infusion Procedure. A Bundle with several patients (``subject``) is a cohort.
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext_lazy as _

from predictor.fhir.bundle import parse_bundle
from predictor.fhir.observations import (
    Located,
    Readings,
    day_from_infusion,
    latest_per_key,
    locate_entries,
    read_resources,
)
from predictor.fhir.outcome import FhirRefusal, say
from predictor.inputs import strict_json
from predictor.inputs.strict_json import RepeatedKey
from predictor.sheets import SheetError
from predictor.sheets.course import Course, CourseRow
from predictor.sheets.limits import sheet_limits

_TYPES = ("collection", "searchset")


def is_bundle_upload(file) -> bool:
    """Whether an uploaded file is a FHIR Bundle (.json) rather than a sheet."""
    return (getattr(file, "name", "") or "").lower().endswith(".json")


def course_from_upload(file) -> Course:
    """``course_from_bundle`` of an uploaded .json file, within the sheet size limit."""
    limit = sheet_limits().max_bytes
    if (file.size or 0) > limit:
        raise SheetError.of(say(_("The file is too large (at most %(limit)s bytes are "
                                  "accepted)."), limit=limit))
    return course_from_bundle(file.read(limit + 1))


def _by_subject(items: list[Located]) -> dict[str, list[Located]]:
    groups: dict[str, list[Located]] = {}
    for item in items:
        subject = getattr(item.resource, "subject", None)
        groups.setdefault(subject.reference if subject is not None and subject.reference
                          else "", []).append(item)
    return groups


def _rows_of(patient: str, found: Readings, first_row: int) -> list[CourseRow]:
    by_date: dict[dt.date, list] = {}
    for reading in found.readings:
        by_date.setdefault(reading.at.date(), []).append(reading)
    rows = []
    for offset, date in enumerate(sorted(by_date)):
        latest = latest_per_key(by_date[date])
        row = CourseRow(row=first_row + offset, patient=patient or None)
        for key, reading in latest.items():
            if key in ("crs_grade", "day"):
                if not float(reading.value).is_integer():
                    raise SheetError.of(say(_("%(resource)s: a whole number is needed."),
                                            resource=reading.source.name))
                setattr(row, key, int(reading.value))
            else:
                row.values[key] = reading.value
        if row.day is None and found.infusion is not None:
            row.day = day_from_infusion(found.infusion[0], max(r.at for r in latest.values()))
        if row.day is None:
            raise SheetError.of(say(_("%(patient)s, %(date)s: the day since infusion is missing "
                                      "(send a day Observation or the infusion Procedure)."),
                                    patient=patient or "Patient", date=date.isoformat()))
        rows.append(row)
    return rows


def course_from_bundle(data: bytes | dict) -> Course:
    """The Course of a Bundle's Observations; SheetError naming the resource when it cannot
    be read (the course page and the validation API show SheetErrors as they are)."""
    try:
        body = strict_json.loads(data) if isinstance(data, bytes) else data
        items = locate_entries(parse_bundle(body, types=_TYPES))
        groups = _by_subject(items)
        rows: list[CourseRow] = []
        for patient, group in groups.items():
            rows.extend(_rows_of(patient, read_resources(group), first_row=len(rows) + 2))
    except SheetError:
        raise
    except RepeatedKey as repeated:
        raise SheetError.of(repeated.message) from None
    except (UnicodeDecodeError, ValueError, RecursionError):  # json's errors are ValueErrors
        raise SheetError.of(_("The file is not valid JSON.")) from None
    except FhirRefusal as refusal:
        raise SheetError.of("; ".join(f"{i.diagnostics} ({', '.join(i.expression)})"
                                      if i.expression else str(i.diagnostics)
                                      for i in refusal.issues)) from None
    if not rows:
        raise SheetError.of(_("No Observation with a code the catalogue lists was found: "
                              "nothing to predict from (GET /api/v1/catalogue lists the codes)."))
    cohort = len([p for p in groups if p]) > 1
    if not cohort:
        for row in rows:
            row.patient = None
    return Course(columns=[], rows=rows, is_cohort=cohort)
