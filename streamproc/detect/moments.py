"""Means and sds that cannot overflow: values past :data:`MOMENT_LIMIT` are left out.

The contract accepts any finite JSON number as a feature value, a score or a
latency, up to ~1.8e308. Its square, or the sum of two of them, overflows
float64, so the mean and sd of a baseline (and of each phase of the clock)
became ``inf``/NaN, which JSON cannot carry: every reader rejected such a
baseline. Values of magnitude above :data:`MOMENT_LIMIT` are therefore left
out of every mean, sd and running sum of squares; they still count in the
bins (the outer ones), the null and type counts. With ``|x| <= 1e100`` a square
is at most 1e200, so sums of squares of up to 1e100 values stay finite.

>>> import numpy as np
>>> mean_sd(np.array([1.0, 3.0, 1e308, np.nan]))
(2, 2.0, 1.0)
>>> usable(np.array([1.0, -1e101, np.nan])).tolist()
[True, False, False]
"""

from __future__ import annotations

import numpy as np

MOMENT_LIMIT = 1e100  # larger magnitudes are left out of means and sds


def usable(values: np.ndarray) -> np.ndarray:
    """Where ``values`` may enter a mean or sd: not NaN, magnitude at most :data:`MOMENT_LIMIT`."""
    return np.abs(values) <= MOMENT_LIMIT  # False for NaN


def mean_sd(values: np.ndarray) -> tuple[int, float, float]:
    """(count, mean, sd) of the usable ``values`` (0, 0.0, 0.0 when none are)."""
    x = values[usable(values)]
    if len(x) == 0:
        return 0, 0.0, 0.0
    return len(x), float(x.mean()), float(x.std())
