"""The detection core: per-model monitors over columnar batches, no I/O.

:class:`ModelMonitor` owns everything about one model: its baseline (given,
or learned from its first ``baseline_events`` events), the counts of the
current tumbling window, one ADWIN per numeric stream, and the alert policy.
:class:`Monitor` is the fleet: one ``ModelMonitor`` per model id. The worker
and ``streamproc replay`` both drive :meth:`Monitor.process`.

>>> import numpy as np
>>> from streamproc.contracts import columns_by_model
>>> from streamproc.simulate import Scenario, generate
>>> monitor = Monitor(Settings(baseline_events=2000))
>>> alerts = []
>>> for events in generate(Scenario.demo(drift_at=10_000), events=20_000, batch=1000):
...     alerts += monitor.process(columns_by_model(events, default_timestamp=0.0), now=0.0)
>>> sorted({(a.signal, a.feature, a.detector) for a in alerts if a.status == "firing"})[:3]
[('feature', 'amount', 'adwin'), ('feature', 'amount', 'psi'), ('feature', 'country', 'psi')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from streamproc.contracts import MISSING, Alert, EventColumns
from streamproc.detect.adwin import BlockAdwin, adwin_delta, update_rows
from streamproc.detect.baseline import (
    Baseline,
    NumericProfile,
    Profile,
    categorical_counts,
    numeric_view,
)
from streamproc.detect.policy import AlertPolicy, Finding, Window
from streamproc.detect.psi import psi_against, psi_rows, psi_threshold, smoothed
from streamproc.detect.quality import rate_threshold, schema_message
from streamproc.detect.settings import Settings


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
    prediction: np.ndarray | None = None
    numeric: np.ndarray | None = None  # bin counts of the numeric block, see _NumericBlock


def _column_counts(profile: Profile, column: Any) -> tuple[np.ndarray, int, int, int]:
    """Bin counts, nulls, absences and wrong-typed values of one raw column."""
    if isinstance(profile, NumericProfile):
        view = numeric_view(column)
        return profile.bin_counts(view.numbers), view.nulls, view.missing, view.wrong_type  # type: ignore[arg-type]
    return categorical_counts(profile, column)


_BLOCK_DTYPES: Final = (np.dtype(np.float64), np.dtype(np.int64))


@dataclass(frozen=True, slots=True)
class _NumericBlock:
    """The numeric features of a baseline, binned together.

    When every one of them is a float64 or int64 array in a batch (as
    :func:`~streamproc.contracts.decode_records` builds them), they are stacked
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
class _JudgePlan:
    """The features a window judges (the first ``max_features`` of the baseline),
    with their smoothed baseline bins stacked by number of bins, so that one
    :func:`psi_rows` gives the PSI of all features with that many bins."""

    features: tuple[tuple[str, Profile], ...]
    zeros: tuple[np.ndarray, ...]  # the counts of a feature absent from a window
    groups: tuple[tuple[tuple[int, ...], np.ndarray], ...]  # (positions, smoothed bins)

    @classmethod
    def of(cls, baseline: Baseline, max_features: int) -> _JudgePlan:
        features = tuple(list(baseline.features.items())[:max_features])
        by_bins: dict[int, list[int]] = {}
        for i, (_, profile) in enumerate(features):
            by_bins.setdefault(profile.bins, []).append(i)
        groups = tuple(
            (tuple(rows), np.stack([_expected(features[i][1]) for i in rows]))
            for rows in by_bins.values()
        )
        zeros = tuple(np.zeros(p.bins, np.int64) for _, p in features)
        return cls(features, zeros, groups)

    def psi(self, counts: list[np.ndarray | None]) -> tuple[list[float], list[int]]:
        """PSI and number of values of each feature's window counts (None: none)."""
        values = [0.0] * len(self.features)
        observed = [0] * len(self.features)
        for rows, expected in self.groups:
            matrix = np.stack([self.zeros[i] if (c := counts[i]) is None else c for i in rows])
            psi, totals = psi_rows(expected, matrix)
            for i, value, total in zip(rows, psi.tolist(), totals.tolist(), strict=True):
                values[i] = value
                observed[i] = total
        return values, observed


def _expected(profile: Profile) -> np.ndarray:
    """The smoothed baseline proportions of a profile, as :func:`psi_against` takes them."""
    return smoothed(np.asarray(profile.proportions) * max(profile.count, 1))


class ModelMonitor:
    """Drift and quality detection for one model.

    Memory is bounded whatever the number of events: per feature one window
    count vector (``numeric_bins`` or ``max_categories + 2`` integers), one
    baseline profile, one ADWIN (O(log n) buckets) and at most one open
    episode per detector; plus, until a baseline exists, the buffered
    ``baseline_events`` events it will be learned from.
    """

    def __init__(
        self,
        model_id: str,
        settings: Settings,
        baseline: Baseline | None = None,
        *,
        policy: AlertPolicy | None = None,
    ):
        self.model_id = model_id
        self.settings = settings
        self.policy = policy or AlertPolicy(model_id)
        self.model_version = "unknown"
        self.latest: WindowReport | None = None
        self.published = False  # set by the worker once a learned baseline is published
        self._learning: list[EventColumns] = []
        self._learned = 0
        self._baseline: Baseline | None = None
        self._adwins: dict[tuple[str, str | None], BlockAdwin] = {}
        self._adwin_delta = 1e-6
        self._window = _WindowState()
        self._expected: dict[int, tuple[Profile, np.ndarray]] = {}  # smoothed baseline bins
        self._block = _NumericBlock.of(Baseline(model_id, {}))
        self._judged: _JudgePlan | None = None
        if baseline is not None:
            self.set_baseline(baseline)

    @property
    def baseline(self) -> Baseline | None:
        return self._baseline

    def set_baseline(self, baseline: Baseline, *, published: bool = True) -> None:
        """Judge from now on against ``baseline``; the open window restarts.

        ``published`` is False for a baseline learned here and not yet sent out.
        """
        s = self.settings
        self._baseline = baseline
        self._expected.clear()
        self._block = _NumericBlock.of(baseline)
        self._judged = None
        self.published = published
        self._learning.clear()
        self._learned = 0
        self._window = _WindowState()
        tracked = dict(list(baseline.features.items())[: s.max_features])
        streams: list[tuple[str, str | None]] = [
            ("feature", name) for name, p in tracked.items() if isinstance(p, NumericProfile)
        ]
        if baseline.prediction_score is not None:
            streams.append(("prediction", None))
        streams.append(("latency", None))
        delta = s.adwin_delta
        if delta is None:
            delta = adwin_delta(
                false_alarm_events=2 * s.false_alarm_events,
                streams=len(streams),
                block=s.adwin_block,
                clock=s.adwin_clock,
            )
        self._adwin_delta = delta
        self._adwins = {
            key: self._adwins.get(key) or self._new_adwin(key, baseline, delta) for key in streams
        }

    def _new_adwin(
        self, key: tuple[str, str | None], baseline: Baseline, delta: float
    ) -> BlockAdwin:
        """An ADWIN for one stream, standardized by the baseline where it has one."""
        s = self.settings
        signal, feature = key
        profile = (
            baseline.features.get(feature)  # type: ignore[arg-type]
            if signal == "feature"
            else baseline.prediction_score
            if signal == "prediction"
            else None
        )
        if isinstance(profile, NumericProfile) and profile.count > 1:
            center, scale = profile.mean, profile.std
        else:
            center, scale = None, 1.0  # learned from the stream's first values
        return BlockAdwin(
            block=s.adwin_block, delta=delta, clock=s.adwin_clock, center=center, scale=scale
        )

    def update(self, batch: EventColumns, *, now: float) -> list[Alert]:
        """Take a batch of this model's events; return the alerts it causes."""
        if batch.size == 0:
            return []
        self.model_version = batch.model_version
        if self._baseline is None:
            batch = self._learn(batch)
            if self._baseline is None or batch.size == 0:
                return []
        alerts: list[Alert] = []
        start = 0
        while start < batch.size:
            room = self.settings.window_events - self._window.events
            stop = min(batch.size, start + room)
            chunk = batch.slice(start, stop) if (start, stop) != (0, batch.size) else batch
            matrix = self._accumulate(chunk)
            alerts += self._feed_adwins(chunk, matrix, now)
            if self._window_due():
                alerts += self._close_window(now)
            start = stop
        return alerts

    # -- baseline learning -------------------------------------------------

    def _learn(self, batch: EventColumns) -> EventColumns:
        """Buffer events until a baseline can be fitted; return the rest."""
        need = self.settings.baseline_events - self._learned
        self._learning.append(batch.slice(0, need) if batch.size > need else batch)
        self._learned += min(need, batch.size)
        if self._learned < self.settings.baseline_events:
            return batch.slice(0, 0)
        s = self.settings
        baseline = Baseline.fit(
            concat(self._learning),
            bins=s.numeric_bins,
            max_categories=s.max_categories,
            min_share=s.min_category_share,
            source="learned",
            model_version=self.model_version,
        )
        self.set_baseline(baseline, published=False)
        return batch.slice(need, batch.size)

    # -- window accumulation ----------------------------------------------

    def _accumulate(self, chunk: EventColumns) -> np.ndarray | None:
        """Count a chunk into the window; return its numeric block if it was stacked."""
        baseline = self._baseline
        assert baseline is not None
        w = self._window
        s = self.settings
        w.events += chunk.size
        w.start = min(w.start, float(chunk.timestamps.min()))
        w.end = max(w.end, float(chunk.timestamps.max()))
        w.errors += int(chunk.errors.sum())
        block = self._block
        matrix = block.stack(chunk.features) if block.names else None
        if matrix is not None:
            counts, nulls = block.counts(matrix)
            for j, name in enumerate(block.names):
                state = w.features.get(name) or self._state(name, baseline.features[name])
                if nulls is not None:
                    state.nulls += nulls[j]
            assert w.numeric is not None
            w.numeric += counts
        for name, column in chunk.features.items():
            profile = baseline.features.get(name)
            if profile is None:
                if name in w.new_features or len(w.new_features) < s.max_features:
                    present = (
                        len(column)
                        if type(column) is np.ndarray
                        else len(column) - list(column).count(MISSING)
                    )
                    w.new_features[name] = w.new_features.get(name, 0) + present
                continue
            if matrix is not None and name in block.rows:
                continue
            counts, nulls_, missing, wrong = _column_counts(profile, column)
            state = w.features.get(name) or self._state(name, profile)
            state.counts += counts
            state.nulls += nulls_
            state.missing += missing
            state.wrong_type += wrong
        prediction = self._prediction_profile()
        if prediction is not None:
            counts = (
                prediction.bin_counts(chunk.prediction_scores)
                if isinstance(prediction, NumericProfile)
                else prediction.bin_counts(chunk.prediction_labels)
            )
            w.prediction = counts if w.prediction is None else w.prediction + counts
        return matrix

    def _state(self, name: str, profile: Profile) -> _FeatureCounts:
        """The window's counts of a feature, created on its first value in the window.

        A feature of the numeric block counts into its slice of the block's vector.
        """
        w = self._window
        row = self._block.rows.get(name)
        if row is None:
            counts = np.zeros(profile.bins, np.int64)
        else:
            if w.numeric is None:
                w.numeric = np.zeros(self._block.size, np.int64)
            start = self._block.starts[row]
            counts = w.numeric[start : start + profile.bins]
        state = w.features[name] = _FeatureCounts(counts)
        return state

    def _prediction_profile(self) -> Profile | None:
        b = self._baseline
        if b is None:
            return None
        return b.prediction_score if b.prediction_score is not None else b.prediction_label

    def _window_due(self) -> bool:
        w, s = self._window, self.settings
        if w.events >= s.window_events:
            return True
        return w.events >= s.min_window_events and w.end - w.start >= s.window_seconds

    # -- judging -------------------------------------------------------------

    def _feed_adwins(
        self, chunk: EventColumns, matrix: np.ndarray | None, now: float
    ) -> list[Alert]:
        alerts: list[Alert] = []
        baseline = self._baseline
        assert baseline is not None
        rows = self._block.rows if matrix is not None else {}
        fed: list[tuple[tuple[str, str | None], Profile | None]] = []
        detectors: list[BlockAdwin] = []
        values: list[np.ndarray] = []
        for key, detector in self._adwins.items():
            signal, feature = key
            if signal == "feature":
                row = rows.get(feature)  # type: ignore[arg-type]
                if row is not None:
                    numbers = matrix[row]  # type: ignore[index]
                else:
                    column = chunk.features.get(feature)  # type: ignore[arg-type]
                    if column is None:
                        continue
                    numbers = numeric_view(column).numbers  # type: ignore[assignment]
                profile: Profile | None = baseline.features[feature]  # type: ignore[index]
            elif signal == "prediction":
                numbers, profile = chunk.prediction_scores, baseline.prediction_score
            else:
                numbers, profile = chunk.latency_ms, None
            fed.append((key, profile))
            detectors.append(detector)
            values.append(numbers)
        for (key, profile), changes in zip(fed, update_rows(detectors, values), strict=True):
            signal, feature = key
            if not changes:
                continue
            change = changes[-1]
            scale = profile.std if isinstance(profile, NumericProfile) and profile.std > 0 else 0.0
            shift = change.mean_after - change.mean_before
            value = abs(shift) / scale if scale else abs(shift)
            what = f"feature '{feature}'" if signal == "feature" else signal
            unit = " sd" if scale else ""
            finding = Finding(
                signal,
                feature,
                "adwin",
                value=value,
                threshold=self._adwin_delta,
                resolve_below=self._adwin_delta,
                severity="warning",
                message=(
                    f"ADWIN detected a change in the mean of {what}: "
                    f"{change.mean_before:.4g} -> {change.mean_after:.4g} "
                    f"({value:.2f}{unit}) after {change.values_seen} values"
                ),
                resolve_after=self.settings.adwin_quiet_windows,
            )
            w = self._window
            alerts += self.policy.observe(
                finding, Window(w.start, w.end, w.events), model_version=self.model_version, now=now
            )
        return alerts

    def _close_window(self, now: float) -> list[Alert]:
        w = self._window
        self._window = _WindowState()
        window = Window(w.start, w.end, w.events)
        findings, report = self._judge(w, window)
        self.latest = report
        alerts: list[Alert] = []
        for finding in findings:
            alerts += self.policy.observe(
                finding, window, model_version=self.model_version, now=now
            )
        # ADWIN episodes resolve after quiet windows: report "no change" now.
        s = self.settings
        for signal, feature, detector in list(self.policy.firing):
            if detector != "adwin":
                continue
            what = f"feature '{feature}'" if feature else signal
            quiet = Finding(
                signal,
                feature,
                "adwin",
                value=0.0,
                threshold=self._adwin_delta,
                resolve_below=self._adwin_delta,
                severity="warning",
                message=f"ADWIN saw no further change in the mean of {what} "
                f"for {s.adwin_quiet_windows} windows",
                resolve_after=s.adwin_quiet_windows,
            )
            alerts += self.policy.observe(quiet, window, model_version=self.model_version, now=now)
        return alerts

    def _judge(self, w: _WindowState, window: Window) -> tuple[list[Finding], WindowReport]:
        """The window's findings and statistics.

        Only findings that can change an alert are made (they breach, or their
        key has an open episode: :meth:`AlertPolicy.observe` ignores the rest).
        """
        s = self.settings
        baseline = self._baseline
        assert baseline is not None
        n = w.events
        # Half the model's false-alarm budget goes to the window tests (the other
        # half to ADWIN, see set_baseline), split evenly over this window's tests.
        tests = 2 * len(w.features) + 2
        alpha = (n / (2 * s.false_alarm_events)) / tests
        plan = self._judged
        if plan is None:
            plan = self._judged = _JudgePlan.of(baseline, s.max_features)
        states = [w.features.get(name) for name, _ in plan.features]
        psi_values, observed = plan.psi([None if t is None else t.counts for t in states])
        matters = self._matters
        too_few = s.min_window_events // 2
        findings: list[Finding] = []
        stats: dict[str, FeatureStats] = {}
        for i, (name, profile) in enumerate(plan.features):
            state = states[i]
            if state is None:  # the feature never appeared in this window
                state = _FeatureCounts(plan.zeros[i], missing=n)
            threshold = psi_threshold(
                bins=profile.bins,
                window=max(observed[i], 1),
                reference=profile.count,
                alpha=alpha,
                floor=s.psi_min,
            )
            value = math.nan if observed[i] < too_few else psi_values[i]
            null_ratio = state.nulls / n
            stats[name] = FeatureStats(value, threshold, null_ratio)
            if not math.isnan(value) and matters(("feature", name, "psi"), value, threshold):
                findings.append(self._psi_finding("feature", name, value, threshold, window))
            null_threshold = rate_threshold(
                baseline_rate=profile.null_rate,
                window=n,
                alpha=alpha,
                min_increase=s.null_rate_min_increase,
            )
            if matters(("feature", name, "null_rate"), null_ratio, null_threshold):
                findings.append(
                    Finding(
                        "feature",
                        name,
                        "null_rate",
                        value=null_ratio,
                        threshold=null_threshold,
                        resolve_below=profile.null_rate
                        + s.resolve_ratio * (null_threshold - profile.null_rate),
                        severity="warning",
                        message=(
                            f"null ratio of feature '{name}' is {null_ratio:.2f} "
                            f"(baseline {profile.null_rate:.2f}, "
                            f"threshold {null_threshold:.2f}) over the last {n} events"
                        ),
                        resolve_after=s.resolve_windows,
                    )
                )
            missing, wrong = state.missing / n, state.wrong_type / n
            problem, share = ("missing", missing) if missing >= wrong else ("type", wrong)
            if matters(("schema", name, "schema"), share, s.schema_min_share):
                findings.append(self._schema_finding(name, problem, share, n, "critical"))
        for name, present in w.new_features.items():
            if matters(("schema", name, "schema"), present / n, s.schema_min_share):
                findings.append(self._schema_finding(name, "new", present / n, n, "warning"))
        prediction_psi = None
        prediction = self._prediction_profile()
        if prediction is not None and w.prediction is not None:
            prediction_psi, threshold = self._psi(prediction, w.prediction, alpha)
            if not math.isnan(prediction_psi) and matters(
                ("prediction", None, "psi"), prediction_psi, threshold
            ):
                findings.append(
                    self._psi_finding("prediction", None, prediction_psi, threshold, window)
                )
        error = self._error_finding(w, alpha)
        if error is not None:
            findings.append(error)
        return findings, WindowReport(window, stats, prediction_psi)

    def _matters(self, key: tuple[str, str | None, str], value: float, threshold: float) -> bool:
        """Whether a finding can change the alert state (see :meth:`_judge`)."""
        return value > threshold or self.policy.is_open(key)

    def _psi(self, profile: Profile, counts: np.ndarray, alpha: float) -> tuple[float, float]:
        """(PSI, threshold) of window counts; NaN PSI when too few values."""
        observed = int(counts.sum())
        threshold = psi_threshold(
            bins=profile.bins,
            window=max(observed, 1),
            reference=profile.count,
            alpha=alpha,
            floor=self.settings.psi_min,
        )
        if observed < self.settings.min_window_events // 2:
            return math.nan, threshold
        cached = self._expected.get(id(profile))
        if cached is None or cached[0] is not profile:
            cached = self._expected[id(profile)] = (profile, _expected(profile))
        return psi_against(cached[1], counts), threshold

    def _psi_finding(
        self, signal: str, feature: str | None, value: float, threshold: float, window: Window
    ) -> Finding:
        s = self.settings
        what = f"feature '{feature}'" if feature else "the prediction"
        return Finding(
            signal,
            feature,
            "psi",
            value=value,
            threshold=threshold,
            resolve_below=s.resolve_ratio * threshold,
            severity="critical" if value >= max(s.psi_critical, threshold) else "warning",
            message=(
                f"PSI of {what} is {value:.2f} (threshold {threshold:.2f}) "
                f"over the last {window.events} events"
            ),
            resolve_after=s.resolve_windows,
        )

    def _schema_finding(
        self, feature: str, problem: str, share: float, events: int, severity: str
    ) -> Finding:
        s = self.settings
        return Finding(
            "schema",
            feature,
            "schema",
            value=share,
            threshold=s.schema_min_share,
            resolve_below=s.resolve_ratio * s.schema_min_share,
            severity=severity,
            message=schema_message(feature, problem, share, events),
            resolve_after=s.resolve_windows,
        )

    def _error_finding(self, w: _WindowState, alpha: float) -> Finding | None:
        s = self.settings
        baseline_rate = self._baseline.error_rate if self._baseline else 0.0
        rate = w.errors / w.events
        threshold = rate_threshold(
            baseline_rate=baseline_rate,
            window=w.events,
            alpha=alpha,
            min_increase=s.error_rate_min_increase,
        )
        if not self._matters(("errors", None, "error_rate"), rate, threshold):
            return None
        return Finding(
            "errors",
            None,
            "error_rate",
            value=rate,
            threshold=threshold,
            resolve_below=baseline_rate + s.resolve_ratio * (threshold - baseline_rate),
            severity="critical",
            message=(
                f"inference error rate is {rate:.2%} (baseline {baseline_rate:.2%}, "
                f"threshold {threshold:.2%}) over the last {w.events} events"
            ),
            resolve_after=s.resolve_windows,
        )


def concat(batches: list[EventColumns]) -> EventColumns:
    """One batch from several batches of the same model, in order."""
    return EventColumns.concat(batches)


class Monitor:
    """All models of one worker (or one replay): a :class:`ModelMonitor` each.

    ``overrides`` maps a model id to settings that differ for it.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        overrides: dict[str, dict[str, Any]] | None = None,
        baselines: Iterable[Baseline] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.overrides = overrides or {}
        self.models: dict[str, ModelMonitor] = {}
        self._baselines: dict[str, Baseline] = {b.model_id: b for b in baselines}
        self._dormant: dict[str, AlertPolicy] = {}  # open episodes of models not run here

    def model(self, model_id: str) -> ModelMonitor:
        monitor = self.models.get(model_id)
        if monitor is None:
            settings = self.settings.for_model(model_id, self.overrides)
            policy = self._dormant.pop(model_id, None)
            monitor = ModelMonitor(model_id, settings, self._baselines.get(model_id), policy=policy)
            self.models[model_id] = monitor
        return monitor

    def restore_alert(self, alert: Alert) -> None:
        """Take note of a published alert (e.g. read back from the alert topic).

        A model run here is ignored (its own policy knows better); for others
        the open episodes are kept (a small record each) until the model's
        first event here, so the next owner of a model carries its episodes on.
        """
        if alert.model_id in self.models:
            return
        policy = self._dormant.setdefault(alert.model_id, AlertPolicy(alert.model_id))
        policy.restore(alert)
        if not policy.firing:
            del self._dormant[alert.model_id]

    def forget(self, model_ids: Iterable[str]) -> None:
        """Drop the state of models no longer run here (their partitions moved to
        another worker), keeping their open episodes."""
        for model_id in model_ids:
            monitor = self.models.pop(model_id, None)
            if monitor is not None and monitor.policy.firing:
                self._dormant[model_id] = monitor.policy

    def set_baseline(self, baseline: Baseline) -> None:
        """Use ``baseline`` for its model from now on."""
        self._baselines[baseline.model_id] = baseline
        if baseline.model_id in self.models:
            self.models[baseline.model_id].set_baseline(baseline)

    def process(self, batches: Iterable[EventColumns], *, now: float) -> list[Alert]:
        """Run every model's batch through its monitor; return all alerts."""
        alerts: list[Alert] = []
        for batch in batches:
            alerts += self.model(batch.model_id).update(batch, now=now)
        return alerts
