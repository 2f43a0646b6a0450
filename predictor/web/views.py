"""The physician's pages: the prediction form with its result, and the language redirect at ``/``.

Thin: the views adapt HTTP to ``predictor.scoring.prediction.predict`` and shape its answer for the
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
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from predictor.access.rate_limits import charge
from predictor.catalogue import COMBINATIONS, CONTEXT_KEYS, REFERENCE_COMBINATION
from predictor.inputs.unit_entry import Conversion, annotate_errors, annotate_flags
from predictor.live_catalogue import LiveCatalogue, live_catalogue
from predictor.scoring import prediction_log
from predictor.scoring.prediction import (
    ContextGain,
    HorizonPrediction,
    InvalidInput,
    ModelUnavailable,
    predict,
)
from predictor.scoring.registry import REGISTRY
from predictor.scoring.shown_percent import (
    percent_words,
    shown_interval_end,
    shown_percent,
    whole_percent,
)
from predictor.web.forms import HORIZON_TITLES, PredictionForm, show_number

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
class Estimate:
    """A calibrated probability and its 95 % interval as a physician reads them (texts from
    ``predictor.scoring.shown_percent``: never "0" or "100"); ``percent`` is the whole percent,
    rounded half up, for the "+19 points" arithmetic."""

    percent: int
    shown: str  # "< 1", "7", "> 99"
    low: str
    high: str
    words: str = ""  # the shown percent in words, for assistive technology


def estimate(probability: float, interval: tuple[float, float]) -> Estimate:
    return Estimate(whole_percent(probability), shown_percent(probability),
                    shown_interval_end(interval[0]), shown_interval_end(interval[1]),
                    str(percent_words(probability)))


@dataclass(frozen=True)
class ReferenceView:
    """The no-lab reference (CRS grade and day alone) shown beside a labs + context answer."""

    estimate: Estimate
    reference_n: int
    reference_severe: int
    model_version: str
    card_url: str


@dataclass(frozen=True)
class GainView:
    """What today's CRS grade and the day since infusion would add to a labs-only answer, from
    the cross-validated figures of the two files of the same slot (model cards)."""

    labs_only_auroc: str
    with_context_auroc: str
    raises_auroc: bool
    labs_only_brier: str
    with_context_brier: str


@dataclass(frozen=True)
class ResultView:
    """One horizon's answer, ready to show."""

    horizon: int
    title: str
    percent: float  # actual probability, 0-100
    estimate: Estimate
    raw_percent: float
    reference_n: int
    reference_severe: int
    combination: str
    combination_name: str
    model_version: str
    card_url: str  # the card of the file that answered
    ignored: tuple[NamedValue, ...]
    imputed: tuple[NamedValue, ...]
    unused: tuple[NamedValue, ...] = ()  # accepted by the serving file but not used by it
    context: dict | None = None  # parsed {"crs_grade": 1, "day": 4} when given
    has_context: bool = False
    reference_only: bool = False  # no lab value: the no-lab reference answered alone
    context_model_missing: bool = False  # context given, but only a labs-only file serves
    labs_add_information: bool | None = None  # the file's claim; None: no claim either way
    no_lab_reference: ReferenceView | None = None
    gain: GainView | None = None
    with_labs: Estimate | None = None  # the labs + context number when the reference leads
    range_warnings: tuple[str, ...] = ()  # inputs beyond what the files were trained on

    @property
    def labs_points(self) -> int | None:
        """Percentage points the labs moved the estimate from the no-lab reference."""
        if self.no_lab_reference is None or self.reference_only or self.context_model_missing:
            return None
        own = self.with_labs if self.with_labs is not None else self.estimate
        return own.percent - self.no_lab_reference.estimate.percent

    @property
    def labs_points_abs(self) -> int | None:
        points = self.labs_points
        return None if points is None else abs(points)

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
        # Over the client's rate limit (predictor.access.rate_limits): 429, said in the page's
        # notice.
        over_limit = form.is_valid() and charge(request, predictions=1)
        if over_limit:
            context["unavailable"] = over_limit.message
            status = 429
        elif form.is_valid():
            # US units are converted first: limits and the model take the catalogue's units.
            entered = form.entered_values()
            try:
                results = predict(entered.values, form.horizons(), percent_input=True,
                                  context=form.context_values())
            except InvalidInput as invalid:
                form.add_prediction_errors(annotate_errors(invalid.errors, entered.conversions))
            except ModelUnavailable as unavailable:
                context["unavailable"] = unavailable.message
                status = 503
            else:
                prediction_log.record(results, channel="web")
                form.flags = annotate_flags(results[0].flags, entered.conversions)
                context.update(_result_context(results, catalogue, form.flags,
                                               entered.conversions))
        if "results" not in context:
            form.note_typical_range_flags(form.data)
    context.update(form=form, panels=form.panels(), context_rows=form.context_rows(),
                   language_form_id=FORM_ID,
                   switch_name=SWITCH_LANGUAGE, combinations=_combinations(catalogue))
    response = render(request, "predictor/predict.html", context, status=status)
    if request.method == "POST":
        add_never_cache_headers(response)  # the page holds a patient's lab values
    if status == 429:
        response["Retry-After"] = str(over_limit.retry_after)
    return response


def _form_keys(catalogue: LiveCatalogue) -> set[str]:
    return {"horizon", "units", *CONTEXT_KEYS, *catalogue.by_key}


def _combinations(catalogue: LiveCatalogue) -> list[dict]:
    return [{"code": c.code, "name": str(catalogue.combination_names.get(c.code, c.code)),
             "panels": " ".join(str(p) for p in c.panels)} for c in COMBINATIONS]


def _result_context(results: Sequence[HorizonPrediction], catalogue: LiveCatalogue,
                    flags: dict, conversions: dict[str, Conversion]) -> dict:
    views = [_result_view(r, catalogue) for r in results]
    return {
        "results": views,
        # With "all three", the inputs are usually the same for every horizon: say it once.
        "shared_inputs": views[0] if len({v.inputs_key for v in views}) == 1 else None,
        "flagged": [NamedValue(_label(catalogue, key), str(flags[key]))
                    for key in catalogue.by_key if key in flags],
        # The SI value the model got for each value entered in a US unit (spec section 10).
        "converted": [NamedValue(_label(catalogue, key), conversions[key].describe())
                      for key in catalogue.by_key if key in conversions],
    }


def _result_view(result: HorizonPrediction, catalogue: LiveCatalogue) -> ResultView:
    has_context = bool(result.context)
    missing = bool(result.context_model_missing)
    # The file that answered: labs + context (or the reference) when context was used by it.
    answered_with_context = has_context and not missing
    return ResultView(
        horizon=result.horizon,
        title=str(HORIZON_TITLES[result.horizon]),
        percent=result.probability * 100,
        estimate=estimate(result.probability, result.interval),
        raw_percent=result.raw_probability * 100,
        reference_n=result.reference_n,
        reference_severe=result.reference_severe,
        combination=result.combination,
        combination_name=_combination_name(catalogue, result.combination),
        model_version=result.model_version,
        card_url=_card_url(result.horizon, result.combination, with_context=answered_with_context),
        unused=tuple(NamedValue(_label(catalogue, key)) for key in _in_catalogue_order(
            catalogue, [key for key in result.unused if key in catalogue.by_key])),
        context=dict(result.context) if has_context else None,
        has_context=has_context,
        reference_only=has_context and result.combination == REFERENCE_COMBINATION,
        context_model_missing=has_context and missing,
        labs_add_information=result.labs_add_information,
        no_lab_reference=_reference_view(result) if has_context else None,
        with_labs=None if result.with_labs is None
        else estimate(result.with_labs.probability, result.with_labs.interval),
        range_warnings=tuple(str(w.message) for w in result.range_warnings),
        gain=None if has_context else _gain_view(result.context_gain),
        ignored=tuple(NamedValue(_label(catalogue, key))
                      for key in _in_catalogue_order(catalogue, result.ignored)),
        imputed=tuple(NamedValue(_label(catalogue, key),
                                 _with_unit(catalogue, key, result.imputed[key]))
                      for key in _in_catalogue_order(catalogue, result.imputed)),
    )


def _card_url(horizon: int, combination: str, *, with_context: bool) -> str:
    if with_context:
        return reverse("model_card_context", args=[horizon, combination])
    return reverse("model_card", args=[horizon, combination])


def _combination_name(catalogue: LiveCatalogue, code: str) -> str:
    if code == REFERENCE_COMBINATION:
        return str(_("no lab values: CRS grade and day only"))
    return str(catalogue.combination_names.get(code, ""))


def _reference_view(result: HorizonPrediction) -> ReferenceView | None:
    reference = result.no_lab_reference
    if reference is None or result.combination == REFERENCE_COMBINATION:
        return None  # absent, or it is the answer itself
    return ReferenceView(
        estimate=estimate(reference.probability, reference.interval),
        reference_n=reference.reference_n, reference_severe=reference.reference_severe,
        model_version=reference.model_version,
        card_url=_card_url(result.horizon, REFERENCE_COMBINATION, with_context=True))


def _gain_view(gain: ContextGain | None) -> GainView | None:
    """Only when both AUROCs are known: a one-sided figure says nothing about the gain."""
    if gain is None or gain.labs_only_auroc is None or gain.with_context_auroc is None:
        return None
    both_briers = gain.labs_only_brier is not None and gain.with_context_brier is not None
    before, after = f"{gain.labs_only_auroc:.2f}", f"{gain.with_context_auroc:.2f}"
    return GainView(
        labs_only_auroc=before, with_context_auroc=after,
        # Compared as shown: "raises from 0.83 to 0.83" would read as nonsense.
        raises_auroc=float(after) > float(before),
        labs_only_brier=f"{gain.labs_only_brier:.3f}" if both_briers else "",
        with_context_brier=f"{gain.with_context_brier:.3f}" if both_briers else "")


def _in_catalogue_order(catalogue: LiveCatalogue, keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda key: catalogue.by_key[key].position)


def _label(catalogue: LiveCatalogue, key: str) -> str:
    return str(catalogue.by_key[key].name)


def _with_unit(catalogue: LiveCatalogue, key: str, value: float) -> str:
    factor = catalogue.by_key[key]
    if factor.is_fraction:
        return f"{show_number(value * 100)}%"
    return f"{show_number(value)} {factor.unit}"
