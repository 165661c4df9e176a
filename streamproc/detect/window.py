"""Window accounting: what one tumbling window of a model counted, and its statistics.

:class:`WindowCounts` counts the chunks of a model's events into the current
window against one baseline (bounded: a count vector per feature) and, when
the window closes, computes what every detector reads as one
:class:`ClosedWindow`: the false-alarm share of each test, the PSI of every
judged feature and of the prediction (one :func:`psi_rows` per number of
bins, see :class:`PsiPlan`), null ratios, schema counts, errors.

>>> from streamproc.events.columns import EventColumns
>>> from streamproc.detect.settings import Settings
>>> events = [{"model_id": "m", "features": {"x": float(i % 7)}} for i in range(300)]
>>> batch = EventColumns.from_events("m", events, default_timestamp=0.0)
>>> counts = WindowCounts(Baseline.fit(batch), Settings(min_window_events=100))
>>> counts.add(batch) is None, counts.due()
(True, False)
>>> closed = counts.close(lambda key: False)
>>> closed.window.events, round(closed.report().features["x"].psi, 6)
(300, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.bins import PsiPlan, _NumericBlock
from streamproc.detect.closed import ClosedWindow, FeatureCounts, FeatureStats, JudgedFeature
from streamproc.detect.columns import coded_counts, column_counts
from streamproc.detect.cycle import PhaseMixer, phase_events
from streamproc.detect.estimate import prediction_sums
from streamproc.detect.policy import Key, Window
from streamproc.detect.prediction import PredictionCounts
from streamproc.detect.profiles import CategoricalProfile, NumericProfile, Profile
from streamproc.detect.psi import psi_threshold
from streamproc.detect.rename import sample_new
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns
from streamproc.events.shapes import MISSING


@dataclass(slots=True)
class _WindowState:
    """Counts of the current window: bounded by bins and tracked features."""

    events: int = 0
    start: float = math.inf
    end: float = -math.inf
    errors: int = 0
    features: dict[str, FeatureCounts] = field(default_factory=dict)
    new_features: dict[str, int] = field(default_factory=dict)
    new_samples: dict[str, list[Any]] = field(default_factory=dict)  # see .rename
    overflow: int = 0  # names past max_tracked_features (here) or MAX_BATCH_FEATURES (decoding)
    prediction: np.ndarray | None = None
    numeric: np.ndarray | None = None  # bin counts of the numeric block, see _NumericBlock
    predictions: PredictionCounts | None = None  # nulls, kinds, ... (see .prediction)
    phases: np.ndarray | None = None  # events per phase of the clock (phased baselines)
    estimate: np.ndarray | None = None  # ScoreCalibration.sums of the window's predictions


class WindowCounts:
    """The current window of one model, counted against one baseline."""

    __slots__ = (
        "baseline",
        "settings",
        "block",
        "plan",
        "judged",
        "prediction",
        "state",
        "mixer",
        "calibration",
    )

    def __init__(self, baseline: Baseline, settings: Settings) -> None:
        self.baseline = baseline
        self.settings = settings
        self.block = _NumericBlock.of(baseline)
        self.judged = tuple(list(baseline.features.items())[: settings.max_tracked_features])
        b = baseline
        self.prediction = (
            b.prediction_score if b.prediction_score is not None else b.prediction_label
        )
        profiles = tuple(p for _, p in self.judged)
        self.plan = PsiPlan.of(
            profiles if self.prediction is None else (*profiles, self.prediction)
        )
        self.state = _WindowState()
        self.mixer: PhaseMixer | None = None
        performance = baseline.performance
        self.calibration = performance.calibration if performance is not None else None
        if baseline.phases is not None:
            self.set_phases(baseline.phases)

    def set_phases(self, phases: Any) -> None:
        """Judge against the mixture of these phases (a :class:`~.cycle.PhaseProfile`)."""
        names: tuple[str | None, ...] = tuple(name for name, _ in self.judged)
        if self.prediction is not None:
            names = (*names, None)
        rows = tuple(rows for rows, _ in self.plan.groups)
        self.mixer = PhaseMixer(phases, self.baseline, self.plan.profiles, names, rows)

    @property
    def events(self) -> int:
        return self.state.events

    def span(self) -> Window:
        w = self.state
        return Window(w.start, w.end, w.events)

    def due(self) -> bool:
        """Whether the window is full, or spans ``window_seconds`` with enough events."""
        w, s = self.state, self.settings
        if w.events >= s.window_events:
            return True
        return w.events >= s.min_window_events and w.end - w.start >= s.window_seconds

    def room(self, timestamps: np.ndarray) -> int:
        """How many of the next events (their ``timestamps``, at most the events
        left in the window) to count before the window is :meth:`due`: all,
        unless the time span reaches ``window_seconds`` before. So a window
        closes at the same event whatever the chunks its events came in.
        """
        w, s = self.state, self.settings
        n = len(timestamps)
        if n == 0:
            return 0
        low, high = min(w.start, float(timestamps.min())), max(w.end, float(timestamps.max()))
        if high - low < s.window_seconds or w.events + n < s.min_window_events:
            return n
        with np.errstate(over="ignore"):  # timestamps of +-1e308: a span of inf, due
            span = np.fmax.accumulate(np.maximum(timestamps, w.end)) - np.fmin.accumulate(
                np.minimum(timestamps, w.start)
            )
        count = w.events + np.arange(1, n + 1)
        due = (span >= s.window_seconds) & (count >= s.min_window_events)
        return int(np.argmax(due)) + 1 if due.any() else n

    def add(self, chunk: EventColumns) -> np.ndarray | None:
        """Count a chunk into the window; return its numeric block if it was stacked."""
        baseline = self.baseline
        w = self.state
        w.events += chunk.size
        w.start = min(w.start, float(chunk.timestamps.min()))
        w.end = max(w.end, float(chunk.timestamps.max()))
        w.errors += int(chunk.errors.sum())
        if self.mixer is not None:
            counted = phase_events(chunk.timestamps, self.mixer.period)
            w.phases = counted if w.phases is None else w.phases + counted
        block = self.block
        matrix = block.stack(chunk.features) if block.names else None
        if matrix is not None:
            counts, nulls = block.counts(matrix)
            for j, name in enumerate(block.names):
                state = w.features.get(name) or self._feature(name, baseline.features[name])
                if nulls is not None:
                    state.nulls += nulls[j]
            assert w.numeric is not None
            w.numeric += counts
        w.overflow += chunk.overflow
        for name, column in chunk.features.items():
            profile = baseline.features.get(name)
            if profile is None:
                self._count_new(name, column)
                continue
            if matrix is not None and name in block.rows:
                continue
            coded = chunk.coded.get(name)
            if coded is not None and isinstance(profile, CategoricalProfile):
                counts, nulls_, missing, wrong = coded_counts(profile, *coded)
            else:
                counts, nulls_, missing, wrong = column_counts(profile, column)
            state = w.features.get(name) or self._feature(name, profile)
            state.counts += counts
            state.nulls += nulls_
            state.missing += missing
            state.wrong_type += wrong
        if chunk.folded:  # names of one event (decode.fold; the baseline's were unfolded)
            for name, (_, value) in chunk.folded.items():
                self._count_new(name, [value], present=1)
        if chunk.overflow == 0 and not baseline.features.keys() <= chunk.features.keys():
            # (with overflow, a feature without a column may have been folded: not missing)
            # a feature absent from the whole chunk is missing in each of its events,
            # as it is when the chunk's other events carry it (batching-independent)
            for name in baseline.features.keys() - chunk.features.keys():
                state = w.features.get(name) or self._feature(name, baseline.features[name])
                state.missing += chunk.size
        prediction = self.prediction
        label_counts = None
        if prediction is not None:
            if isinstance(prediction, NumericProfile):
                counts = prediction.bin_counts(chunk.prediction_scores)
            else:
                counts = label_counts = prediction.bin_counts(chunk.prediction_labels)
            w.prediction = counts if w.prediction is None else w.prediction + counts
        if w.predictions is None:
            w.predictions = PredictionCounts.of(baseline)
        w.predictions.add(chunk.prediction_scores, chunk.prediction_labels, label_counts)
        if self.calibration is not None:
            assert baseline.performance is not None
            sums = prediction_sums(
                self.calibration,
                baseline.performance.positive,
                chunk.prediction_scores,
                chunk.prediction_labels,
            )
            w.estimate = sums if w.estimate is None else w.estimate + sums
        return matrix

    def _count_new(self, name: str, column: Any, present: int | None = None) -> None:
        """Count a chunk's ``column`` of a feature the baseline does not know:
        tracked (events carrying it, a sample of its values) while fewer than
        ``max_tracked_features`` new names are, else one more in the overflow
        bucket. ``present``: its entries other than :data:`MISSING`, if known."""
        w = self.state
        new = w.new_features
        if name not in new and len(new) >= self.settings.max_tracked_features:
            w.overflow += 1
            return
        if present is None:
            present = (
                len(column)
                if type(column) is np.ndarray
                else len(column) - (column if type(column) is list else list(column)).count(MISSING)
            )
        if present:  # a column of absences (a slice of a batch) is no feature
            new[name] = new.get(name, 0) + present
            sample_new(w.new_samples, name, column, present)

    def _feature(self, name: str, profile: Profile) -> FeatureCounts:
        """The window's counts of a feature, created on its first value in the window.

        A feature of the numeric block counts into its slice of the block's vector.
        """
        w = self.state
        row = self.block.rows.get(name)
        if row is None:
            counts = np.zeros(profile.bins, np.int64)
        else:
            if w.numeric is None:
                w.numeric = np.zeros(self.block.size, np.int64)
            start = self.block.starts[row]
            counts = w.numeric[start : start + profile.bins]
        state = w.features[name] = FeatureCounts(counts)
        return state

    def close(self, is_open: Callable[[Key], bool]) -> ClosedWindow:
        """End the window (the next one starts empty); its statistics."""
        w = self.state
        self.state = _WindowState()
        s = self.settings
        n = w.events
        # Half the model's false-alarm budget goes to the window tests (the other
        # half to ADWIN, see AdwinStreams), split evenly over this window's tests;
        # with a performance reference, less the realized performance detectors'
        # share, and the label-free estimate is one more test (see .performance_drift).
        tests = 2 * len(w.features) + 2 + (self.calibration is not None)
        budget = s.false_alarm_events
        if self.baseline.performance is not None:
            budget /= 1.0 - s.performance_share
        alpha = (n / (2 * budget)) / tests
        states = [w.features.get(name) for name, _ in self.judged]
        counts = [None if t is None else t.counts for t in states]
        if self.prediction is not None:
            counts.append(w.prediction)
        mixer, calibration = self.mixer, self.baseline.calibration
        mixed, judged, weights = None, True, None
        references: list[float] = [p.count for p in self.plan.profiles]
        if mixer is not None and w.phases is not None:
            weights = w.phases / n
            judged = mixer.judged(w.phases)
            mixed = mixer.expected(weights)
            for (rows, _), (_, m_eff) in zip(self.plan.groups, mixed, strict=True):
                for i, m in zip(rows, m_eff.tolist(), strict=True):
                    references[i] = m
        psi_values, observed = self.plan.psi(counts, mixed)
        too_few = s.min_window_events // 2
        names = [name for name, _ in self.judged]
        dispersion = [calibration.psi.get(name, 1.0) for name in names]
        if self.prediction is not None:
            dispersion.append(calibration.prediction)
        thresholds = [
            psi_threshold(
                bins=p.bins,
                window=max(observed[i], 1),
                reference=references[i],
                alpha=alpha,
                floor=s.psi_min,
                dispersion=dispersion[i],
            )
            for i, p in enumerate(self.plan.profiles)
        ]
        psis = [
            math.nan if o < too_few or not judged else v
            for v, o in zip(psi_values, observed, strict=True)
        ]
        if weights is not None:
            assert mixer is not None
            null_rates = (mixer.null_rates @ weights).tolist()
            error_rate = float(mixer.error_rates @ weights)
        else:
            null_rates = [p.null_rate for p in self.plan.profiles]
            error_rate = self.baseline.error_rate
        features = []
        for i, (name, profile) in enumerate(self.judged):
            state = states[i]
            if state is None:  # the feature never appeared in this window
                state = FeatureCounts(self.plan.zeros[i], missing=n)
            stats = FeatureStats(psis[i], thresholds[i], state.nulls / n, n - state.missing)
            null_dispersion = calibration.null_rate.get(name, 1.0)
            features.append(
                JudgedFeature(name, profile, state, stats, null_rates[i], null_dispersion)
            )
        predicted = self.prediction is not None and w.prediction is not None
        return ClosedWindow(
            window=Window(w.start, w.end, n),
            settings=s,
            baseline=self.baseline,
            alpha=alpha,
            features=features,
            new_features=w.new_features,
            new_samples=w.new_samples,
            overflow=w.overflow,
            errors=w.errors,
            prediction_psi=psis[-1] if predicted else None,
            prediction_threshold=thresholds[-1] if predicted else math.nan,
            is_open=is_open,
            predictions=w.predictions or PredictionCounts.of(self.baseline),
            error_rate=error_rate,
            error_dispersion=calibration.error_rate,
            estimate=w.estimate,
            prediction_counts=w.prediction if predicted else None,
        )
