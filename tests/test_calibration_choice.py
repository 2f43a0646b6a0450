"""Choosing a family's calibration by nested patient-level CV
(predictor.training.calibration_choice)."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.training.calibration_choice import (
    CANDIDATES,
    SlotPredictions,
    calibration_metrics,
    calibration_slope_intercept,
    choose_calibration,
    nested_probabilities,
    slope_interval,
    slot_predictions,
)


def slot(name: str, seed: int, *, distort=None, n: int = 1500) -> SlotPredictions:
    """OOF rows whose true risk is ``s``; ``distort`` turns the true risk into the raw score."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(0.6, 6.0, n)
    y = (rng.random(n) < truth).astype(float)
    raw = truth if distort is None else distort(truth)
    patient = np.arange(n) // 5
    return SlotPredictions(name, raw, y, patient, patient % 5, rng.integers(0, 5, n))


def test_each_fold_is_calibrated_on_the_other_folds_only():
    one = slot("a", 1, distort=lambda t: t ** 0.5)
    p = nested_probabilities(one, "isotonic", {})
    changed = SlotPredictions(one.name, one.raw, np.where(one.fold == 0, 1 - one.severe,
                                                          one.severe),
                              one.patient, one.fold, one.grade)
    q = nested_probabilities(changed, "isotonic", {})
    # Fold 0's own labels do not move fold 0's probabilities; they do move the others'.
    assert np.array_equal(p[one.fold == 0], q[one.fold == 0])
    assert not np.array_equal(p[one.fold == 1], q[one.fold == 1])


def test_a_calibrated_score_has_slope_1_and_intercept_0():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.02, 0.9, 60000)
    y = (rng.random(len(p)) < p).astype(float)
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.05) and intercept == pytest.approx(0.0, abs=0.05)
    over = calibration_slope_intercept(y, np.clip(p * 1.6, 0, 0.99))[1]
    assert over < -0.2  # a score too high: negative calibration in the large


def test_the_metrics_of_a_perfect_and_a_useless_forecast():
    y = np.array([0, 0, 1, 1.0])
    good = calibration_metrics(y, np.array([0.01, 0.01, 0.99, 0.99]))
    bad = calibration_metrics(y, np.array([0.5, 0.5, 0.5, 0.5]))
    assert good["log_loss"] < 0.02 and bad["log_loss"] == pytest.approx(np.log(2))
    assert bad["brier"] == pytest.approx(0.25) and bad["ece"] == pytest.approx(0.0)


def test_an_already_calibrated_family_keeps_its_own_probability():
    choice = choose_calibration([slot(f"s{i}", i) for i in range(3)])
    assert choice.method == "identity"
    assert set(choice.table) == {m for m, _ in CANDIDATES}
    assert set(choice.table["identity"]) == {"all", "new_onset"}
    assert choice.manifest_entry == {"method": "identity", "params": {}}


def test_an_overconfident_family_is_recalibrated_by_the_rule():
    # Raw score = the true risk pushed toward the ends on the logit scale: identity loses.
    def sharpen(t):
        z = np.log(t / (1 - t))
        return 1 / (1 + np.exp(-2.5 * z - 1.0))

    choice = choose_calibration([slot(f"s{i}", 10 + i, distort=sharpen) for i in range(3)])
    assert choice.method != "identity"
    losses = {m: t["all"]["log_loss"] for m, t in choice.table.items()}
    assert losses[choice.method] == min(losses.values())
    assert losses["identity"] > losses[choice.method] + 0.01


def test_slot_predictions_reads_an_evaluation_result():
    class Rows:
        y = np.array([0, 1, 0])
        patient = np.array([7, 7, 8])
        grade_today = np.array([0, 2, 1])

    made = slot_predictions("h1_c4", Rows, {"oof": {"lr": [0.1, 0.8, 0.2]},
                                            "fold": np.array([0, 0, 1])}, "lr")
    assert made.name == "h1_c4" and made.raw.tolist() == [0.1, 0.8, 0.2]
    assert made.severe.dtype == np.float64 and made.fold.tolist() == [0, 0, 1]


def test_no_slot_is_refused():
    with pytest.raises(ValueError):
        choose_calibration([])


def test_the_slope_interval_holds_1_for_a_calibrated_score_and_widens_with_fewer_patients():
    rng = np.random.default_rng(7)
    truth = rng.beta(0.6, 6.0, 4000)
    y = (rng.random(4000) < truth).astype(float)
    many = slope_interval(y, truth, np.arange(4000) // 4)
    few = slope_interval(y[:800], truth[:800], np.arange(800) // 4)
    assert many[0] < 1 < many[1]
    assert few[1] - few[0] > many[1] - many[0]


def test_the_slope_interval_resamples_patients_not_days():
    rng = np.random.default_rng(8)
    truth = rng.beta(0.6, 6.0, 2000)
    y = (rng.random(2000) < truth).astype(float)
    # The same days grouped into 20 patients of 100 days vary far more than 2,000 patients.
    by_day = slope_interval(y, truth, np.arange(2000))
    by_patient = slope_interval(y, truth, np.arange(2000) // 100)
    assert by_patient[1] - by_patient[0] > by_day[1] - by_day[0]


def test_an_overconfident_score_has_an_interval_below_the_band():
    rng = np.random.default_rng(9)
    truth = rng.beta(0.6, 6.0, 4000)
    y = (rng.random(4000) < truth).astype(float)
    z = np.log(truth / (1 - truth))
    overconfident = 1 / (1 + np.exp(-2.5 * (z + 2.0)))  # slope 0.4 once calibrated back
    low, high = slope_interval(y, overconfident, np.arange(4000) // 4)
    assert high < 0.8
