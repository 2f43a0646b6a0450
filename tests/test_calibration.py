"""Raw score -> actual probability through a calibration baseline (predictor.scoring.calibration,
calibration_methods, nearest_counts; spec section 5)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.scoring.calibration import METHODS, build_calibration
from predictor.scoring.calibration_methods import (
    PROBABILITY_FLOOR,
    WindowSettings,
    fit_map,
    windowed_rates,
)
from predictor.scoring.nearest_counts import NEAREST_N, NearestCounts


def worked_example_scores() -> tuple[list[float], list[int]]:
    """100 scores with the paper's p_59 = 0.898, p_60 = 0.883, p_61 = 0.819, shuffled."""
    scores = [0.99 - 0.0015 * i for i in range(59)]  # 0.99 ... 0.903
    scores += [0.898, 0.883, 0.819]
    scores += [0.81 - 0.8 * i / 38 for i in range(38)]  # 0.81 ... 0.01
    labels = [1 if i % 3 else 0 for i in range(100)]
    shuffled = list(zip(scores, labels))
    random.Random(4).shuffle(shuffled)  # the map sorts; input order must not matter
    return [p for p, _ in shuffled], [y for _, y in shuffled]


def logistic_baseline(n: int, seed: int = 0, patients_of: int = 5):
    """Scores from a known truth: P(severe | s) = s, with ``patients_of`` rows per patient."""
    rng = np.random.default_rng(seed)
    s = rng.beta(0.6, 4.0, n)
    y = (rng.random(n) < s).astype(int)
    return s, y, [f"p{i // patients_of}" for i in range(n)]


# --- the paper's nearest position (windows) ------------------------------------------------------

def test_the_papers_worked_example_picks_position_60():
    table = build_calibration("windows", None, *worked_example_scores())
    assert table.scores[59:62] == (0.898, 0.883, 0.819)
    assert table.nearest_position(0.881) == 60


@pytest.mark.parametrize("q, position", [(0.898, 59), (0.8905, 60), (0.891, 59), (0.85, 61)])
def test_neighbours_of_the_worked_example(q, position):
    assert build_calibration("windows", None, *worked_example_scores()).nearest_position(q) \
        == position


def test_a_tie_goes_to_the_lower_position():
    assert build_calibration("windows", None, [0.75, 0.25], [1, 0]).nearest_position(0.5) == 0


def test_a_score_repeated_in_the_baseline_maps_to_the_first_of_its_run():
    table = build_calibration("windows", None, [0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0, 0])
    assert [table.nearest_position(q) for q in (0.5, 0.45, 0.55, 0.75, 0.35, 0.25)] == \
        [1, 1, 1, 0, 1, 4]


# --- windows: the paper's rates, pooled rather than sorted ---------------------------------------

@pytest.mark.parametrize("p, half_width", [
    (0.95, 10), (0.8000001, 10), (0.8, 15), (0.5, 15), (0.3, 15), (0.2999999, 20), (0.0, 20)])
def test_the_window_depends_on_the_score_band(p, half_width):
    assert WindowSettings().half_width(p) == half_width


def test_window_sizes_per_band_with_truncation_at_both_ends():
    scores = np.array([1 - (i + 0.5) / 100 for i in range(100)])  # high to low
    # With every label severe and no shrinkage, rate * size counts each window's rows.
    ones = np.ones(100)
    rates = windowed_rates(scores, ones, WindowSettings(), 0.0, 0.5)
    assert set(rates.tolist()) == {1.0}
    sizes = windowed_rates(scores, ones, WindowSettings(), 1.0, 0.0)  # = size / (size + 1)
    sizes = np.rint(sizes / (1 - sizes)).astype(int)
    assert sizes[0] == 11 and sizes[4] == 15 and sizes[10] == sizes[19] == 21
    assert sizes[20] == sizes[50] == sizes[69] == 31
    assert sizes[70] == sizes[79] == 41 and sizes[85] == 35 and sizes[99] == 21


def test_windows_pool_adjacent_violators_instead_of_re_pairing_rates():
    # Half-width 1: windowed rates high to low 1/2, 2/3, 2/3, 1/3, 0. The old sort gave the top
    # score 2/3 and the next 1/2 (moving counts); pooling gives the first three their mean.
    mapping = fit_map("windows", {"high": 1, "middle": 1, "low": 1, "pseudo_count": 0},
                      [0.9, 0.8, 0.7, 0.6, 0.5], [0, 1, 1, 0, 0])
    got = mapping(np.array([0.9, 0.8, 0.7, 0.6, 0.5]))
    assert got == pytest.approx([11 / 18, 11 / 18, 11 / 18, 1 / 3, PROBABILITY_FLOOR])


def test_window_widths_written_as_json_floats_are_used_as_counts():
    scores, severe = worked_example_scores()
    as_floats = fit_map("windows", {"high": 3.0, "middle": 4.0, "low": 5.0}, scores, severe)
    as_ints = fit_map("windows", {"high": 3, "middle": 4, "low": 5}, scores, severe)
    q = np.linspace(0, 1, 21)
    assert np.array_equal(as_floats(q), as_ints(q))


def test_windows_shrink_a_window_with_no_severe_day_toward_the_baseline_rate():
    scores = [i / 100 for i in range(100)]
    severe = [1 if i >= 90 else 0 for i in range(100)]
    p = fit_map("windows", None, scores, severe)(np.array([0.0]))[0]
    prior = (10 + 0.5) / 101
    # 0 of 21 (truncated) to 0 of 41 patient-days, each plus one pseudo-day at the baseline's
    # rate; the truncated windows' higher shrunk rates are pooled with their neighbours.
    assert prior / 42 <= p <= prior / 22


# --- each method against a known answer ----------------------------------------------------------

def test_isotonic_pools_violators_and_shrinks_sparse_blocks():
    # Ascending scores 0.1..0.4 with labels 0, 1, 0, 1: PAV pools the middle pair to 1/2.
    mapping = fit_map("isotonic", {"pseudo_count": 0}, [0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    assert mapping(np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(
        [PROBABILITY_FLOOR, 0.5, 0.5, 1 - PROBABILITY_FLOOR])
    shrunk = fit_map("isotonic", {"pseudo_count": 2}, [0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    prior = 2.5 / 5
    assert shrunk(np.array([0.1]))[0] == pytest.approx((0 + 2 * prior) / 3)
    assert shrunk(np.array([0.25]))[0] == pytest.approx(0.5)  # 1 of 2 plus 2 at 1/2


def test_platt_recovers_a_known_logistic_truth():
    rng = np.random.default_rng(1)
    s = rng.uniform(0.01, 0.99, 40000)
    truth = 1 / (1 + np.exp(-(0.5 + 2.0 * np.log(s / (1 - s)))))
    y = (rng.random(len(s)) < truth).astype(int)
    q = np.array([0.1, 0.5, 0.9])
    expected = 1 / (1 + np.exp(-(0.5 + 2.0 * np.log(q / (1 - q)))))
    assert fit_map("platt", None, s, y)(q) == pytest.approx(expected, abs=0.02)


def test_beta_recovers_a_known_beta_calibration_truth():
    rng = np.random.default_rng(2)
    s = rng.uniform(0.01, 0.99, 40000)
    z = -0.3 + 1.5 * np.log(s) + 0.5 * -np.log(1 - s)
    y = (rng.random(len(s)) < 1 / (1 + np.exp(-z))).astype(int)
    q = np.array([0.05, 0.3, 0.7, 0.95])
    zq = -0.3 + 1.5 * np.log(q) + 0.5 * -np.log(1 - q)
    assert fit_map("beta", None, s, y)(q) == pytest.approx(1 / (1 + np.exp(-zq)), abs=0.02)


def test_identity_is_the_models_own_probability_kept_off_0_and_1():
    mapping = fit_map("identity", None, [0.2, 0.4], [0, 1])
    assert mapping(np.array([0.0, 0.37, 1.0])).tolist() == [
        PROBABILITY_FLOOR, 0.37, 1 - PROBABILITY_FLOOR]


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError):
        build_calibration("magic", None, [0.1, 0.9], [0, 1])


# --- never 0 % or 100 % --------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("labels", ["all zero at the bottom", "all one at the top", "mixed"])
def test_no_probability_or_interval_end_is_0_or_1_at_the_ends_of_a_baseline(method, labels):
    scores = [i / 199 for i in range(200)]
    if labels == "all zero at the bottom":
        severe = [1 if i >= 150 else 0 for i in range(200)]
    elif labels == "all one at the top":
        severe = [1 if i >= 100 else 0 for i in range(200)]
    else:
        severe = [i % 2 for i in range(200)]
    q = np.array([-1.0, 0.0, 1e-9, 0.001, 0.5, 0.999, 1.0, 2.0])
    for patients in (None, [i // 4 for i in range(200)]):
        found = build_calibration(method, None, scores, severe, patients).lookup_many(q)
        for values in (found.probability, found.low, found.high):
            assert np.all(values > 0) and np.all(values < 1)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.integers(0, 1)), min_size=1,
                max_size=60), st.sampled_from(METHODS), st.floats(-0.1, 1.1, allow_nan=False))
def test_any_baseline_gives_probabilities_strictly_inside_0_1(rows, method, q):
    ref = build_calibration(method, None, [p for p, _ in rows], [y for _, y in rows]).lookup(q)
    assert 0 < ref.interval[0] <= ref.probability <= ref.interval[1] < 1


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.integers(0, 1)), min_size=2,
                max_size=60), st.sampled_from(("windows", "isotonic", "platt", "beta")),
       st.floats(-0.1, 1.1, allow_nan=False), st.floats(-0.1, 1.1, allow_nan=False))
def test_a_higher_raw_score_never_gives_a_lower_probability(rows, method, q1, q2):
    table = build_calibration(method, None, [p for p, _ in rows], [y for _, y in rows])
    low, high = sorted((q1, q2))
    assert table.lookup(low).probability <= table.lookup(high).probability + 1e-12


# --- "K of N" literal ----------------------------------------------------------------------------

def brute_force_counts(scores, severe, q, n=NEAREST_N):
    """The documented rule, row by row: nearest first; at equal distance the higher score; among
    equal scores, the earlier row of the file."""
    order = sorted(range(len(scores)), key=lambda i: (abs(scores[i] - q), -scores[i], i))
    chosen = order[:min(n, len(scores))]
    return len(chosen), sum(severe[i] for i in chosen)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 0.9, 1.0]),
                          st.integers(0, 1)), min_size=1, max_size=120),
       st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.95, 1.0]),
                min_size=1, max_size=10),
       st.integers(1, 50))
def test_k_of_n_is_the_literal_count_of_the_nearest_rows_with_ties(rows, queries, n):
    scores, severe = [p for p, _ in rows], [y for _, y in rows]
    counts = NearestCounts(scores, severe, n)
    got_n, got_k = counts.counts(queries)
    for q, gn, gk in zip(queries, got_n, got_k):
        assert (gn, gk) == brute_force_counts(scores, severe, q, n)


def test_k_of_n_in_all_zero_and_all_one_windows():
    scores = [i / 99 for i in range(100)]
    severe = [1 if i >= 60 else 0 for i in range(100)]
    table = build_calibration("windows", None, scores, severe)
    low, high = table.lookup(0.0), table.lookup(1.0)
    assert (low.n, low.severe) == (40, 0) and (high.n, high.severe) == (40, 40)
    assert 0 < low.probability and high.probability < 1  # the estimate is not K/N there
    middle = table.lookup(0.6)
    assert (middle.n, middle.severe) == brute_force_counts(scores, severe, 0.6)


def test_a_small_baseline_explains_with_all_its_rows():
    table = build_calibration("isotonic", None, [0.1, 0.2, 0.3], [0, 1, 1])
    assert (table.lookup(0.9).n, table.lookup(0.9).severe) == (3, 2)


def test_the_counts_are_the_rows_own_region_not_borrowed_from_another_score():
    # High scores mostly not severe, low scores often severe: a sort-based rearrangement would
    # show the high region's counts at low scores; the literal count never does.
    scores = [i / 199 for i in range(200)]
    severe = [1 if (i < 40 and i % 2) or i > 190 else 0 for i in range(200)]
    ref = build_calibration("windows", None, scores, severe).lookup(0.05)
    assert (ref.n, ref.severe) == brute_force_counts(scores, severe, 0.05)


# --- intervals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["windows", "isotonic", "platt", "beta"])
def test_the_patient_bootstrap_interval_widens_as_the_baseline_shrinks(method):
    q = np.array([0.05, 0.2, 0.5])
    widths = []
    for n in (3000, 300):
        s, y, patients = logistic_baseline(n, seed=3)
        found = build_calibration(method, None, s, y, patients).lookup_many(q)
        widths.append(found.high - found.low)
    assert np.all(widths[1] > widths[0])


def test_the_fallback_interval_widens_as_n_shrinks():
    wide = build_calibration("platt", None, *logistic_baseline(20, seed=5)[:2]).lookup(0.2)
    narrow = build_calibration("platt", None, *logistic_baseline(2000, seed=5)[:2]).lookup(0.2)
    assert wide.n == 20 and narrow.n == 40
    assert wide.interval[1] - wide.interval[0] > narrow.interval[1] - narrow.interval[0]


def test_patients_widen_the_interval_over_rows_treated_as_independent():
    # Ten rows per patient, all with the same label: the patient is the unit, not the row.
    rng = np.random.default_rng(7)
    patient_risk = rng.random(100) < 0.2
    s = np.repeat(np.where(patient_risk, 0.3, 0.1), 10) + rng.normal(0, 0.01, 1000)
    y = np.repeat(patient_risk, 10).astype(int)
    by_patient = build_calibration("isotonic", None, s, y, np.repeat(np.arange(100), 10))
    by_row = build_calibration("isotonic", None, s, y, np.arange(1000))
    wide, narrow = by_patient.lookup(0.3), by_row.lookup(0.3)
    assert wide.interval[1] - wide.interval[0] > 1.5 * (narrow.interval[1] - narrow.interval[0])


def test_the_bootstrap_is_seeded_the_same_baseline_gives_the_same_intervals():
    s, y, patients = logistic_baseline(500, seed=9)
    one = build_calibration("beta", None, s, y, patients).lookup(0.3)
    two = build_calibration("beta", None, s, y, patients).lookup(0.3)
    assert one == two


# --- many scores at once (batch scoring) ---------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(baseline=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=1, max_size=60),
       queries=st.lists(st.floats(0, 1), min_size=1, max_size=30),
       method=st.sampled_from(METHODS), with_patients=st.booleans())
def test_lookup_many_gives_exactly_what_lookup_gives_one_score_at_a_time(
        baseline, queries, method, with_patients):
    scores = [round(p, 1) if i % 2 else p for i, (p, _) in enumerate(baseline)]
    patients = [i // 3 for i in range(len(baseline))] if with_patients else None
    table = build_calibration(method, None, scores, [y for _, y in baseline], patients)
    queries = queries + [round(q, 1) for q in queries] + [0.0, 1.0]
    found = table.lookup_many(queries)
    for i, q in enumerate(queries):
        one = table.lookup(q)
        assert (found.probability[i], found.n[i], found.severe[i],
                (found.low[i], found.high[i]), found.position[i]) == (
            one.probability, one.n, one.severe, one.interval, one.position)


@pytest.mark.parametrize("scores, labels", [([], []), ([0.1, 0.2], [1])])
def test_an_empty_or_ragged_baseline_is_refused(scores, labels):
    with pytest.raises(ValueError):
        build_calibration("windows", None, scores, labels)
