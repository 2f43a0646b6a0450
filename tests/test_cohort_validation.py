"""Validating the active models on a centre's own cohort sheet (spec section 9, issue 9 item 2)."""

import json
import math
import time

import numpy as np
import pytest
from django.utils import translation
from sklearn.metrics import average_precision_score, roc_auc_score

from predictor.cohorts import cohort_validation as cv
from predictor.cohorts.cohort_validation import HorizonRows, outcomes_from_course, validate_horizon


def rows_of(patients, probability, outcome, **extra):
    return HorizonRows(horizon=extra.pop("horizon", 1), patients=list(patients),
                       probability=list(probability),
                       raw_probability=list(extra.pop("raw", probability)),
                       outcome=list(outcome), **extra)


def fixed_cohort(n_patients=60, days=8, seed=7):
    """A cohort where severe days get higher scores, with tied calibrated values."""
    rng = np.random.default_rng(seed)
    patients = np.repeat([f"P{i:03d}" for i in range(n_patients)], days)
    y = (rng.random(len(patients)) < 0.2).astype(int)
    raw = np.clip(0.35 * y + 0.65 * rng.random(len(y)), 0, 1)
    calibrated = np.round(raw * 10) / 10  # a step function: many ties, as a baseline gives
    reference = np.clip(0.2 * y + 0.8 * rng.random(len(y)), 0, 1)
    return patients, y, raw, calibrated, reference


# ----------------------------------------------------------------------------- known answers


def test_a_perfectly_separating_cohort_has_auroc_and_auprc_of_one_with_a_tight_interval():
    patients = [p for p in range(10) for _ in range(3)]
    outcome = [1 if p < 4 else 0 for p in patients]
    probability = [0.9 if y else 0.1 for y in outcome]
    report = validate_horizon(rows=rows_of(patients, probability, outcome), seed=1)
    models = report.all_rows.models
    for figure in (models.auroc, models.auprc):
        assert figure.value == 1.0
        assert (figure.low, figure.high) == (1.0, 1.0)
        assert figure.undefined is None
    assert models.brier.value == pytest.approx(0.01)


def test_the_brier_score_is_the_mean_squared_error_of_the_calibrated_probability():
    # 1 severe day in 5, every probability 0.2: (4 * 0.2^2 + 0.8^2) / 5 = 0.16.
    report = validate_horizon(rows=rows_of("abcde", [0.2] * 5, [1, 0, 0, 0, 0],
                                            raw=[0.5] * 5), seed=0)
    models = report.all_rows.models
    assert models.brier.value == pytest.approx(0.16)
    assert models.brier_raw.value == pytest.approx((4 * 0.25 + 0.25) / 5)
    assert models.mean_probability.value == pytest.approx(0.2)
    assert models.observed_rate.value == pytest.approx(0.2)


def test_auroc_and_auprc_agree_with_scikit_learn_on_tied_and_untied_scores():
    patients, y, raw, calibrated, reference = fixed_cohort()
    report = validate_horizon(rows=rows_of(patients, calibrated, y, raw=raw,
                                           reference_probability=reference), resamples=20)
    models, ref = report.all_rows.models, report.all_rows.reference
    assert models.auroc.value == pytest.approx(roc_auc_score(y, calibrated), abs=1e-12)
    assert models.auprc.value == pytest.approx(average_precision_score(y, calibrated), abs=1e-12)
    assert models.auroc_raw.value == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    assert models.auprc_raw.value == pytest.approx(average_precision_score(y, raw), abs=1e-12)
    assert ref.auroc.value == pytest.approx(roc_auc_score(y, reference), abs=1e-12)
    assert ref.brier.value == pytest.approx(np.mean((reference - y) ** 2), abs=1e-12)


def test_the_intervals_are_the_percentiles_of_a_plain_bootstrap_over_patients():
    """The vectorised bootstrap against a slow, obvious one with the same patient draws."""
    patients, y, raw, calibrated, _ = fixed_cohort(n_patients=25, days=6, seed=3)
    resamples, seed = 200, 11
    report = validate_horizon(rows=rows_of(patients, calibrated, y, raw=raw),
                              seed=seed, resamples=resamples)
    order = list(dict.fromkeys(patients))  # patients are numbered by first appearance
    rows_of_patient = {p: np.flatnonzero(patients == p) for p in order}
    draws = np.random.default_rng(seed).integers(0, len(order), size=(resamples, len(order)))
    aurocs, auprcs, briers = [], [], []
    for draw in draws:
        idx = np.concatenate([rows_of_patient[order[d]] for d in draw])
        if 0 < y[idx].sum() < len(idx):
            aurocs.append(roc_auc_score(y[idx], calibrated[idx]))
            auprcs.append(average_precision_score(y[idx], calibrated[idx]))
        briers.append(np.mean((calibrated[idx] - y[idx]) ** 2))
    models = report.all_rows.models
    for figure, values in ((models.auroc, aurocs), (models.auprc, auprcs), (models.brier, briers)):
        low, high = np.quantile(values, [0.025, 0.975])
        assert figure.low == pytest.approx(low, abs=1e-9)
        assert figure.high == pytest.approx(high, abs=1e-9)
        assert figure.resamples == len(values)


def test_the_calibration_curve_bins_the_calibrated_probability_with_counts():
    patients = ["a", "a", "b", "b", "c", "c"]
    probability = [0.05, 0.15, 0.12, 0.95, 1.0, 0.18]
    outcome = [0, 0, 1, 1, 1, 0]
    bins = validate_horizon(rows=rows_of(patients, probability, outcome), bins=10,
                            resamples=50).all_rows.models.calibration
    assert len(bins) == 10
    assert (bins[0].low, bins[0].high, bins[0].n, bins[0].severe) == (0.0, 0.1, 1, 0)
    second = bins[1]  # 0.15, 0.12, 0.18: one severe of three, from three patients
    assert (second.n, second.severe, second.patients) == (3, 1, 3)
    assert second.mean_probability == pytest.approx(0.15)
    assert second.observed.value == pytest.approx(1 / 3)
    assert second.observed.low <= 1 / 3 <= second.observed.high
    last = bins[9]  # 0.95 and exactly 1.0 share the top bin
    assert (last.n, last.severe, last.observed.value) == (2, 2, 1.0)
    empty = bins[4]
    assert empty.n == 0 and empty.mean_probability is None
    assert empty.observed.value is None and empty.observed.undefined == cv.EMPTY_BIN


# ----------------------------------------------------------------------------- the bootstrap


def test_the_same_seed_gives_the_same_intervals_and_another_seed_other_intervals():
    patients, y, raw, calibrated, reference = fixed_cohort()
    rows = rows_of(patients, calibrated, y, raw=raw, reference_probability=reference)
    first = validate_horizon(rows=rows, seed=42, resamples=300).all_rows
    again = validate_horizon(rows=rows, seed=42, resamples=300).all_rows
    other = validate_horizon(rows=rows, seed=43, resamples=300).all_rows
    assert first == again
    assert (first.models.auroc.low, first.models.auroc.high) != (
        other.models.auroc.low, other.models.auroc.high)
    assert first.models.auroc.value == other.models.auroc.value  # the point does not move


def test_patients_are_resampled_as_units_with_all_their_days():
    # Ten patients of 50 identical days each: five always severe, five never. Drawing patients,
    # the severe rate of a resample is k/10 with k binomial(10, 1/2): its 95 % interval spans
    # about 0.2 to 0.8. Drawing the 500 days one by one would give about 0.46 to 0.54.
    patients = [p for p in range(10) for _ in range(50)]
    outcome = [int(p < 5) for p in patients]
    probability = [0.3] * len(patients)
    observed = validate_horizon(rows=rows_of(patients, probability, outcome), seed=5,
                                resamples=1000).all_rows.models.observed_rate
    assert observed.value == pytest.approx(0.5)
    assert observed.low <= 0.3 and observed.high >= 0.7


def test_models_and_reference_share_rows_and_resamples_so_the_difference_is_paired():
    patients, y, raw, calibrated, reference = fixed_cohort()
    subset = validate_horizon(rows=rows_of(patients, calibrated, y, raw=raw,
                                           reference_probability=reference), seed=2,
                              resamples=400).all_rows
    difference = subset.difference
    assert difference.auroc.value == pytest.approx(
        subset.models.auroc.value - subset.reference.auroc.value)
    assert difference.brier.value == pytest.approx(
        subset.models.brier.value - subset.reference.brier.value)
    assert difference.auroc.low <= difference.auroc.value <= difference.auroc.high
    # Identical scorers differ by exactly zero in every paired resample.
    same = validate_horizon(rows=rows_of(patients, calibrated, y, raw=raw,
                                         reference_probability=calibrated,
                                         reference_raw_probability=raw),
                            seed=2, resamples=100).all_rows.difference
    assert (same.auroc.low, same.auroc.high, same.brier.low, same.brier.high) == (0, 0, 0, 0)


def test_ten_thousand_rows_with_a_thousand_resamples_take_well_under_a_second():
    rng = np.random.default_rng(0)
    n = 10_000
    patients = rng.integers(0, 800, n)
    y = (rng.random(n) < 0.1).astype(int)
    raw = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    rows = rows_of(patients, np.round(raw * 40) / 40, y, raw=raw,
                   reference_probability=rng.random(n))
    validate_horizon(rows=rows, resamples=20)  # imports and caches warm
    started = time.perf_counter()
    report = validate_horizon(rows=rows, seed=1, resamples=1000)
    elapsed = time.perf_counter() - started
    assert report.all_rows.models.auroc.resamples == 1000
    # Models and reference, raw and calibrated: measured 0.3-0.6 s on the 2 shared cores;
    # the bound leaves room for a busy machine but not for a per-resample loop (tens of s).
    assert elapsed < 3.0


# ----------------------------------------------------------------------------- undefined cases


def test_a_cohort_without_a_severe_day_says_why_auroc_and_auprc_are_undefined():
    report = validate_horizon(rows=rows_of("aabbc", [0.1, 0.2, 0.3, 0.1, 0.2], [0] * 5),
                              resamples=50)
    models = report.all_rows.models
    assert models.auroc.value is None and models.auroc.undefined == cv.NO_SEVERE
    assert models.auprc.value is None and models.auprc.undefined == cv.NO_SEVERE
    assert models.brier.value == pytest.approx(np.mean(np.square([0.1, 0.2, 0.3, 0.1, 0.2])))


def test_a_cohort_where_every_day_is_severe_has_no_auroc_but_an_average_precision_of_one():
    models = validate_horizon(rows=rows_of("aabb", [0.6, 0.7, 0.9, 0.8], [1] * 4),
                              resamples=50).all_rows.models
    assert models.auroc.value is None and models.auroc.undefined == cv.NO_NON_SEVERE
    assert models.auprc.value == 1.0


def test_one_patient_gives_figures_without_intervals():
    models = validate_horizon(rows=rows_of("aaaa", [0.1, 0.8, 0.2, 0.9], [0, 1, 0, 1]),
                              resamples=100).all_rows.models
    assert models.auroc.value == 1.0
    assert models.auroc.low is None and models.auroc.interval_undefined == cv.TOO_FEW_PATIENTS


def test_resamples_that_draw_no_severe_day_are_left_out_of_the_interval():
    # One severe patient of ten: about a third of resamples do not draw it.
    patients = [p for p in range(10) for _ in range(2)]
    outcome = [int(p == 0) for p in patients]
    probability = [0.9 if y else 0.1 + 0.05 * (i % 5) for i, y in enumerate(outcome)]
    auroc = validate_horizon(rows=rows_of(patients, probability, outcome), seed=3,
                             resamples=1000).all_rows.models.auroc
    assert 500 < auroc.resamples < 800
    assert (auroc.low, auroc.high) == (1.0, 1.0)


def test_nothing_scorable_is_reported_not_raised():
    report = validate_horizon(rows=rows_of("ab", [0.1, None], [None, 1]), resamples=10)
    assert report.rows_scored == 0
    assert report.unscored == {cv.OUTCOME_UNKNOWN: 1, cv.NO_PREDICTION: 1}
    assert report.all_rows.counts == cv.Counts(rows=0, patients=0, severe_rows=0,
                                               severe_patients=0)
    assert report.all_rows.models.auroc.undefined == cv.NO_ROWS
    assert report.all_rows.models.brier.undefined == cv.NO_ROWS
    json.dumps(cv.CohortReport(horizons=(report,), seed=0, resamples=10, bins=10).to_dict(),
               allow_nan=False)


# ----------------------------------------------------------------------------- rows and reasons


def test_rows_that_cannot_be_scored_are_counted_by_reason_and_left_out_for_both_scorers():
    patients = ["a", "a", "a", "b", "b", "b", "c"]
    probability = [0.2, 0.3, None, 0.8, 0.1, 0.7, 0.6]
    outcome = [0, 1, 0, 1, None, 0, None]
    reference = [0.1, 0.2, 0.3, None, 0.2, 0.4, 0.5]
    report = validate_horizon(rows=rows_of(
        patients, probability, outcome, reference_probability=reference,
        outcome_reasons=[None, None, None, None, cv.OUTCOME_GRADE_MISSING, None, None],
        prediction_reasons=[None, None, "no_usable_combination", None, None, None, None]),
        resamples=20)
    assert report.rows_total == 7 and report.rows_scored == 3
    assert report.unscored == {cv.NO_REFERENCE: 1, cv.OUTCOME_GRADE_MISSING: 1,
                               cv.OUTCOME_UNKNOWN: 1, "no_usable_combination": 1}
    counts = report.all_rows.counts
    assert (counts.rows, counts.patients, counts.severe_rows, counts.severe_patients) == (3, 2, 1, 1)
    # Rows 0, 1 and 5 remain: models rank (0.2, 0.3, 0.7) against outcomes (0, 1, 0).
    assert report.all_rows.models.auroc.value == pytest.approx(0.5)
    assert report.all_rows.reference.auroc.value == pytest.approx(0.5)


def test_a_missing_reference_is_reported_with_its_reason():
    report = validate_horizon(rows=rows_of("ab", [0.2, 0.8], [0, 1],
                                           reference_missing="no_reference_model"), resamples=5)
    assert report.reference_missing == "no_reference_model"
    assert report.all_rows.reference is None and report.all_rows.difference is None


def test_the_new_onset_subset_keeps_only_days_below_grade_three():
    patients = ["a", "a", "b", "b", "c", "c"]
    report = validate_horizon(rows=rows_of(
        patients, [0.1, 0.9, 0.2, 0.6, 0.3, 0.4], [0, 1, 0, 1, 0, 0],
        new_onset=[True, False, True, True, True, None]), resamples=50)
    assert report.all_rows.counts.rows == 6
    onset = report.new_onset.counts
    assert (onset.rows, onset.patients, onset.severe_rows, onset.severe_patients) == (4, 3, 1, 1)
    assert report.new_onset.models.auroc.value == 1.0


def test_the_report_serialises_to_json_without_nan():
    patients, y, raw, calibrated, reference = fixed_cohort(n_patients=12)
    report = cv.validate_cohort(horizons=[
        rows_of(patients, calibrated, y, raw=raw, reference_probability=reference, horizon=h)
        for h in (1, 2)], seed=9, resamples=50)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert [h["horizon"] for h in data["horizons"]] == [1, 2]
    assert data["resampling_unit"] == "patient" and data["seed"] == 9
    auroc = data["horizons"][0]["all_rows"]["models"]["auroc"]
    assert set(auroc) == {"value", "low", "high", "resamples", "undefined", "interval_undefined"}
    assert len(data["horizons"][0]["all_rows"]["models"]["calibration"]) == 10


@pytest.mark.parametrize("change, message", [
    ({"probability": [0.1, 1.2]}, "not a probability"),
    ({"outcome": [0, 2]}, "not 0, 1 or None"),
    ({"raw_probability": [0.1]}, "expected 2"),
])
def test_inconsistent_input_is_refused_with_a_clear_error(change, message):
    base = {"horizon": 1, "patients": ["a", "b"], "probability": [0.1, 0.2],
            "raw_probability": [0.1, 0.2], "outcome": [0, 1]}
    with pytest.raises(ValueError, match=message):
        validate_horizon(rows=HorizonRows(**{**base, **change}))


def test_every_reason_code_has_a_text_for_the_page_in_both_languages():
    texts = {**cv.UNSCORED_REASONS, **cv.UNDEFINED_REASONS}
    codes = (cv.OUTCOME_DAY_MISSING, cv.OUTCOME_GRADE_MISSING, cv.OUTCOME_UNKNOWN,
             cv.NO_PREDICTION, cv.NO_REFERENCE, cv.NO_ROWS, cv.NO_SEVERE, cv.NO_NON_SEVERE,
             cv.TOO_FEW_PATIENTS, cv.UNDEFINED_IN_RESAMPLES, cv.NO_RESAMPLES, cv.EMPTY_BIN)
    for code in codes:
        with translation.override("en"):
            english = str(texts[code])
        with translation.override("zh-hans"):
            chinese = str(texts[code])
        assert english and chinese and english != chinese, code


# ----------------------------------------------------------------------------- outcomes


def test_a_day_is_labelled_by_the_grade_k_days_later_and_the_last_days_are_not_scorable():
    outcomes = outcomes_from_course(days=[0, 1, 2, 3, 4], grades=[0, 1, 3, 4, 2], horizon=1)
    assert outcomes.labels == (0, 1, 1, 0, None)
    assert outcomes.reasons == (None, None, None, None, cv.OUTCOME_DAY_MISSING)
    later = outcomes_from_course(days=[0, 1, 2, 3, 4], grades=[0, 1, 3, 4, 2], horizon=3)
    assert later.labels == (1, 0, None, None, None)


def test_a_gap_in_the_days_leaves_the_day_before_it_unscorable_not_shifted():
    # Day 3 is missing: day 2's outcome for tomorrow is unknown, not day 4's grade.
    outcomes = outcomes_from_course(days=[1, 2, 4, 5], grades=[1, 2, 3, 0], horizon=1)
    assert outcomes.labels == (0, None, 0, None)
    assert outcomes.reasons[1] == cv.OUTCOME_DAY_MISSING
    two_days = outcomes_from_course(days=[1, 2, 4, 5], grades=[1, 2, 3, 0], horizon=2)
    assert two_days.labels == (None, 1, None, None)


def test_an_empty_grade_on_the_outcome_day_is_its_own_reason_and_unsorted_days_work():
    outcomes = outcomes_from_course(days=[2, 0, 1], grades=[4, 1, None], horizon=1)
    assert outcomes.labels == (None, None, 1)
    assert outcomes.reasons == (cv.OUTCOME_DAY_MISSING, cv.OUTCOME_GRADE_MISSING, None)
    assert outcomes.new_onset == (False, True, False)  # grade 4; grade 1; grade unknown


@pytest.mark.parametrize("days, grades, horizon, message", [
    ([0, 1, 1], [0, 0, 0], 1, "appears twice"),
    ([0, 1], [0, 5], 1, "between 0 and 4"),
    ([0, 1], [0], 1, "2 days but 1 grades"),
    ([0, 1], [0, 1], 0, "at least 1"),
])
def test_a_course_that_cannot_be_labelled_is_refused(days, grades, horizon, message):
    with pytest.raises(ValueError, match=message):
        outcomes_from_course(days=days, grades=grades, horizon=horizon)


def test_course_outcomes_feed_the_validation_with_their_reasons():
    days, grades = [0, 1, 2, 3], [0, 1, 3, 2]
    outcomes = outcomes_from_course(days=days, grades=grades, horizon=2)
    report = validate_horizon(rows=rows_of(
        ["p"] * 4, [0.1, 0.7, 0.5, 0.2], outcomes.labels, outcome_reasons=outcomes.reasons,
        new_onset=outcomes.new_onset), resamples=10)
    assert report.rows_scored == 2
    assert report.unscored == {cv.OUTCOME_DAY_MISSING: 2}
    assert not math.isnan(report.all_rows.models.brier.value)
