"""Prometheus metrics of a worker (names and labels as in CONTRACT.md).

Updated once per batch, never per event: counters are incremented by batch
totals and the latency histogram is filled with numpy bucket counts. Label
values are bounded: the first ``max_models`` models and the first
``max_feature_series`` features of each keep their own series; the rest are folded
into ``"__other__"`` and counted in ``streamproc_metric_series_folded_total``.

>>> m = Metrics(max_models=1, max_feature_series=1)
>>> m.model_label("a"), m.model_label("b"), m.feature_label("a", "x"), m.feature_label("a", "y")
('a', '__other__', 'x', '__other__')
"""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from streamproc.detect.monitor import ModelMonitor, Monitor
from streamproc.events.alerts import Alert

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streamproc.stream.batch import BatchResult

OTHER = "__other__"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _LatencyCollector(Collector):
    """``streamproc_inference_latency_seconds``, filled from numpy arrays."""

    def __init__(self) -> None:
        self._edges = np.asarray(LATENCY_BUCKETS)
        self._counts: dict[str, np.ndarray] = {}
        self._sums: dict[str, float] = {}

    def observe(self, model: str, seconds: np.ndarray) -> None:
        seconds = seconds[~np.isnan(seconds)]
        if not len(seconds):
            return
        bins = np.bincount(
            np.searchsorted(self._edges, seconds, side="left"), minlength=len(self._edges) + 1
        )
        if model in self._counts:
            self._counts[model] += bins
        else:
            self._counts[model] = bins.astype(np.int64)
        self._sums[model] = self._sums.get(model, 0.0) + float(seconds.sum())

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "streamproc_inference_latency_seconds",
            "Inference latency reported by the model servers.",
            labels=["model"],
        )
        for model, counts in self._counts.items():
            cumulative = np.cumsum(counts).tolist()
            buckets = [(repr(le), c) for le, c in zip(LATENCY_BUCKETS, cumulative, strict=False)]
            buckets.append(("+Inf", cumulative[-1]))
            family.add_metric([model], buckets, self._sums[model])
        yield family


def _drop(gauge: Gauge, *labels: str) -> None:
    """Remove one series of ``gauge`` if it exists (a folded ``__other__``
    series stands for several names: it stays)."""
    if OTHER in labels:
        return
    try:
        gauge.remove(*labels)
    except KeyError:
        pass


class Metrics:
    """The worker's metrics in their own registry."""

    def __init__(self, *, max_models: int = 100, max_feature_series: int = 50) -> None:
        self.registry = r = CollectorRegistry()
        self.max_models = max_models
        self.max_feature_series = max_feature_series
        self._models: set[str] = set()
        self._features: dict[str, set[str]] = {}
        self._firing: set[tuple[str, str, str]] = set()
        self._reported: dict[object, object] = {}
        self.events = Counter(
            "streamproc_events", "Inference events processed.", ["model"], registry=r
        )
        self.rejected = Counter(
            "streamproc_events_rejected",
            "Records (or array elements) sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.feature_psi = Gauge(
            "streamproc_feature_psi",
            "PSI of a feature over its last judged window.",
            ["model", "feature"],
            registry=r,
        )
        self.feature_psi_threshold = Gauge(
            "streamproc_feature_psi_threshold",
            "PSI alert threshold of a feature for its last window (depends on window size).",
            ["model", "feature"],
            registry=r,
        )
        self.null_ratio = Gauge(
            "streamproc_feature_null_ratio",
            "Share of null values of a feature over its last judged window.",
            ["model", "feature"],
            registry=r,
        )
        self.prediction_psi = Gauge(
            "streamproc_prediction_psi",
            "PSI of the prediction (score, else class) over its last judged window.",
            ["model"],
            registry=r,
        )
        self.performance = Gauge(
            "streamproc_model_performance",
            "Realized model performance over the last window of labelled predictions "
            "(metric: accuracy, brier, precision:<class>, recall:<class>; mae, rmse, mean_error).",
            ["model", "metric"],
            registry=r,
        )
        self.performance_estimated = Gauge(
            "streamproc_model_performance_estimated",
            "Label-free performance estimate over the last judged event window "
            "(metric: accuracy; binary: precision, recall, tp, fp, tn, fn shares).",
            ["model", "metric"],
            registry=r,
        )
        self.alerts = Counter(
            "streamproc_alerts",
            "Alert events published; status firing (an episode raised) or resolved.",
            ["model", "signal", "detector", "severity", "status"],
            registry=r,
        )
        self.alerts_firing = Gauge(
            "streamproc_alerts_firing",
            "Alert episodes currently firing.",
            ["model", "signal", "severity"],
            registry=r,
        )
        self.errors = Counter(
            "streamproc_inference_errors", "Failed inferences reported.", ["model"], registry=r
        )
        self.batch_duration = Histogram(
            "streamproc_batch_duration_seconds",
            "Time from polling a batch to committing its offsets (decoding and judging it).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.event_lag = Gauge(
            "streamproc_event_lag_seconds",
            "Now minus the newest processed event time.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "streamproc_consumer_lag_records",
            "Records in this worker's partitions of the events topic not yet consumed.",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "streamproc_assigned_partitions",
            "Partitions of the events topic this worker currently owns.",
            registry=r,
        )
        self.folded = Counter(
            "streamproc_metric_series_folded",
            "Label values folded into __other__ because of the label caps.",
            ["kind"],
            registry=r,
        )
        self.kafka_connected = Gauge(
            "streamproc_kafka_connected",
            "1 while the brokers answer the worker's probe, 0 once they have not for a while.",
            registry=r,
        )
        self.kafka_connected.set(1)
        self.kafka_reconnects = Counter(
            "streamproc_kafka_reconnects",
            "Times the brokers became reachable again after being lost.",
            registry=r,
        )
        self.feature_overflow = Counter(
            "streamproc_feature_overflow",
            "Distinct feature names of a batch past MAX_BATCH_FEATURES (no column, not tracked).",
            ["model"],
            registry=r,
        )
        self.untracked_events = Counter(
            "streamproc_untracked_events",
            "Events of models past the worker's cap of models (max_models_judged), not judged.",
            registry=r,
        )
        self._untracked = 0
        self.latency = _LatencyCollector()
        r.register(self.latency)

    def observe_caps(self, monitor: Any, columns: Iterable[Any]) -> None:
        """Count what the caps kept out: feature names past them, models past them."""
        for c in columns:
            if c.overflow:
                self.feature_overflow.labels(self.model_label(c.model_id)).inc(c.overflow)
        untracked = monitor.untracked_events
        if untracked > self._untracked:
            self.untracked_events.inc(untracked - self._untracked)
            self._untracked = untracked

    def set_connected(self, connected: bool) -> None:
        """The brokers were lost (False) or are back (True: one more reconnect)."""
        self.kafka_connected.set(1 if connected else 0)
        if connected:
            self.kafka_reconnects.inc()

    def model_label(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) < self.max_models:
            self._models.add(model)
            return model
        self.folded.labels("model").inc()
        return OTHER

    def feature_label(self, model: str, feature: str) -> str:
        known = self._features.setdefault(model, set())
        if feature in known:
            return feature
        if len(known) < self.max_feature_series:
            known.add(feature)
            return feature
        self.folded.labels("feature").inc()
        return OTHER

    def observe_model(
        self, monitor: ModelMonitor, events: int, errors: int, latency_ms: np.ndarray
    ):
        """Record one batch of one model and its latest window statistics."""
        model = self.model_label(monitor.model_id)
        self.events.labels(model).inc(events)
        self.errors.labels(model).inc(errors)
        self.latency.observe(model, latency_ms / 1000.0)
        report = monitor.latest
        if report is None or self._reported.get(monitor.model_id) is report:
            return  # window statistics change once per judged window, not per batch
        self._reported[monitor.model_id] = report
        for name, stats in report.features.items():
            feature = self.feature_label(monitor.model_id, name)
            # a feature absent from the window (or with too few values for a
            # PSI) has no statistic: its series go, rather than show NaN, a
            # threshold for a window of one value, or a null ratio of 0
            if math.isnan(stats.psi):
                _drop(self.feature_psi, model, feature)
                _drop(self.feature_psi_threshold, model, feature)
            else:
                self.feature_psi.labels(model, feature).set(stats.psi)
                self.feature_psi_threshold.labels(model, feature).set(stats.psi_threshold)
            if stats.present == 0:
                _drop(self.null_ratio, model, feature)
            else:
                self.null_ratio.labels(model, feature).set(stats.null_ratio)
        if report.prediction_psi is not None:
            if math.isnan(report.prediction_psi):
                _drop(self.prediction_psi, model)
            else:
                self.prediction_psi.labels(model).set(report.prediction_psi)
        for metric, value in (report.estimate or {}).items():
            self.performance_estimated.labels(model, metric).set(value)

    async def observe_lag(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition], newest_event: float | None
    ) -> None:
        """Records waiting in the owned partitions, and the age of the newest event."""
        waiting = 0
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                waiting += max(0, highwater - await consumer.position(tp))
        self.consumer_lag.set(waiting)
        if newest_event is not None:
            self.event_lag.set(max(0.0, time.time() - newest_event))

    def observe_batch(self, result: BatchResult, monitor: Monitor) -> None:
        """Everything a judged batch changes: rejections, per-model counts,
        caps, alerts, firing episodes."""
        for d in result.dead_letters:
            self.rejected.labels(d.reason).inc()
        for columns in result.columns:
            model = monitor.models.get(columns.model_id)
            if model is None:
                continue  # past max_models_judged: counted by observe_caps
            self.observe_model(model, columns.size, int(columns.errors.sum()), columns.latency_ms)
        self.observe_caps(monitor, result.columns)
        self.observe_alerts(result.alerts)
        self.observe_firing(monitor.models.values())

    def observe_performance(self, monitor: ModelMonitor) -> None:
        """Set ``streamproc_model_performance`` from a model's last closed window
        of labelled predictions (call after ``Monitor.process_labels``)."""
        performance = monitor.performance
        if performance is None or self._reported.get(("labels", monitor.model_id)) is (
            latest := performance.latest
        ):
            return
        self._reported[("labels", monitor.model_id)] = latest
        model = self.model_label(monitor.model_id)
        for metric, value in latest.items():
            self.performance.labels(model, metric).set(value)

    def observe_alerts(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            model = self.model_label(a.model_id)
            self.alerts.labels(model, a.signal, a.detector, a.severity, a.status).inc()

    def observe_firing(self, monitors: Iterable[ModelMonitor]) -> None:
        """Set ``streamproc_alerts_firing`` from the open episodes."""
        tally: Tally[tuple[str, str, str]] = Tally()
        for monitor in monitors:
            model = self.model_label(monitor.model_id)
            for (signal, _feature, _detector), severity in monitor.policy.firing.items():
                tally[(model, signal, severity)] += 1
        for key in self._firing - set(tally):
            self.alerts_firing.labels(*key).set(0)
        for key, count in tally.items():
            self.alerts_firing.labels(*key).set(count)
        self._firing = set(tally)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
