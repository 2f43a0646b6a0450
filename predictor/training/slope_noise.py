"""How often a perfectly calibrated file would still show a calibration slope outside a band,
on the rows it is checked on.

A slope estimated from about 60 severe days is noisy: a file whose probabilities are exactly
right can show 0.75 or 1.3 by chance. To tell a miscalibrated file from an unlucky one, the
outcomes are drawn from the file's own probabilities (so the file is calibrated by
construction), patients are resampled with all their days (as ``slope_interval`` does, since a
patient's days are not independent), and the slope is estimated as for the real outcomes. The
share of draws whose slope lands inside the band is the chance that a calibrated file passes.
Given its probability, each day's outcome is drawn on its own; real severe days cluster within a
patient beyond what a probability explains, which makes real slopes noisier still, so these
chances are the generous side.

Over many files, the sum of the chances of falling outside is how many files are expected
outside by chance alone, and the product of the chances of passing is the chance that all pass
(files treated as independent, which they are only roughly: they share patients).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from predictor.training.calibration_choice import SLOPE_RESAMPLES, SLOPE_SEED, \
    calibration_slope_intercept
from predictor.training.goals import SLOPE_RANGE


def chance_inside_band(probability, patient, band: tuple[float, float] = SLOPE_RANGE,
                       resamples: int = SLOPE_RESAMPLES, seed: int = SLOPE_SEED) -> float:
    """The share of draws in which a file that is calibrated by construction (outcomes drawn
    from ``probability``) shows a slope inside ``band``; draws with one class only are skipped
    (nan when none is left). The real outcomes are deliberately not an argument."""
    p = np.asarray(probability, dtype=np.float64).reshape(-1)
    patient = np.asarray(patient).reshape(-1)
    if len(p) != len(patient):
        raise ValueError("one patient per probability")
    _, index = np.unique(patient, return_inverse=True)
    rows_of = [np.flatnonzero(index == i) for i in range(index.max() + 1)] if len(p) else []
    rng = np.random.default_rng(seed)
    inside = drawn = 0
    for _ in range(resamples):
        if not rows_of:
            break
        rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(rows_of), len(rows_of))])
        outcome = (rng.random(len(rows)) < p[rows]).astype(np.float64)
        if not 0 < outcome.sum() < len(rows):
            continue
        slope = calibration_slope_intercept(outcome, p[rows])[0]
        drawn += 1
        inside += band[0] <= slope <= band[1]
    return inside / drawn if drawn else float("nan")


class ChanceSummary(NamedTuple):
    """Over a set of files: how many are expected outside the band by chance alone, and the
    chance that every one lands inside."""

    expected_outside: float
    all_inside: float


def summarise_chances(chances: Sequence[float]) -> ChanceSummary:
    known = [c for c in chances if np.isfinite(c)]
    return ChanceSummary(float(sum(1.0 - c for c in known)), float(np.prod(known)))
