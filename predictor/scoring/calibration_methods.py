"""The calibration methods: each turns a baseline of held-out (score, label) rows into a map from a
raw score to a probability, strictly inside (0, 1) (spec section 5).

``fit_map(method, params, scores, severe, weights)`` returns a vectorised function
``q -> probabilities``. ``weights`` are integer row multiplicities (a patient bootstrap draws a
patient's rows several times); every method is deterministic for the same input.

- ``windows``: the paper's windowed rate (spec 5a). Sorted high to low, each position takes the
  severe fraction of the w positions above and below it (w by score band, 10 / 15 / 20); a new
  score takes the rate of the nearest position (ties: the lower position, i.e. the higher score;
  among equal scores, the first of their run). Made monotone by pooling adjacent windows
  (pool-adjacent-violators), never by sorting the rates, which re-pairs rates with other scores.
  A window with no severe day keeps a little risk: its rate is shrunk toward the baseline's rate
  with ``pseudo_count`` patient-days (default 1).
- ``isotonic``: pool-adjacent-violators on the baseline; each pooled block's rate is shrunk toward
  the baseline's rate with ``pseudo_count`` patient-days (default 5), so a sparse block at an end
  (3 of 3, or 0 of 200) cannot claim 100 % or 0 %; pooled again if the shrinkage broke the order;
  linear between neighbouring baseline scores, flat beyond the ends.
- ``platt``: logistic regression on the logit of the raw score (Platt scaling).
- ``beta``: logistic regression on ln(s) and -ln(1 - s) (Kull, Silva Filho and Flach 2017, the
  "abm" form with the two slopes kept >= 0 so the map stays monotone).
- ``identity``: the model's own probability, for a family already calibrated.

Every map is finally kept within [PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR], a numerical guard
that only the logistic maps can reach (far out in the tails).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PROBABILITY_FLOOR = 1e-4  # 0.01 %: no map answers below this or above 1 minus it
SCORE_CLIP = 1e-6  # raw scores of exactly 0 or 1 before a logarithm
RIDGE = 1e-3  # keeps a logistic fit finite where a resample holds one class only

MapFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class WindowSettings:
    """Half-widths of the window by raw probability (the paper's 10 / 15 / 20)."""

    high: int = 10  # where p > high_above
    middle: int = 15  # where low_below <= p <= high_above
    low: int = 20  # where p < low_below
    high_above: float = 0.8
    low_below: float = 0.3

    def half_width(self, p: float) -> int:
        if p > self.high_above:
            return self.high
        if p < self.low_below:
            return self.low
        return self.middle

    def half_widths(self, p: np.ndarray) -> np.ndarray:
        return np.where(p > self.high_above, self.high,
                        np.where(p < self.low_below, self.low, self.middle))

    @classmethod
    def from_dict(cls, data: Mapping | None) -> WindowSettings:
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})


# Accepted parameters per method, with their defaults (checked at upload, see calibration_spec).
METHOD_PARAMS: dict[str, dict[str, float]] = {
    "windows": {"high": 10, "middle": 15, "low": 20, "high_above": 0.8, "low_below": 0.3,
                "pseudo_count": 1.0},
    "isotonic": {"pseudo_count": 5.0},
    "platt": {},
    "beta": {},
    "identity": {},
}
METHODS = tuple(METHOD_PARAMS)
INTEGER_PARAMS = {"high", "middle", "low"}
UNIT_PARAMS = {"high_above", "low_below"}  # must lie in [0, 1]


def prior_rate(severe: np.ndarray, weights: np.ndarray) -> float:
    """The baseline's severe rate, kept off 0 and 1 (half a pseudo-day each way)."""
    return (float(np.dot(severe, weights)) + 0.5) / (float(weights.sum()) + 1.0)


def guard(p: np.ndarray) -> np.ndarray:
    return np.clip(p, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)


def fit_map(method: str, params: Mapping | None, scores, severe, weights=None) -> MapFunction:
    """The fitted map of ``method`` on a baseline (see the module docstring)."""
    if method not in METHOD_PARAMS:
        raise ValueError(f"unknown calibration method {method!r}")
    merged = {**METHOD_PARAMS[method], **(params or {})}
    scores = np.asarray(scores, dtype=np.float64)
    severe = np.asarray(severe, dtype=np.float64)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(scores) == 0 or len(scores) != len(severe) or len(weights) != len(scores):
        raise ValueError("a baseline needs the same, non-zero number of scores and labels")
    return _FITTERS[method](merged, scores, severe, weights)


# --- windows -------------------------------------------------------------------------------------

def nondecreasing(y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The least-squares non-decreasing fit to ``y`` (weighted pool-adjacent-violators), by
    SciPy's solver, the one scikit-learn's ``isotonic_regression`` calls: the same numbers.
    Imported here, when a windows or isotonic map is fitted, not with this module: importing
    scikit-learn (and with it SciPy's statistics and pandas) put ~100 MiB into every gunicorn
    worker at start, a fifth of the 512 MiB a worker may hold, for maps the shipped files
    (``identity``, Platt intervals) never fit."""
    from scipy.optimize import isotonic_regression

    y = np.asarray(y, dtype=np.float64)
    return np.asarray(isotonic_regression(y, weights=weights, increasing=True).x,
                      dtype=np.float64)


def nearest_positions(ascending: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Position (high-to-low order) of the baseline score nearest each q; at equal distance
    the higher score (the lower position); among equal scores the first of their run."""
    n = len(ascending)
    j = np.searchsorted(ascending, q, side="left")
    above = np.minimum(j, n - 1)
    below = np.maximum(j - 1, 0)
    d_above = np.where(j < n, np.abs(ascending[above] - q), np.inf)
    d_below = np.where(j > 0, np.abs(ascending[below] - q), np.inf)
    chosen = np.where(d_above <= d_below, ascending[above], ascending[below])
    return n - np.searchsorted(ascending, chosen, side="right")


def nearest_position(ascending: Sequence[float], q: float) -> int:
    """``nearest_positions`` for one score on a plain list: the same comparisons."""
    n = len(ascending)
    j = bisect.bisect_left(ascending, q)
    d_above = abs(ascending[j] - q) if j < n else math.inf
    d_below = abs(ascending[j - 1] - q) if j > 0 else math.inf
    chosen = ascending[j] if d_above <= d_below else ascending[j - 1]
    return n - bisect.bisect_right(ascending, chosen)


def windowed_rates(descending: np.ndarray, labels: np.ndarray, settings: WindowSettings,
                   pseudo_count: float, prior: float) -> np.ndarray:
    """Each position's windowed severe rate (truncated at the ends), shrunk toward ``prior``."""
    n = len(descending)
    prefix = np.concatenate([[0.0], np.cumsum(labels)])
    positions = np.arange(n)
    w = settings.half_widths(descending).astype(np.int64)  # JSON may say 10.0
    lo, hi = np.maximum(0, positions - w), np.minimum(n, positions + w + 1)
    k, size = prefix[hi] - prefix[lo], hi - lo
    return (k + pseudo_count * prior) / (size + pseudo_count)


def _fit_windows(params: dict, scores, severe, weights) -> MapFunction:
    repeats = np.rint(weights).astype(np.int64)
    order = np.argsort(-scores, kind="stable")  # high to low; equal scores keep their order
    descending = np.repeat(scores[order], repeats[order])
    labels = np.repeat(severe[order], repeats[order])
    settings = WindowSettings.from_dict({k: params[k] for k in WindowSettings.__dataclass_fields__})
    rates = windowed_rates(descending, labels, settings, float(params["pseudo_count"]),
                           prior_rate(severe, weights))
    # Non-increasing along the positions = non-decreasing along the ascending scores.
    pooled = guard(nondecreasing(rates[::-1]))
    ascending = descending[::-1].copy()
    by_position = pooled[::-1].copy()

    def windows_map(q: np.ndarray) -> np.ndarray:
        return by_position[nearest_positions(ascending, np.asarray(q, dtype=np.float64))]

    return windows_map


# --- isotonic ------------------------------------------------------------------------------------

def _fit_isotonic(params: dict, scores, severe, weights) -> MapFunction:
    unique, inverse = np.unique(scores, return_inverse=True)
    n_u = np.bincount(inverse, weights=weights, minlength=len(unique))
    k_u = np.bincount(inverse, weights=weights * severe, minlength=len(unique))
    keep = n_u > 0  # a bootstrap resample may leave some scores out
    unique, n_u, k_u = unique[keep], n_u[keep], k_u[keep]
    fitted = nondecreasing(k_u / n_u, n_u)
    # Blocks: runs of equal pooled values; shrink each toward the baseline's rate.
    starts = np.flatnonzero(np.concatenate([[True], np.diff(fitted) != 0]))
    block_n, block_k = np.add.reduceat(n_u, starts), np.add.reduceat(k_u, starts)
    a = float(params["pseudo_count"])
    prior = prior_rate(severe, weights)
    shrunk = (block_k + a * prior) / (block_n + a)
    shrunk = nondecreasing(shrunk, block_n + a)
    values = guard(np.repeat(shrunk, np.diff(np.concatenate([starts, [len(unique)]]))))

    def isotonic_map(q: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(q, dtype=np.float64), unique, values)

    return isotonic_map


# --- logistic maps -------------------------------------------------------------------------------

def logistic_fit(features: np.ndarray, y: np.ndarray, w: np.ndarray,
                 ridge: float = RIDGE, iterations: int = 100) -> np.ndarray:
    """Weighted logistic regression (intercept first) by Newton's method, with a small ridge on
    every coefficient so a one-class resample still has a finite answer."""
    x = np.column_stack([np.ones(len(y)), features])
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -35, 35)))
        gradient = x.T @ (w * (p - y)) + ridge * beta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), SCORE_CLIP, 1 - SCORE_CLIP)
    return np.log(p) - np.log1p(-p)


def monotone_logistic(features: np.ndarray, y, w) -> tuple[float, np.ndarray]:
    """(intercept, slopes) of a logistic fit whose slopes are all >= 0, so the map never falls
    as the raw score rises: a feature that gets a negative slope is dropped and the rest refitted
    (Kull et al.'s rule for beta calibration; a degenerate baseline can ask it of Platt too)."""
    columns = list(range(features.shape[1]))
    beta = logistic_fit(features[:, columns], y, w)
    while columns and np.any(beta[1:] < 0):
        columns = [c for c, b in zip(columns, beta[1:]) if b >= 0]
        beta = logistic_fit(features[:, columns], y, w)
    slopes = np.zeros(features.shape[1])
    slopes[columns] = beta[1:]
    return float(beta[0]), slopes


def _fit_platt(params: dict, scores, severe, weights) -> MapFunction:
    intercept, slopes = monotone_logistic(logit(scores)[:, None], severe, weights)

    def platt_map(q: np.ndarray) -> np.ndarray:
        return guard(_sigmoid(intercept + slopes[0] * logit(q)))

    return platt_map


def beta_features(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), SCORE_CLIP, 1 - SCORE_CLIP)
    return np.column_stack([np.log(p), -np.log1p(-p)])


def _fit_beta(params: dict, scores, severe, weights) -> MapFunction:
    intercept, slopes = monotone_logistic(beta_features(scores), severe, weights)

    def beta_map(q: np.ndarray) -> np.ndarray:
        f = beta_features(np.atleast_1d(q))
        # Element-wise, not a matrix product: the same score gives the same bits in any batch.
        return guard(_sigmoid(intercept + f[:, 0] * slopes[0] + f[:, 1] * slopes[1]))

    return beta_map


def _fit_identity(params: dict, scores, severe, weights) -> MapFunction:
    def identity_map(q: np.ndarray) -> np.ndarray:
        return guard(np.asarray(q, dtype=np.float64))

    return identity_map


_FITTERS = {"windows": _fit_windows, "isotonic": _fit_isotonic, "platt": _fit_platt,
            "beta": _fit_beta, "identity": _fit_identity}
