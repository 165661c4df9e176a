"""ADWIN (river) on standardized block sums: change-of-mean detection at stream rates.

river's ADWIN costs microseconds per update; fed every value of 20 features at
100,000 events/s it would need more than a core. :class:`BlockAdwin` feeds it
one number per block of ``block`` non-null values instead (a vectorised
reduction), which cuts updates ``block`` times and delays a detection by at
most one block. Values left over at the end of a batch wait for the next one.

What it feeds ADWIN, and why (measured in ``loadtest/quality.py``):

- values are standardized by the baseline, ``z = (x - center) / scale``, and
  clipped to ``[-clip, clip]``: ADWIN's bound assumes a bounded range, so on
  raw values its sensitivity depended on the feature's unit (a score in
  [0, 1] took 20x longer than an amount in dollars) and a heavy tail could
  fake a change. Standardized, every feature is judged on the same scale.
- each block contributes the *sum* of its ``z`` (about ``N(0, block)`` when
  nothing drifts), not the mean: ADWIN's bound has a range term that does not
  shrink with the variance, and on block means (variance ``1/block``) it
  dominated and made detection 3 to 4 times slower. On block sums the variance
  term dominates and the bound behaves as it was designed to.

With no baseline scale (``center=None``), the first ``warmup`` values fix
``center`` and ``scale`` and are not judged.

Memory: ADWIN keeps O(log W) buckets for a window of W blocks, plus at most
``block - 1`` pending values.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> detector = BlockAdwin(block=25, delta=1e-6, center=0.0, scale=1.0)
>>> detector.update(rng.normal(0, 1, 20_000))
[]
>>> change = detector.update(rng.normal(0.5, 1, 5_000))[0]
>>> change.values_seen, round(change.mean_before, 2), round(change.mean_after, 2)
(20400, 0.0, 0.46)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from river._river_rust.drift import AdaptiveWindowing

from streamproc.detect.moments import mean_sd


@dataclass(frozen=True, slots=True)
class Change:
    """A change of mean detected after ``values_seen`` values of the stream.

    ``mean_before`` is ADWIN's estimate just before the change was flagged;
    ``mean_after`` the mean of the latest ``clock`` blocks (the new level);
    both in the stream's own units.
    """

    values_seen: int
    mean_before: float
    mean_after: float


def adwin_delta(*, false_alarm_events: float, streams: int, block: int, clock: int) -> float:
    """ADWIN's ``delta`` for a budget of ``false_alarm_events`` over ``streams`` streams.

    ADWIN tests for a change once per ``block * clock`` values, with a false
    positive probability below ``delta`` per test; so ``streams`` streams make
    at most ``streams * false_alarm_events / (block * clock) * delta`` false
    alarms per ``false_alarm_events`` events. Setting that to 1 gives ``delta``.

    >>> adwin_delta(false_alarm_events=2e7, streams=10, block=25, clock=8)
    1e-06
    """
    return min(0.002, block * clock / (max(streams, 1) * false_alarm_events))


class _River:
    """river's ADWIN behind the one call :class:`BlockAdwin` needs: feed many
    values, get the positions flagged as changes.

    It drives ``AdaptiveWindowing``, the compiled engine inside
    ``river.drift.ADWIN``, as ``ADWIN.update`` does: one ``update`` per value,
    and a fresh engine (ADWIN's ``_reset``) on the update after a detection.
    Two reasons not to go through ``ADWIN`` itself: its ``update`` and
    ``estimation`` are Python wrappers (properties calling properties) that
    triple the cost of an update, and ``import river.drift`` loads scipy
    through river's other detectors and datasets (1.2 s of every start-up,
    measured with ``python -X importtime``; the engine alone loads in 1 ms).
    ``tests/unit/detect/test_adwin.py`` checks that the flags and estimates
    equal ``river.drift.ADWIN``'s. The engine tests for a change only on every
    ``clock``-th update since its reset (``_tick`` counts them), so the
    estimate before an update, which a change reports, is read only before
    those updates.

    >>> river = _River(delta=0.002, clock=4)
    >>> [(i, round(before, 3)) for i, before in river.feed([0.0] * 200 + [10.0] * 40)]
    [(203, 0.148)]
    """

    __slots__ = ("_engine", "_tick", "_detected", "delta", "clock")

    def __init__(self, *, delta: float, clock: int) -> None:
        self.delta = delta
        self.clock = clock
        self._reset()

    def _reset(self) -> None:
        # river.drift.ADWIN's defaults for the other parameters
        self._engine = AdaptiveWindowing(
            delta=self.delta, clock=self.clock, max_buckets=5, min_window_length=5, grace_period=10
        )
        self._tick = 0  # updates of the current engine
        self._detected = False

    @property
    def estimation(self) -> float:
        n = self._engine.get_width()
        return float(self._engine.get_total() / n) if n else 0.0

    def feed(self, values: list[float]) -> list[tuple[int, float]]:
        """Update with each value; (index, estimate before it) of each flagged change."""
        flagged: list[tuple[int, float]] = []
        engine = self._engine
        update, width, total = engine.update, engine.get_width, engine.get_total
        clock = self.clock
        tick = self._tick
        for i, value in enumerate(values):
            if self._detected:
                self._reset()
                engine = self._engine
                update, width, total = engine.update, engine.get_width, engine.get_total
                tick = 0
            tick += 1
            if tick % clock:
                update(value)
                continue
            n = width()
            before = total() / n if n else 0.0
            if update(value):
                self._detected = True
                flagged.append((i, before))
        self._tick = tick
        return flagged


class BlockAdwin:
    """ADWIN over standardized sums of consecutive blocks of a numeric stream.

    Parameters
    ----------
    block
        Values per block (NaNs are skipped before blocking).
    delta
        ADWIN's confidence parameter: smaller means fewer false alarms and
        slower detection (see :func:`adwin_delta`).
    clock
        ADWIN checks for a change every ``clock`` blocks.
    center, scale
        The reference mean and standard deviation (from the baseline);
        ``center=None`` learns both from the first ``warmup`` values.
    clip
        Standardized values are clipped to ``[-clip, clip]``.
    """

    __slots__ = (
        "block",
        "clip",
        "warmup",
        "center",
        "scale",
        "_river",
        "_pending",
        "_seen",
        "_recent",
    )

    def __init__(
        self,
        *,
        block: int = 25,
        delta: float = 1e-6,
        clock: int = 8,
        center: float | None = None,
        scale: float = 1.0,
        clip: float = 5.0,
        warmup: int = 1000,
    ) -> None:
        if block < 1:
            raise ValueError("block must be >= 1")
        self.block = block
        self.clip = clip
        self.warmup = warmup
        self.center = center
        self.scale = scale if scale > 0 and math.isfinite(scale) else 1.0
        self._river = _River(delta=delta, clock=clock)
        self._pending = np.empty(0)
        self._seen = 0
        self._recent: deque[float] = deque(maxlen=clock)

    @property
    def mean(self) -> float:
        """ADWIN's current estimate of the mean (of its adaptive window), in stream units."""
        return self._unit(self._river.estimation)

    def _unit(self, block_sum: float) -> float:
        return (self.center or 0.0) + self.scale * block_sum / self.block

    def update(self, values: np.ndarray) -> list[Change]:
        """Add values (NaNs ignored); return the changes detected meanwhile."""
        finite = values[~np.isnan(values)]
        if len(self._pending):
            finite = np.concatenate((self._pending, finite))
        if self.center is None:
            if len(finite) < self.warmup:
                self._pending = finite.copy()
                return []
            head, finite = finite[: self.warmup], finite[self.warmup :]
            _, self.center, std = mean_sd(head)  # magnitudes past MOMENT_LIMIT left out
            self.scale = std if std > 0 else 1.0
            self._seen += self.warmup
        full = len(finite) // self.block * self.block
        self._pending = finite[full:].copy()
        if not full:
            return []
        with np.errstate(over="ignore"):  # a value near 1e308 / a small scale: inf, clipped
            z = np.clip((finite[:full] - self.center) / self.scale, -self.clip, self.clip)
        return self._feed(z.reshape(-1, self.block).sum(axis=1).tolist(), full)

    def _feed(self, sums: list[float], full: int) -> list[Change]:
        """Feed ADWIN the block sums of the next ``full`` values."""
        changes: list[Change] = []
        recent = self._recent
        for i, before in self._river.feed(sums):
            last = list(recent) + sums[: i + 1]
            last = last[-(recent.maxlen or len(last)) :]
            changes.append(
                Change(
                    self._seen + (i + 1) * self.block,
                    self._unit(before),
                    self._unit(sum(last) / len(last)),
                )
            )
        recent.extend(sums[-(recent.maxlen or len(sums)) :])
        self._seen += full
        return changes


def update_rows(detectors: Sequence[BlockAdwin], rows: Sequence[np.ndarray]) -> list[list[Change]]:
    """``[d.update(r) for d, r in zip(detectors, rows)]``, with fewer numpy calls.

    Rows of float64 values of one length, without NaN, whose detectors have a
    center and the same block, clip and number of pending values, are
    standardized and summed as one matrix: the same arithmetic element by
    element, and each block summed alone, so the same sums. The other rows go
    through :meth:`BlockAdwin.update`.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> values = [rng.normal(0, 1, 30_000), rng.normal(0, 1, 30_000)]
    >>> values[1][20_000:] += 1.0
    >>> a = [BlockAdwin(center=0.0) for _ in range(2)]
    >>> b = [BlockAdwin(center=0.0) for _ in range(2)]
    >>> together = update_rows(a, values)
    >>> together == [d.update(v) for d, v in zip(b, values)] and together[0] == []
    True
    """
    out: list[list[Change]] = [[] for _ in detectors]
    size = len(rows[0]) if rows else 0
    stacked: list[int] = []
    for j, (detector, row) in enumerate(zip(detectors, rows, strict=True)):
        if detector.center is not None and row.dtype == np.float64 and row.shape == (size,):
            stacked.append(j)
        else:
            out[j] = detector.update(row)
    if not stacked:
        return out
    values = np.stack([rows[j] for j in stacked])
    clean = (~np.isnan(values).any(axis=1)).tolist()
    groups: dict[tuple[int, float, int], list[int]] = {}
    for k, j in enumerate(stacked):
        detector = detectors[j]
        if clean[k]:
            key = (detector.block, detector.clip, len(detector._pending))
            groups.setdefault(key, []).append(k)
        else:
            out[j] = detector.update(rows[j])
    for (block, clip, pending), members in groups.items():
        group = [detectors[stacked[k]] for k in members]
        matrix = values if len(members) == len(stacked) else values[members]  # (ours to clip)
        if pending:
            matrix = np.concatenate((np.stack([d._pending for d in group]), matrix), axis=1)
        full = matrix.shape[1] // block * block
        rest = matrix[:, full:]
        for i, detector in enumerate(group):
            detector._pending = rest[i].copy()
        if not full:
            continue
        if all(_unit_scale(d) for d in group):
            z = matrix[:, :full]  # already standardized: (x - 0.0) / 1.0 is x, bit for bit
        else:
            centers = np.array([d.center for d in group]).reshape(-1, 1)
            scales = np.array([d.scale for d in group]).reshape(-1, 1)
            with np.errstate(over="ignore"):  # see BlockAdwin.update
                z = (matrix[:, :full] - centers) / scales
        np.clip(z, -clip, clip, out=z)
        sums = z.reshape(len(group), -1, block).sum(axis=2).tolist()
        for i, k in enumerate(members):
            out[stacked[k]] = group[i]._feed(sums[i], full)
    return out


def _unit_scale(detector: BlockAdwin) -> bool:
    """Whether the detector standardizes by center +0.0 and scale 1.0 (a no-op)."""
    center = detector.center
    return detector.scale == 1.0 and center == 0.0 and math.copysign(1.0, center) > 0  # type: ignore[arg-type]
