"""Labels in the worker: the labels topic decoded, joined, judged and measured.

The worker's consumer subscribes to the events and the labels topics in the
same group. Both are keyed by ``model_id`` and must have the same number of
partitions (:func:`check_copartitioned`, at start-up): then a model's events
and labels are in partitions of the same number, which Kafka's range
assignor gives to the same worker, so the join of a model is in one process.

Per judged batch (:meth:`LabelStage.process`, called by the judge after the
events): the batch's predictions go into the :class:`~streamproc.labels.LabelJoin`,
then its label records, decoded (:func:`~streamproc.labels.decode_labels`; the
worker has a decoder process do it with the poll's events, from the record
batches as fetched, :func:`~streamproc.labels.decode.decode_label_batches`,
which the worker does not unpack; malformed ones become
dead letters with ``source.topic`` the labels topic, counted in
``streamproc_events_rejected_total`` like the events'), are matched, and the pairs go to
:meth:`~streamproc.detect.monitor.Monitor.process_labels`; its alerts are
published with the batch's.

When the worker catches up on a backlog, :meth:`LabelStage.pace` holds back
the label records that run ahead of their events, and the event records
that run ahead of their labels (:mod:`streamproc.stream.pacing`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from streamproc.config import WorkerConfig
from streamproc.detect.monitor import Monitor
from streamproc.events.labels import LabelledPredictions
from streamproc.labels import UNMATCHED_REASONS, JoinSettings, LabelJoin, decode_labels
from streamproc.labels.decode import BatchLabels, DecodedLabels, RecordTimes
from streamproc.stream.batch import BatchResult, Record, dead_letter, unpacked_labels
from streamproc.stream.fetch import record_count
from streamproc.stream.metrics import Metrics
from streamproc.stream.pacing import JoinPacing

log = logging.getLogger("streamproc.stream.ingest")

# How far (Kafka record time) labels may be judged ahead of the events on a
# backlog: a label is produced after its prediction, so once the events are
# judged up to its time less this (producers' clocks differ by less), its
# prediction is pending. Further ahead, it would wait as an early label, which
# costs about twice as much as a label that finds its prediction (matched when
# it comes, then again with it): on a backlog of a label for every event 5 s
# late, 0.69x the events/s without labels with 150 s, 0.81x with 1 s
# (docs/performance.md, "Session 12").
LABEL_SLACK_S = 1.0
DELAY_BUCKETS = (1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0,
                 86_400.0, 2 * 86_400.0, 7 * 86_400.0)  # fmt: skip


async def check_copartitioned(config: WorkerConfig) -> None:
    """End the process with one line unless the events and labels topics have
    the same number of partitions."""
    from streamproc.stream.topics import partitions_of

    topics = config.topics
    found = await partitions_of(config, [topics.events, topics.labels])
    events, labels = len(found[topics.events]), len(found[topics.labels])
    if events != labels:
        log.error(
            "worker cannot start: topics %s (%d partitions) and %s (%d partitions) must have "
            "the same number of partitions to join labels; repartition one of them, or run "
            "with labels = false",
            topics.events,
            events,
            topics.labels,
            labels,
        )
        raise SystemExit(1)  # the line above says why: no second one


async def records_waiting(
    consumer: AIOKafkaConsumer, assigned: Iterable[TopicPartition], topic: str
) -> dict[int, bool | None]:
    """Whether each assigned partition of ``topic`` (by number) has records not
    polled yet: None for one not fetched yet (its end unknown), False for one
    taken away meanwhile."""
    from aiokafka.errors import IllegalStateError

    waiting: dict[int, bool | None] = {}
    for tp in assigned:
        if tp.topic != topic:
            continue
        if tp not in consumer.assignment():  # taken away while awaiting a position
            waiting[tp.partition] = False
            continue
        highwater = consumer.highwater(tp)
        try:
            if highwater is None:
                waiting[tp.partition] = None
            else:
                waiting[tp.partition] = highwater > await consumer.position(tp)
        except IllegalStateError:
            waiting[tp.partition] = False
    return waiting


def join_settings(config: WorkerConfig) -> JoinSettings:
    return JoinSettings(
        ttl_seconds=config.label_ttl_seconds,
        max_pending=config.max_pending_labels,
        early_seconds=config.early_label_seconds,
        max_early=config.max_early_labels,
    )


class _DelayCollector(Collector):
    """``streamproc_label_delay_seconds``, filled from numpy arrays (no labels)."""

    def __init__(self) -> None:
        self._edges = np.asarray(DELAY_BUCKETS)
        self._counts = np.zeros(len(DELAY_BUCKETS) + 1, dtype=np.int64)
        self._sum = 0.0

    def observe(self, seconds: np.ndarray) -> None:
        seconds = np.maximum(seconds[~np.isnan(seconds)], 0.0)  # a label before its prediction: 0
        self._counts += np.bincount(
            np.searchsorted(self._edges, seconds, side="left"), minlength=len(self._edges) + 1
        )
        self._sum += float(seconds.sum())

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "streamproc_label_delay_seconds",
            "Seconds from a prediction to its label (event times), per matched label.",
        )
        cumulative = np.cumsum(self._counts).tolist()
        buckets = [(repr(le), c) for le, c in zip(DELAY_BUCKETS, cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        family.add_metric([], buckets, self._sum)
        yield family


class LabelMetrics:
    """The label join's metrics, in the worker's registry."""

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self._metrics = metrics
        self.labels = Counter(
            "streamproc_labels", "Labels matched to their prediction.", ["model"], registry=r
        )
        self.unmatched = Counter(
            "streamproc_labels_unmatched",
            "Valid labels that matched no prediction, by reason.",
            ["reason"],
            registry=r,
        )
        for reason in UNMATCHED_REASONS:
            self.unmatched.labels(reason)
        self.pending = Gauge(
            "streamproc_labels_pending", "Predictions waiting for their label.", registry=r
        )
        self.early = Gauge(
            "streamproc_labels_early",
            "Labels waiting for their prediction (arrived first).",
            registry=r,
        )
        self.unjoinable = Counter(
            "streamproc_events_unjoinable",
            "Events without an event_id (their predictions cannot be joined to labels).",
            registry=r,
        )
        self.unlabelled = Counter(
            "streamproc_predictions_unlabelled",
            "Pending predictions dropped without a label: past the TTL or evicted when full.",
            ["reason"],
            registry=r,
        )
        for reason in ("expired", "evicted"):
            self.unlabelled.labels(reason)
        self._models = 0  # models of the join with a streamproc_labels_total series
        self.delay = _DelayCollector()
        r.register(self.delay)

    def observe(self, pairs: list[LabelledPredictions], join: LabelJoin) -> None:
        if len(join.models) != self._models:  # a series (at 0) from a model's first events on
            self._models = len(join.models)
            for model_id in join.models:
                self.labels.labels(self._metrics.model_label(model_id))
        for batch in pairs:
            self.labels.labels(self._metrics.model_label(batch.model_id)).inc(batch.size)
            self.delay.observe(batch.label_delays())
        counts = join.take_counts()
        for reason in UNMATCHED_REASONS:
            if counts[reason]:
                self.unmatched.labels(reason).inc(counts[reason])
        if counts["unjoinable"]:
            self.unjoinable.inc(counts["unjoinable"])
        for reason in ("expired", "evicted"):
            if counts[f"predictions_{reason}"]:
                self.unlabelled.labels(reason).inc(counts[f"predictions_{reason}"])
        self.pending.set(join.pending)
        self.early.set(join.early)


def _pause_holding(consumer: AIOKafkaConsumer, topic: str, holding: set[int]) -> None:
    """Pause the assigned partitions of ``topic`` in ``holding``, resume the others."""
    assigned = {tp for tp in consumer.assignment() if tp.topic == topic}
    held = {tp for tp in assigned if tp.partition in holding}
    paused = {tp for tp in consumer.paused() if tp.topic == topic}
    if held - paused:
        log.debug("%s ahead of the other side: holding %s", topic, sorted(held - paused))
        consumer.pause(*(held - paused))
    if paused - held:
        consumer.resume(*(paused - held))


class LabelStage:
    """The label join of one worker (see the module doc)."""

    def __init__(self, config: WorkerConfig, metrics: Metrics) -> None:
        self.topic = config.topics.labels
        self.events_topic = config.topics.events
        self.join = LabelJoin(join_settings(config))
        # label records may be judged LABEL_SLACK_S of Kafka time ahead of their
        # events (half the time an early label waits, if less); event records as
        # far ahead of their labels as half the time a prediction waits for its label
        self.pacing = JoinPacing(
            label_slack_ms=min(LABEL_SLACK_S, config.early_label_seconds / 2) * 1000,
            event_slack_ms=config.label_ttl_seconds * 1000 / 2,
        )
        self.metrics = LabelMetrics(metrics)
        self.worker_metrics = metrics

    def process(
        self,
        labels: list[Record],
        result: BatchResult,
        monitor: Monitor,
        *,
        sources: list[TopicPartition],
        now: float,
        decoded: BatchLabels | DecodedLabels | None = None,
    ) -> None:
        """Join the batch's predictions (``result.columns``) and the labels
        topic's ``labels`` (record batches or records; ``sources[i]``: the
        partition of ``labels[i]``); add the alerts and dead letters to
        ``result``. ``decoded``: what a decoder process made of them
        (:func:`~streamproc.labels.decode.decode_label_batches`, or of records
        :func:`~streamproc.labels.decode.decode_labels_grouped`); else they are
        decoded here."""
        records, record_sources = labels, sources  # (unpacked only if needed)
        try:
            pairs = self.join.add(result.columns)
            letters = []
            if labels:
                if isinstance(decoded, BatchLabels):
                    rows, rejections = decoded.rows, decoded.rejections
                    if rejections:
                        records, record_sources = unpacked_labels(labels, sources)
                elif decoded is None:
                    records, record_sources = unpacked_labels(labels, sources)
                    values = [r.value for r in records]
                    rows, rejections = decode_labels(values, RecordTimes(records))  # type: ignore[arg-type]
                else:
                    rows, rejections = decoded
                    rows.fill_times(lambda index: records[index].timestamp / 1000.0)
                letters = [
                    dead_letter(
                        records[index],
                        record_sources[index],
                        problem.reason,
                        problem.detail,
                        problem.index,
                    )
                    for index, problem in rejections
                ]
                pairs += self.join.match(rows)
            alerts = monitor.process_labels(pairs, now=now) if pairs else []
            result.dead_letters += letters
            result.alerts += alerts
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the stream
            log.exception("label join failed for a batch's %d label records", record_count(labels))
            detail = f"processing failed: {type(exc).__name__}: {exc}".splitlines()[0]
            records, record_sources = unpacked_labels(labels, sources)
            result.dead_letters += [
                dead_letter(r, source, "processing_error", detail)
                for r, source in zip(records, record_sources, strict=True)
            ]
            pairs = []
        self.metrics.observe(pairs, self.join)
        for model_id in {batch.model_id for batch in pairs}:
            self.worker_metrics.observe_performance(monitor.model(model_id))

    async def paced(
        self,
        consumer: AIOKafkaConsumer,
        polled: dict[TopicPartition, list[Record]],
        generation: int,
        generation_now: Callable[[], int],
    ) -> dict[TopicPartition, list[Record]] | None:
        """:meth:`pace` a poll of ``generation``, with each partition's records
        waiting read from the consumer; None if ``generation_now()`` moved on
        meanwhile (partitions moved: the poll's records are read again)."""
        assigned = consumer.assignment()
        events_waiting = await records_waiting(consumer, assigned, self.events_topic)
        labels_waiting = await records_waiting(consumer, assigned, self.topic)
        if generation_now() != generation:
            return None
        return self.pace(
            consumer, polled, events_waiting=events_waiting, labels_waiting=labels_waiting
        )

    def pace(
        self,
        consumer: AIOKafkaConsumer,
        polled: dict[TopicPartition, list[Record]],
        *,
        events_waiting: dict[int, bool | None],
        labels_waiting: dict[int, bool | None],
    ) -> dict[TopicPartition, list[Record]]:
        """A poll with the records of each side held back while they run ahead
        of the other side, and the records held before that the other side has
        reached (:class:`~streamproc.stream.pacing.JoinPacing`); the partitions
        with records held are paused, the others resumed. ``*_waiting``: whether
        each partition (by number) has records not polled yet (None: unknown)."""
        sides: dict[str, dict[int, list[Record]]] = {self.events_topic: {}, self.topic: {}}
        out: dict[TopicPartition, list[Record]] = {}
        for tp, part in polled.items():
            if tp.topic in sides:
                sides[tp.topic][tp.partition] = part
            else:
                out[tp] = part
        events, labels = self.pacing.take(
            sides[self.events_topic],
            sides[self.topic],
            events_waiting=events_waiting,
            labels_waiting=labels_waiting,
            now=time.monotonic(),
        )
        for topic, taken in ((self.events_topic, events), (self.topic, labels)):
            out.update((TopicPartition(topic, p), part) for p, part in taken.items())
        _pause_holding(consumer, self.events_topic, self.pacing.holding_events)
        _pause_holding(consumer, self.topic, self.pacing.holding_labels)
        return out

    def forget(self, model_ids: Iterable[str], partitions: set[int]) -> None:
        """Forget the models and partitions taken away (records held of those
        partitions were not committed: they are read again)."""
        self.join.forget(model_ids)
        self.pacing.forget(partitions)
