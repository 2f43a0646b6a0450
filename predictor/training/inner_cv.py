"""Choosing a family's setting (a logistic C, the stacked model's lab penalty, LightGBM's rounds)
by inner K-fold cross-validation over the outer-training PATIENTS.

One inner validation split of a fifth of the patients holds a dozen severe days: the setting it
picked changed from fold to fold by chance, and a weak penalty or a late round picked by chance
overfits (the stacked model chose weak lab penalties the held-out folds did not bear out). Here
every outer-training patient is held out once; the setting with the lowest summed held-out
log-loss wins (ties: the more regularised one, listed first), and the inner out-of-fold
probabilities at that setting stand in for the validation predictions (nested family
selection reads them on the inner-validation patients).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import log_loss

from predictor.training.folds import inner_patient_folds


def inner_folds(patient: np.ndarray, ever_of: dict[int, bool], k: int, seed: int) -> np.ndarray:
    """Each outer-training row's inner fold (patient-level, stratified by ever severe)."""
    ids = np.unique(patient)
    of = inner_patient_folds(ids, np.array([ever_of[int(p)] for p in ids]), k, seed)
    return np.array([of[int(p)] for p in patient])


def _loss(y: np.ndarray, p: np.ndarray) -> float:
    return log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])


def choose_by_inner_cv(fit_fixed: Callable, grid: Sequence, x: np.ndarray, y: np.ndarray,
                       inner_fold: np.ndarray, seed: int) -> tuple[object, np.ndarray]:
    """(the grid value with the lowest inner-CV log-loss, the inner OOF probabilities at it).
    ``fit_fixed(x, y, value, seed)`` returns a model with ``predict_proba(x) -> p``; ``grid``
    is searched in its order, so ties keep the earlier (more regularised) value."""
    y = np.asarray(y, dtype=float)
    best = None
    for value in grid:
        oof = np.full(len(y), np.nan)
        for f in np.unique(inner_fold):
            held = inner_fold == f
            oof[held] = fit_fixed(x[~held], y[~held], value, seed).predict_proba(x[held])
        loss = _loss(y, oof)
        if best is None or loss < best[0] - 1e-12:
            best = (loss, value, oof)
    return best[1], best[2]


def lgbm_rounds_by_inner_cv(x: np.ndarray, y: np.ndarray, inner_fold: np.ndarray,
                            fit_early_stopped: Callable) -> tuple[int, np.ndarray]:
    """(rounds: the median of the inner folds' early-stopping rounds, the inner OOF
    probabilities, each fold's model at its own rounds). ``fit_early_stopped(x_tr, y_tr, x_val,
    y_val)`` returns a model with ``rounds`` and ``predict_proba(x)``."""
    y = np.asarray(y, dtype=float)
    oof = np.full(len(y), np.nan)
    rounds = []
    for f in np.unique(inner_fold):
        held = inner_fold == f
        model = fit_early_stopped(x[~held], y[~held], x[held], y[held])
        rounds.append(model.rounds)
        oof[held] = model.predict_proba(x[held])
    return max(1, int(round(float(np.median(rounds))))), oof
