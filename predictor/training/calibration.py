"""Spec section 5, vectorised for evaluation: a baseline of held-out (probability, severe) pairs
turns a raw probability into the "actual" probability (windowed severe rate, made monotone by
rearrangement, looked up at the nearest baseline score; ties -> the lower position).

The site has its own implementation (``predictor.calibration``) for serving; the tests check the
two agree.
"""

from __future__ import annotations

import numpy as np

WINDOWS = ((0.8, 10), (0.3, 15))  # p > 0.8 -> 10; 0.3 <= p <= 0.8 -> 15; p < 0.3 -> 20
LOW_WINDOW = 20


def half_width(p: np.ndarray) -> np.ndarray:
    return np.where(p > 0.8, 10, np.where(p >= 0.3, 15, LOW_WINDOW))


class Baseline:
    def __init__(self, probability: np.ndarray, severe: np.ndarray):
        probability = np.asarray(probability, dtype=np.float64)
        severe = np.asarray(severe, dtype=np.int64)
        if len(probability) == 0 or len(probability) != len(severe):
            raise ValueError("a baseline needs the same, non-zero number of scores and labels")
        order = np.argsort(-probability, kind="stable")  # high to low, ties keep input order
        self.scores = probability[order]
        labels = severe[order]
        n = len(labels)
        prefix = np.concatenate([[0], np.cumsum(labels)])
        pos = np.arange(n)
        w = half_width(self.scores)
        lo, hi = np.maximum(0, pos - w), np.minimum(n, pos + w + 1)
        rates = (prefix[hi] - prefix[lo]) / (hi - lo)
        self.rates = np.sort(rates)[::-1]  # monotone rearrangement: highest rate, highest score
        self._ascending = self.scores[::-1]

    def actual(self, q: np.ndarray) -> np.ndarray:
        """Actual probability for raw probabilities q (nearest score; tie -> lower position)."""
        q = np.atleast_1d(np.asarray(q, dtype=np.float64))
        n = len(self.scores)
        asc = self._ascending
        j = np.searchsorted(asc, q, side="left")
        # candidate above (smallest score >= q) and below (largest score < q), as first positions
        above_ok = j < n
        below_ok = j > 0
        above_score = asc[np.minimum(j, n - 1)]
        below_score = asc[np.maximum(j - 1, 0)]
        first_pos = lambda s: n - np.searchsorted(asc, s, side="right")  # noqa: E731
        pa, pb = first_pos(above_score), first_pos(below_score)
        da = np.where(above_ok, np.abs(above_score - q), np.inf)
        db = np.where(below_ok, np.abs(below_score - q), np.inf)
        pos = np.where((da < db) | ((da == db) & (pa < pb)), pa, pb)
        return self.rates[pos]


def baseline_csv(probability: np.ndarray, severe: np.ndarray, grade: np.ndarray | None = None) -> str:
    """CSV text with header ``probability,severe`` (and ``grade`` when given)."""
    lines = ["probability,severe" + (",grade" if grade is not None else "")]
    for i, (p, y) in enumerate(zip(probability, severe)):
        row = f"{float(p):.6g},{int(y)}"
        if grade is not None:
            row += f",{int(grade[i])}"
        lines.append(row)
    return "\n".join(lines) + "\n"
