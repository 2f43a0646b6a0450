"""The physician's pages: the prediction form with its result, and the language redirect at ``/``.

Thin: the views adapt HTTP to ``predictor.prediction.predict`` and shape its answer for the
templates. Every rule (parsing, limits, the combination choice, calibration) lives there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_http_methods, require_safe

from predictor import prediction_log
from predictor.catalogue import COMBINATIONS
from predictor.forms import HORIZON_TITLES, PredictionForm, show_number
from predictor.live_catalogue import LiveCatalogue, live_catalogue
from predictor.prediction import HorizonPrediction, InvalidInput, ModelUnavailable, predict
from predictor.registry import REGISTRY

FORM_ID = "prediction-form"
# The name of the language-switch buttons: a POST carrying it re-renders what was typed in the
# other language and runs nothing.
SWITCH_LANGUAGE = "switch_language"


@require_safe
def language_root(request: HttpRequest) -> HttpResponse:
    """``/`` -> ``/zh-hans/`` or ``/en/``: language cookie, else Accept-Language, else Chinese."""
    language = translation.get_language_from_request(request)
    with translation.override(language):
        response = HttpResponseRedirect(reverse("predict"))
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


@dataclass(frozen=True)
class NamedValue:
    name: str
    value: str = ""  # e.g. "0.3 µg/mL" for an imputed median


@dataclass(frozen=True)
class ResultView:
    """One horizon's answer, ready to show."""

    horizon: int
    title: str
    percent: float  # actual probability, 0-100
    raw_percent: float
    reference_n: int
    reference_severe: int
    combination: str
    combination_name: str
    model_version: str
    ignored: tuple[NamedValue, ...]
    imputed: tuple[NamedValue, ...]

    @property
    def inputs_key(self) -> tuple:
        return self.combination, self.ignored, self.imputed


@require_http_methods(["GET", "HEAD", "POST"])
def predict_page(request: HttpRequest) -> HttpResponse:
    catalogue = live_catalogue(REGISTRY.snapshot().stamp)
    context: dict = {}
    status = 200
    if request.method != "POST":
        form = PredictionForm(catalogue)
    elif SWITCH_LANGUAGE in request.POST:
        # Arrived from the other language's page: show what was typed, check nothing yet.
        keys = _form_keys(catalogue)
        typed = {key: value for key, value in request.POST.items() if key in keys}
        form = PredictionForm(catalogue, initial=typed)
        form.note_typical_range_flags(typed)
    else:
        form = PredictionForm(catalogue, data=request.POST)
        if form.is_valid():
            try:
                results = predict(form.raw_values(), form.horizons(), percent_input=True)
            except InvalidInput as invalid:
                form.add_prediction_errors(invalid.errors)
            except ModelUnavailable as unavailable:
                context["unavailable"] = unavailable.message
                status = 503
            else:
                prediction_log.record(results, channel="web")
                form.flags = dict(results[0].flags)
                context.update(_result_context(results, catalogue))
        if "results" not in context:
            form.note_typical_range_flags(form.data)
    context.update(form=form, panels=form.panels(), language_form_id=FORM_ID,
                   switch_name=SWITCH_LANGUAGE, combinations=_combinations(catalogue))
    response = render(request, "predictor/predict.html", context, status=status)
    if request.method == "POST":
        add_never_cache_headers(response)  # the page holds a patient's lab values
    return response


def _form_keys(catalogue: LiveCatalogue) -> set[str]:
    return {"horizon", *catalogue.by_key}


def _combinations(catalogue: LiveCatalogue) -> list[dict]:
    return [{"code": c.code, "name": str(catalogue.combination_names.get(c.code, c.code)),
             "panels": " ".join(str(p) for p in c.panels)} for c in COMBINATIONS]


def _result_context(results: Sequence[HorizonPrediction], catalogue: LiveCatalogue) -> dict:
    views = [_result_view(r, catalogue) for r in results]
    flags = results[0].flags
    return {
        "results": views,
        # With "all three", the inputs are usually the same for every horizon: say it once.
        "shared_inputs": views[0] if len({v.inputs_key for v in views}) == 1 else None,
        "flagged": [NamedValue(_label(catalogue, key), str(flags[key]))
                    for key in catalogue.by_key if key in flags],
    }


def _result_view(result: HorizonPrediction, catalogue: LiveCatalogue) -> ResultView:
    return ResultView(
        horizon=result.horizon,
        title=str(HORIZON_TITLES[result.horizon]),
        percent=result.probability * 100,
        raw_percent=result.raw_probability * 100,
        reference_n=result.reference_n,
        reference_severe=result.reference_severe,
        combination=result.combination,
        combination_name=str(catalogue.combination_names.get(result.combination, "")),
        model_version=result.model_version,
        ignored=tuple(NamedValue(_label(catalogue, key))
                      for key in _in_catalogue_order(catalogue, result.ignored)),
        imputed=tuple(NamedValue(_label(catalogue, key),
                                 _with_unit(catalogue, key, result.imputed[key]))
                      for key in _in_catalogue_order(catalogue, result.imputed)),
    )


def _in_catalogue_order(catalogue: LiveCatalogue, keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda key: catalogue.by_key[key].position)


def _label(catalogue: LiveCatalogue, key: str) -> str:
    return str(catalogue.by_key[key].name)


def _with_unit(catalogue: LiveCatalogue, key: str, value: float) -> str:
    factor = catalogue.by_key[key]
    if factor.is_fraction:
        return f"{show_number(value * 100)}%"
    return f"{show_number(value)} {factor.unit}"
