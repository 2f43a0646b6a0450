"""The served headline measured with the "labs add information" flag decided per outer fold on
the other folds only (predictor.training.served_headline), and its rows in the goals table."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.training.goals import goal_checks, goals_markdown, slope_figure
from predictor.training.served_headline import (brier_gain_interval, labs_beat_reference,
                                                  nested_headline)

IDENTITY = {"method": "identity", "params": {}}


def rows(seed: int, n: int = 2000):
    """Patients of 4 days each, whole patients per fold."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(0.6, 6.0, n)
    y = (rng.random(n) < truth).astype(float)
    patient = np.arange(n) // 4
    fold = patient % 5
    grade = rng.integers(0, 5, n)
    return rng, truth, y, fold, grade, patient


def test_labs_that_know_the_truth_lead_in_every_fold():
    rng, truth, y, fold, grade, patient = rows(1)
    blurred = np.clip(truth * rng.lognormal(0, 0.8, len(truth)), 1e-4, 0.999)
    out = nested_headline(y, grade, fold, patient, truth, blurred, IDENTITY, IDENTITY)
    assert out["labs_lead_folds"] == "5 of 5"
    # every row answered by the labs: their figures are the truth's own (the identity map
    # only keeps each probability strictly inside (0, 1))
    assert out["all"]["brier"] == pytest.approx(np.mean((truth - y) ** 2), rel=1e-6)


def test_noise_labs_never_lead_and_the_reference_answers():
    rng, truth, y, fold, grade, patient = rows(2)
    noise = rng.random(len(truth)) * 0.2
    out = nested_headline(y, grade, fold, patient, noise, truth, IDENTITY, IDENTITY)
    assert out["labs_lead_folds"] == "0 of 5"
    assert out["all"]["brier"] == pytest.approx(np.mean((truth - y) ** 2), rel=1e-6)
    new = grade < 3
    assert out["new_onset"]["n"] == int(new.sum())


def test_a_folds_own_labels_do_not_decide_who_answers_it():
    rng, truth, y, fold, grade, patient = rows(3)
    labs = np.clip(truth * rng.lognormal(0, 0.3, len(truth)), 1e-4, 0.999)
    reference = np.clip(truth * rng.lognormal(0, 0.6, len(truth)), 1e-4, 0.999)
    flipped = np.where(fold == 0, 1 - y, y)  # fold 0's labels turned upside down
    held_out = fold == 0
    # the flag for fold 0 is decided on the other folds: the same whatever fold 0's labels
    first = labs_beat_reference(y[~held_out], fold[~held_out], patient[~held_out],
                                labs[~held_out], reference[~held_out], IDENTITY, IDENTITY)
    second = labs_beat_reference(flipped[~held_out], fold[~held_out], patient[~held_out],
                                 labs[~held_out], reference[~held_out], IDENTITY, IDENTITY)
    assert first == second


def test_a_gain_of_chance_size_does_not_count_and_a_real_one_does():
    rng, truth, y, fold, grade, patient = rows(4, n=4000)
    # two blurred copies of the truth, equally good: one is lower in Brier by chance only
    a = np.clip(truth * rng.lognormal(0, 0.5, len(truth)), 1e-4, 0.999)
    b = np.clip(truth * rng.lognormal(0, 0.5, len(truth)), 1e-4, 0.999)
    better, worse = (a, b) if np.mean((a - y) ** 2) < np.mean((b - y) ** 2) else (b, a)
    low, high = brier_gain_interval(y, better, worse, patient)
    assert low < 0 < high
    assert not labs_beat_reference(y, fold, patient, better, worse, IDENTITY, IDENTITY)
    # the truth against a heavily blurred copy: a gain beyond chance
    blurred = np.clip(truth * rng.lognormal(0, 1.5, len(truth)), 1e-4, 0.999)
    assert brier_gain_interval(y, truth, blurred, patient)[1] < 0
    assert labs_beat_reference(y, fold, patient, truth, blurred, IDENTITY, IDENTITY)


def test_the_gain_interval_resamples_patients_not_days():
    rng, truth, y, fold, grade, _ = rows(5, n=4000)
    labs = np.clip(truth * rng.lognormal(0, 0.4, len(truth)), 1e-4, 0.999)
    reference = np.clip(truth * rng.lognormal(0, 0.8, len(truth)), 1e-4, 0.999)
    by_day = brier_gain_interval(y, labs, reference, np.arange(len(y)))
    by_patient = brier_gain_interval(y, labs, reference, np.arange(len(y)) // 100)
    assert by_patient[1] - by_patient[0] > by_day[1] - by_day[0]


def summary_with(nested_brier: float, plain_brier: float) -> dict:
    metrics = {"auroc": 0.9, "auprc": 0.4, "brier": 0.05, "brier_raw": 0.05}
    slot = {"all": {"lr": metrics, "lgbm": metrics, "ens": metrics},
            "new_onset": {"lr": metrics, "lgbm": metrics, "ens": metrics}}
    ctx = {"all": {"ctx": metrics, "reference": metrics, "ctx_selected_global": metrics},
           "new_onset": {"ctx": metrics, "reference": metrics},
           "labs_add_information": False,
           "served_nested": {"all": dict(metrics, brier=nested_brier),
                             "new_onset": dict(metrics), "labs_lead_folds": "1 of 5"}}
    plain = dict(metrics, brier_raw=plain_brier)
    return {"slots": {"1_4": slot}, "shipped_family": "ens", "context_slots": {"1_4": ctx},
            "context_shipped_family": "ctx",
            "reference_slots": {"1": {"all": {"plain_lr": plain}}},
            "calibration": {"labs": {"method": "identity", "per_slot": {
                "h1_c4": {"all": {"slope": 0.6, "slope_ci": [0.4, 0.75]}},
                "h1_c3": {"all": {"slope": 1.3, "slope_ci": [0.9, 1.8]}}}}}}


def test_the_goals_table_says_whether_the_nested_headline_beats_the_plain_regression():
    holds = {c["goal"]: c["holds"] for c in goal_checks(summary_with(0.040, 0.041))}
    fails = {c["goal"]: c["holds"] for c in goal_checks(summary_with(0.042, 0.041))}
    goal = "with context (served headline, flag nested): mean Brier <= plain LR on grade + day"
    assert holds[goal] is True and fails[goal] is False


def test_the_goals_table_names_slopes_outside_the_band_beyond_chance():
    text = goals_markdown(summary_with(0.040, 0.041))
    assert "h1_c3 1.30 [0.90-1.80]" in text and "h1_c4 0.60 [0.40-0.75]" in text
    assert "95 % interval misses 0.8-1.2: h1_c4)" in text


@pytest.mark.parametrize("slope, text", [(1.204, "1.204"), (0.796, "0.796"), (1.2, "1.20"),
                                         (0.8, "0.80"), (1.196, "1.20"), (1.27, "1.27"),
                                         (0.674, "0.67")])
def test_a_slope_outside_the_band_never_reads_as_its_edge(slope, text):
    assert slope_figure(slope) == text
