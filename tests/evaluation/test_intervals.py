"""The intervals of repeated evaluations: t quantiles against published table values, and coverage
on synthetic draws whose true mean is known."""

from __future__ import annotations

import math
import random

import pytest

from ganforge.evaluation.intervals import (NO_INTERVAL, difference_interval, mean_interval, t_cdf,
                                           t_quantile)


@pytest.mark.parametrize("df,expected", [
    (1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622), (30, 2.0423), (120, 1.9799),
    (1e7, 1.9600),
])
def test_t_quantile_matches_the_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_cdf_inverts_the_quantile_at_fractional_df():
    for df in (1.3, 2.5, 7.75):
        assert t_cdf(t_quantile(0.975, df), df) == pytest.approx(0.975, abs=1e-9)
        assert t_cdf(-t_quantile(0.975, df), df) == pytest.approx(0.025, abs=1e-9)


def test_mean_interval_of_known_values():
    out = mean_interval([1.0, 2.0, 3.0])
    assert out["mean"] == 2.0 and out["std"] == 1.0 and out["values"] == [1.0, 2.0, 3.0]
    half = 4.302652729749507 / math.sqrt(3)
    assert out["low"] == pytest.approx(2 - half) and out["high"] == pytest.approx(2 + half)
    one = mean_interval([5.0])
    assert (one["mean"], one["std"], one["low"], one["high"], one["method"]) == (5.0, None, None, None, NO_INTERVAL)


def _coverage(trials, draw, contains):
    return sum(contains(draw()) for _ in range(trials)) / trials


@pytest.mark.parametrize("k", [3, 10])
def test_the_95_interval_covers_the_true_mean_about_95_percent_of_the_time(k):
    rng = random.Random(k)
    true_mean, sigma = 12.5, 0.8

    def covers(values):
        out = mean_interval(values)
        return out["low"] <= true_mean <= out["high"]

    coverage = _coverage(200, lambda: [rng.gauss(true_mean, sigma) for _ in range(k)], covers)
    assert 0.88 <= coverage <= 0.99, coverage


def test_a_percentile_range_of_three_draws_would_under_cover():
    """Why not a bootstrap over 3 seeds: the range of 3 draws holds the true mean only 75% of the
    time, while the t interval holds it ~95% of the time on the same draws."""
    rng = random.Random(0)
    draws = [[rng.gauss(0.0, 1.0) for _ in range(3)] for _ in range(200)]
    within_range = sum(min(d) <= 0.0 <= max(d) for d in draws) / 200
    within_t = sum(mean_interval(d)["low"] <= 0.0 <= mean_interval(d)["high"] for d in draws) / 200
    assert within_range < 0.85 < 0.88 <= within_t


@pytest.mark.parametrize("ka,kb", [(3, 3), (3, 10)])
def test_the_welch_interval_covers_the_true_difference_about_95_percent_of_the_time(ka, kb):
    rng = random.Random(100 * ka + kb)
    mean_a, mean_b = 40.0, 37.0

    def covers(pair):
        out = difference_interval(*pair)
        return out["low"] <= mean_b - mean_a <= out["high"]

    coverage = _coverage(200, lambda: ([rng.gauss(mean_a, 2.0) for _ in range(ka)],
                                       [rng.gauss(mean_b, 0.5) for _ in range(kb)]), covers)
    assert 0.88 <= coverage <= 0.99, coverage


def test_difference_with_one_draw_has_no_interval_and_without_spread_is_exact():
    one = difference_interval([1.0], [2.0, 3.0])
    assert one["difference"] == 1.5 and one["low"] is None and one["method"] == NO_INTERVAL
    exact = difference_interval([1.0, 1.0], [2.0, 2.0])
    assert exact["low"] == exact["high"] == 1.0
