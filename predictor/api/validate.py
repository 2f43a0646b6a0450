"""Validation JSON API: the active models checked on a centre's cohort (spec section 9).

``POST /api/v1/validate``
- JSON: ``{"rows": [{"patient": "P1", "day": 0, "crs_grade": 1, "values": {...}, "id": ...},
  ...], "horizon": 1 | 2 | 3 | "all", "seed": 0}``. Values in the models' units (fractions 0-1
  for percentages), as in the batch API; ``patient`` and ``day`` are required on every row,
  ``crs_grade`` (today's ASTCT grade) labels the days before it: the outcome of day d at
  horizon k is grade >= 3 on day d + k of the same patient. At most ``PRCRS_BATCH_MAX_ROWS``
  rows.
- or ``multipart/form-data`` with a cohort sheet in the field ``sheet`` (as on the course page)
  and the fields ``horizon`` and ``seed``.
- 200: the report of ``predictor.cohorts.cohort_validation`` (``CohortReport.to_dict()``): per
  horizon the rows scored and the unscored ones by reason code, AUROC, AUPRC, Brier and calibration
  bins of the active models and of the no-lab reference on the same rows, their paired
  difference, each with a patient-bootstrap 95 % interval (seeded), for all scored days and for
  the new-onset subset; plus ``reasons`` (every code's text in the requested language) and
  ``row_errors`` (``{"index", "id", "status", "errors"}`` of each row no model could score).
- 400/413/415 ``{"errors": {...}}`` in the requested language; 429 over the rate limits (each
  row counts as one prediction per horizon). Rows are scored in memory and not stored; the
  prediction log is not written (the rows are a centre's outcomes, not a bedside question).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from predictor.access.rate_limits import charge
from predictor.api.answers import ALL, api_view, error_answer, json_answer
from predictor.api.rows_body import horizon_errors, read_rows_body, too_many_rows
from predictor.catalogue import CRS_GRADE_RANGE, DAY_RANGE
from predictor.cohorts.cohort_validation import UNDEFINED_REASONS, UNSCORED_REASONS
from predictor.cohorts.course_scoring import DayRow, day_rows, score_rows, validate_rows
from predictor.inputs.intake import failed_values, sheet_course, whole_number
from predictor.inputs.repeated_fields import repeated_fields
from predictor.scoring.prediction import parse_horizons
from predictor.sheets.memory_upload import BoundedMemoryUpload

MAX_SEED = 2 ** 32 - 1


@api_view("POST")
def validate_view(request: HttpRequest) -> JsonResponse:
    """Validate the active models on the posted cohort (see the module docstring)."""
    if (request.content_type or "").lower() == "multipart/form-data":
        request.upload_handlers = [BoundedMemoryUpload(request)]  # never a temporary file
        rows, options, refused, problem = _rows_from_sheet(request)
    else:
        (rows, options, problem), refused = _rows_from_json(request), {}
    if problem is not None:
        return problem
    try:
        horizons = parse_horizons(options.get("horizon", "all"))
    except ValueError:
        return error_answer(horizon_errors())
    seed = _seed(options.get("seed", 0))
    if seed is None:
        return error_answer({"seed": [_("\"seed\" must be a whole number from 0 to %(max)d.") % {
            "max": MAX_SEED}]})
    over_limit = charge(request, predictions=len(rows))
    if over_limit is not None:
        return error_answer({ALL: [over_limit.message]}, status=429, **over_limit.headers)
    outcomes = score_rows(rows, horizons, refused)
    report = validate_rows(rows, horizons, seed=seed, outcomes=outcomes)
    # Rows the models could not score are counted as "no_prediction" in the report; say which
    # and why, as the batch API does, so a centre can correct its sheet.
    row_errors = [{"index": i, "id": o.id, "status": o.status,
                   "errors": {k: [str(m) for m in v] for k, v in o.errors.items()}}
                  for i, o in enumerate(outcomes) if not o.ok]
    return json_answer({**report.to_dict(), "row_errors": row_errors, "reasons": {
        code: str(text) for code, text in {**UNSCORED_REASONS, **UNDEFINED_REASONS}.items()},
        "disclaimer": _("For research use only; not a substitute for clinical judgement.")})


def _seed(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value <= MAX_SEED:
        return value
    return None


def _rows_from_json(request: HttpRequest):
    body, raw_rows, problem = read_rows_body(request, _(
        "\"rows\" must be a non-empty JSON array of objects with \"patient\", \"day\", "
        "\"crs_grade\" and \"values\"."))
    if problem is not None:
        return None, None, problem
    rows, errors, seen = [], {}, {}
    for index, raw in enumerate(raw_rows):
        problems = []
        if not isinstance(raw, dict):
            errors[f"rows[{index}]"] = [_("Each row must be a JSON object.")]
            continue
        patient = raw.get("patient")
        if isinstance(patient, (int, float)) and not isinstance(patient, bool):
            # NaN or Infinity (1e400) is no one's identifier; 12.0 is patient "12".
            patient = (None if not math.isfinite(patient) else
                       str(int(patient)) if float(patient).is_integer() else str(patient))
        if not isinstance(patient, str) or not patient.strip():
            problems.append(_("\"patient\" is missing: every row needs the patient's "
                              "identifier (not a name)."))
        day = whole_number(raw.get("day"), *DAY_RANGE)
        if day is None:
            problems.append(_("\"day\" must be a whole number of days since the infusion, "
                              "from %(low)d to %(high)d.") % {"low": DAY_RANGE[0],
                                                              "high": DAY_RANGE[1]})
        grade = raw.get("crs_grade")
        if grade is not None:
            grade = whole_number(grade, *CRS_GRADE_RANGE)
            if grade is None:
                problems.append(_("\"crs_grade\" must be a whole number from %(low)d to "
                                  "%(high)d, or null.") % {"low": CRS_GRADE_RANGE[0],
                                                           "high": CRS_GRADE_RANGE[1]})
        values = raw.get("values", {})
        if values is None:
            values = {}
        if not isinstance(values, dict):
            problems.append(_("\"values\" must be a JSON object mapping factor keys to "
                              "numbers."))
        if not problems:
            key = (patient.strip(), day)
            if key in seen:
                problems.append(_("Day %(day)d of patient %(patient)s is repeated (also in "
                                  "row %(other)d): one row per patient and day.") % {
                    "day": day, "patient": patient.strip(), "other": seen[key]})
            seen[key] = index
        if problems:
            errors[f"rows[{index}]"] = problems
            continue
        row_id = raw.get("id")
        rows.append(DayRow(values=values, day=day, crs_grade=grade, patient=patient.strip(),
                           id=row_id if isinstance(row_id, (str, int)) else index))
    if errors:
        return None, None, error_answer(errors)
    return rows, body, None


def _rows_from_sheet(request: HttpRequest):
    """(rows, options, refused rows by index, None) or (None, None, None, the 4xx answer)."""
    from predictor.fhir.course import course_from_upload, is_bundle_upload
    from predictor.sheets import SheetError, read_upload

    repeated = repeated_fields(request.POST, request.FILES, names=("sheet", "horizon", "seed"))
    if repeated:
        return None, None, None, error_answer(repeated)
    upload = request.FILES.get("sheet")
    if upload is None:
        return None, None, None, error_answer({"sheet": [
            _("Send the sheet in the form field \"sheet\".")]})
    try:
        # A value that cannot be read fails its row (listed in row_errors), as in a JSON row.
        course = (course_from_upload(upload) if is_bundle_upload(upload)  # an EHR export
                  else sheet_course(read_upload(upload, name=upload.name), strict=False))
        refused = failed_values(course)
    except SheetError as error:
        return None, None, None, error_answer({"sheet": [str(p) for p in error.problems]})
    if not course.is_cohort:
        return None, None, None, error_answer({"sheet": [_(
            "Validation needs a cohort: add a column “patient” with an identifier per "
            "patient.")]})
    if len(course.rows) > settings.PRCRS_BATCH_MAX_ROWS:
        return None, None, None, too_many_rows(len(course.rows))
    options = {"horizon": request.POST.get("horizon", "all"),
               "seed": request.POST.get("seed", "0")}
    return day_rows(course), options, refused, None
