"""Raw score -> actual probability through a calibration baseline
(predictor.scoring.calibration)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.scoring.calibration import CalibrationTable, WindowSettings


def worked_example_table() -> CalibrationTable:
    """100 scores, high to low, with the paper's p_59 = 0.898, p_60 = 0.883, p_61 = 0.819."""
    scores = [0.99 - 0.0015 * i for i in range(59)]  # 0.99 ... 0.903
    scores += [0.898, 0.883, 0.819]
    scores += [0.81 - 0.8 * i / 38 for i in range(38)]  # 0.81 ... 0.01
    labels = [1 if i % 3 else 0 for i in range(100)]
    shuffled = list(zip(scores, labels))
    random.Random(4).shuffle(shuffled)  # the table sorts; input order must not matter
    return CalibrationTable([p for p, _ in shuffled], [y for _, y in shuffled])


# --- nearest position ----------------------------------------------------------------------------

def test_the_papers_worked_example_picks_position_60():
    table = worked_example_table()
    assert table.scores[59:62] == (0.898, 0.883, 0.819)
    assert table.nearest_position(0.881) == 60
    assert table.lookup(0.881).position == 60


@pytest.mark.parametrize("q, position", [(0.898, 59), (0.8905, 60), (0.891, 59), (0.85, 61)])
def test_neighbours_of_the_worked_example(q, position):
    # 0.8905 is exactly halfway between 0.898 and 0.883 in decimal; in binary it falls on
    # p_60's side, so the result is the nearest score rather than a tie.
    assert worked_example_table().nearest_position(q) == position


def test_a_tie_goes_to_the_lower_position():
    table = CalibrationTable([0.75, 0.25], [1, 0])  # 0.5 is exactly halfway, in binary too
    assert table.nearest_position(0.5) == 0


def test_a_score_repeated_in_the_baseline_maps_to_the_first_of_its_run():
    table = CalibrationTable([0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0, 0])
    assert table.scores == (0.9, 0.5, 0.5, 0.5, 0.1)
    assert table.nearest_position(0.5) == 1
    assert table.nearest_position(0.45) == 1
    assert table.nearest_position(0.55) == 1
    assert table.nearest_position(0.75) == 0
    assert table.nearest_position(0.35) == 1
    assert table.nearest_position(0.25) == 4


def test_a_tie_between_a_run_and_a_single_score_goes_to_the_lower_position():
    table = CalibrationTable([0.75, 0.75, 0.25, 0.25], [1, 0, 1, 0])
    assert table.nearest_position(0.5) == 0


def test_all_scores_equal():
    table = CalibrationTable([0.4] * 5, [1, 0, 1, 0, 0])
    assert {table.nearest_position(q) for q in (0.0, 0.4, 1.0)} == {0}


@pytest.mark.parametrize("q", [1.0, 0.9999, 2.0])
def test_a_score_above_every_baseline_score_takes_the_top_position(q):
    assert worked_example_table().nearest_position(q) == 0


@pytest.mark.parametrize("q", [0.0, 0.001, -1.0])
def test_a_score_below_every_baseline_score_takes_the_bottom_position(q):
    assert worked_example_table().nearest_position(q) == 99


def test_a_baseline_of_one_row():
    table = CalibrationTable([0.3], [1])
    ref = table.lookup(0.99)
    assert (ref.probability, ref.n, ref.severe, ref.position) == (1.0, 1, 1, 0)


@pytest.mark.parametrize("scores, labels", [([], []), ([0.1, 0.2], [1])])
def test_an_empty_or_ragged_baseline_is_refused(scores, labels):
    with pytest.raises(ValueError):
        CalibrationTable(scores, labels)


# --- windows -------------------------------------------------------------------------------------

@pytest.mark.parametrize("p, half_width", [
    (0.95, 10), (0.8000001, 10), (0.8, 15), (0.5, 15), (0.3, 15), (0.2999999, 20), (0.0, 20)])
def test_the_window_depends_on_the_score_band(p, half_width):
    assert WindowSettings().half_width(p) == half_width


def test_window_settings_come_from_a_baseline_dict_and_ignore_unknown_keys():
    windows = WindowSettings.from_dict({"high": 3, "middle": 4, "low": 5, "colour": "red"})
    assert (windows.high, windows.middle, windows.low) == (3, 4, 5)
    assert WindowSettings.from_dict(None) == WindowSettings()


def window_sizes(scores: list[float], windows: WindowSettings = WindowSettings()) -> list[int]:
    # With every label severe all rates are 1, the rearrangement keeps the order, and the
    # counts show each position's own window.
    table = CalibrationTable(scores, [1] * len(scores), windows)
    assert set(table.rates) == {1.0}
    return [n for n, severe in table.counts]


def test_window_sizes_per_band_with_truncation_at_both_ends():
    scores = [1 - (i + 0.5) / 100 for i in range(100)]  # 0.995 ... 0.005, high to low
    sizes = window_sizes(scores)
    # Positions 0-19 score > 0.8 (w = 10); 20-69 are 0.3-0.8 (w = 15); 70-99 < 0.3 (w = 20).
    assert sizes[0] == 11  # truncated at the top: itself and 10 below
    assert sizes[4] == 15  # 4 above, itself, 10 below
    assert sizes[10] == sizes[19] == 21
    assert sizes[20] == sizes[50] == sizes[69] == 31
    assert sizes[70] == sizes[79] == 41
    assert sizes[85] == 20 + 1 + 14  # truncated at the bottom
    assert sizes[99] == 21


def test_custom_window_settings_are_used():
    scores = [1 - (i + 0.5) / 100 for i in range(100)]
    sizes = window_sizes(scores, WindowSettings(high=2, middle=3, low=4))
    assert sizes[0] == 3 and sizes[10] == 5 and sizes[50] == 7 and sizes[90] == 9 and sizes[99] == 5


def test_windowed_rates_are_rearranged_to_be_monotone():
    # Half-width 1 everywhere. Windowed rates high to low: 1/2, 2/3, 2/3, 1/3, 0.
    table = CalibrationTable([0.9, 0.8, 0.7, 0.6, 0.5], [0, 1, 1, 0, 0],
                             WindowSettings(high=1, middle=1, low=1))
    assert table.rates == pytest.approx((2 / 3, 2 / 3, 1 / 2, 1 / 3, 0))
    assert table.counts == ((3, 2), (3, 2), (2, 1), (3, 1), (2, 0))
    top = table.lookup(0.95)
    assert (top.probability, top.n, top.severe) == (pytest.approx(2 / 3), 3, 2)
    assert table.curve()[0] == (0.9, pytest.approx(2 / 3))


# --- properties ----------------------------------------------------------------------------------

baselines = st.lists(
    st.tuples(st.floats(0, 1, allow_nan=False), st.integers(0, 1)), min_size=1, max_size=80)
window_settings = st.builds(
    WindowSettings, high=st.integers(0, 12), middle=st.integers(0, 16), low=st.integers(0, 22))
scores = st.floats(-0.1, 1.1, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(baselines, window_settings, scores, scores)
def test_a_higher_raw_score_never_gives_a_lower_actual_probability(rows, windows, q1, q2):
    table = CalibrationTable([p for p, _ in rows], [y for _, y in rows], windows)
    low, high = sorted((q1, q2))
    assert table.lookup(low).probability <= table.lookup(high).probability


@settings(max_examples=200, deadline=None)
@given(baselines, window_settings, scores)
def test_the_reference_counts_explain_the_probability(rows, windows, q):
    table = CalibrationTable([p for p, _ in rows], [y for _, y in rows], windows)
    ref = table.lookup(q)
    assert 1 <= ref.n <= len(rows)
    assert 0 <= ref.severe <= ref.n
    assert ref.probability == ref.severe / ref.n
    assert 0 <= ref.position < len(rows)
    # The chosen position is truly a nearest one.
    best = min(abs(p - q) for p in table.scores)
    assert abs(table.scores[ref.position] - q) == best


@settings(max_examples=100, deadline=None)
@given(baselines, window_settings)
def test_rates_fall_along_the_sorted_scores(rows, windows):
    table = CalibrationTable([p for p, _ in rows], [y for _, y in rows], windows)
    assert list(table.scores) == sorted(table.scores, reverse=True)
    assert list(table.rates) == sorted(table.rates, reverse=True)
    assert len(table) == len(rows)


# --- many scores at once (batch scoring) ---------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(baseline=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=1, max_size=60),
       queries=st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_lookup_many_gives_exactly_what_lookup_gives_one_score_at_a_time(baseline, queries):
    # Scores on a coarse grid as well, so ties and repeated scores are common.
    table = CalibrationTable([round(p, 1) if i % 2 else p for i, (p, _) in enumerate(baseline)],
                             [y for _, y in baseline])
    queries = queries + [round(q, 1) for q in queries] + [0.0, 1.0]
    rates, n, severe = table.lookup_many(queries)
    for q, rate, count, k in zip(queries, rates, n, severe):
        one = table.lookup(q)
        assert (rate, count, k) == (one.probability, one.n, one.severe)


def test_lookup_many_settles_the_worked_example_and_a_tie_like_lookup():
    table = worked_example_table()
    rates, _, _ = table.lookup_many([0.881, 0.898])
    assert list(rates) == [table.rates[60], table.rates[59]]
    tie = CalibrationTable([0.75, 0.25], [1, 0])
    assert tie.lookup_many([0.5])[0][0] == tie.rates[0]
