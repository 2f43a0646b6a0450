"""JSON API (``/api/v1/``): the same prediction as the web form, for integrators.

Thin by design: it adapts HTTP to ``predictor.scoring.prediction.predict`` and turns its outcome
into JSON.
No session, no CSRF token (a client posts JSON with no cookie), every answer is JSON, messages are
in the language of ``?lang=en|zh-hans`` or else ``Accept-Language`` (Chinese by default).

- ``POST /api/v1/predict`` with ``Content-Type: application/json`` and a body
  ``{"values": {"<factor key>": number, ...}, "horizon": 1 | 2 | 3 | "all",
  "context": {"crs_grade": 0-4, "day": 0-60}}``. Values are in the models' units: percentages
  as fractions 0-1 (a bare number above 1 for a percentage is refused; a string such as
  ``"45%"`` is converted). ``context`` is optional: today's CRS grade (ASTCT, integer) and the
  day since infusion (integer, infusion day 0), both or neither; with it ``values`` may be
  empty or left out (the no-lab reference alone answers, combination ``"0"``).
  ``"units"`` is optional (spec section 10): ``"si"`` (the default, the catalogue's units),
  ``"us"`` (every factor with a US conventional unit is taken in it: glucose, creatinine,
  calcium, uric acid, triglycerides, fibrinogen, prealbumin mg/dL; albumin, hemoglobin g/dL), or
  per value ``{"glucose": "mg/dL", "crp": "mg/dL", "neutrophil_pct": "%"}`` (the others in the
  catalogue's units; ``"%"`` takes a percentage as 45). A unit a factor does not accept is a 400
  on that factor's key listing the accepted ones (``GET /api/v1/catalogue``, ``units``). Limits
  apply to the converted value; messages about it show both (``126 mg/dL = 6.99 mmol/L: ...``).
  200 with one prediction object, or ``{"predictions": [...]}`` for ``"all"``; each carries
  ``probability`` with its 95 % ``interval`` [low, high] (Wilson, from ``reference`` K of N),
  ``context`` (or null), and with a context ``no_lab_reference`` (the same fields for the
  model of CRS grade and day alone), ``labs_change`` (the labs + context file's probability
  minus the reference's) and ``labs_add_information`` (true, false or null = no claim); where
  it is false the headline ``probability`` is the no-lab reference's (``headline``:
  ``"no_lab_reference"``) and the labs + context file's own answer is ``with_labs``;
  ``warnings`` (strings) include inputs beyond what the files were trained on, also as
  ``range_warnings`` objects (``code`` day_clamped / grade_sparse, ``value``, ``used``,
  ``rows``, ``message``); without a context ``context_gain`` (patient-level CV AUROC and
  Brier of the labs-only and the labs+context file) and a one-line ``context_note``; and
  ``contributions``: what each entered value (and CRS grade and day) did to ``probability``, in
  percentage points, largest first (``predictor.explanations``); ``bedside_scores``: the
  published scores the entered values allow (m-EASIX, EASIX: value, log2, inputs, formula,
  source, population, time point; published scores, not this site's model); ``outcome``: the
  outcome in words, and ``persistence``: true when today's CRS grade is already 3 or 4 (the
  number is then whether severe CRS persists); and
  ``converted``: for each value given in a unit other than the catalogue's, ``{"entered": 126,
  "unit": "mg/dL", "si": 6.9937..., "si_unit": "mmol/L"}`` (``si`` is what the model used).
  Every prediction also carries ``value_use``: one ``{"key", "used", "reason", "reason_text"}``
  per entered lab value (reason ``used``, ``outside_combination``, ``not_used_by_model`` or
  ``no_complete_panel``), and ``completions``: with a context and labs that complete no panel
  (the no-lab reference answers, combination ``"0"``, instead of a 400), the cheapest
  combinations with their ``missing`` keys and the new-onset CV figures of their labs+context
  file beside the reference's (``new_onset_cv``, ``no_lab_reference_new_onset_cv``, ``note``).
  Range ``warnings`` name values outside both the healthy and the CAR-T range (``cart_range``
  in the catalogue).
  400 ``{"errors": {"<key, context, crs_grade, day, units or __all__>": [...]}}`` (also for
  JSON that names a key twice in one object: ``predictor.inputs.strict_json``);
  415 when the body is not sent as JSON; 413 when it is too large; 503 when the slot the values
  need has no serving model or the model gave no valid result; 405 for any other method.
- ``GET /api/v1/catalogue``: panels, factors (limits in API units; ``units``: every unit the
  factor accepts, the catalogue's first, with ``multiply``/``divide`` to it, and ``us_unit``),
  the context inputs, combinations, horizons; each factor and context input has ``codes``:
  ``[{"system": "http://loinc.org", "code": "26881-3", "display": ..., "unit": "pg/mL"}]``
  (UCUM units; ``predictor.interop.codes``, docs/integration.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

from predictor.access.rate_limits import charge
from predictor.api.answers import ALL, api_view, error_answer, json_answer
from predictor.bedside_scores.wording import as_json as bedside_scores_json
from predictor.catalogue import (
    COMBINATIONS,
    CONTEXT_KEYS,
    CRS_GRADE_RANGE,
    DAY_RANGE,
    HORIZONS,
    combination_factor_keys,
)
from predictor.explanations.wording import as_json as contributions_json
from predictor.inputs import strict_json
from predictor.inputs.strict_json import RepeatedKey
from predictor.inputs.context import unknown_context_keys
from predictor.inputs.unit_entry import (
    Conversion,
    UnitsRefused,
    annotate_errors,
    annotate_flags,
    convert_entered,
    parse_units,
)
from predictor.inputs.units import accepted_units, us_unit
from predictor.interop.codes import context_codes_json, factor_codes_json
from predictor.live_catalogue import LiveCatalogue, live_catalogue
from predictor.risk_words.outcome import already_severe, outcome_statement
from predictor.scoring.prediction import (
    HorizonPrediction,
    InvalidInput,
    ModelUnavailable,
    horizon_name,
    parse_horizons,
    predict,
)
from predictor.scoring.prediction_log import record
from predictor.scoring.registry import REGISTRY
from predictor.scoring.shown_percent import shown_interval_end, shown_percent
from predictor.scoring.value_use_words import completions_json, value_use_json

def _read_body(request: HttpRequest) -> tuple[dict | None, JsonResponse | None]:
    """The JSON object posted, or the error response that says what is wrong with it."""
    content_type = request.content_type or ""
    if content_type.lower() != "application/json":
        return None, error_answer({ALL: [_("Send the request body as JSON with the header "
                                           "Content-Type: application/json.")]}, status=415)
    try:
        body = strict_json.loads(request.body)
    except RequestDataTooBig:
        return None, error_answer({ALL: [_("The request body is too large.")]}, status=413)
    except RepeatedKey as repeated:
        return None, error_answer({ALL: [str(repeated.message)]})
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting: not ours either
        return None, error_answer({ALL: [_("The request body is not valid JSON.")]})
    if not isinstance(body, dict):
        return None, error_answer({ALL: [_("The request body must be a JSON object with the keys "
                                           "\"values\" and \"horizon\".")]})
    return body, None


@api_view("POST")
def predict_view(request: HttpRequest) -> JsonResponse:
    """Predict severe CRS for one patient-day's values (see the module docstring)."""
    body, problem = _read_body(request)
    if problem is not None:
        return problem
    errors: dict[str, list] = {}
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        errors["context"] = [_("\"context\" must be a JSON object such as {\"crs_grade\": 1, "
                               "\"day\": 4}, or left out.")]
    elif context and unknown_context_keys(context):
        errors["context"] = [_("\"context\" takes only the keys crs_grade and day, not: "
                               "%(keys)s.") % {"keys": ", ".join(unknown_context_keys(context))}]
    values = body.get("values")
    if values is None and context:  # the no-lab reference needs no lab value
        values = {}
    if not isinstance(values, dict):
        errors["values"] = [_("\"values\" must be a JSON object mapping factor keys to numbers.")]
    try:
        system, units = parse_units(body.get("units"))
    except UnitsRefused as refused:
        errors.update(refused.errors)
    try:
        horizons = parse_horizons(body.get("horizon"))
    except ValueError:
        errors["horizon"] = [_("\"horizon\" must be 1 (tomorrow), 2 (the day after tomorrow), "
                               "3 (in three days) or \"all\".")]
    if errors:
        return error_answer(errors)
    over_limit = charge(request, predictions=1)  # one patient-day, whatever the horizons
    if over_limit is not None:
        return error_answer({ALL: [over_limit.message]}, status=429, **over_limit.headers)
    try:
        # US units (spec section 10) become the catalogue's before the limits and the model.
        entered = convert_entered(values, system=system, units=units, percent_input=False)
        results = predict(entered.values, horizons, percent_input=False, context=context)
    except InvalidInput as exc:
        return error_answer(annotate_errors(exc.errors, entered.conversions))
    except ModelUnavailable as exc:
        return error_answer({ALL: [exc.message]}, status=503, Retry_After="300")
    # Values as received ("45%" strings included); the log converts them as predict() did.
    record(results, channel="api")
    catalogue = live_catalogue(REGISTRY.snapshot().stamp)
    objects = [_prediction_json(result, catalogue, entered.conversions) for result in results]
    if body.get("horizon") == "all":
        return json_answer({"predictions": objects})
    return json_answer(objects[0])




def _prediction_json(result: HorizonPrediction, catalogue: LiveCatalogue,
                     conversions: Mapping[str, Conversion]) -> dict:
    def name(key: str) -> str:
        factor = catalogue.by_key.get(key)
        return str(factor.name) if factor else key

    return {
        "horizon": result.horizon,
        "horizon_name": str(horizon_name(result.horizon)),
        "combination": result.combination,
        "combination_name": str(catalogue.combination_names.get(result.combination, "")),
        "probability": result.probability,
        "raw_probability": result.raw_probability,
        "reference": {"n": result.reference_n, "severe": result.reference_severe},
        "explanation": _explanation(result.probability, result.interval, result.reference_n,
                                    result.reference_severe),
        "model_version": result.model_version,
        "interval": list(result.interval),
        "context": result.context,
        **_context_json(result),
        "ignored": list(result.ignored),
        "unused": list(result.unused),
        "imputed": list(result.imputed),
        "imputed_values": dict(result.imputed),
        "value_use": value_use_json(result.value_use, result.combination),
        "completions": completions_json(result.completions),
        "warnings": [_("%(factor)s: %(message)s") % {"factor": name(key), "message": message}
                     for key, message in annotate_flags(result.flags, conversions).items()]
        + [str(w.message) for w in result.range_warnings],
        "range_warnings": [w.as_json() for w in result.range_warnings],
        "converted": {key: c.as_json() for key, c in conversions.items()},
        "contributions": contributions_json(result.contributions, catalogue.by_key),
        "bedside_scores": bedside_scores_json(result.bedside_scores),
        "outcome": outcome_statement(result.horizon, result.context),
        "persistence": already_severe(result.context),
        "disclaimer": _("For research use only; not a substitute for clinical judgement."),
    }


def _explanation(probability: float, interval: tuple[float, float], n: int, severe: int) -> str:
    """The page's literal sentence: the estimate from the fitted map, then the count K of N
    nearest reference days (the two may differ; the numbers stay in "probability")."""
    return _("Estimated %(estimate)s%% (%(low)s–%(high)s%%); of the %(n)d reference "
             "patient-days with the nearest model scores, %(severe)d developed severe CRS.") % {
        "estimate": shown_percent(probability), "low": shown_interval_end(interval[0]),
        "high": shown_interval_end(interval[1]), "n": n, "severe": severe}


def _context_json(result: HorizonPrediction) -> dict:
    """The clinical-context part of a prediction object (spec section 8)."""
    if result.context is not None:
        ref = result.no_lab_reference
        return {
            "no_lab_reference": None if ref is None else {
                "probability": ref.probability, "interval": list(ref.interval),
                "raw_probability": ref.raw_probability,
                "reference": {"n": ref.reference_n, "severe": ref.reference_severe},
                "model_version": ref.model_version,
                "explanation": _explanation(ref.probability, ref.interval, ref.reference_n,
                                            ref.reference_severe)},
            "labs_change": result.labs_change,
            "labs_add_information": result.labs_add_information,
            "labs_note": None if result.labs_add_information is not False else _(
                "For these inputs the labs do not change the estimate."),
            "headline": "no_lab_reference" if result.with_labs is not None else "model",
            "with_labs": None if result.with_labs is None else result.with_labs.as_json(),
            "context_model_missing": result.context_model_missing,
        }
    gain = result.context_gain
    return {
        "context_gain": None if gain is None else {
            "labs_only_auroc": gain.labs_only_auroc, "with_context_auroc": gain.with_context_auroc,
            "labs_only_brier": gain.labs_only_brier, "with_context_brier": gain.with_context_brier},
        "context_note": _context_note(gain),
    }


def _context_note(gain) -> str | None:
    """One line: what today's CRS grade and day would add, from the model cards' figures
    (the same sentences as the result page)."""
    if gain is None or not gain.known:
        return None
    figures = {"before": f"{gain.labs_only_auroc:.2f}", "after": f"{gain.with_context_auroc:.2f}"}
    if gain.with_context_auroc > gain.labs_only_auroc:
        return _("Adding today's CRS grade and the day since infusion raises this model's "
                 "cross-validated AUROC from %(before)s to %(after)s.") % figures
    return _("Adding today's CRS grade and the day since infusion does not raise this model's "
             "cross-validated AUROC (%(before)s without them, %(after)s with them).") % figures


def _unit_json(unit) -> dict:
    """One accepted unit: its symbol, other spellings of it, and value x multiply / divide =
    the value in the catalogue's unit (a percentage: / 100, the fraction the API takes)."""
    return {"symbol": unit.symbol, "spellings": list(unit.spellings), "us": unit.us,
            "multiply": unit.multiply, "divide": 100.0 if unit.percent else unit.divide}


@api_view("GET", "HEAD")
def catalogue_view(request: HttpRequest) -> JsonResponse:
    """Everything an integrator needs to build a request, in the request's language."""
    catalogue = live_catalogue(REGISTRY.snapshot().stamp)
    fraction_unit = _("fraction (0–1)")
    return json_answer({
        "language": translation.get_language(),
        "min_values": settings.PRCRS_MIN_VALUES,
        "max_imputed_fraction": settings.PRCRS_MAX_IMPUTED_FRACTION,
        "panels": [{"number": number, "name": str(names)}
                   for number, names in sorted(catalogue.panel_names.items())],
        "factors": [{
            "key": f.key, "panel": f.panel, "position": f.position, "name": str(f.name),
            # The API takes fractions, so for a percentage the unit is that, not "%".
            "unit": fraction_unit if f.is_fraction else str(f.unit),
            # What "units" may name for this factor (the catalogue's first), and what "us" picks.
            "units": [_unit_json(u) for u in accepted_units(f.key)],
            "us_unit": us_unit(f.key).symbol if us_unit(f.key) else None,
            # LOINC (or the site's) codes with their UCUM units, for FHIR Observations.
            "codes": factor_codes_json(f.key),
            "help": str(f.help_text), "is_fraction": f.is_fraction,
            "hard": {"min": f.limits.hard_min, "max": f.limits.hard_max},
            "typical": {"min": f.limits.typical_min, "max": f.limits.typical_max},
            # healthy range above is information; outside this one a value is flagged
            "cart_range": {"min": f.limits.cart_min, "max": f.limits.cart_max}
            if f.limits.uses_cart_range else None,
        } for f in catalogue.factors],
        "context": {
            "rule": _("Optional. Enter both or neither."),
            "inputs": [
                {"key": "crs_grade", "name": _("Today's CRS grade (ASTCT)"),
                 "help": _("ASTCT grade of cytokine release syndrome today, 0 (none) to 4."),
                 "integer": True, "min": CRS_GRADE_RANGE[0], "max": CRS_GRADE_RANGE[1],
                 "codes": context_codes_json("crs_grade")},
                {"key": "day", "name": _("Day since CAR-T infusion"),
                 "help": _("Days since the CAR-T infusion; the infusion day is 0."),
                 "integer": True, "min": DAY_RANGE[0], "max": DAY_RANGE[1],
                 "codes": context_codes_json("day")},
            ],
            "keys": list(CONTEXT_KEYS),
        },
        "combinations": [{
            "code": c.code, "rank": c.rank, "name": str(catalogue.combination_names.get(c.code, "")),
            "panels": list(c.panels), "factors": list(combination_factor_keys(c.code)),
        } for c in COMBINATIONS],
        "horizons": [{"value": h, "name": str(horizon_name(h))} for h in HORIZONS]
        + [{"value": "all", "name": _("all three days")}],
    })
