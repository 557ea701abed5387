"""Medians and 95 % intervals of repeated measurements.

Every figure the benchmark publishes is the median over repetitions, with a
95 % bootstrap interval of that median (``scipy.stats.bootstrap``, percentile
method, a fixed seed so the same measurements give the same interval). A row
whose interval reaches further than ``WIDE`` of its median on either side is
*wide*: the benchmark measures it again (a bounded number of times), and a row
still wide is published greyed and never used for a recommendation or a target.
"""

import statistics

import numpy as np

CONFIDENCE = 0.95
WIDE = 0.10  # the interval may reach at most 10 % of the median on either side
RESAMPLES = 2000
SEED = 20260


def interval(values):
    """``(median, low, high)``: the median and its 95 % bootstrap interval.

    One value has no interval (``low`` and ``high`` are None); equal values
    have a zero-width one.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no measurements")
    median = statistics.median(values)
    if len(values) < 2:
        return median, None, None
    if max(values) == min(values):
        return median, median, median
    from scipy.stats import bootstrap  # only the benchmark needs scipy (requirements-bench.txt)

    result = bootstrap((np.asarray(values),), np.median, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                       method="percentile", vectorized=True, axis=-1, rng=np.random.default_rng(SEED))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return median, min(low, median), max(high, median)


def half_width(median, low, high):
    """How far the interval reaches from the median, as a fraction of it (None without an interval)."""
    if low is None or high is None or not median:
        return None
    return max(high - median, median - low) / abs(median)


def is_wide(median, low, high):
    """True when the interval is missing or reaches further than ``WIDE`` from the median."""
    width = half_width(median, low, high)
    return width is None or width > WIDE
