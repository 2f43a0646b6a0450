"""The literal explanation of a probability: of the N reference patient-days whose model scores
are nearest to this one, K developed severe CRS (spec section 5c), counted in the baseline as it is.

Which N rows are "nearest", deterministically:
1. smaller |score - q| first;
2. at equal distance, the higher score first (the paper's tie rule: the lower position);
3. among rows with the very same score, the earlier row of the baseline file first.

The N nearest rows of a baseline sorted by score are always N consecutive rows, so one binary
search per query finds them and prefix sums give K; rule 3 only matters where the N-th row falls
inside a run of equal scores, and is applied by counting that run from its start in file order.
"""

from __future__ import annotations

import numpy as np

NEAREST_N = 40  # reference patient-days in every explanation (fewer only in a smaller baseline)


class NearestCounts:
    """Precomputed for one baseline; ``counts(q)`` gives (N, K) for an array of raw scores."""

    def __init__(self, scores, severe, n: int = NEAREST_N):
        scores = np.asarray(scores, dtype=np.float64)
        severe = np.asarray(severe, dtype=np.int64)
        order = np.lexsort((np.arange(len(scores)), scores))  # by score, then file order
        self.ascending = scores[order]
        self.n = min(n, len(scores))
        self.prefix = np.concatenate([[0], np.cumsum(severe[order])])
        # For every sorted row, where its run of equal scores starts and ends.
        new_run = np.concatenate([[True], self.ascending[1:] != self.ascending[:-1]])
        starts = np.flatnonzero(new_run)
        ends = np.concatenate([starts[1:], [len(scores)]])
        run = np.cumsum(new_run) - 1
        self.run_start, self.run_end = starts[run], ends[run]
        # Plain lists for one score at a time (a Python float compares exactly as numpy's).
        self._list = self.ascending.tolist()
        self._prefix = self.prefix.tolist()
        self._run_start, self._run_end = self.run_start.tolist(), self.run_end.tolist()

    def window_start(self, q: np.ndarray) -> np.ndarray:
        """Start of the N consecutive sorted rows nearest each q (at equal distance the window
        moves toward the higher score)."""
        a, n = self.ascending, self.n
        lo = np.zeros(len(q), dtype=np.int64)
        hi = np.full(len(q), len(a) - n, dtype=np.int64)
        while np.any(lo < hi):  # first start whose left row is strictly nearer than the next right
            mid = (lo + hi) // 2
            move_right = (q - a[mid]) >= (a[np.minimum(mid + n, len(a) - 1)] - q)
            active = lo < hi
            lo = np.where(active & move_right, mid + 1, lo)
            hi = np.where(active & ~move_right, mid, hi)
        return lo

    def count_one(self, q: float) -> tuple[int, int]:
        """``counts`` for one score, without numpy's per-call cost: the same search on the same
        comparisons, so the same (N, K)."""
        a, n = self._list, self.n
        lo, hi = 0, len(a) - n
        while lo < hi:
            mid = (lo + hi) // 2
            if (q - a[mid]) >= (a[mid + n] - q):
                lo = mid + 1
            else:
                hi = mid
        last, p = lo + n - 1, self._prefix
        rs, re = self._run_start[lo], self._run_end[lo]
        if rs == self._run_start[last]:
            return n, p[rs + n] - p[rs]
        return n, (p[rs + min(re - lo, n)] - p[rs]) + p[last + 1] - p[min(re, last + 1)]

    def counts(self, q) -> tuple[np.ndarray, np.ndarray]:
        """(N, K) for each raw score in ``q``."""
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        lo = self.window_start(q)
        last = lo + self.n - 1
        p = self.prefix
        rs, re = self.run_start[lo], self.run_end[lo]
        # A run cut at the window's low end contributes its first rows in file order.
        taken = re - lo
        k_cut = (p[rs + np.minimum(taken, self.n)] - p[rs])
        inside = rs == self.run_start[last]  # the whole window lies in one run
        k = np.where(inside, p[rs + self.n] - p[rs], k_cut + p[last + 1] - p[np.minimum(re, last + 1)])
        return np.full(len(q), self.n, dtype=np.int64), k.astype(np.int64)
