"""JSON API (``/api/v1/``): the same prediction as the web form, for integrators.

Thin by design: it adapts HTTP to ``predictor.prediction.predict`` and turns its outcome into JSON.
No session, no CSRF token (a client posts JSON with no cookie), every answer is JSON, messages are
in the language of ``?lang=en|zh-hans`` or else ``Accept-Language`` (Chinese by default).

- ``POST /api/v1/predict`` with ``Content-Type: application/json`` and a body
  ``{"values": {"<factor key>": number, ...}, "horizon": 1 | 2 | 3 | "all"}``. Values are in the
  models' units: percentages as fractions 0-1 (a bare number above 1 for a percentage is refused;
  a string such as ``"45%"`` is converted). 200 with one prediction object, or
  ``{"predictions": [...]}`` for ``"all"``; 400 ``{"errors": {"<key or __all__>": [...]}}``;
  415 when the body is not sent as JSON; 413 when it is too large; 503 when the slot the values
  need has no serving model; 405 for any other method.
- ``GET /api/v1/catalogue``: panels, factors (limits in API units), combinations, horizons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from predictor.catalogue import COMBINATIONS, HORIZONS, combination_factor_keys
from predictor.live_catalogue import LiveCatalogue, live_catalogue
from predictor.prediction import (
    HorizonPrediction,
    InvalidInput,
    ModelUnavailable,
    horizon_name,
    parse_horizons,
    predict,
)
from predictor.prediction_log import record
from predictor.registry import REGISTRY

ALL = "__all__"


def _language(request: HttpRequest) -> str:
    """``?lang=`` when it names a site language, else the request's (Accept-Language, default)."""
    wanted = request.GET.get("lang", "").strip()
    if wanted:
        try:  # "zh", "zh-CN", "en-US" name site languages too
            return translation.get_supported_language_variant(wanted)
        except LookupError:
            pass
    return translation.get_language_from_request(request)


def _json(data: dict, status: int = 200, **headers: str) -> JsonResponse:
    response = JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})
    response["Content-Language"] = translation.get_language()
    response["Cache-Control"] = "no-store"  # answers hold lab values; never keep them in caches
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _errors(errors: Mapping[str, list], status: int = 400, **headers: str) -> JsonResponse:
    # str() inside the active language: lazy messages are rendered here, in the request's language.
    return _json({"errors": {key: [str(m) for m in messages] for key, messages in errors.items()}},
                 status=status, **headers)


def _api_view(*methods: str) -> Callable:
    """JSON-only, CSRF-exempt view taking only ``methods``, run in the request's language."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        def wrapped(request: HttpRequest, *args, **kwargs) -> JsonResponse:
            with translation.override(_language(request)):
                if request.method not in methods:
                    return _errors({ALL: [_("This address accepts only %(methods)s requests.")
                                          % {"methods": ", ".join(methods)}]},
                                   status=405, Allow=", ".join(methods))
                return view(request, *args, **kwargs)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


def _read_body(request: HttpRequest) -> tuple[dict | None, JsonResponse | None]:
    """The JSON object posted, or the error response that says what is wrong with it."""
    content_type = request.content_type or ""
    if content_type.lower() != "application/json":
        return None, _errors({ALL: [_("Send the request body as JSON with the header "
                                      "Content-Type: application/json.")]}, status=415)
    try:
        body = json.loads(request.body.decode("utf-8"))
    except RequestDataTooBig:
        return None, _errors({ALL: [_("The request body is too large.")]}, status=413)
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting: not ours either
        return None, _errors({ALL: [_("The request body is not valid JSON.")]})
    if not isinstance(body, dict):
        return None, _errors({ALL: [_("The request body must be a JSON object with the keys "
                                      "\"values\" and \"horizon\".")]})
    return body, None


@_api_view("POST")
def predict_view(request: HttpRequest) -> JsonResponse:
    """Predict severe CRS for one patient-day's values (see the module docstring)."""
    body, problem = _read_body(request)
    if problem is not None:
        return problem
    errors: dict[str, list] = {}
    values = body.get("values")
    if not isinstance(values, dict):
        errors["values"] = [_("\"values\" must be a JSON object mapping factor keys to numbers.")]
    try:
        horizons = parse_horizons(body.get("horizon"))
    except ValueError:
        errors["horizon"] = [_("\"horizon\" must be 1 (tomorrow), 2 (the day after tomorrow), "
                               "3 (in three days) or \"all\".")]
    if errors:
        return _errors(errors)
    try:
        results = predict(values, horizons, percent_input=False)
    except InvalidInput as exc:
        return _errors(exc.errors)
    except ModelUnavailable as exc:
        return _errors({ALL: [exc.message]}, status=503, Retry_After="300")
    # Values as received ("45%" strings included); the log converts them as predict() did.
    record(results, channel="api")
    catalogue = live_catalogue(REGISTRY.snapshot().stamp)
    objects = [_prediction_json(result, catalogue) for result in results]
    if body.get("horizon") == "all":
        return _json({"predictions": objects})
    return _json(objects[0])




def _prediction_json(result: HorizonPrediction, catalogue: LiveCatalogue) -> dict:
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
        "explanation": _("Of %(n)d reference patient-days with a similar model score, "
                         "%(severe)d developed severe CRS.")
        % {"n": result.reference_n, "severe": result.reference_severe},
        "model_version": result.model_version,
        "ignored": list(result.ignored),
        "imputed": list(result.imputed),
        "imputed_values": dict(result.imputed),
        "warnings": [_("%(factor)s: %(message)s") % {"factor": name(key), "message": message}
                     for key, message in result.flags.items()],
        "disclaimer": _("For research use only; not a substitute for clinical judgement."),
    }


@_api_view("GET", "HEAD")
def catalogue_view(request: HttpRequest) -> JsonResponse:
    """Everything an integrator needs to build a request, in the request's language."""
    catalogue = live_catalogue(REGISTRY.snapshot().stamp)
    fraction_unit = _("fraction (0–1)")
    return _json({
        "language": translation.get_language(),
        "min_values": settings.PRCRS_MIN_VALUES,
        "max_imputed_fraction": settings.PRCRS_MAX_IMPUTED_FRACTION,
        "panels": [{"number": number, "name": str(names)}
                   for number, names in sorted(catalogue.panel_names.items())],
        "factors": [{
            "key": f.key, "panel": f.panel, "position": f.position, "name": str(f.name),
            # The API takes fractions, so for a percentage the unit is that, not "%".
            "unit": fraction_unit if f.is_fraction else str(f.unit),
            "help": str(f.help_text), "is_fraction": f.is_fraction,
            "hard": {"min": f.limits.hard_min, "max": f.limits.hard_max},
            "typical": {"min": f.limits.typical_min, "max": f.limits.typical_max},
        } for f in catalogue.factors],
        "combinations": [{
            "code": c.code, "rank": c.rank, "name": str(catalogue.combination_names.get(c.code, "")),
            "panels": list(c.panels), "factors": list(combination_factor_keys(c.code)),
        } for c in COMBINATIONS],
        "horizons": [{"value": h, "name": str(horizon_name(h))} for h in HORIZONS]
        + [{"value": "all", "name": _("all three days")}],
    })
