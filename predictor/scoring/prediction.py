"""One prediction, end to end: check values, choose the combination, run the model, calibrate.

The web form and the JSON API both call ``predict``; it raises ``InvalidInput`` (HTTP 400) or
``ModelUnavailable`` (HTTP 503) with messages in the active language.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from predictor.bedside_scores.scores import bedside_scores
from predictor.catalogue import (
    COMBINATION_CODES,
    CONTEXT_BOTH,
    CONTEXT_NONE,
    HORIZONS,
    REFERENCE_COMBINATION,
)
from predictor.explanations.contributions import Contribution, explained_score
from predictor.inputs.intake import check_context, check_values, context_given, nothing_entered
from predictor import no_lab_reference
from predictor.live_catalogue import LiveCatalogue, live_catalogue
from predictor.scoring.headline import (
    FileAnswer,
    WithLabs,
    labs_add_information,
    reference_leads,
    with_reference_headline,
)
from predictor.scoring.registry import REGISTRY, ServingModel, Snapshot
from predictor.scoring.selection import Selection, cheapest_shortfall, choose_combination
from predictor.scoring.trained_ranges import model_context, range_warnings
from predictor.scoring.value_use import Completion, ValueUse, completions, value_uses

log = logging.getLogger(__name__)


# The no-lab reference's answer (combination 0: CRS grade and day only), shown beside a
# labs+context answer so the physician sees what the labs change.
ReferencePrediction = FileAnswer


@dataclass(frozen=True)
class ContextGain:
    """Without context: the patient-level CV figures of the active labs-only file and of the
    active labs+context file of the same slot (any may be None: not installed or not stated)."""

    labs_only_auroc: float | None = None
    with_context_auroc: float | None = None
    labs_only_brier: float | None = None
    with_context_brier: float | None = None

    @property
    def known(self) -> bool:
        return self.labs_only_auroc is not None and self.with_context_auroc is not None


@dataclass(frozen=True)
class HorizonPrediction:
    horizon: int
    combination: str
    probability: float  # actual probability from the calibration baseline
    raw_probability: float  # softmax output of the model
    reference_n: int
    reference_severe: int
    model_version: str
    ignored: tuple[str, ...]
    imputed: dict[str, float]
    flags: dict[str, object] = field(default_factory=dict)  # typical-range warnings by key
    inputs: dict[str, float] = field(default_factory=dict)  # the model's lab input, model units
    context: dict[str, int] | None = None  # parsed CRS grade and day, when given
    interval: tuple[float, float] = (0.0, 1.0)  # 95 %, from the calibration map
    no_lab_reference: ReferencePrediction | None = None
    # the file's claim (``headline``): True, False (then the headline is the reference's and
    # ``with_labs`` holds the labs + context number) or None (no claim either way)
    labs_add_information: bool | None = None
    context_gain: ContextGain | None = None
    unused: tuple[str, ...] = ()  # factor keys the serving file accepts but does not use
    context_model_missing: bool = False  # context given, but no labs+context file installed
    with_labs: WithLabs | None = None
    range_warnings: tuple = ()  # ``trained_ranges.RangeWarning``: inputs beyond the training
    # What each entered value did to ``probability`` (predictor.explanations), largest first.
    contributions: tuple = ()
    # Published scores the entered values allow (predictor.bedside_scores), not this site's.
    bedside_scores: tuple = ()
    value_use: tuple[ValueUse, ...] = ()  # every entered lab value: used or not, and why
    completions: tuple[Completion, ...] = ()  # no panel complete: what would complete one

    @property
    def labs_change(self) -> float | None:
        """What the labs changed over the no-lab reference (probability points), if shown."""
        if self.no_lab_reference is None:
            return None
        own = self.with_labs.probability if self.with_labs is not None else self.probability
        return own - self.no_lab_reference.probability


class InvalidInput(Exception):
    def __init__(self, errors: dict[str, list]):
        super().__init__(errors)
        self.errors = errors


class ModelUnavailable(Exception):
    def __init__(self, horizon: int, combination: str):
        self.horizon, self.combination = horizon, combination
        if combination == REFERENCE_COMBINATION:
            self.message = _("No no-lab reference model (CRS grade and day only) is installed "
                             "for %(horizon)s. Enter lab values too, or ask an administrator to "
                             "upload and activate one.") % {"horizon": horizon_name(horizon)}
        else:
            self.message = _("No model is installed for %(horizon)s with the %(combination)s "
                             "panel combination. An administrator must upload and activate "
                             "one.") % {"horizon": horizon_name(horizon),
                                        "combination": combination}
        super().__init__(str(self.message))


class ModelOutputInvalid(ModelUnavailable):
    """The model ran but its score is NaN or infinite. A subclass, so every caller that answers
    ModelUnavailable (503) refuses it too instead of showing a made-up probability."""

    def __init__(self, horizon: int, combination: str, model_version: str):
        super().__init__(horizon, combination)
        self.model_version = model_version
        self.message = _("The model %(version)s gave no valid result for these values. Please "
                         "report this to an administrator.") % {"version": model_version}
        self.args = (str(self.message),)


def horizon_name(horizon: int):
    return {1: _("tomorrow"), 2: _("the day after tomorrow"), 3: _("in three days")}[horizon]


def parse_horizons(value: object) -> list[int]:
    """``1``/``"2"``/``"all"`` -> list of horizons; ValueError for anything else."""
    if value == "all":
        return list(HORIZONS)
    # A missing horizon (None), a list or 1.5 must be refused, not crash or be truncated to 1.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    try:
        horizon = int(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(value) from None
    if horizon not in HORIZONS:
        raise ValueError(value)
    return [horizon]


def _medians(snapshot: Snapshot, horizon: int,
             context: str) -> dict[str, Mapping[str, float]]:
    """Per combination, the training medians of the file that would serve it: the
    labs+context file where the context is given and one is installed, else the labs-only one."""
    medians: dict[str, Mapping[str, float]] = {}
    for code in COMBINATION_CODES:
        model = (snapshot.get(horizon, code, context) if context else None) \
            or snapshot.get(horizon, code)
        if model is not None and model.medians:
            medians[code] = model.medians
    return medians


def _no_combination_error(values: Mapping[str, float], catalogue: LiveCatalogue) -> InvalidInput:
    shortfall = cheapest_shortfall(values)
    names = ", ".join(str(catalogue.by_key[k].name) for k in shortfall.missing)
    return InvalidInput({"__all__": [
        _("No panel combination is complete. Panel 1 alone is not enough, and a panel counts only "
          "when all its values are entered. Add these values to use the %(combination)s model: "
          "%(names)s.") % {"combination": shortfall.combination, "names": names}]})


def _run(model: ServingModel, vector: list[float], horizon: int) -> float:
    """The model's raw probability, or ``ModelOutputInvalid`` (503) for any failure inside its
    forward or a non-finite score: an uploaded file's code must never turn into a 500."""
    try:
        raw = model.raw_probability(vector)
    except Exception:  # noqa: BLE001 - whatever the module raises, the answer is the same
        log.exception("model %s raised on %s", model.version_label, vector)
        raise ModelOutputInvalid(horizon, model.combination, model.version_label) from None
    if not math.isfinite(raw):  # NaN would otherwise be looked up as the lowest risk
        log.error("model %s returned %r for %s", model.version_label, raw, vector)
        raise ModelOutputInvalid(horizon, model.combination, model.version_label)
    return raw


def _scored(model: ServingModel, vector: list[float], horizon: int, *, explain: bool,
            skip: Iterable[str] = ()) -> tuple[float, tuple[Contribution, ...]]:
    """The model's raw probability and, where ``explain``, the contributions of its inputs,
    from one forward (``explained_score``). Where that forward raises or gives its own row no
    finite score, the row alone decides as without ``explain`` (``_run``: a broken file is a
    503), and nothing is explained."""
    if explain:
        found = explained_score(model, vector, skip=skip)
        if found is not None and math.isfinite(found[0]):
            return found
    return _run(model, vector, horizon), ()


def _reference_model(snapshot: Snapshot, horizon: int) -> ServingModel | None:
    return snapshot.get(horizon, no_lab_reference.COMBINATION, no_lab_reference.CONTEXT)


def _reference(snapshot: Snapshot, horizon: int, context: dict[str, int], *,
               explain: bool = False) -> tuple[ReferencePrediction | None,
                                               tuple[Contribution, ...]]:
    """The no-lab reference's answer (None where no reference file serves) and, where
    ``explain``, what CRS grade and day did to it."""
    model = _reference_model(snapshot, horizon)
    if model is None:
        return None, ()
    raw, contributions = _scored(
        model, model.input_vector((), model_context(model.manifest, context)), horizon,
        explain=explain)
    ref = model.calibration.lookup(raw)
    return ReferencePrediction(ref.probability, ref.interval, raw, ref.n, ref.severe,
                               model.version_label), contributions


def _metric(model: ServingModel | None, name: str) -> float | None:
    """``metrics.patient_cv.<name>`` of a file's manifest, None where absent or not a number."""
    if model is None:
        return None
    metrics = model.manifest.get("metrics")
    cv = metrics.get("patient_cv") if isinstance(metrics, dict) else None
    value = cv.get(name) if isinstance(cv, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def context_gain(snapshot: Snapshot, horizon: int, combination: str) -> ContextGain:
    """What the two missing inputs would add to this slot, from the two files' manifests."""
    labs = snapshot.get(horizon, combination)
    ctx = snapshot.get(horizon, combination, CONTEXT_BOTH)
    return ContextGain(_metric(labs, "auroc"), _metric(ctx, "auroc"), _metric(labs, "brier"),
                       _metric(ctx, "brier"))


def _unused(model: ServingModel) -> tuple[str, ...]:
    keys = model.manifest.get("unused_factor_keys")
    if not isinstance(keys, list):
        return ()
    return tuple(k for k in model.factor_keys if k in keys)


def predict(raw_values: Mapping[str, object], horizons: Iterable[int], *,
            percent_input: bool, context: Mapping[str, object] | None = None,
            explain: bool = True) -> list[HorizonPrediction]:
    """One prediction per horizon (spec sections 2, 5 and 8).

    ``context``: {"crs_grade": ..., "day": ...} as typed or posted, or None/empty. With it, the
    labs+context file of the chosen combination answers, with the no-lab reference beside it;
    with it and no lab value at all, the no-lab reference alone answers (combination "0"); the
    at-least-five rule applies to lab values only when some are entered. Without it, the
    labs-only file answers and ``context_gain`` says what the context would add.
    ``explain``: fill in ``contributions`` (of the number shown; the forward that scores the
    row also scores its perturbed copies, so this costs no extra forward).
    """
    snapshot = REGISTRY.snapshot()
    catalogue = live_catalogue(snapshot.stamp)
    checked_context = check_context(context if isinstance(context, Mapping) else None)
    has_context = context_given(context if isinstance(context, Mapping) else None)
    reference_only = has_context and nothing_entered(raw_values)
    # With grade and day, a few loose labs never block an answer (the no-lab reference gives
    # it), so the at-least-five rule is only for answers that rest on labs alone.
    checked = check_values(raw_values, limits=catalogue.limits, percent_input=percent_input,
                           min_values=0 if has_context else settings.PRCRS_MIN_VALUES)
    if not checked.ok or not checked_context.ok:
        errors = dict(checked.errors)
        for key, messages in checked_context.errors.items():
            errors.setdefault(key, []).extend(messages)
        raise InvalidInput(errors)
    ctx = checked_context.values
    scores = bedside_scores(checked.values)  # whatever the panels: only its three values count
    results = []
    for horizon in horizons:
        if ctx is not None and reference_only:
            results.append(_reference_alone(snapshot, horizon, ctx, explain))
            continue
        wanted = CONTEXT_BOTH if ctx is not None else CONTEXT_NONE
        selection: Selection | None = choose_combination(
            checked.values, medians=_medians(snapshot, horizon, wanted),
            max_imputed_fraction=settings.PRCRS_MAX_IMPUTED_FRACTION)
        if selection is None and ctx is not None:
            results.append(_reference_for_loose_labs(snapshot, horizon, ctx, checked.values,
                                                     checked.flags, scores, explain))
            continue
        if selection is None:
            raise _no_combination_error(checked.values, catalogue)
        model = (snapshot.get(horizon, selection.combination, wanted) if ctx is not None
                 else None) or snapshot.get(horizon, selection.combination)
        if model is None:
            raise ModelUnavailable(horizon, selection.combination)
        vector = model.input_vector(selection.vector, model_context(model.manifest, ctx))
        reference_model = _reference_model(snapshot, horizon) if ctx is not None else None
        context_model_missing = ctx is not None and not model.context
        # Only the number shown is explained: the reference's where it leads.
        reference_first = reference_leads(labs_add_information(model),
                                          reference_given=reference_model is not None,
                                          context_model_missing=context_model_missing)
        raw, contributions = _scored(model, vector, horizon,
                                     explain=explain and not reference_first,
                                     skip=(*selection.imputed, *_unused(model)))
        found = model.calibration.lookup(raw)
        reference, reference_contributions = (
            _reference(snapshot, horizon, ctx, explain=explain and reference_first)
            if ctx is not None else (None, ()))
        prediction = with_reference_headline(HorizonPrediction(
            horizon=horizon, combination=selection.combination,
            probability=found.probability, raw_probability=raw,
            reference_n=found.n, reference_severe=found.severe,
            model_version=model.version_label, ignored=selection.ignored,
            imputed=selection.imputed, flags=checked.flags,
            inputs=dict(zip(model.factor_keys, selection.vector)),
            context=ctx, interval=found.interval,
            no_lab_reference=reference,
            labs_add_information=labs_add_information(model),
            context_gain=context_gain(snapshot, horizon, selection.combination)
            if ctx is None else None,
            unused=_unused(model),
            context_model_missing=context_model_missing,
            range_warnings=range_warnings(
                [m.manifest for m in (model, reference_model) if m is not None and m.context],
                ctx),
            value_use=value_uses(checked.values, combination=selection.combination,
                                 used_keys=model.factor_keys, unused_by_model=_unused(model)),
            bedside_scores=scores,
            contributions=reference_contributions if reference_first else contributions))
        results.append(prediction)
    return results


def _reference_alone(snapshot: Snapshot, horizon: int, ctx: dict[str, int],
                     explain: bool = False) -> HorizonPrediction:
    reference, contributions = _reference(snapshot, horizon, ctx, explain=explain)
    if reference is None:
        raise ModelUnavailable(horizon, REFERENCE_COMBINATION)
    model = _reference_model(snapshot, horizon)
    return HorizonPrediction(
        horizon=horizon, combination=REFERENCE_COMBINATION, probability=reference.probability,
        raw_probability=reference.raw_probability, reference_n=reference.reference_n,
        reference_severe=reference.reference_severe, model_version=reference.model_version,
        ignored=(), imputed={}, context=ctx, interval=reference.interval,
        range_warnings=range_warnings([model.manifest], ctx),
        contributions=contributions)


def _reference_for_loose_labs(snapshot: Snapshot, horizon: int, ctx: dict[str, int],
                              values: Mapping[str, float], flags: Mapping[str, object],
                              scores: tuple, explain: bool) -> HorizonPrediction:
    """Grade and day with labs that complete no panel: the no-lab reference answers, every
    entered value is listed as not used, and the nearest complete combinations are named."""
    answer = _reference_alone(snapshot, horizon, ctx, explain)
    return dataclasses.replace(
        answer, ignored=tuple(values), flags=dict(flags), bedside_scores=scores,
        value_use=value_uses(values, combination=REFERENCE_COMBINATION, used_keys=()),
        completions=completions(values, snapshot, horizon))
