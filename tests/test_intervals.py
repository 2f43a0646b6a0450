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
