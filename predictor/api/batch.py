"""Batch JSON API: many patient-days in one request (spec section 9).

``POST /api/v1/predict/batch``
- JSON: ``{"rows": [{"values": {...}, "context": {"crs_grade": 1, "day": 4}, "id": "..."}, ...],
  "horizon": 1 | 2 | 3 | "all", "contributions": true}``; at most ``PRCRS_BATCH_MAX_ROWS`` rows
  (10,000), body at most ``PRCRS_BATCH_MAX_BODY_BYTES``. Values as in the single API (models' units, fractions 0-1).
- ``"units"`` (optional, as in the single API: ``"si"``, ``"us"`` or ``{"glucose": "mg/dL"}``)
  applies to every row; a row's own ``"units"`` replaces it for that row. A bad top-level unit
  is a 400 for the request, a bad row unit that row's 400. A row with values given in a unit
  other than the catalogue's carries ``"converted"`` as in the single API.
- or ``multipart/form-data`` with a sheet in the field ``sheet`` (.xlsx, .csv or tab-separated
  text; headers as on the course page, units in the header such as ``glucose (mg/dL)``) and the
  fields ``horizon``, ``contributions`` (``true``) and ``units`` (``us``: the unit of factor
  columns whose header names none).
- 200 ``{"results": [...], "summary": {"rows", "scored", "failed"}, "disclaimer"}``: one result per
  row in order, ``{"index", "id", "predictions": [...]}`` or ``{"index", "id", "status": 400 | 503,
  "errors": {...}}``. With ``"contributions": true`` each prediction also carries
  ``contributions`` as in the single API (off by default: it costs a forward of 1 + width rows
  per prediction). A bad row never fails the others. A request that is wrong as a whole (not
  JSON, no rows, too many rows, a sheet that cannot be read) is a 4xx with the usual ``errors``.

Each row counts as one prediction for the rate limits (one patient-day answered, whatever the
horizons). Rows are not stored; they are scored in memory (the prediction log, when on, records
one entry per scored row and horizon).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from predictor.access.rate_limits import charge
from predictor.api.answers import ALL, api_view, error_answer, json_answer
from predictor.api.batch_contributions import add_contributions
from predictor.api.rows_body import horizon_errors, read_rows_body, too_many_rows
from predictor.inputs.intake import row_errors, sheet_course
from predictor.inputs.repeated_fields import repeated_fields
from predictor.inputs.unit_entry import UnitsRefused, annotate_errors, convert_entered, parse_units
from predictor.scoring.batch import BatchRow, BatchScores, no_cyclic_gc, score_batch
from predictor.scoring.prediction import parse_horizons
from predictor.sheets.memory_upload import BoundedMemoryUpload
from predictor.scoring.prediction_log import record


@dataclass(frozen=True)
class _EnteredRow(BatchRow):
    """A row after its units: values in the catalogue's units, what was converted, or the
    errors that refuse it before scoring (a unit it may not use, a sheet cell that cannot be
    read): the row then fails alone."""

    conversions: Mapping = field(default_factory=dict)
    input_errors: Mapping = field(default_factory=dict)


@api_view("POST")
def predict_batch_view(request: HttpRequest) -> JsonResponse:
    """Score many rows (see the module docstring)."""
    if (request.content_type or "").lower() == "multipart/form-data":
        request.upload_handlers = [BoundedMemoryUpload(request)]  # never a temporary file
        rows, horizon, problem = _rows_from_sheet(request)
    else:
        rows, horizon, problem = _rows_from_json(request)
    if problem is not None:
        return problem
    try:
        horizons = parse_horizons(horizon)
    except ValueError:
        return error_answer(horizon_errors())
    over_limit = charge(request, predictions=len(rows))  # a row is one patient-day answered
    if over_limit is not None:
        return error_answer({ALL: [over_limit.message]}, status=429, **over_limit.headers)
    results, scores = _score_rows(rows, horizons)
    if getattr(request, "wants_contributions", False):
        add_contributions(results, rows, scores)
    record(scores.predictions(), channel="api")  # built only when the log is on
    failed = sum("errors" in result for result in results)
    return json_answer({
        "results": results,
        "summary": {"rows": len(results), "scored": len(results) - failed, "failed": failed},
        "disclaimer": _("For research use only; not a substitute for clinical judgement."),
    })


def _rows_from_json(request: HttpRequest):
    body, raw_rows, problem = read_rows_body(request, _(
        "\"rows\" must be a non-empty JSON array of objects with \"values\" (and optionally "
        "\"context\" and \"id\")."))
    if problem is not None:
        return None, None, problem
    try:
        units = parse_units(body.get("units"))
    except UnitsRefused as refused:
        return None, None, error_answer(refused.errors)
    # Opt-in: a forward of 1 + width rows per prediction; the default stays fast.
    request.wants_contributions = body.get("contributions") is True
    rows = []
    for raw in raw_rows:
        if not isinstance(raw, dict):
            raw = {"values": None}
        values = raw.get("values")
        context = raw.get("context")
        if values is None and isinstance(context, dict) and context:
            values = {}  # the no-lab reference needs no lab value
        row_id = raw.get("id")
        rows.append(_entered_row(values, context, row_id if isinstance(row_id, (str, int))
                                 else None, units, raw.get("units")))
    return rows, body.get("horizon"), None


def _entered_row(values, context, row_id, units: tuple, row_units) -> BatchRow:
    """The row with its values in the catalogue's units (its own "units" if it has them)."""
    if row_units is not None:
        try:
            units = parse_units(row_units)
        except UnitsRefused as refused:
            return _EnteredRow(values, context, row_id, input_errors=refused.errors)
    system, per_key = units
    if not isinstance(values, dict) or (system == "si" and not per_key):
        return BatchRow(values, context, row_id)
    entered = convert_entered(values, system=system, units=per_key, percent_input=False)
    return _EnteredRow(entered.values, context, row_id, conversions=entered.conversions)


def _score_rows(rows: list[BatchRow], horizons: list[int]) -> tuple[list[dict], BatchScores]:
    """Every row's JSON result, in order: ``score_batch`` for the rows whose units were usable,
    a 400 for the others; messages about converted values show what was entered and what it
    became."""
    refused = {i for i, row in enumerate(rows) if getattr(row, "input_errors", None)}
    scores = score_batch([row for i, row in enumerate(rows) if i not in refused] if refused
                         else rows, horizons, percent_input=False)
    writer = _ResultWriter(scores)
    results, scored = [], 0
    with no_cyclic_gc():  # tens of thousands of small acyclic dicts
        for i, row in enumerate(rows):
            if i in refused:
                results.append(_errors_json(i, row.id, 400, row.input_errors))
                continue
            results.append(writer.result(scored, i, row))
            scored += 1
    return results, scores


def _rows_from_sheet(request: HttpRequest):
    from predictor.sheets import SheetError, read_upload

    repeated = repeated_fields(request.POST, request.FILES,
                               names=("sheet", "horizon", "units", "contributions"))
    if repeated:
        return None, None, error_answer(repeated)
    upload = request.FILES.get("sheet")
    if upload is None:
        return None, None, error_answer({"sheet": [
            _("Send the sheet in the form field \"sheet\".")]})
    try:
        system = "us" if request.POST.get("units") == "us" else "si"
        # Per row, as JSON rows: a bad cell fails its row, not the sheet.
        course = sheet_course(read_upload(upload, name=upload.name), system=system,
                              strict=False)
    except SheetError as error:
        return None, None, error_answer({"sheet": [str(p) for p in error.problems]})
    if len(course.rows) > settings.PRCRS_BATCH_MAX_ROWS:
        return None, None, too_many_rows(len(course.rows))
    request.wants_contributions = request.POST.get("contributions") in ("1", "true", "on")
    rows = []
    for row in course.rows:
        if row.problems:
            rows.append(_EnteredRow(None, None, row.row, input_errors=row_errors(course, row)))
            continue
        context = ({"crs_grade": row.crs_grade, "day": row.day}
                   if row.crs_grade is not None and row.day is not None else None)
        rows.append(BatchRow(row.values, context, row.row))
    return rows, request.POST.get("horizon", "all"), None


def _errors_json(index: int, row_id, status: int, errors: Mapping) -> dict:
    return {"index": index, "id": row_id, "status": status,
            "errors": {k: [str(m) for m in v] for k, v in errors.items()}}


class _ResultWriter:
    """A row's result read straight from the batch's columns (no per-row prediction objects),
    without the sentences the single API repeats in every answer (explanation, disclaimer): a
    10,000-row answer stays a few megabytes."""

    def __init__(self, scores: BatchScores):
        self.scores = scores
        self.columns = scores.column_lists()
        self._about_plan: dict[int, dict] = {}

    def result(self, k: int, index: int, row: BatchRow) -> dict:
        """Row ``k`` of the scores, reported as row ``index`` of the request."""
        conversions = getattr(row, "conversions", None)
        if not self.scores.ok(k):
            errors = self.scores.errors[k]
            return _errors_json(index, row.id, self.scores.status[k],
                                annotate_errors(errors, conversions) if conversions else errors)
        group, j = self.scores.row_values(k)
        flagged = group.flagged(j)
        context = group.row_context(j)
        data = {"index": index, "id": row.id,
                "predictions": [self._prediction(column, k, flagged, context)
                                for column in self.columns]}
        if conversions:
            data["converted"] = {key: c.as_json() for key, c in conversions.items()}
        return data

    def _plan(self, index: int) -> dict:
        if index not in self._about_plan:
            plan = self.scores.plans[index]
            self._about_plan[index] = {
                "combination": plan.combination, "model_version": plan.model.version_label,
                "ignored": list(plan.ignored), "imputed": list(plan.imputed),
                "unused": list(plan.unused), "reference_only": plan.reference_only,
                "labs_add_information": plan.labs_add_information}
        return self._about_plan[index]

    def _prediction(self, column, k: int, flagged: list[str], context) -> dict:
        plan = self._plan(column.plan[k])
        probability = column.probability[k]
        reference = column.reference[k]
        # the file says its labs add nothing: the no-lab reference's number leads (as predict())
        reference_leads = plan["labs_add_information"] is False and reference >= 0 \
            and not plan["reference_only"]
        lead = "ref_" if reference_leads else ""
        data = {
            "horizon": column.horizon,
            "combination": plan["combination"],
            "probability": getattr(column, lead + "probability")[k],
            "interval": [getattr(column, lead + "low")[k], getattr(column, lead + "high")[k]],
            "raw_probability": getattr(column, lead + "raw")[k],
            "reference": {"n": getattr(column, lead + "n")[k],
                          "severe": getattr(column, lead + "severe")[k]},
            "model_version": (self.scores.references[reference].version_label
                              if reference_leads else plan["model_version"]),
            "ignored": plan["ignored"],
            "imputed": plan["imputed"],
            "unused": plan["unused"],
            "flagged": [] if plan["reference_only"] else flagged,
        }
        if context is not None:
            data["context"] = context
            warnings = self.scores.range_warnings(self.scores.plans[column.plan[k]], reference,
                                                  context)
            data["warnings"] = [str(w.message) for w in warnings]
            data["range_warnings"] = [w.as_json() for w in warnings]
            if reference_leads:
                data["headline"] = "no_lab_reference"
                data["with_labs"] = {
                    "probability": probability, "interval": [column.low[k], column.high[k]],
                    "raw_probability": column.raw[k],
                    "reference": {"n": column.n[k], "severe": column.severe[k]},
                    "model_version": plan["model_version"]}
            if plan["reference_only"] or reference < 0:
                data["no_lab_reference"], data["labs_change"] = None, None
            else:
                data["no_lab_reference"] = {
                    "probability": column.ref_probability[k],
                    "interval": [column.ref_low[k], column.ref_high[k]],
                    "reference": {"n": column.ref_n[k], "severe": column.ref_severe[k]},
                    "model_version": self.scores.references[reference].version_label}
                data["labs_change"] = probability - column.ref_probability[k]
            data["labs_add_information"] = plan["labs_add_information"]
        return data
