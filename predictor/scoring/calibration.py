"""Raw model probability -> actual probability through a calibration baseline (spec section 5).

One ``CalibrationMap`` per model file, built at load by ``build_calibration`` from the stored
baseline and the method its manifest names (``predictor.scoring.calibration_methods``;
``windows``, the paper's method, where none is named). A lookup gives:

- the probability from the fitted map, strictly inside (0, 1);
- its 95 % interval: with a ``patient`` column in the baseline, the 2.5 and 97.5 percentiles of
  the map refitted on ``BOOTSTRAP_RESAMPLES`` patient bootstrap resamples (seeded, precomputed at
  load on a grid of raw scores, linear between grid points); for ``identity``, whose map does not
  depend on the baseline, the resamples refit a Platt recalibration instead (where the baseline
  says the true rate at this score could lie). Without a patient column, the Wilson interval of
  the probability over the N nearest reference patient-days. The interval always contains the
  probability;
- the literal explanation: of the N reference patient-days with the nearest scores, K were severe
  (``predictor.scoring.nearest_counts``). K/N is a count, not the estimate; the two may differ.

``lookup`` is ``lookup_many`` on one score, so a batch and a single prediction agree exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from predictor.scoring.calibration_methods import (
    METHOD_PARAMS,
    METHODS,
    WindowSettings,
    fit_map,
    nearest_position,
    nearest_positions,
)
from predictor.scoring.intervals import wilson_rate_bounds, wilson_rate_interval
from predictor.scoring.nearest_counts import NEAREST_N, NearestCounts

__all__ = ["BOOTSTRAP_RESAMPLES", "CalibrationMap", "DEFAULT_METHOD", "Lookups", "METHODS",
           "METHOD_PARAMS", "NEAREST_N", "Reference", "WindowSettings", "build_calibration"]

DEFAULT_METHOD = "windows"
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 20170415  # fixed: the same baseline always gives the same intervals
GRID_POINTS = 41  # raw scores (baseline quantiles) where the bootstrap interval is computed


@dataclass(frozen=True)
class Reference:
    """The answer for one raw score."""

    probability: float  # from the fitted map, strictly inside (0, 1)
    n: int  # the N reference patient-days with the nearest scores
    severe: int  # K of them developed severe CRS
    position: int  # position of the nearest baseline score, sorted high to low
    interval: tuple[float, float] = field(default=(0.0, 1.0))  # 95 %, contains probability


class Lookups(NamedTuple):
    """``lookup`` for many scores at once, as arrays."""

    probability: np.ndarray
    n: np.ndarray
    severe: np.ndarray
    low: np.ndarray
    high: np.ndarray
    position: np.ndarray


class CalibrationMap:
    """A fitted calibration for one baseline: probability, interval and literal counts."""

    def __init__(self, method: str, params: Mapping | None, scores: Sequence[float],
                 severe: Sequence[int], patients: Sequence | None = None, *,
                 resamples: int = BOOTSTRAP_RESAMPLES):
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        severe = np.asarray(severe, dtype=np.int64).reshape(-1)
        if len(scores) == 0 or len(scores) != len(severe):
            raise ValueError("a baseline needs the same, non-zero number of scores and labels")
        if patients is not None and len(patients) != len(scores):
            raise ValueError("a patient column needs one entry per baseline row")
        self.method = method
        self.params = dict(params or {})
        self._map = fit_map(method, self.params, scores, severe)
        self._counts = NearestCounts(scores, severe)
        self._ascending = np.sort(scores)
        self._ascending_list = self._ascending.tolist()
        self.scores = tuple(self._ascending[::-1].tolist())  # high to low
        self.by_patient = patients is not None
        self._grid = self._low = self._high = None
        if self.by_patient:
            banded = ("platt", {}) if method == "identity" else (method, self.params)
            self._grid, self._low, self._high = bootstrap_bands(
                *banded, scores, severe, patients, resamples)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def nearest_n(self) -> int:
        return self._counts.n

    def probabilities(self, q) -> np.ndarray:
        """The fitted map alone for an array of raw scores: what ``lookup_many`` gives as
        ``probability``, without the counts, intervals and positions (contributions need no
        more, and those cost most of a lookup)."""
        return self._map(np.asarray(q, dtype=np.float64).reshape(-1))

    def lookup_many(self, q) -> Lookups:
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        return self._lookups(q, *self._counts.counts(q))

    def _lookups(self, q: np.ndarray, n, severe) -> Lookups:
        probability = self._map(q)
        if self.by_patient:
            low = np.interp(q, self._grid, self._low)
            high = np.interp(q, self._grid, self._high)
        else:
            low, high = wilson_rate_interval(probability, n)
        low, high = np.minimum(low, probability), np.maximum(high, probability)
        return Lookups(probability, n, severe, low, high, nearest_positions(self._ascending, q))

    def lookup(self, q: float) -> Reference:
        """One score: the same arithmetic as ``lookup_many``, so the same answer; what numpy
        would spend most of its per-call cost on (the count, the position, the Wilson bounds)
        runs on plain floats with the same comparisons and operations in the same order."""
        q = float(q)
        n, severe = self._counts.count_one(q)
        array = np.array([q])
        probability = float(self._map(array)[0])
        if self.by_patient:
            low = float(np.interp(array, self._grid, self._low)[0])
            high = float(np.interp(array, self._grid, self._high)[0])
        else:
            low, high = wilson_rate_bounds(probability, n)
        return Reference(probability, n, severe, nearest_position(self._ascending_list, q),
                         (min(low, probability), max(high, probability)))

    def nearest_position(self, q: float) -> int:
        return self.lookup(q).position

    def curve(self) -> list[tuple[float, float]]:
        """(raw score, actual probability) pairs, high to low, for the model card chart."""
        values = self._map(np.asarray(self.scores))
        return list(zip(self.scores, values.tolist()))


def bootstrap_bands(method: str, params: Mapping, scores: np.ndarray, severe: np.ndarray,
                    patients: Sequence, resamples: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles of the map refitted on patient bootstrap resamples, on a grid
    of raw scores (baseline quantiles and both ends). Each resample draws as many patients as the
    baseline has, with replacement, and takes all their rows (as weights)."""
    labels, row_patient = np.unique(np.asarray([str(p) for p in patients]), return_inverse=True)
    grid = np.unique(np.concatenate([np.quantile(scores, np.linspace(0, 1, GRID_POINTS)),
                                     [0.0, 1.0]]))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    values = np.empty((resamples, len(grid)))
    for b in range(resamples):
        drawn = np.bincount(rng.integers(0, len(labels), len(labels)), minlength=len(labels))
        weights = drawn[row_patient]
        keep = weights > 0
        values[b] = fit_map(method, params, scores[keep], severe[keep], weights[keep])(grid)
    low, high = np.percentile(values, [2.5, 97.5], axis=0)
    return grid, low, high


def build_calibration(method: str | None, params: Mapping | None, scores: Sequence[float],
                      severe: Sequence[int], patients: Sequence | None = None) -> CalibrationMap:
    """The map a file serves with: ``method`` from its manifest (None: the paper's windows)."""
    return CalibrationMap(method or DEFAULT_METHOD, params, scores, severe, patients)
