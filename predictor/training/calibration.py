"""Calibration during evaluation: the site's own spec section 5 map, applied to a fold.

Evaluation must score exactly what the site will serve, so it uses the serving code's
``fit_map`` (``predictor.scoring.calibration_methods``) rather than a second implementation.
"""

from __future__ import annotations

import numpy as np

from predictor.scoring.calibration_methods import fit_map


def actual_probabilities(baseline_probability: np.ndarray, baseline_severe: np.ndarray,
                         raw: np.ndarray, method: str = "windows",
                         params: dict | None = None) -> np.ndarray:
    """Actual probabilities of ``raw`` scores through a baseline of held-out (score, label),
    by ``method`` (the paper's windows unless told otherwise)."""
    mapping = fit_map(method, params, np.asarray(baseline_probability, dtype=np.float64),
                      np.asarray(baseline_severe, dtype=np.float64))
    return mapping(np.atleast_1d(np.asarray(raw, dtype=np.float64)))


def baseline_csv(probability: np.ndarray, severe: np.ndarray, grade: np.ndarray | None = None,
                 patient: np.ndarray | None = None) -> str:
    """CSV text with header ``probability,severe`` (and ``grade``, ``patient`` when given; the
    patient column lets the site's interval resample patients, spec section 5c). Patients are
    written as numbers in order of first appearance, never as the sheet's identifiers."""
    if patient is not None:
        codes: dict = {}
        patient = [codes.setdefault(p, len(codes) + 1) for p in patient]
    lines = ["probability,severe" + (",grade" if grade is not None else "")
             + (",patient" if patient is not None else "")]
    for i, (p, y) in enumerate(zip(probability, severe)):
        row = f"{float(p):.6g},{int(y)}"
        if grade is not None:
            row += f",{int(grade[i])}"
        if patient is not None:
            row += f",{patient[i]}"
        lines.append(row)
    return "\n".join(lines) + "\n"
