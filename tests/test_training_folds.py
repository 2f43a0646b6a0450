"""Patient-level folds: no patient in two folds, stratified by ever-severe; inner validation
patients come from the training patients only; the row-level protocol splits rows."""

import numpy as np

from predictor.training import synthetic
from predictor.training.data import cart_frame_to_cohort, horizon_rows
from predictor.training.folds import (inner_validation, patient_folds, patient_table,
                                      row_folds)


def _cohort():
    return cart_frame_to_cohort(synthetic.cart_frame(53, seed=7, severe_fraction=0.3))


def test_each_patient_is_in_exactly_one_fold_and_rows_follow_their_patient():
    cohort = _cohort()
    fold_of = patient_folds(cohort, 5, seed=1)
    ids, _ = patient_table(cohort.patient, cohort.grade)
    assert sorted(fold_of) == sorted(int(p) for p in ids)
    rows = horizon_rows(cohort, 2)
    fold = np.array([fold_of[int(p)] for p in rows.patient])
    for f in range(5):
        in_f = set(rows.patient[fold == f])
        out_f = set(rows.patient[fold != f])
        assert not in_f & out_f


def test_folds_are_stratified_by_ever_severe_and_balanced():
    cohort = _cohort()
    fold_of = patient_folds(cohort, 5, seed=2)
    ids, ever = patient_table(cohort.patient, cohort.grade)
    assert 5 <= ever.sum() <= len(ids) - 5
    severe_per_fold = np.bincount([fold_of[int(p)] for p in ids[ever]], minlength=5)
    all_per_fold = np.bincount([fold_of[int(p)] for p in ids], minlength=5)
    assert severe_per_fold.max() - severe_per_fold.min() <= 1
    assert all_per_fold.max() - all_per_fold.min() <= 1


def test_folds_depend_only_on_the_seed():
    cohort = _cohort()
    assert patient_folds(cohort, 5, seed=3) == patient_folds(cohort, 5, seed=3)
    assert patient_folds(cohort, 5, seed=3) != patient_folds(cohort, 5, seed=4)


def test_inner_validation_is_a_stratified_subset_of_training_patients():
    cohort = _cohort()
    fold_of = patient_folds(cohort, 5, seed=1)
    ids, ever = patient_table(cohort.patient, cohort.grade)
    train = np.array([fold_of[int(p)] != 0 for p in ids])
    val = inner_validation(ids[train], ever[train], 0.2, seed=9)
    assert val <= set(int(p) for p in ids[train])
    assert any(ever[ids == p][0] for p in val) and not all(ever[ids == p][0] for p in val)


def test_row_level_folds_split_patients_days_across_folds():
    rows = horizon_rows(_cohort(), 1)
    fold = row_folds(rows.y, 5, seed=0)
    assert np.bincount(fold).min() >= len(rows) // 5 - 1
    shared = [p for p in np.unique(rows.patient) if len(set(fold[rows.patient == p])) > 1]
    assert shared  # the leakage the paper's protocol has
