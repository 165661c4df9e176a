"""Learning a baseline's phases from live traffic (no published baseline).

The provisional baseline (bins, categories, moments) is fitted from a model's
first ``baseline_events`` events, as it always was. :class:`PhaseLearner` then
learns what is normal per phase of the clock (48 phases: weekday/weekend x
UTC hour, see :mod:`.cycle`), over the provisional baseline's bins:

- a phase learns its first ``baseline_events`` events (the provisional
  baseline's own events included), or all the events of its first occurrence
  (its first hour-slot) if fewer arrive, and is then **frozen**;
- drift tests (PSI, ADWIN) judge only windows whose phases are all frozen;
  the integration checks (null rate, schema, error rate) judge every window,
  against the provisional baseline where a phase is not yet frozen;
- 24 hours of event time after the model's first event the weekday (or
  weekend) hours are learned: the learner calibrates (:mod:`.calibrate`,
  leave-one-window-out over its own windows) and the monitor publishes the
  baseline again; once all 48 phases are frozen (after the first weekend),
  once more, and learning stops.

Memory is bounded: per feature a ``48 x (bins + 1)`` count table, and one
snapshot of counts per ``window_events`` learned events (at most
``48 x baseline_events / window_events`` = 192 at the defaults), each holding
only the phases the window touched (usually one or two).

On traffic whose timestamps all fall within one hour (a replay at 1,000
events/s from t = 0) one phase is learned from the first ``baseline_events``
events, which are the provisional baseline's: the windows are judged as before.

>>> import numpy as np
>>> from streamproc.events.columns import EventColumns
>>> from streamproc.detect.baseline import Baseline
>>> events = [{"model_id": "m", "features": {"x": float(i % 7)}} for i in range(300)]
>>> batch = EventColumns.from_events("m", events, default_timestamp=0.0)
>>> learner = PhaseLearner(Baseline.fit(batch, cycles=False), cap=200, window_events=100)
>>> learner.add(batch), learner.frozen.nonzero()[0].tolist(), int(learner.events[0])
(True, [0], 200)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.calibrate import Dispersion, calibrate_windows
from streamproc.detect.cycle import (
    DAY,
    HOUR,
    LATENCY,
    PREDICTION,
    PhaseProfile,
    _table,
    event_codes,
    phase_of,
)
from streamproc.detect.moments import usable
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns
from streamproc.events.shapes import MISSING

PERIOD = 48
_Snapshot = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]


class PhaseLearner:
    """The phase profile of a provisional baseline, learned from the stream."""

    def __init__(self, baseline: Baseline, *, cap: int, window_events: int) -> None:
        self.baseline = baseline
        self.cap = cap
        self.window_events = window_events
        p = PERIOD
        self.events = np.zeros(p, np.int64)
        self.errors = np.zeros(p, np.int64)
        self.frozen = np.zeros(p, bool)
        self.slot_end = np.full(p, np.inf)  # end of each phase's first hour-slot
        self.first: float | None = None
        self.calibrated_day = False
        self.profiles: dict[str, Any] = dict(baseline.features)
        prediction = baseline.prediction_score or baseline.prediction_label
        if prediction is not None:
            self.profiles[""] = prediction  # "" stands for the prediction in here
        self.counts = {n: np.zeros((p, q.bins + 1), np.int64) for n, q in self.profiles.items()}
        self.sums: dict[str, np.ndarray] = {}  # stream -> (n, sum, sum of squares) per phase
        self.snapshots: list[_Snapshot] = []
        self._open: dict[str, np.ndarray] = {}
        self._open_events = np.zeros(p, np.int64)
        self._open_errors = np.zeros(p, np.int64)

    @classmethod
    def resume(cls, baseline: Baseline, *, cap: int, window_events: int) -> PhaseLearner:
        """Go on learning the phases a published learned baseline had not frozen yet
        (a restarted worker, or the model moved to another one)."""
        phases = baseline.phases
        assert phases is not None and phases.period == PERIOD
        learner = cls(baseline, cap=cap, window_events=window_events)
        learner.events[:] = phases.events
        learner.errors[:] = phases.errors
        learner.frozen[:] = phases.frozen
        for name in learner.counts:
            table = phases.prediction if name == "" else phases.counts.get(name)
            if table is not None and table.shape == learner.counts[name].shape:
                learner.counts[name][:] = table
        for name, stats in phases.moments.items():
            n, mean, sd = stats[:, 0], stats[:, 1], stats[:, 2]
            learner.sums[name] = np.stack([n, n * mean, n * (sd * sd + mean * mean)], axis=1)
        learner.first, learner.calibrated_day = 0.0, True  # its day was published
        return learner

    @property
    def complete(self) -> bool:
        return bool(self.frozen.all())

    def add(self, chunk: EventColumns) -> bool:
        """Learn from a chunk; whether a phase was frozen meanwhile."""
        if self.complete or chunk.size == 0:
            return False
        ts = chunk.timestamps
        if self.first is None:
            self.first = float(ts.min())
        phase = phase_of(ts, PERIOD)
        first = int(phase[0])
        if self.frozen[first] and (phase == first).all():
            return False  # the usual case once learned: nothing to learn here
        present = np.unique(phase)
        seen = present[np.isinf(self.slot_end[present])]
        for p in seen.tolist():
            self.slot_end[p] = (float(ts[phase == p].min()) // HOUR + 1) * HOUR
        take = [
            np.flatnonzero(phase == p)[: self.cap - self.events[p]]
            for p in present.tolist()
            if not self.frozen[p]
        ]
        if take:
            picked = np.sort(np.concatenate(take))
            if len(picked):
                self._count(_take(chunk, picked), phase[picked])
        before = self.frozen.copy()
        self.frozen |= (self.events >= self.cap) | (self.slot_end <= float(ts.max()))
        return bool((self.frozen & ~before).any())

    def _count(self, chunk: EventColumns, phase: np.ndarray) -> None:
        p = PERIOD
        events = np.bincount(phase, minlength=p)
        errors = np.bincount(phase, weights=chunk.errors, minlength=p).astype(np.int64)
        self.events += events
        self.errors += errors
        self._open_events += events
        self._open_errors += errors
        for name, profile in self.profiles.items():
            if name == "":
                column: Any = (
                    chunk.prediction_scores
                    if profile.kind == "numeric"
                    else chunk.prediction_labels
                )
            else:
                column = chunk.features.get(name)
                if column is None:
                    continue
            codes, numbers = event_codes(profile, column)
            table = _table(phase, codes, profile.bins, p)
            self.counts[name] += table
            opened = self._open.get(name)
            self._open[name] = table if opened is None else opened + table
            if numbers is not None:
                self._moments(name or PREDICTION, phase, numbers)
        self._moments(LATENCY, phase, chunk.latency_ms.astype(np.float64))
        if self._open_events.sum() >= self.window_events:
            self._snapshot()

    def _moments(self, name: str, phase: np.ndarray, numbers: np.ndarray) -> None:
        ok = usable(numbers)  # NaN and magnitudes past MOMENT_LIMIT: their squares overflow
        ph, x = phase[ok], numbers[ok]
        sums = self.sums.setdefault(name, np.zeros((PERIOD, 3)))
        sums[:, 0] += np.bincount(ph, minlength=PERIOD)
        sums[:, 1] += np.bincount(ph, weights=x, minlength=PERIOD)
        sums[:, 2] += np.bincount(ph, weights=x * x, minlength=PERIOD)

    def _snapshot(self) -> None:
        """Keep the counts of the learned window that just filled (its phases only)."""
        touched = np.flatnonzero(self._open_events)
        tables = {name: t[touched].astype(np.int32) for name, t in self._open.items()}
        self.snapshots.append(
            (touched, self._open_events[touched], self._open_errors[touched], tables)
        )
        self._open = {}
        self._open_events[:] = 0
        self._open_errors[:] = 0

    def due(self, now: float) -> bool:
        """Whether to calibrate and publish: a day after the first event, and when complete."""
        if self.first is None:
            return False
        if not self.calibrated_day and now >= self.first + DAY:
            self.calibrated_day = True
            return True
        return self.complete

    def profile(self) -> PhaseProfile:
        """The phases learned so far (``frozen`` says which are final)."""
        stats = {}
        for name, sums in self.sums.items():
            n = sums[:, 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(n > 0, sums[:, 1] / np.maximum(n, 1), 0.0)
                var = np.where(n > 0, sums[:, 2] / np.maximum(n, 1) - mean * mean, 0.0)
            stats[name] = np.stack([n, mean, np.sqrt(np.maximum(var, 0.0))], axis=1)
        return PhaseProfile(
            period=PERIOD,
            events=self.events.copy(),
            errors=self.errors.copy(),
            counts={n: c.copy() for n, c in self.counts.items() if n != ""},
            moments=stats,
            prediction=self.counts[""].copy() if "" in self.counts else None,
            frozen=self.frozen.copy(),
        )

    def calibrate(self) -> Dispersion:
        """Dispersion from the learned windows, each left out of the profile in turn."""
        shots = self.snapshots
        w = len(shots)
        events = np.zeros((w, PERIOD), np.int64)
        errors = np.zeros((w, PERIOD), np.int64)
        tables = {n: np.zeros((w, PERIOD, q.bins + 1), np.int64) for n, q in self.profiles.items()}
        for i, (touched, ev, err, counts) in enumerate(shots):
            events[i, touched] = ev
            errors[i, touched] = err
            for name, table in counts.items():
                tables[name][i, touched] = table
        bins = {n: q.bins for n, q in self.profiles.items()}
        if "" in tables:
            tables["prediction"], bins["prediction"] = tables.pop(""), bins.pop("")
        return calibrate_windows(tables, bins, events, errors, np.arange(w), self.window_events)


def _take(chunk: EventColumns, picked: np.ndarray) -> EventColumns:
    """The events at positions ``picked`` (sorted) of a chunk."""
    if len(picked) == chunk.size:
        return chunk
    lo, hi = int(picked[0]), int(picked[-1]) + 1
    if hi - lo == len(picked):
        return chunk.slice(lo, hi)
    index = picked.tolist()

    def pick(column: Any) -> Any:
        if type(column) is np.ndarray:
            return column[picked]
        return [column[i] for i in index]

    return EventColumns(
        model_id=chunk.model_id,
        model_version=chunk.model_version,
        timestamps=chunk.timestamps[picked],
        features={k: pick(v) for k, v in chunk.features.items()},
        prediction_scores=chunk.prediction_scores[picked],
        prediction_labels=pick(chunk.prediction_labels),
        latency_ms=chunk.latency_ms[picked],
        errors=chunk.errors[picked],
        event_ids=pick(chunk.event_ids) if chunk.event_ids else [],
    )


def tracked_features(columns: EventColumns, s: Settings) -> EventColumns:
    """The features of learning events worth a learned baseline: present in at
    least ``min_category_share`` of the events, and at most ``max_tracked_features``
    of them (the most present first). A producer that puts ids into feature
    names (a new name per event) would otherwise fill the baseline with names
    seen once, each "missing" from then on.
    """
    n = columns.size
    floor = max(1, math.ceil(s.min_category_share * n))
    if columns.folded and floor == 1:  # a folded name (decode.fold) is in one event: enough
        columns = columns.unfold()
    present = {
        name: len(c) - (c if type(c) is list else list(c)).count(MISSING)
        if type(c) is not np.ndarray
        else len(c)
        for name, c in columns.features.items()
    }
    keep = [name for name in columns.features if present[name] >= floor]
    if len(keep) > s.max_tracked_features:
        keep = sorted(keep, key=lambda name: -present[name])[: s.max_tracked_features]
    if len(keep) == len(columns.features):
        return columns
    return dataclasses.replace(columns, features={name: columns.features[name] for name in keep})
