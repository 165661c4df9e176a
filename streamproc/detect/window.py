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
from typing import Any, Final

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.columns import column_counts
from streamproc.detect.cycle import PhaseMixer, phase_events
from streamproc.detect.estimate import estimate_metrics, prediction_sums
from streamproc.detect.policy import Finding, Key, Window
from streamproc.detect.prediction import PredictionCounts
from streamproc.detect.profiles import NumericProfile, Profile
from streamproc.detect.psi import psi_rows, psi_threshold, smoothed
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns
from streamproc.events.shapes import MISSING


@dataclass(slots=True)
class FeatureStats:
    """What the last judged window said about one feature (for metrics)."""

    psi: float
    psi_threshold: float
    null_ratio: float


@dataclass(slots=True)
class WindowReport:
    """Statistics of the last judged window of a model."""

    window: Window
    features: dict[str, FeatureStats]
    prediction_psi: float | None
    estimate: dict[str, float] | None = None  # label-free performance estimate (.performance)


@dataclass(slots=True)
class _FeatureCounts:
    counts: np.ndarray
    nulls: int = 0
    missing: int = 0
    wrong_type: int = 0


@dataclass(slots=True)
class _WindowState:
    """Counts of the current window: bounded by bins and tracked features."""

    events: int = 0
    start: float = math.inf
    end: float = -math.inf
    errors: int = 0
    features: dict[str, _FeatureCounts] = field(default_factory=dict)
    new_features: dict[str, int] = field(default_factory=dict)
    overflow: int = 0  # feature names past max_features (here) or MAX_BATCH_FEATURES (decoding)
    prediction: np.ndarray | None = None
    numeric: np.ndarray | None = None  # bin counts of the numeric block, see _NumericBlock
    predictions: PredictionCounts | None = None  # nulls, kinds, ... (see .prediction)
    phases: np.ndarray | None = None  # events per phase of the clock (phased baselines)
    estimate: np.ndarray | None = None  # ScoreCalibration.sums of the window's predictions


_BLOCK_DTYPES: Final = (np.dtype(np.float64), np.dtype(np.int64))


@dataclass(frozen=True, slots=True)
class _NumericBlock:
    """The numeric features of a baseline, binned together.

    When every one of them is a float64 or int64 array in a batch (as
    :func:`~streamproc.decode.decode_batch` builds them), they are stacked
    into one matrix: one ``isnan``, one ``bincount`` over all their bins (laid
    end to end in one count vector, feature ``j``'s from ``starts[j]``), and
    the ADWIN streams are standardized together. Per feature only the
    ``searchsorted`` remains: the same bins as :meth:`NumericProfile.bin_counts`.
    """

    names: tuple[str, ...]
    edges: tuple[np.ndarray, ...]
    starts: tuple[int, ...]
    size: int
    shift: np.ndarray  # starts as a column, added to the bin of each value
    rows: dict[str, int]

    @classmethod
    def of(cls, baseline: Baseline) -> _NumericBlock:
        profiles = [
            (name, p) for name, p in baseline.features.items() if isinstance(p, NumericProfile)
        ]
        bins = [p.bins for _, p in profiles]
        starts = [sum(bins[:j]) for j in range(len(bins))]
        return cls(
            names=tuple(name for name, _ in profiles),
            edges=tuple(p.edge_array for _, p in profiles),
            starts=tuple(starts),
            size=sum(bins),
            shift=np.array(starts, dtype=np.intp).reshape(-1, 1),
            rows={name: j for j, (name, _) in enumerate(profiles)},
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
        codes = np.empty(matrix.shape, dtype=np.intp)
        for j, edges in enumerate(self.edges):
            codes[j] = edges.searchsorted(matrix[j], side="right")
        codes += self.shift
        nulls = None
        nan = np.isnan(matrix)
        if nan.any():
            codes[nan] = self.size  # counted past the end, then dropped
            nulls = nan.sum(axis=1).tolist()
        return np.bincount(codes.ravel(), minlength=self.size + 1)[: self.size], nulls


@dataclass(frozen=True, slots=True)
class PsiPlan:
    """The smoothed baseline bins a window's PSIs are taken against (the one cache
    of them): the judged features (the first ``max_features`` of the baseline),
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


@dataclass(frozen=True, slots=True)
class JudgedFeature:
    """One judged feature of a closed window: its profile, counts and statistics."""

    name: str
    profile: Profile
    counts: _FeatureCounts
    stats: FeatureStats
    null_rate: float = 0.0  # the baseline's null rate for this window (its phases' mix)
    null_dispersion: float = 1.0  # the null-rate test's variance factor (.calibrate)


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """Everything a detector reads about one closed window (see :mod:`.detector`)."""

    window: Window
    settings: Settings
    baseline: Baseline
    alpha: float  # the false-alarm probability of each test of this window
    features: list[JudgedFeature]  # in the baseline's order
    new_features: dict[str, int]  # events carrying each feature unknown to the baseline
    errors: int
    prediction_psi: float | None  # None: the baseline has no prediction
    prediction_threshold: float
    is_open: Callable[[Key], bool]  # whether a key has an open alert episode
    predictions: PredictionCounts  # the prediction integrity counts (see .prediction)
    error_rate: float = 0.0  # the baseline's error rate for this window (its phases' mix)
    error_dispersion: float = 1.0
    estimate: np.ndarray | None = None  # ScoreCalibration.sums (label-free performance estimate)
    overflow: int = 0  # feature names past the caps (not tracked), see WindowCounts.add

    def matters(self, key: Key, value: float, threshold: float) -> bool:
        """Whether a finding can change the alert state: it breaches, or its key
        has an open episode (:meth:`AlertPolicy.observe` ignores the rest)."""
        return value > threshold or self.is_open(key)

    def finding(
        self,
        key: Key,
        value: float,
        threshold: float,
        severity: str,
        message: str,
        *,
        baseline: float = 0.0,
    ) -> Finding:
        """A level finding: it resolves once ``value`` is back below ``baseline``
        plus ``resolve_ratio`` of the way to ``threshold``, for ``resolve_windows``."""
        s = self.settings
        resolve_below = baseline + s.resolve_ratio * (threshold - baseline)
        return Finding.of(
            key,
            value,
            threshold,
            resolve_below,
            severity=severity,
            message=message,
            resolve_after=s.resolve_windows,
        )

    def in_order(self, findings: list[Finding]) -> list[Finding]:
        """``findings`` in the order alerts are emitted: by subject (the judged
        features in the baseline's order, the new features, the prediction,
        the errors, anything else), and for one subject in detector order."""
        if len(findings) < 2:
            return findings
        position = {f.name: i for i, f in enumerate(self.features)}
        for name in self.new_features:
            position.setdefault(name, len(position))
        after = {"prediction": len(position), "errors": len(position) + 1}
        last = len(position) + 2

        def rank(f: Finding) -> int:
            if f.feature is not None and f.feature in position:
                return position[f.feature]
            return after.get(f.signal, last)

        return sorted(findings, key=rank)

    def report(self) -> WindowReport:
        estimate = None
        performance = self.baseline.performance
        if self.estimate is not None and performance is not None and performance.calibration:
            estimate = estimate_metrics(self.estimate, performance.calibration.binary)
        return WindowReport(
            self.window, {f.name: f.stats for f in self.features}, self.prediction_psi, estimate
        )


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
        self.judged = tuple(list(baseline.features.items())[: settings.max_features])
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
        max_new = self.settings.max_features
        w.overflow += chunk.overflow
        for name, column in chunk.features.items():
            profile = baseline.features.get(name)
            if profile is None:
                if name in w.new_features or len(w.new_features) < max_new:
                    present = (
                        len(column)
                        if type(column) is np.ndarray
                        else len(column)
                        - (column if type(column) is list else list(column)).count(MISSING)
                    )
                    if present:  # a column of absences (a slice of a batch) is no feature
                        w.new_features[name] = w.new_features.get(name, 0) + present
                else:  # past the cap of tracked names: one overflow bucket
                    w.overflow += 1
                continue
            if matrix is not None and name in block.rows:
                continue
            counts, nulls_, missing, wrong = column_counts(profile, column)
            state = w.features.get(name) or self._feature(name, profile)
            state.counts += counts
            state.nulls += nulls_
            state.missing += missing
            state.wrong_type += wrong
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

    def _feature(self, name: str, profile: Profile) -> _FeatureCounts:
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
        state = w.features[name] = _FeatureCounts(counts)
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
                state = _FeatureCounts(self.plan.zeros[i], missing=n)
            stats = FeatureStats(psis[i], thresholds[i], state.nulls / n)
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
            overflow=w.overflow,
            errors=w.errors,
            prediction_psi=psis[-1] if predicted else None,
            prediction_threshold=thresholds[-1] if predicted else math.nan,
            is_open=is_open,
            predictions=w.predictions or PredictionCounts.of(self.baseline),
            error_rate=error_rate,
            error_dispersion=calibration.error_rate,
            estimate=w.estimate,
        )
