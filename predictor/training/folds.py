"""Cross-validation splits.

Patient-level (the honest protocol): folds of PATIENTS, stratified by whether the patient ever
has severe CRS, so no patient's days are on both sides. Inner validation patients are drawn from
the training patients the same way. Row-level (the paper's protocol, reported only to show the
leakage): random patient-day folds, stratified by the row label.
"""

from __future__ import annotations

import numpy as np

from predictor.training.data import SEVERE_GRADE, CartCohort


def patient_table(patient: np.ndarray, grade: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique patient ids and whether each ever has severe CRS (any day grade >= 3)."""
    ids = np.unique(patient)
    ever = np.array([bool((grade[patient == p] >= SEVERE_GRADE).any()) for p in ids])
    return ids, ever


def _stratified_assign(ids: np.ndarray, strata: np.ndarray, k: int, rng) -> dict:
    """Deal each stratum's shuffled patients round-robin into k groups (sizes differ by <= 1)."""
    fold_of = {}
    offset = 0
    for s in (True, False):
        members = ids[strata == s]
        members = members[rng.permutation(len(members))]
        for i, p in enumerate(members):
            fold_of[int(p)] = (i + offset) % k
        offset += len(members)
    return fold_of


def patient_folds(cohort: CartCohort, k: int = 5, seed: int = 0) -> dict[int, int]:
    """patient id -> outer fold (0..k-1), stratified by ever-severe."""
    ids, ever = patient_table(cohort.patient, cohort.grade)
    return _stratified_assign(ids, ever, k, np.random.default_rng(seed))


def fold_vector(patient: np.ndarray, fold_of: dict[int, int]) -> np.ndarray:
    """Each row's outer fold, from its patient's."""
    return np.array([fold_of[int(p)] for p in patient])


def outer_fold_masks(patient: np.ndarray, fold: np.ndarray, f: int, ever_of: dict[int, bool], *,
                     val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of outer fold ``f``: (test, inner validation, inner training) boolean masks.
    Inner validation is a stratified share of the outer-training PATIENTS, so every choice made
    on it (epochs, C, rounds, family) sees no test patient and no row of its training patients."""
    test = fold == f
    train_ids = np.unique(patient[~test])
    ever = np.array([ever_of[int(p)] for p in train_ids])
    val_ids = inner_validation(train_ids, ever, val_fraction, seed)
    is_val = np.isin(patient, list(val_ids)) & ~test
    return test, is_val, ~test & ~is_val


def inner_validation(ids: np.ndarray, ever: np.ndarray, fraction: float, seed: int) -> set[int]:
    """A stratified fraction of the given (training) patients for inner validation."""
    rng = np.random.default_rng(seed)
    chosen = set()
    for s in (True, False):
        members = ids[ever == s]
        members = members[rng.permutation(len(members))]
        n = max(1, int(round(fraction * len(members)))) if len(members) > 1 else 0
        chosen.update(int(p) for p in members[:n])
    return chosen


def inner_patient_folds(ids: np.ndarray, ever: np.ndarray, k: int, seed: int) -> dict[int, int]:
    """Patient -> inner fold (0..k-1) for the given (outer-training) patients, stratified by
    whether the patient ever had severe CRS, so each inner fold holds some severe patients."""
    rng = np.random.default_rng(seed)
    out: dict[int, int] = {}
    for s in (True, False):
        members = ids[ever == s]
        for i, p in enumerate(members[rng.permutation(len(members))]):
            out[int(p)] = i % k
    return out


def row_folds(y: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Row -> fold for the row-level protocol (random patient-day split, stratified by label)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    offset = 0
    for s in (1, 0):
        idx = np.flatnonzero(y == s)
        idx = idx[rng.permutation(len(idx))]
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


def row_inner_validation(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of rows for inner validation in the row-level protocol."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for s in (1, 0):
        idx = np.flatnonzero(y == s)
        idx = idx[rng.permutation(len(idx))]
        mask[idx[: max(1, int(round(fraction * len(idx))))]] = True
    return mask
