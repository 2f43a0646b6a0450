"""Raw model probability -> actual probability through a calibration baseline (spec section 5).

The baseline is a list of held-out predictions with their true labels. Sorted high to low, each
position gets the severe rate of a window around it (narrower where scores are high); the rates
are made monotone by rearrangement; a new score takes the rate of the nearest position.
Everything is precomputed once, so a lookup is a binary search.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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

    @classmethod
    def from_dict(cls, data: dict | None) -> WindowSettings:
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Reference:
    """The answer for one raw score: actual probability and the patient-days behind it."""

    probability: float
    n: int  # reference patient-days in the window
    severe: int  # of which developed severe CRS
    position: int  # position in the baseline sorted high to low


class CalibrationTable:
    """Precomputed lookup from a raw probability to an actual probability."""

    def __init__(self, probabilities: Sequence[float], severe: Sequence[int],
                 windows: WindowSettings = WindowSettings()):
        if len(probabilities) != len(severe) or not probabilities:
            raise ValueError("a baseline needs the same, non-zero number of scores and labels")
        rows = sorted(zip(probabilities, severe), key=lambda row: -row[0])  # stable: ties keep order
        self.scores = tuple(float(p) for p, _ in rows)  # high to low
        labels = [int(y) for _, y in rows]
        prefix = [0]
        for y in labels:
            prefix.append(prefix[-1] + y)
        windowed = []
        for i, p in enumerate(self.scores):
            w = windows.half_width(p)
            lo, hi = max(0, i - w), min(len(labels), i + w + 1)
            k, n = prefix[hi] - prefix[lo], hi - lo
            windowed.append((k / n, k, n))
        # Monotone rearrangement: the highest rate goes with the highest score, and so on.
        windowed.sort(key=lambda entry: -entry[0])
        self.rates = tuple(entry[0] for entry in windowed)
        self.counts = tuple((entry[2], entry[1]) for entry in windowed)  # (n, severe)
        self._ascending = self.scores[::-1]
        # The same tables as arrays, for scoring many rows at once (lookup_many).
        self._ascending_array = np.asarray(self._ascending, dtype=np.float64)
        self._rates_array = np.asarray(self.rates, dtype=np.float64)
        self._counts_array = np.asarray(self.counts, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.scores)

    def nearest_position(self, q: float) -> int:
        """The position whose score is closest to q; on a tie, the lower position number."""
        n = len(self.scores)
        # Index in the ascending copy of the first score >= q; ascending index j is position n-1-j.
        j = bisect.bisect_left(self._ascending, q)
        candidates = []
        if j < n:  # smallest score >= q: its lowest position is the first of its run of equals
            candidates.append(self._first_position_of(self._ascending[j]))
        if j > 0:
            candidates.append(self._first_position_of(self._ascending[j - 1]))
        return min(candidates, key=lambda pos: (abs(self.scores[pos] - q), pos))

    def _first_position_of(self, score: float) -> int:
        # Positions with this score are contiguous; the lowest is where descending order reaches it.
        return len(self.scores) - bisect.bisect_right(self._ascending, score)

    def lookup(self, q: float) -> Reference:
        pos = self.nearest_position(q)
        n, severe = self.counts[pos]
        return Reference(self.rates[pos], n, severe, pos)

    def lookup_many(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``lookup`` for an array of raw scores at once: (probabilities, n, severe).

        The same rule as ``nearest_position``, vectorised: of the nearest score at or above q
        and the nearest below it, the closer one wins, and on a tie the higher score, whose
        position number is the lower one.
        """
        q = np.asarray(q, dtype=np.float64)
        ascending = self._ascending_array
        n = len(ascending)
        j = np.searchsorted(ascending, q, side="left")
        above = np.minimum(j, n - 1)  # smallest score >= q (clamped where every score is < q)
        below = np.maximum(j - 1, 0)  # largest score < q (clamped where every score is >= q)
        d_above = np.where(j < n, np.abs(ascending[above] - q), np.inf)
        d_below = np.where(j > 0, np.abs(ascending[below] - q), np.inf)
        chosen = np.where(d_above <= d_below, ascending[above], ascending[below])
        # First position (descending order) of the chosen score's run of equal scores.
        positions = n - np.searchsorted(ascending, chosen, side="right")
        counts = self._counts_array[positions]
        return self._rates_array[positions], counts[:, 0], counts[:, 1]

    def curve(self) -> list[tuple[float, float]]:
        """(raw score, actual probability) pairs, high to low, for the model card chart."""
        return list(zip(self.scores, self.rates))
