"""Settings chosen by inner K-fold CV over the outer-training patients
(predictor.training.inner_cv)."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.training import baselines as bl
from predictor.training.folds import inner_patient_folds
from predictor.training.inner_cv import choose_by_inner_cv, inner_folds, lgbm_rounds_by_inner_cv
from predictor.training.recipe import small_recipe


def data(seed: int, n_patients: int = 120, days: int = 5, signal: float = 1.0):
    rng = np.random.default_rng(seed)
    patient = np.repeat(np.arange(n_patients), days)
    x = rng.normal(size=(len(patient), 4))
    risk = 1 / (1 + np.exp(-(signal * x[:, 0] - 2.5)))
    y = (rng.random(len(patient)) < risk).astype(float)
    ever = {int(p): bool(y[patient == p].any()) for p in np.unique(patient)}
    return x, y, patient, ever


def test_inner_folds_keep_a_patients_days_together_and_spread_the_severe_patients():
    x, y, patient, ever = data(1)
    fold = inner_folds(patient, ever, 5, seed=3)
    for p in np.unique(patient):
        assert len(set(fold[patient == p])) == 1
    severe_patients = [p for p, e in ever.items() if e]
    per_fold = np.bincount([fold[patient == p][0] for p in severe_patients], minlength=5)
    assert per_fold.max() - per_fold.min() <= 1


def test_inner_patient_folds_are_fixed_by_the_seed():
    ids = np.arange(50)
    ever = ids % 3 == 0
    assert inner_patient_folds(ids, ever, 5, 7) == inner_patient_folds(ids, ever, 5, 7)
    assert inner_patient_folds(ids, ever, 5, 7) != inner_patient_folds(ids, ever, 5, 8)


class Constant:
    """A 'model' that predicts one probability, the grid value: its inner-CV log-loss is
    lowest at the rate of the labels."""

    def __init__(self, p):
        self.p = p

    def predict_proba(self, x):
        return np.full(len(x), self.p)


def test_the_grid_value_with_the_lowest_held_out_log_loss_wins():
    x, y, patient, ever = data(2)
    fold = inner_folds(patient, ever, 5, seed=1)
    grid = (0.5, 0.3, y.mean(), 0.01)
    value, oof = choose_by_inner_cv(lambda a, b, v, s: Constant(v), grid, x, y, fold, 0)
    assert value == pytest.approx(y.mean())
    assert np.all(oof == value)


def test_ties_keep_the_value_listed_first():
    x, y, patient, ever = data(3)
    fold = inner_folds(patient, ever, 5, seed=1)
    value, _ = choose_by_inner_cv(lambda a, b, v, s: Constant(0.2), ("strong", "weak"), x, y,
                                  fold, 0)
    assert value == "strong"


def test_every_row_is_predicted_by_a_model_that_did_not_see_its_patient():
    x, y, patient, ever = data(4)
    fold = inner_folds(patient, ever, 5, seed=1)
    seen = []

    class Remember:
        def __init__(self, rows):
            self.rows = rows

        def predict_proba(self, held):
            seen.append((self.rows, held))
            return np.full(len(held), 0.1)

    choose_by_inner_cv(lambda a, b, v, s: Remember(a), (1,), x, y, fold, 0)
    for train_rows, held_rows in seen:
        trained = {tuple(r) for r in train_rows}
        assert not any(tuple(r) in trained for r in held_rows)


def test_lightgbm_rounds_grow_with_the_signal():
    recipe = small_recipe()
    rounds = {}
    for signal in (0.0, 3.0):
        x, y, patient, ever = data(5, n_patients=200, signal=signal)
        fold = inner_folds(patient, ever, 5, seed=1)
        rounds[signal], oof = lgbm_rounds_by_inner_cv(
            x, y, fold, lambda a, b, c, d: bl.fit_lgbm(a, b, c, d, recipe, 1)[0])
        assert not np.isnan(oof).any() and rounds[signal] >= 1
    assert rounds[3.0] > rounds[0.0]


def test_the_log_odds_ensemble_module_matches_its_numpy_definition():
    import torch

    from predictor.training.evaluate import logit_mean, probability_mean
    from predictor.training.export import EnsembleModule

    class Fixed(torch.nn.Module):
        def __init__(self, logit: float):
            super().__init__()
            self.logit = logit

        def forward(self, x):
            s = x[:, 0] * 0 + self.logit
            return torch.stack([torch.zeros_like(s), s], dim=1)

    x = torch.zeros(3, 2)
    p1, p2 = 1 / (1 + np.exp(-3.0)), 1 / (1 + np.exp(1.0))
    for flag, combine in ((True, logit_mean), (False, probability_mean)):
        module = torch.jit.script(EnsembleModule([Fixed(3.0), Fixed(-1.0)], [0.5, 0.5], flag))
        got = torch.softmax(module(x), dim=1)[:, 1].numpy()
        assert got == pytest.approx(combine([[p1] * 3, [p2] * 3]), rel=1e-5)
    # the mean of the log-odds is further from 1/2 than the mean of the probabilities
    assert logit_mean([[p1], [p2]])[0] > probability_mean([[p1], [p2]])[0]
