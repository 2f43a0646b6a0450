"""The 95 % interval every calibrated probability carries (spec section 8)."""

import pytest

from predictor.scoring.intervals import wilson_interval


def test_it_matches_the_published_wilson_interval_for_a_textbook_case():
    # 1 of 10 (Brown, Cai and DasGupta's Wilson interval): 0.0179 to 0.4042.
    low, high = wilson_interval(1, 10)
    assert low == pytest.approx(0.0179, abs=1e-4)
    assert high == pytest.approx(0.4042, abs=1e-4)


def test_no_severe_day_still_leaves_an_upper_bound_above_zero():
    low, high = wilson_interval(0, 30)
    assert low == 0.0
    assert high == pytest.approx(0.1135, abs=1e-4)


def test_all_severe_days_still_leave_a_lower_bound_below_one():
    low, high = wilson_interval(21, 21)
    assert high == 1.0
    assert low == pytest.approx(0.8454, abs=1e-4)


def test_a_small_reference_gives_a_wide_interval_and_a_large_one_a_narrow_interval():
    small = wilson_interval(2, 5)
    large = wilson_interval(200, 500)
    assert small[1] - small[0] > 0.5
    assert large[1] - large[0] < 0.1
    assert small[0] < 0.4 < small[1] and large[0] < 0.4 < large[1]


def test_no_reference_at_all_means_nothing_is_known():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("severe, n", [(-1, 5), (6, 5), (0, -1)])
def test_impossible_counts_are_refused(severe, n):
    with pytest.raises(ValueError):
        wilson_interval(severe, n)


# --- the calibration fallback: the Wilson interval of a fitted rate ------------------------------

def test_the_rate_interval_at_a_whole_count_is_the_wilson_interval():
    from predictor.scoring.intervals import wilson_rate_interval

    low, high = wilson_rate_interval([0.1], [10])
    assert (low[0], high[0]) == pytest.approx(wilson_interval(1, 10))


def test_a_rate_near_0_keeps_a_lower_bound_above_0_and_the_scalar_path_agrees_bit_for_bit():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from predictor.scoring.intervals import wilson_rate_bounds, wilson_rate_interval

    @settings(max_examples=300, deadline=None)
    @given(st.floats(1e-4, 1 - 1e-4), st.integers(1, 5000))  # what a map can give
    def check(p, n):
        low, high = wilson_rate_interval([p], [n])
        assert (float(low[0]), float(high[0])) == wilson_rate_bounds(p, n)
        assert 0 < low[0] <= p <= high[0] < 1

    check()


def test_the_rate_interval_narrows_as_n_grows():
    from predictor.scoring.intervals import wilson_rate_bounds

    widths = [wilson_rate_bounds(0.05, n)[1] - wilson_rate_bounds(0.05, n)[0]
              for n in (10, 40, 400)]
    assert widths == sorted(widths, reverse=True)
