"""m-EASIX and EASIX on the development patients (spec section 11): AUROC per horizon, on all
patient-days and on the new-onset ones (CRS grade below 3 today), with the same patient-level
folds as the site's models (``predictor.training.folds``), so the figures sit beside theirs.

A published score is fixed, not fitted: no fold trains it, so its pooled out-of-fold AUROC is
its AUROC on all rows, the same definition as the models' pooled out-of-fold AUROC. The folds
give the per-fold AUROCs, the spread the models' figures carry too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from predictor.bedside_scores.scores import FORMULAS, PUBLISHED_SCORES
from predictor.bedside_scores.written_figures import FILE_NAME
from predictor.catalogue import FACTOR_KEYS, HORIZONS
from predictor.training.data import SEVERE_GRADE, CartCohort, HorizonRows, horizon_rows
from predictor.training.evaluate import safe_auroc
from predictor.training.folds import fold_vector, patient_folds


def score_columns(rows: HorizonRows) -> dict[str, np.ndarray]:
    """Each published score for every row (the catalogue's units, as the models get them)."""
    column = {key: rows.x[:, FACTOR_KEYS.index(key)] for key in ("ldh", "crp", "creatinine",
                                                                 "platelets")}
    out = {}
    for score in PUBLISHED_SCORES:
        ldh, other, platelets = (column[k] for k in score.needs)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[score.key] = FORMULAS[score.key](ldh, other, platelets)
    return out


def _figures(y: np.ndarray, score: np.ndarray, fold: np.ndarray) -> dict:
    defined = np.isfinite(score)  # a platelet count of 0 leaves the score undefined
    y, score, fold = y[defined], score[defined], fold[defined]
    return {"auroc": safe_auroc(y, score), "n": int(len(y)), "severe": int(y.sum()),
            "fold_auroc": [safe_auroc(y[fold == f], score[fold == f])
                           for f in np.unique(fold)]}


def evaluate_bedside_scores(cart: CartCohort, *, folds: int = 5, seed: int = 20240101,
                            horizons=HORIZONS) -> dict:
    """{"<h>": {"all": {score: figures}, "new_onset": {...}}, "folds", "seed", "patients"}."""
    fold_of = patient_folds(cart, folds, seed)
    out: dict = {"folds": folds, "seed": seed, "patients": cart.n_patients,
                 "scores": {s.key: {"name": s.name, "source": s.source}
                            for s in PUBLISHED_SCORES},
                 "horizons": {}}
    for h in horizons:
        rows = horizon_rows(cart, h)
        fold = fold_vector(rows.patient, fold_of)
        new_onset = rows.grade_today < SEVERE_GRADE
        scores = score_columns(rows)
        out["horizons"][str(h)] = {
            subset: {key: _figures(rows.y[mask], values[mask], fold[mask])
                     for key, values in scores.items()}
            for subset, mask in (("all", np.ones(len(rows), bool)), ("new_onset", new_onset))}
    return out


def write_bedside_evaluation(cart: CartCohort, out_dir: Path, *, folds: int = 5,
                             seed: int = 20240101, horizons=HORIZONS) -> Path:
    """Evaluate and write ``bedside_scores.json`` into ``out_dir`` (the model cards read it)."""
    path = Path(out_dir) / FILE_NAME
    data = evaluate_bedside_scores(cart, folds=folds, seed=seed, horizons=horizons)
    path.write_text(json.dumps(_clean(data), indent=1))
    return path


def _clean(obj):
    """NaN (a fold without a severe day) as null: JSON has no NaN."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
