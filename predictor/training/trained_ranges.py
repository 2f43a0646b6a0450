"""The range of every input a file was trained on, for its manifest (``trained_ranges``).

Serving reads it back (``predictor.scoring.trained_ranges``) so that a day beyond the last trained
day or a grade the training data barely hold is never extrapolated silently.
"""

from __future__ import annotations

import numpy as np

from predictor.catalogue import CRS_GRADE_RANGE, combination_factor_keys
from predictor.training.data import UNUSED_FACTOR_KEYS, HorizonRows


def trained_ranges(rows: HorizonRows, code: str, context: bool) -> dict:
    """{"rows", "labs": {key: {"min", "max"}}, and with context "crs_grade": {"min", "max",
    "rows": {"0": n, ...}} and "day": {"min", "max"}}, from the rows the file was trained on
    (after the cleaning rules). Unused factors (pinned to a constant) are left out."""
    keys = list(combination_factor_keys(code))
    x = rows.columns(code)
    labs = {k: {"min": float(np.min(x[:, j])), "max": float(np.max(x[:, j]))}
            for j, k in enumerate(keys) if k not in UNUSED_FACTOR_KEYS}
    out: dict = {"rows": int(len(rows)), "labs": labs}
    if context:
        grades = np.asarray(rows.grade_today, dtype=int)
        out["crs_grade"] = {
            "min": int(grades.min()), "max": int(grades.max()),
            "rows": {str(g): int((grades == g).sum())
                     for g in range(CRS_GRADE_RANGE[0], CRS_GRADE_RANGE[1] + 1)}}
        out["day"] = {"min": int(np.min(rows.day)), "max": int(np.max(rows.day))}
    return out
