"""Trajectory features (change since the previous day and since day 0) and their patient-level
evaluation (``bench/trajectory.py``): known small courses, no leakage across patients, the same
folds and fits as the shipped evaluation, and a deterministic driver. Synthetic data only."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench import trajectory as bt
from predictor.training import baselines as bl
from predictor.training import evaluate_context as ec
from predictor.training import synthetic
from predictor.training.data import cart_frame_to_cohort, horizon_rows
from predictor.training.evaluate import evaluate_slot
from predictor.training.folds import patient_folds, patient_table
from predictor.training.recipe import small_recipe
from predictor.training.trajectory import (cohort_trajectory, course_trajectory,
                                           fit_trajectory_lr_fixed, rows_trajectory,
                                           trajectory_keys)

L = np.log1p


def _course(patient, day, values):
    return course_trajectory(patient=patient, day=day, values=np.asarray(values, float)[:, None],
                             keys=("il6",))


def test_it_gives_changes_since_the_previous_day_and_day_0_on_the_log1p_scale():
    t = _course([1, 1, 1], [0, 1, 2], [9.0, 99.0, 49.0])
    assert np.allclose(t.delta_prev[:, 0], [0.0, L(99) - L(9), L(49) - L(99)])
    assert np.allclose(t.delta_day0[:, 0], [0.0, L(99) - L(9), L(49) - L(9)])
    assert t.has_prev.tolist() == [False, True, True]
    assert t.has_day0.tolist() == [True, True, True]


def test_day_0_itself_has_no_previous_day_and_a_zero_change_since_day_0():
    t = _course([4], [0], [120.0])
    assert t.delta_prev[0, 0] == 0.0 and not t.has_prev[0]
    assert t.delta_day0[0, 0] == 0.0 and t.has_day0[0]


def test_after_a_gap_the_previous_day_is_unknown_not_two_days_back():
    t = _course([1, 1, 1], [0, 1, 3], [9.0, 19.0, 99.0])
    assert not t.has_prev[2] and t.delta_prev[2, 0] == 0.0
    assert t.has_day0[2] and np.isclose(t.delta_day0[2, 0], L(99) - L(9))


def test_a_course_without_day_0_has_no_change_since_day_0():
    t = _course([2, 2], [3, 4], [5.0, 11.0])
    assert t.has_day0.tolist() == [False, False]
    assert t.delta_day0.tolist() == [[0.0], [0.0]]
    assert np.isclose(t.delta_prev[1, 0], L(11) - L(5)) and t.has_prev[1]


def test_row_order_does_not_change_any_row_s_features():
    patient, day, v = [1, 1, 1, 2, 2], [0, 1, 2, 0, 1], [1.0, 3.0, 7.0, 2.0, 5.0]
    order = np.array([4, 2, 0, 3, 1])
    a = _course(patient, day, v).matrix()
    b = _course(np.array(patient)[order], np.array(day)[order], np.array(v)[order]).matrix()
    assert np.array_equal(a[order], b)


def test_no_feature_crosses_from_one_patient_to_another():
    # patient 2 has no day 0 and starts at day 1: patient 1's day 0 must not be its "day 0",
    # nor patient 1's day 1 its previous day; changing patient 1 changes nothing for patient 2
    patient, day = [1, 1, 2, 2], [0, 1, 1, 2]
    a = _course(patient, day, [1.0, 50.0, 3.0, 8.0])
    b = _course(patient, day, [900.0, 2.0, 3.0, 8.0])
    assert a.has_prev.tolist() == [False, True, False, True]
    assert a.has_day0.tolist() == [True, True, False, False]
    assert np.array_equal(a.matrix()[2:], b.matrix()[2:])
    assert not np.array_equal(a.matrix()[:2], b.matrix()[:2])


def test_it_refuses_a_patient_with_the_same_day_twice():
    with pytest.raises(ValueError, match="patient 1 has day 1 twice"):
        _course([1, 1, 1], [0, 1, 1], [1.0, 2.0, 3.0])


def test_chloride_gets_no_trajectory_feature():
    assert "chloride" not in trajectory_keys("3")
    assert "sodium" in trajectory_keys("3")
    assert trajectory_keys("4") == ("il2", "il4", "il6", "il10", "tnf_alpha", "ifn_gamma",
                                    "il17a")


@pytest.fixture(scope="module")
def cohort():
    return cart_frame_to_cohort(synthetic.cart_frame(30, seed=4))


def test_horizon_rows_get_the_features_of_their_own_patient_day(cohort):
    rows = horizon_rows(cohort, 2)
    m = rows_trajectory(cohort, rows, code="4")
    full = cohort_trajectory(cohort, code="4").matrix()
    where = {(int(p), int(d)): i for i, (p, d) in enumerate(zip(cohort.patient, cohort.day))}
    for i in range(len(rows)):
        assert np.array_equal(m[i], full[where[(int(rows.patient[i]), int(rows.day[i]))]])
    il6 = cohort.values["il6"].to_numpy()
    i = int(np.flatnonzero(rows.day == 2)[0])
    j = where[(int(rows.patient[i]), 1)]
    assert np.isclose(m[i, 2], L(il6[j + 1]) - L(il6[j]))  # il6 is the 3rd cytokine
    assert m.shape[1] == 2 * 7 + 2


def test_without_trajectory_the_logistic_regression_is_the_shipped_one(cohort):
    rows = horizon_rows(cohort, 1)
    labs = rows.columns("23")
    ours = fit_trajectory_lr_fixed(labs=labs, y=rows.y, C=0.1, seed=3)
    shipped = bl.fit_logistic_fixed(labs, rows.y, 0.1, 3)
    assert np.allclose(ours.predict_proba(labs), shipped.predict_proba(labs), atol=1e-9)
    # The context variant is the unconstrained context LR the trajectory study was run against
    # (docs/trajectory.md); the shipped context LR is now monotone in grade with a clamped
    # linear day (predictor/training/context.py), so the two are compared only where the
    # shipped one has not moved: the labs-only LR above.


def test_the_base_variants_reproduce_the_shipped_evaluation_on_the_same_folds(cohort):
    # the shipped labs-only evaluation also trains the network: one tiny epoch is enough here
    recipe = small_recipe(ctx_network=False, dim=4, max_epochs=1, patience=1)
    seed = bt.slot_seed(11, 1, "4")
    ids, ever = patient_table(cohort.patient, cohort.grade)
    fold_of = patient_folds(cohort, recipe.outer_folds, 11)
    ever_of = {int(p): bool(e) for p, e in zip(ids, ever)}
    ours = bt.evaluate_slot(cohort, 1, "4", fold_of, ever_of, recipe, seed)
    rows = horizon_rows(cohort, 1)
    labs_only = evaluate_slot(rows, "4", fold_of, ever_of, recipe, seed, None, row_protocol=False)
    context = ec.evaluate_context_slot(rows, "4", fold_of, ever_of, recipe, seed)
    assert np.allclose(ours["oof"][("labs", "lr")], labs_only["oof"]["lr"], atol=1e-9)
    assert np.array_equal(ours["oof"][("labs", "lgbm")], labs_only["oof"]["lgbm"])
    assert set(context["oof"]) >= {"ctx_lr", "ctx_lgbm"}  # (the study's context base: above)
    assert ours["chosen"][("labs", "lr")] == labs_only["chosen"]["lr_C"]
    # and the trajectory variants are genuinely different models
    assert not np.allclose(ours["oof"][("labs+traj", "lr")], ours["oof"][("labs", "lr")])


def test_the_weighted_auroc_is_sklearn_s_with_sample_weights():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    score = np.round(rng.random(60), 1)  # many ties
    w = rng.integers(0, 4, size=(5, 60)).astype(float)
    ours = bt.weighted_auroc(y, score, w)
    for b in range(5):
        assert np.isclose(ours[b], roc_auc_score(y, score, sample_weight=w[b]))


CV = dict(seed=7, horizons=(1,), combinations=("4", "2"))


@pytest.fixture(scope="module")
def cv_results(cohort):
    return bt.run_cv(cohort, recipe=small_recipe(), workers=1, **CV)


def test_the_cv_driver_is_deterministic_and_independent_of_the_worker_count(cohort, cv_results):
    a = cv_results
    b = bt.run_cv(cohort, recipe=small_recipe(), workers=2, **CV)
    for slot in a:
        for key in a[slot]["oof"]:
            assert np.array_equal(a[slot]["oof"][key], b[slot]["oof"][key])
    text_a = bt.report(a, n_boot=50, seed=1)
    assert text_a == bt.report(b, n_boot=50, seed=1)
    assert "labs+traj LR vs labs LR" in text_a and "ctx+traj LR-s vs ctx LR" in text_a


def test_the_decision_rule_needs_both_wins_outside_the_noise(cv_results):
    results = cv_results
    summary = bt.summarise(results)
    boot = bt.patient_bootstrap(results, summary, n=50, seed=1)
    for d in bt.compare(summary, boot):
        assert d["beats"] == (d["auroc"] > 0 and d["brier"] < 0)
        assert d["recommend"] == (d["beats"] and d["auroc_ci"][0] > 0 and d["brier_ci"][1] < 0)
        assert d["auroc_ci"][0] <= d["auroc_ci"][1]


def test_the_bench_skips_with_a_clear_message_when_the_sheet_is_absent(tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.setattr("sys.argv", ["bench/trajectory.py", "--data", str(tmp_path)])
    assert bt.main() == 0
    err = capsys.readouterr().err
    assert "CAR-T sheet not found" in err and "Skipped" in err
