"""Population Stability Index and a threshold that respects window size.

PSI = sum_i (p_i - q_i) * ln(p_i / q_i) over the bins of a baseline, with
``q`` the baseline's proportions and ``p`` the window's.

Smoothing (the one rule used everywhere): every bin of both distributions
gets half a count, ``p_i = (c_i + 0.5) / (n + 0.5 k)``, so an empty bin never
gives an infinite PSI and a bin empty on both sides contributes ~0.

Threshold: with no drift, ``n m / (n + m) * PSI`` is roughly chi-squared with
``k - 1`` degrees of freedom (n window events, m baseline events, k bins). So
the value PSI exceeds by chance with probability ``alpha`` is
``chi2_quantile(1 - alpha, k - 1) * (1/n + 1/m)``; the alert threshold is the
larger of that and an effect-size floor (``psi_min``): significant *and*
large enough to matter.

>>> round(psi_threshold(bins=10, window=100, reference=10_000, alpha=1e-6, floor=0.1), 3)
0.464
>>> round(psi_threshold(bins=10, window=5000, reference=10_000, alpha=1e-6, floor=0.1), 3)
0.1
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

import numpy as np

SMOOTHING = 0.5


def smoothed(counts: np.ndarray) -> np.ndarray:
    """Proportions from counts with half a count added to every bin.

    >>> smoothed(np.array([1, 0, 3])).round(3).tolist()
    [0.273, 0.091, 0.636]
    """
    counts = np.asarray(counts, dtype=np.float64)
    return (counts + SMOOTHING) / (counts.sum() + SMOOTHING * len(counts))


def psi(expected: np.ndarray, observed: np.ndarray) -> float:
    """PSI between two count (or proportion-times-size) vectors, smoothed.

    >>> psi(np.array([500, 500]), np.array([500, 500]))
    0.0
    >>> round(psi(np.array([500, 500]), np.array([900, 100])), 4)
    0.8762
    """
    return psi_against(smoothed(expected), observed)


def psi_against(q: np.ndarray, observed: np.ndarray) -> float:
    """:func:`psi` with the expected side already smoothed (``q = smoothed(expected)``).

    >>> psi_against(smoothed(np.array([500, 500])), np.array([900, 100])) == psi(
    ...     np.array([500, 500]), np.array([900, 100]))
    True
    """
    p = smoothed(observed)
    return float(np.sum((p - q) * np.log(p / q)))


def psi_rows(q: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`psi_against` of each row of ``counts`` (against the same row of
    ``q``), and each row's total: the same operations element by element and
    each row summed alone, so the same values as one row at a time.

    >>> q = np.stack([smoothed(np.array([500, 500])), smoothed(np.array([100, 900]))])
    >>> values, totals = psi_rows(q, np.array([[900, 100], [100, 900]]))
    >>> values[0] == psi_against(q[0], np.array([900, 100])), totals.tolist()
    (np.True_, [1000, 1000])
    """
    totals = counts.sum(axis=1)
    p = (counts + SMOOTHING) / (totals + SMOOTHING * counts.shape[1]).reshape(-1, 1)
    return ((p - q) * np.log(p / q)).sum(axis=1), totals


@functools.lru_cache(maxsize=4096)  # the same few (alpha, bins) every window
def chi2_quantile(probability: float, df: int) -> float:
    """Quantile of the chi-squared distribution (Wilson-Hilferty approximation).

    Accurate to about 1 % for df >= 2 in the upper tail, which is all we need.

    >>> round(chi2_quantile(0.95, 9), 2)  # exact 16.92
    16.9
    """
    if df <= 0:
        return math.inf
    z = NormalDist().inv_cdf(probability)
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * math.sqrt(a)) ** 3


def psi_threshold(
    *,
    bins: int,
    window: int,
    reference: float,
    alpha: float,
    floor: float,
    dispersion: float = 1.0,
) -> float:
    """The PSI above which a window of ``window`` events is called drifted.

    ``alpha`` is the false-alarm probability of this one test; ``floor`` the
    smallest PSI worth reporting. A reference of unknown size (0) is treated
    as infinitely large. ``dispersion`` (>= 1, see :mod:`.calibrate`) scales
    the chance bound for a reference more variable than independent draws.
    """
    inverse_sizes = 1.0 / window + (1.0 / reference if reference > 0 else 0.0)
    return max(floor, dispersion * chi2_quantile(1.0 - alpha, bins - 1) * inverse_sizes)
