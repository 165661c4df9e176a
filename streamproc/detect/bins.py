"""Binning a window's numbers fast: the stacked numeric block, and the PSI plan.

:class:`_NumericBlock` counts every numeric feature of a chunk into its
baseline bins with one numpy call (features stacked as rows);
:class:`PsiPlan` holds the smoothed expected bins of every judged feature and
of the prediction, so that a window's PSIs are one :func:`psi_rows` call per
number of bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.profiles import NumericProfile, Profile
from streamproc.detect.psi import psi_rows, smoothed

_BLOCK_DTYPES: Final = (np.dtype(np.float64), np.dtype(np.int64))


@dataclass(frozen=True, slots=True)
class _NumericBlock:
    """The numeric features of a baseline, binned together.

    When every one of them is a float64 or int64 array in a batch (as
    :func:`~streamproc.decode.decode_batch` builds them), they are stacked
    into one matrix: one ``isnan``, one ``bincount`` over all their bins (laid
    end to end in one count vector, feature ``j``'s from ``starts[j]``), and
    the ADWIN streams are standardized together. A value's bin is the number
    of its feature's edges at or below it (what ``searchsorted(side="right")``
    gives, so the same bins as :meth:`NumericProfile.bin_counts`), counted
    for all features at once: one comparison of the matrix per edge rank
    (``thresholds[k]``: every feature's ``k``-th edge as a column, NaN where a
    feature has fewer edges, which no value is at or above).
    """

    names: tuple[str, ...]
    starts: tuple[int, ...]
    size: int
    shift: np.ndarray  # starts as a column, added to the bin of each value
    rows: dict[str, int]
    thresholds: tuple[np.ndarray, ...]  # per edge rank, a column of each feature's edge

    @classmethod
    def of(cls, baseline: Baseline) -> _NumericBlock:
        profiles = [
            (name, p) for name, p in baseline.features.items() if isinstance(p, NumericProfile)
        ]
        bins = [p.bins for _, p in profiles]
        starts = [sum(bins[:j]) for j in range(len(bins))]
        return cls(
            names=tuple(name for name, _ in profiles),
            starts=tuple(starts),
            size=sum(bins),
            shift=np.array(starts, dtype=np.intp).reshape(-1, 1),
            rows={name: j for j, (name, _) in enumerate(profiles)},
            thresholds=_thresholds([p.edge_array for _, p in profiles]),
        )

    def stack(self, features: dict[str, Any]) -> np.ndarray | None:
        """The block's columns as a float64 matrix (a row each), if all are arrays."""
        columns = [features.get(name) for name in self.names]
        for column in columns:
            if type(column) is not np.ndarray or column.dtype not in _BLOCK_DTYPES:
                return None
        return np.stack(columns, dtype=np.float64)  # type: ignore[arg-type]

    def counts(self, matrix: np.ndarray) -> tuple[np.ndarray, list[int] | None]:
        """Bin counts of the stacked values (NaN skipped), and the NaNs of each row."""
        below = np.zeros(matrix.shape, np.uint8 if len(self.thresholds) < 256 else np.intp)
        for column in self.thresholds:
            below += (matrix >= column).view(np.uint8)
        codes = below + self.shift
        nulls = None
        nan = np.isnan(matrix)
        if nan.any():
            codes[nan] = self.size  # counted past the end, then dropped
            nulls = nan.sum(axis=1).tolist()
        return np.bincount(codes.ravel(), minlength=self.size + 1)[: self.size], nulls


def _thresholds(edges: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Per edge rank ``k``, the ``k``-th edge of each feature as a column (NaN
    past a feature's last edge), for :meth:`_NumericBlock.counts`.

    >>> [c.ravel().tolist() for c in _thresholds([np.array([1.0, 2.0]), np.array([5.0])])]
    [[1.0, 5.0], [2.0, nan]]
    """
    ranks = max((len(e) for e in edges), default=0)
    table = np.full((len(edges), ranks), np.nan)
    for j, e in enumerate(edges):
        table[j, : len(e)] = e
    return tuple(table[:, k : k + 1].copy() for k in range(ranks))


@dataclass(frozen=True, slots=True)
class PsiPlan:
    """The smoothed baseline bins a window's PSIs are taken against (the one cache
    of them): the judged features (the first ``max_tracked_features`` of the baseline),
    then the prediction if the baseline has one; stacked by number of bins, so
    one :func:`psi_rows` gives the PSI of all profiles with that many bins."""

    profiles: tuple[Profile, ...]
    zeros: tuple[np.ndarray, ...]  # the counts of a feature absent from a window
    groups: tuple[tuple[tuple[int, ...], np.ndarray], ...]  # (positions, smoothed bins)

    @classmethod
    def of(cls, profiles: tuple[Profile, ...]) -> PsiPlan:
        by_bins: dict[int, list[int]] = {}
        for i, profile in enumerate(profiles):
            by_bins.setdefault(profile.bins, []).append(i)
        groups = tuple(
            (tuple(rows), np.stack([_expected(profiles[i]) for i in rows]))
            for rows in by_bins.values()
        )
        return cls(profiles, tuple(np.zeros(p.bins, np.int64) for p in profiles), groups)

    def psi(
        self,
        counts: list[np.ndarray | None],
        mixed: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> tuple[list[float], list[int]]:
        """PSI and number of values of each profile's window counts (None: none);
        ``mixed``: per group the expected bins to use instead (phased baselines)."""
        values = [0.0] * len(self.profiles)
        observed = [0] * len(self.profiles)
        for g, (rows, expected) in enumerate(self.groups):
            if mixed is not None:
                expected = mixed[g][0]
            matrix = np.stack([self.zeros[i] if (c := counts[i]) is None else c for i in rows])
            psi, totals = psi_rows(expected, matrix)
            for i, value, total in zip(rows, psi.tolist(), totals.tolist(), strict=True):
                values[i] = value
                observed[i] = total
        return values, observed


def _expected(profile: Profile) -> np.ndarray:
    """The smoothed baseline proportions of a profile, as :func:`psi_rows` takes them."""
    return smoothed(np.asarray(profile.proportions) * max(profile.count, 1))
