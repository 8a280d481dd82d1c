"""The paired statistics: time to a quality with units that never get there, and the
distribution-free interval of its median."""

import math

import numpy as np
import pytest

from espnet_sniper.recipe.evaluation.statistics import (censored_median, median_interval,
                                                        time_to_reach)


def test_time_to_reach_interpolates_within_the_epoch_that_reaches():
    # epoch ends at 10 s / 100 steps and 20 s / 200 steps; the target is met halfway into
    # the second epoch's loss drop
    assert time_to_reach([3.0, 1.0], [10.0, 20.0], [100, 200], 0.0, 2.0) == (15.0, 150.0)
    # met by the first epoch's loss: that epoch's end (nothing before it to interpolate)
    assert time_to_reach([1.0, 0.5], [10.0, 20.0], [100, 200], 0.0, 2.0) == (10.0, 100.0)
    assert time_to_reach([3.0, 2.5], [10.0, 20.0], [100, 200], 0.0, 2.0) is None


def test_the_censored_median_counts_never_as_slower_than_every_value():
    assert censored_median([0.9, None, 0.7]) == 0.9  # 0.7, 0.9, never
    assert censored_median([0.9, None, None]) is None
    assert censored_median([0.5, 0.6, None, None]) == 0.6  # the lower median
    assert censored_median([0.5, 0.6, 0.4, None]) == 0.5


@pytest.mark.parametrize("n,ranks,coverage", [
    (6, [1, 6], 1 - 2 / 64), (8, [1, 8], 1 - 2 / 256), (9, [2, 8], 1 - 2 * 10 / 512),
    (12, [3, 10], 1 - 2 * (1 + 12 + 66) / 4096), (20, [6, 15], None)])
def test_the_median_interval_takes_the_narrowest_order_statistics_that_cover(n, ranks,
                                                                            coverage):
    values = [float(v) for v in range(n, 0, -1)]  # n, ..., 1
    got = median_interval(values)
    assert got["ranks"] == ranks and [got["lower"], got["upper"]] == [float(r) for r in ranks]
    assert got["coverage"] >= 0.95
    if coverage is not None:
        assert got["coverage"] == pytest.approx(coverage)


def test_too_few_units_give_no_95_percent_interval():
    got = median_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert got["lower"] is None and got["upper"] is None
    assert got["coverage"] == pytest.approx(1 - 2 / 32)
    with pytest.raises(ValueError):
        median_interval([])


def test_an_end_on_a_unit_that_never_got_there_is_never():
    # 9 units, 2 never: the upper end (the 8th smallest) is a "never"
    got = median_interval([0.8, 0.7, None, 0.9, 0.75, 0.85, None, 0.95, 0.72])
    assert got["lower"] == 0.72 and got["upper"] is None
    # differences may run to minus infinity (the other system never got there)
    got = median_interval([-math.inf, 0.1, 0.2, -0.1, 0.0, 0.3])
    assert got["lower"] == -math.inf and got["upper"] == 0.3


def test_the_interval_covers_the_true_median_as_often_as_it_says():
    rng = np.random.default_rng(0)
    for n in (9, 12):
        stated, hits, trials = None, 0, 4000
        for _ in range(trials):
            got = median_interval(list(rng.exponential(size=n)))
            stated = got["coverage"]
            hits += got["lower"] <= math.log(2) <= got["upper"]
        assert abs(hits / trials - stated) < 0.015, (n, hits / trials, stated)
