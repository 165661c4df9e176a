"""The detection core: per-model monitors over columnar batches, no I/O.

:class:`ModelMonitor` owns everything about one model: its baseline (given,
or learned from its first ``baseline_events`` events), the counts of the
current tumbling window (:mod:`.window`), one ADWIN per numeric stream
(:mod:`.adwin_drift`), the window detectors (:mod:`.detector`) and the alert
policy (:mod:`.policy`).
:class:`Monitor` is the fleet: one ``ModelMonitor`` per model id. The worker
and ``streamproc replay`` both drive :meth:`Monitor.process`.

>>> import numpy as np
>>> from streamproc.events.columns import columns_by_model
>>> from streamproc.simulate import Scenario, generate
>>> monitor = Monitor(Settings(baseline_events=2000))
>>> alerts = []
>>> for events in generate(Scenario.demo(drift_at=10_000), events=20_000, batch=1000):
...     alerts += monitor.process(columns_by_model(events, default_timestamp=0.0), now=0.0)
>>> sorted({(a.signal, a.feature, a.detector) for a in alerts if a.status == "firing"})[:3]
[('feature', 'amount', 'adwin'), ('feature', 'amount', 'psi'), ('feature', 'country', 'psi')]
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from streamproc.detect.adwin_drift import AdwinStreams
from streamproc.detect.baseline import Baseline
from streamproc.detect.calibrate import MIN_WINDOWS
from streamproc.detect.closed import WindowReport
from streamproc.detect.detector import WINDOW_DETECTORS
from streamproc.detect.learn import PhaseLearner, tracked_features
from streamproc.detect.observer import Locate, WindowObserver
from streamproc.detect.performance_drift import RealizedPerformance
from streamproc.detect.policy import AlertPolicy, Finding, Window
from streamproc.detect.settings import Settings
from streamproc.detect.window import WindowCounts
from streamproc.events.alerts import Alert
from streamproc.events.columns import EventColumns
from streamproc.events.labels import LabelledPredictions


class ModelMonitor:
    """Drift and quality detection for one model.

    Memory is bounded whatever the number of events: per feature one window
    count vector (``numeric_bins`` or ``max_categories + 2`` integers), one
    baseline profile, one ADWIN (O(log n) buckets) and at most one open
    episode per detector; plus, until a baseline exists, the buffered
    ``baseline_events`` events it will be learned from. A phased baseline
    adds per feature its phase tables (at most 48 x (bins + 1) counts and
    their proportions, ~13 KiB); a learned baseline, while its phases learn,
    at most 192 window snapshots (see :mod:`.learn`).
    """

    def __init__(
        self,
        model_id: str,
        settings: Settings,
        baseline: Baseline | None = None,
        *,
        policy: AlertPolicy | None = None,
        observer: WindowObserver | None = None,
    ):
        self.model_id = model_id
        self.observer = observer
        self.windows_judged = 0
        self.settings = settings
        self.policy = policy or AlertPolicy(model_id)
        self.model_version = "unknown"
        self.latest: WindowReport | None = None
        self.published = False  # set by the worker once a learned baseline is published
        self._learning: list[EventColumns] = []
        self._learned = 0
        self._window: WindowCounts | None = None  # None until there is a baseline
        self._adwins: AdwinStreams | None = None
        self._phases: PhaseLearner | None = None  # learns a learned baseline's phases
        self.performance: RealizedPerformance | None = None  # created by the first labels
        if baseline is not None:
            self.set_baseline(baseline)

    @property
    def baseline(self) -> Baseline | None:
        return self._window.baseline if self._window is not None else None

    def set_baseline(self, baseline: Baseline, *, published: bool = True) -> None:
        """Judge from now on against ``baseline``; the open window restarts.

        ``published`` is False for a baseline learned here and not yet sent out.
        """
        self._phases = None
        if self.performance is not None and baseline.performance is not None:
            if baseline.performance != self.performance.reference:
                self.performance = RealizedPerformance(baseline.performance, self.settings)
        self._install(baseline, published)
        phases = baseline.phases
        if baseline.source == "learned" and phases is not None and not phases.frozen.all():
            s = self.settings
            self._phases = PhaseLearner.resume(
                baseline, cap=s.baseline_events, window_events=s.window_events
            )

    def _install(self, baseline: Baseline, published: bool) -> None:
        self._window = WindowCounts(baseline, self.settings)
        previous = None
        if self._adwins is not None and self._adwins.phased == (baseline.phases is not None):
            previous = self._adwins.detectors  # the same standardization: keep their state
        self._adwins = AdwinStreams(baseline, self.settings, previous)
        self.published = published
        self._learning.clear()
        self._learned = 0

    def update(
        self, batch: EventColumns, *, now: float, locate: Locate | None = None
    ) -> list[Alert]:
        """Take a batch of this model's events; return the alerts it causes.

        Each chunk that fits the current window is counted into it and fed to
        the ADWINs; a window that is due is closed and judged. ``locate``
        (replay): given the index in ``batch`` of the last event of the chunk
        an alert was found at, what to add to the alert's ``details`` (e.g.
        its input line).
        """
        if batch.size == 0:
            return []
        self.model_version = batch.model_version
        if self._window is None:
            batch = self._learn(batch)
            if self._window is None or batch.size == 0:
                return []
        window, adwins = self._window, self._adwins
        if batch.folded:  # names of one event (decode.fold): the baseline's back as columns
            batch = batch.unfold(window.baseline.features)
        assert adwins is not None
        alerts: list[Alert] = []
        start = 0
        while start < batch.size:
            stop = min(batch.size, start + self.settings.window_events - window.events)
            stop = start + window.room(batch.timestamps[start:stop])
            chunk = batch.slice(start, stop) if (start, stop) != (0, batch.size) else batch
            if self._phases is not None:
                window, adwins = self._learn_phases(chunk, window, adwins)
            matrix = window.add(chunk)
            found: list[Alert] = []
            if changes := adwins.feed(chunk, matrix, window.block.rows):
                found += self._observe(changes, window.span(), now)
            if window.due():
                found += self._close_window(window, adwins, now)
            if found and locate is not None:
                extra = locate(stop - 1)
                found = [a.with_details(extra) for a in found] if extra else found
            alerts += found
            start = stop
        return alerts

    def update_labels(self, batch: LabelledPredictions, *, now: float) -> list[Alert]:
        """Take a batch of this model's labelled predictions (in label-match
        order); return the alerts of the realized-performance detectors."""
        if batch.size == 0:
            return []
        performance = self.performance
        if performance is None:
            reference = self.baseline.performance if self.baseline is not None else None
            performance = self.performance = RealizedPerformance(reference, self.settings)
        alerts: list[Alert] = []
        for finding, window in performance.update(batch, self.policy.is_open):
            if self.observer is not None:
                self.observer.performance(self.model_id, finding, window)
            alerts += self.policy.observe(
                finding, window, model_version=self.model_version, now=now
            )
        return alerts

    def _learn(self, batch: EventColumns) -> EventColumns:
        """Buffer events until a baseline can be fitted; return the rest."""
        s = self.settings
        need = s.baseline_events - self._learned
        self._learning.append(batch.slice(0, need) if batch.size > need else batch)
        self._learned += min(need, batch.size)
        if self._learned < s.baseline_events:
            return batch.slice(0, 0)
        learned = tracked_features(EventColumns.concat(self._learning), s)
        baseline = Baseline.fit(
            learned,
            bins=s.numeric_bins,
            max_categories=s.max_categories,
            min_share=s.min_category_share,
            source="learned",
            model_version=self.model_version,
            cycles=False,
        )
        self.set_baseline(baseline, published=False)
        self._phases = PhaseLearner(baseline, cap=s.baseline_events, window_events=s.window_events)
        self._phases.add(learned)
        self._set_phases()
        return batch.slice(need, batch.size)

    def _set_phases(self) -> None:
        """Judge against the phases learned so far (drift: frozen phases only)."""
        assert self._phases is not None and self._window is not None and self._adwins is not None
        profile = self._phases.profile()
        self._window.set_phases(profile)
        self._adwins.set_phases(profile)

    def _learn_phases(
        self, chunk: EventColumns, window: WindowCounts, adwins: AdwinStreams
    ) -> tuple[WindowCounts, AdwinStreams]:
        """Learn a chunk into the phases; calibrate and republish when due (see .learn)."""
        learner = self._phases
        assert learner is not None
        if learner.add(chunk):
            self._set_phases()
        if not learner.due(float(chunk.timestamps.max())):
            return window, adwins
        calibration = learner.calibrate()
        if calibration.windows < MIN_WINDOWS:  # resumed with few new windows: keep the old
            calibration = learner.baseline.calibration
        baseline = learner.baseline.replace(
            phases=learner.profile(), calibration=calibration, created_at=time.time()
        )
        self._install(baseline, published=False)
        if learner.complete:
            self._phases = None
        else:
            self._set_phases()
        assert self._window is not None and self._adwins is not None
        return self._window, self._adwins

    def _close_window(self, window: WindowCounts, adwins: AdwinStreams, now: float) -> list[Alert]:
        """Judge the window by each detector; then ADWIN's alerts count a quiet window."""
        closed = window.close(self.policy.is_open)
        self.latest = closed.report()
        self.windows_judged += 1
        if self.observer is not None:
            self.observer.window(self.model_id, closed)
        findings = closed.in_order([f for d in WINDOW_DETECTORS for f in d.judge(closed)])
        alerts = self._observe(findings, closed.window, now)
        return alerts + self._observe(adwins.quiet(self.policy.firing), closed.window, now)

    def _observe(self, findings: list[Finding], window: Window, now: float) -> list[Alert]:
        alerts: list[Alert] = []
        for finding in findings:
            alerts += self.policy.observe(
                finding, window, model_version=self.model_version, now=now
            )
        return alerts


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
        max_models: int | None = None,
        observer: WindowObserver | None = None,
    ) -> None:
        self.observer = observer  # given to every model's monitor
        self.settings = settings or Settings()
        self.overrides = overrides or {}
        self._overrides_told = not self.overrides  # see unseen_overrides_once
        self.models: dict[str, ModelMonitor] = {}
        self.max_models = max_models
        self.untracked_events = 0  # events of models past max_models, not judged
        self._baselines: dict[str, Baseline] = {b.model_id: b for b in baselines}
        self._dormant: dict[str, AlertPolicy] = {}  # open episodes of models not run here

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        """The baselines given or set here, by model id (read-only)."""
        return MappingProxyType(self._baselines)

    def model(self, model_id: str) -> ModelMonitor:
        monitor = self.models.get(model_id)
        if monitor is None:
            settings = self.settings.for_model(model_id, self.overrides)
            policy = self._dormant.pop(model_id, None)
            monitor = ModelMonitor(
                model_id,
                settings,
                self._baselines.get(model_id),
                policy=policy,
                observer=self.observer,
            )
            self.models[model_id] = monitor
        return monitor

    def models_not_seen(self) -> list[str]:
        """The model ids with overrides of which no event was seen here (yet).

        >>> Monitor(overrides={"fraud-detector": {"psi_min": 0.2}}).models_not_seen()
        ['fraud-detector']
        """
        return sorted(set(self.overrides) - set(self.models))

    def unseen_overrides_once(self) -> list[str]:
        """:meth:`models_not_seen`, once: at the first call after a window was
        judged (a misspelt model id, or another worker's model); else []."""
        if self._overrides_told or not any(m.windows_judged for m in self.models.values()):
            return []
        self._overrides_told = True
        return self.models_not_seen()

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

    def adopt(self, model: ModelMonitor) -> bool:
        """Run ``model`` (restored from a checkpoint) here from now on.

        Refused (False) when its settings are not the ones this monitor gives
        the model (the configuration changed: the model starts over). A
        baseline given here that is newer than the model's replaces it.
        """
        if model.settings != self.settings.for_model(model.model_id, self.overrides):
            return False
        given = self._baselines.get(model.model_id)
        current = model.baseline
        if given is not None and (current is None or given.created_at > current.created_at):
            model.set_baseline(given)
        self._dormant.pop(model.model_id, None)  # the checkpoint's episodes are the newer
        model.observer = self.observer
        self.models[model.model_id] = model
        return True

    def set_baseline(self, baseline: Baseline) -> None:
        """Use ``baseline`` for its model from now on."""
        self._baselines[baseline.model_id] = baseline
        if baseline.model_id in self.models:
            self.models[baseline.model_id].set_baseline(baseline)

    def process(
        self,
        batches: Iterable[EventColumns],
        *,
        now: float,
        locate: Callable[[str, int], dict[str, Any]] | None = None,
    ) -> list[Alert]:
        """Run every model's batch through its monitor; return all alerts.

        ``locate(model_id, index)``: see :meth:`ModelMonitor.update`."""
        alerts: list[Alert] = []
        cap = self.max_models
        for batch in batches:
            if cap is not None and batch.model_id not in self.models and len(self.models) >= cap:
                self.untracked_events += batch.size  # a model past the cap: counted only
                continue
            where = None
            if locate is not None:
                where = functools.partial(locate, batch.model_id)
            alerts += self.model(batch.model_id).update(batch, now=now, locate=where)
        return alerts

    def process_labels(self, batches: list[LabelledPredictions], *, now: float) -> list[Alert]:
        """Run every model's labelled predictions (from the label join) through
        its monitor's realized-performance detectors; return all alerts."""
        alerts: list[Alert] = []
        for batch in batches:
            alerts += self.model(batch.model_id).update_labels(batch, now=now)
        return alerts
