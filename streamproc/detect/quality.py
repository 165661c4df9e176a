"""The rate test: a rate that rises above its baseline.

A rate check (null ratio of a feature, inference error rate) is a one-sided
binomial test with an effect-size floor: a window's rate ``r`` of ``n`` events
breaches when ``r - p0`` exceeds both ``min_increase`` and
``z(1 - alpha) * sqrt(p0 (1 - p0) / n)``, ``p0`` being the baseline rate.

>>> round(rate_threshold(baseline_rate=0.02, window=1000, alpha=1e-6, min_increase=0.1), 3)
0.12
>>> round(rate_threshold(baseline_rate=0.2, window=200, alpha=1e-6, min_increase=0.1), 3)
0.334
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

_inv_cdf = functools.lru_cache(maxsize=4096)(NormalDist().inv_cdf)


def rate_threshold(
    *,
    baseline_rate: float,
    window: int,
    alpha: float,
    min_increase: float,
    dispersion: float = 1.0,
) -> float:
    """The rate above which a window of ``window`` events breaches (``dispersion``:
    a factor >= 1 on the binomial variance, see :mod:`.calibrate`)."""
    z = _inv_cdf(1.0 - alpha)
    noise = z * math.sqrt(dispersion * baseline_rate * (1.0 - baseline_rate) / window)
    return min(1.0, baseline_rate + max(min_increase, noise))
