"""Calibration during evaluation: the site's own spec section 5 table, applied to a fold.

Evaluation must score exactly what the site will serve, so it uses ``predictor.scoring.calibration``
rather than a second implementation of the algorithm.
"""

from __future__ import annotations

import numpy as np

from predictor.scoring.calibration import CalibrationTable


def actual_probabilities(baseline_probability: np.ndarray, baseline_severe: np.ndarray,
                         raw: np.ndarray) -> np.ndarray:
    """Actual probabilities of ``raw`` scores through a baseline of held-out (score, label)."""
    table = CalibrationTable([float(p) for p in baseline_probability],
                             [int(y) for y in baseline_severe])
    return np.array([table.lookup(float(q)).probability for q in np.atleast_1d(raw)])


def anonymous_patients(patient: np.ndarray) -> np.ndarray:
    """Patient ids replaced by 0, 1, 2, ... in order of first appearance: which rows belong to
    one patient (for intervals that bootstrap by patient), nothing that identifies anyone."""
    _, first, inverse = np.unique(np.asarray(patient), return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=int)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def baseline_csv(probability: np.ndarray, severe: np.ndarray, grade: np.ndarray | None = None,
                 patient: np.ndarray | None = None) -> str:
    """CSV text with header ``probability,severe`` (then ``grade`` and an anonymous ``patient``
    index when given)."""
    lines = ["probability,severe" + (",grade" if grade is not None else "")
             + (",patient" if patient is not None else "")]
    index = None if patient is None else anonymous_patients(patient)
    for i, (p, y) in enumerate(zip(probability, severe)):
        row = f"{float(p):.6g},{int(y)}"
        if grade is not None:
            row += f",{int(grade[i])}"
        if index is not None:
            row += f",{int(index[i])}"
        lines.append(row)
    return "\n".join(lines) + "\n"
