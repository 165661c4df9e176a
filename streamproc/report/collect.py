"""What ``streamproc report`` shows, collected while the events are replayed.

:class:`ReportCollector` is a :class:`~streamproc.detect.observer.WindowObserver`:
for every judged window of a model it asks each window detector for its value
and threshold whatever the alert state (the window seen as if every alert
were open, so that each detector reports, breaching or not), and keeps the
last window's bin counts beside the baseline's shares. The result is a
:class:`ReportData`, which :func:`streamproc.report.html.render` turns into HTML.

Bounded (the caps are the module constants below): at most ``MAX_MODELS``
models (the first seen), ``MAX_FEATURES`` features per model (the baseline's
first), ``MAX_POINTS`` windows per series (past that, every other window is
dropped and only every 2nd, 4th, ... window is recorded from then on), and
``MAX_ALERTS`` alerts in the table; the report says what it left out.

>>> from streamproc.detect.monitor import Monitor
>>> from streamproc.detect.settings import Settings
>>> from streamproc.events.columns import columns_by_model
>>> from streamproc.simulate import Scenario, generate
>>> collector = ReportCollector(source="demo")
>>> monitor = Monitor(Settings(baseline_events=2000), observer=collector)
>>> for events in generate(Scenario.demo(drift_at=6000), events=12_000, batch=1000):
...     columns = columns_by_model(events, default_timestamp=0.0)
...     collector.batch(columns, monitor.process(columns, now=0.0))
>>> data = collector.finish({"events": 12_000})
>>> model = data.models[0]
>>> model.model_id, model.events, model.baseline_source, "amount" in model.features
('fraud-detector', 12000, 'learned', True)
>>> len(model.series[("feature", "amount", "psi")]) == model.windows
True
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamproc.detect.closed import ClosedWindow
from streamproc.detect.detector import WINDOW_DETECTORS
from streamproc.detect.policy import Finding, Key, Window
from streamproc.detect.profiles import NumericProfile, Profile
from streamproc.events.alerts import Alert

MAX_MODELS = 20
MAX_FEATURES = 30
MAX_POINTS = 400
MAX_ALERTS = 1000

Point = tuple[float, float, float]  # (window end, value, threshold)


@dataclass(slots=True)
class Distribution:
    """Shares per bin (or category) of the baseline and of the last judged window."""

    labels: list[str]
    baseline: list[float]
    recent: list[float]
    window_end: float
    window_events: int


@dataclass(slots=True)
class ModelReport:
    """Everything the report shows about one model."""

    model_id: str
    events: int = 0
    windows: int = 0
    baseline_source: str = "none"  # given (--baseline), learned (from its first events), none
    baseline_events: int = 0
    features: list[str] = field(default_factory=list)  # shown, in the baseline's order
    omitted_features: int = 0
    series: dict[Key, list[Point]] = field(default_factory=dict)  # per detector key, per window
    performance: dict[Key, list[Point]] = field(default_factory=dict)  # per labelled window
    distributions: dict[str | None, Distribution] = field(default_factory=dict)  # None: prediction
    stride: int = 1  # every stride-th window is in ``series`` (MAX_POINTS)


@dataclass(slots=True)
class ReportData:
    """The input of :func:`streamproc.report.html.render`."""

    source: str
    generated_at: float
    events: int
    rejected: int
    models: list[ModelReport]
    alerts: list[Alert]
    omitted_models: int = 0
    omitted_alerts: int = 0
    labels: str | None = None  # the label join's summary line, when labels were given


def bin_labels(profile: Profile) -> list[str]:
    """Names of a profile's bins: value ranges, or categories then "rest" and "unseen".

    >>> from streamproc.detect.profiles import CategoricalProfile
    >>> bin_labels(CategoricalProfile.fit(["a", "a", "b"]))
    ['a', 'b', '(rest)', '(unseen)']
    """
    if isinstance(profile, NumericProfile):
        edges = [f"{e:.3g}" for e in profile.edges]
        if not edges:
            return ["all"]
        inner = [f"{a}–{b}" for a, b in zip(edges, edges[1:], strict=False)]
        return [f"<{edges[0]}", *inner, f"≥{edges[-1]}"]
    return [str(name) for name in profile.categories] + ["(rest)", "(unseen)"]


def _shares(counts: Iterable[float]) -> list[float]:
    values = [float(c) for c in counts]
    total = sum(values)
    return [v / total if total else math.nan for v in values]


class ReportCollector:
    """Records each judged window of each model (see the module doc).

    ``given``: the models whose baseline came with ``--baseline``.
    """

    def __init__(self, *, source: str, given: Iterable[str] = ()) -> None:
        self.source = source
        self.given = set(given)
        self.models: dict[str, ModelReport] = {}
        self.omitted_models: set[str] = set()
        self.alerts: list[Alert] = []
        self.omitted_alerts = 0
        self._seen: dict[str, int] = {}  # windows judged per model

    def _model(self, model_id: str) -> ModelReport | None:
        report = self.models.get(model_id)
        if report is None:
            if len(self.models) >= MAX_MODELS:
                self.omitted_models.add(model_id)
                return None
            report = self.models[model_id] = ModelReport(model_id)
        return report

    def batch(self, columns: Iterable[Any], alerts: Iterable[Alert]) -> None:
        """Count a replayed batch's events (its columns, one per model) and keep its alerts."""
        for c in columns:
            report = self._model(c.model_id)
            if report is not None:
                report.events += c.size
        for alert in alerts:
            if len(self.alerts) < MAX_ALERTS:
                self.alerts.append(alert)
            else:
                self.omitted_alerts += 1

    def window(self, model_id: str, closed: ClosedWindow) -> None:
        report = self._model(model_id)
        if report is None:
            return
        report.windows += 1
        seen = self._seen[model_id] = self._seen.get(model_id, 0) + 1
        baseline = closed.baseline
        if not report.features or report.baseline_events != baseline.events:
            names = [f.name for f in closed.features]
            report.features = names[:MAX_FEATURES]
            report.omitted_features = max(0, len(baseline.features) - len(report.features))
            report.baseline_events = baseline.events
            report.baseline_source = "given" if model_id in self.given else baseline.source
        shown = set(report.features)
        for f in closed.features:
            if f.name in shown:
                report.distributions[f.name] = Distribution(
                    bin_labels(f.profile),
                    list(f.profile.proportions),
                    _shares(f.counts.counts),
                    closed.window.end,
                    closed.window.events,
                )
        prediction = baseline.prediction_score or baseline.prediction_label
        if prediction is not None and closed.prediction_counts is not None:
            report.distributions[None] = Distribution(
                bin_labels(prediction),
                list(prediction.proportions),
                _shares(closed.prediction_counts),
                closed.window.end,
                closed.window.events,
            )
        if (seen - 1) % report.stride:
            return
        everything = dataclasses.replace(closed, is_open=lambda key: True)
        for detector in WINDOW_DETECTORS:
            for finding in detector.judge(everything):
                if finding.feature is None or finding.feature in shown:
                    series = report.series.setdefault(finding.key, [])
                    series.append((closed.window.end, finding.value, finding.threshold))
        for series in report.series.values():
            if len(series) > MAX_POINTS:
                _thin(report)
                break

    def performance(self, model_id: str, finding: Finding, window: Window) -> None:
        report = self._model(model_id)
        if report is None or finding.detector.endswith("_adwin"):
            return  # ADWIN's findings are changes, not a level per window: in the alert table
        series = report.performance.setdefault(finding.key, [])
        series.append((window.end, finding.value, finding.threshold))
        if len(series) > MAX_POINTS:
            series[:] = series[1::2]

    def finish(self, counts: Mapping[str, int], labels: str | None = None) -> ReportData:
        """The report's data, once every batch was seen."""
        return ReportData(
            source=self.source,
            generated_at=time.time(),
            events=int(counts.get("events", 0)),
            rejected=int(counts.get("rejected", 0)),
            models=list(self.models.values()),
            alerts=self.alerts,
            omitted_models=len(self.omitted_models),
            omitted_alerts=self.omitted_alerts,
            labels=labels,
        )


def _thin(report: ModelReport) -> None:
    """Keep every other recorded window; record every other window from now on."""
    for series in report.series.values():
        series[:] = series[::2]
    report.stride *= 2
