"""95% intervals from a few repeated measurements, without scipy: a Student t interval for the
mean of K draws, and a Welch t interval for the difference of two means.

Why t and not a bootstrap: an evaluation is repeated on K = 3-10 fresh latent draws, and a
percentile bootstrap over 3 values cannot reach past their range, so it covers the true value far
less than 95% of the time. The t interval (mean ± t(0.975, K-1)·s/√K) is exact for normal draws
and close for the metrics' near-normal sampling distributions; tests/evaluation/test_intervals.py
checks its coverage on synthetic data.

Pure Python (math only): no torch, no numpy.
"""

from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

LEVEL = 0.95
MEAN_METHOD = "Student t over seeds: mean ± t(0.975, K-1)·s/√K"
DIFFERENCE_METHOD = "Welch t over the two sets of draws"
NO_INTERVAL = "one draw: no interval"


def _t_density(x: float, df: float, log_norm: Optional[float] = None) -> float:
    if log_norm is None:
        log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))


def t_cdf(x: float, df: float, steps: int = 2000) -> float:
    """P(T <= x) for Student's t with ``df`` (> 0, any real) degrees of freedom: 1/2 plus the
    density's integral from 0 to |x| by Simpson's rule (the density is smooth and bounded)."""
    if x == 0:
        return 0.5
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    b, h = abs(x), abs(x) / steps
    total = _t_density(0.0, df, log_norm) + _t_density(b, df, log_norm)
    total += sum((4 if i % 2 else 2) * _t_density(i * h, df, log_norm) for i in range(1, steps))
    half = min(0.5, total * h / 3)
    return 0.5 + half if x > 0 else 0.5 - half


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0.5 < p < 1), by Newton's
    method from 0: the CDF is concave above 0, so the iterates rise monotonically to the root."""
    if not 0.5 < p < 1 or not df > 0:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and df > 0, got p={p}, df={df}")
    x = 0.0
    for _ in range(200):
        step = (p - t_cdf(x, df)) / _t_density(x, df)
        x += step
        if abs(step) < 1e-10 * max(1.0, x):
            break
    return x


def mean_and_std(values: Sequence[float]) -> tuple[float, Optional[float]]:
    """The mean and the sample standard deviation (K-1); no spread (None) for one value."""
    k = len(values)
    if k == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / k
    if k == 1:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (k - 1))


def mean_interval(values: Sequence[float], level: float = LEVEL) -> dict:
    """``{"mean", "std", "low", "high", "values", "method"}`` for K draws; with one draw std, low
    and high are None."""
    values = [float(v) for v in values]
    mean, std = mean_and_std(values)
    if std is None:
        return {"mean": mean, "std": None, "low": None, "high": None, "values": values, "method": NO_INTERVAL}
    half = t_quantile((1 + level) / 2, len(values) - 1) * std / math.sqrt(len(values))
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half, "values": values,
            "method": MEAN_METHOD}


def difference_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> dict:
    """The difference of means B - A with a Welch t interval (Welch-Satterthwaite degrees of
    freedom): ``{"difference", "low", "high", "method"}``; low and high are None when either side
    has a single value (no spread to estimate), and equal the difference when neither varies."""
    (mean_a, std_a), (mean_b, std_b) = mean_and_std(a), mean_and_std(b)
    difference = mean_b - mean_a
    if std_a is None or std_b is None:
        return {"difference": difference, "low": None, "high": None, "method": NO_INTERVAL}
    va, vb = std_a ** 2 / len(a), std_b ** 2 / len(b)
    if va + vb == 0:
        return {"difference": difference, "low": difference, "high": difference, "method": DIFFERENCE_METHOD}
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile((1 + level) / 2, df) * math.sqrt(va + vb)
    return {"difference": difference, "low": difference - half, "high": difference + half,
            "method": DIFFERENCE_METHOD}
