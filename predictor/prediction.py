"""One prediction, end to end: check values, choose the combination, run the model, calibrate.

The web form and the JSON API both call ``predict``; it raises ``InvalidInput`` (HTTP 400) or
``ModelUnavailable`` (HTTP 503) with messages in the active language.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from predictor.catalogue import HORIZONS, combination_factor_keys
from predictor.live_catalogue import LiveCatalogue, live_catalogue
from predictor.registry import REGISTRY, Snapshot
from predictor.selection import Selection, cheapest_shortfall, choose_combination
from predictor.validation import check_values

log = logging.getLogger(__name__)


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
    inputs: dict[str, float] = field(default_factory=dict)  # the model's input, model units


class InvalidInput(Exception):
    def __init__(self, errors: dict[str, list]):
        super().__init__(errors)
        self.errors = errors


class ModelUnavailable(Exception):
    def __init__(self, horizon: int, combination: str):
        self.horizon, self.combination = horizon, combination
        self.message = _("No model is installed for %(horizon)s with the %(combination)s panel "
                         "combination. An administrator must upload and activate one.") % {
            "horizon": horizon_name(horizon), "combination": combination}
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


def _medians(snapshot: Snapshot, horizon: int) -> dict[str, Mapping[str, float]]:
    return {combo: model.medians for (h, combo), model in snapshot.models.items()
            if h == horizon and model.medians}


def _no_combination_error(values: Mapping[str, float], catalogue: LiveCatalogue) -> InvalidInput:
    shortfall = cheapest_shortfall(values)
    names = ", ".join(str(catalogue.by_key[k].name) for k in shortfall.missing)
    return InvalidInput({"__all__": [
        _("No panel combination is complete. Panel 1 alone is not enough, and a panel counts only "
          "when all its values are entered. Add these values to use the %(combination)s model: "
          "%(names)s.") % {"combination": shortfall.combination, "names": names}]})


def predict(raw_values: Mapping[str, object], horizons: Iterable[int], *,
            percent_input: bool) -> list[HorizonPrediction]:
    snapshot = REGISTRY.snapshot()
    catalogue = live_catalogue(snapshot.stamp)
    checked = check_values(raw_values, limits=catalogue.limits, percent_input=percent_input,
                           min_values=settings.PRCRS_MIN_VALUES)
    if not checked.ok:
        raise InvalidInput(checked.errors)
    results = []
    for horizon in horizons:
        selection: Selection | None = choose_combination(
            checked.values, medians=_medians(snapshot, horizon),
            max_imputed_fraction=settings.PRCRS_MAX_IMPUTED_FRACTION)
        if selection is None:
            raise _no_combination_error(checked.values, catalogue)
        model = snapshot.get(horizon, selection.combination)
        if model is None:
            raise ModelUnavailable(horizon, selection.combination)
        raw = model.raw_probability(selection.vector)
        if not math.isfinite(raw):  # NaN would otherwise be looked up as the lowest risk
            log.error("model %s returned %r for %s", model.version_label, raw, selection.vector)
            raise ModelOutputInvalid(horizon, selection.combination, model.version_label)
        reference = model.calibration.lookup(raw)
        results.append(HorizonPrediction(
            horizon=horizon, combination=selection.combination,
            probability=reference.probability, raw_probability=raw,
            reference_n=reference.n, reference_severe=reference.severe,
            model_version=model.version_label, ignored=selection.ignored,
            imputed=selection.imputed, flags=checked.flags,
            inputs=dict(zip(combination_factor_keys(selection.combination), selection.vector))))
    return results
