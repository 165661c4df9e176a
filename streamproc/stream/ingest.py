"""Batch ingestion: Kafka records in, detectors run, alerts and dead letters out.

Faust's per-message machinery costs ~100 us a record (DESIGN.md), so the
worker does not consume through Faust agents. :class:`IngestService` is a
``mode`` service started by the Faust worker; it owns an aiokafka consumer in
the worker's consumer group, and three tasks:

1. the poller: ``getmany`` up to ``max_batch`` records, and hand their values
   to the :class:`~streamproc.stream.decoders.DecoderPool` (decoding,
   validation, columns per model, in ``decoders`` child processes);
2. the judge, meanwhile, takes the polled batches in order: their decoded
   columns through the detectors (:func:`process_records`, synchronous,
   vectorised); publish the alerts and dead letters and wait until the broker
   has them; update metrics; hand the batch's offsets to
3. the committer, which commits the newest offsets handed to it at each
   round trip to the broker (the judge does not wait for commits).

Offsets advance only after a batch is fully processed and its outputs are
delivered: a crash replays at most the batches in flight (at-least-once), and
stable alert ids make the replayed alerts recognisable as the same ones. When
partitions move, the offsets of judged batches are committed first, and
batches polled before the move are dropped unjudged: the partitions' owners
(this worker included) fetch them again from the committed offsets.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    TopicAlreadyExistsError,
)
from mode import Service

from streamproc.config import WorkerConfig
from streamproc.contracts import Alert, DecodedRecords, EventColumns
from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.stream.decoders import DecoderPool, decode_values
from streamproc.stream.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record (or array element) for the dead-letter topic."""

    key: bytes | None
    value: bytes | None
    reason: str
    headers: list[tuple[str, bytes]]


@dataclass(slots=True)
class BatchResult:
    """What one polled batch produced."""

    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    columns: list[EventColumns] = field(default_factory=list)
    newest_event_time: float | None = None


def dead_letter(
    record: ConsumerRecord, reason: str, detail: str, index: int | None = None
) -> DeadLetter:
    """The DLQ copy of a record (or of element ``index`` of an array record)."""
    value = record.value
    headers = [
        ("error", detail.encode()),
        ("error.reason", reason.encode()),
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
    ]
    if index is not None:
        value = orjson.dumps(orjson.loads(record.value)[index])
        headers.append(("source.index", str(index).encode()))
    return DeadLetter(record.key, value, reason, headers)


@dataclass(slots=True)
class PolledBatch:
    """Records of one poll, their decoding under way, and the offsets to commit.

    ``generation`` counts the rebalances before the poll: a batch polled before
    partitions moved is dropped (see :class:`IngestService`).
    """

    records: list[ConsumerRecord]
    decoded: Coroutine[Any, Any, DecodedRecords]
    offsets: dict[TopicPartition, int]
    generation: int
    polled_at: float = field(default_factory=time.perf_counter)


POLL_BATCHES = 8  # batches a poll may take at most


def batches(
    polled: dict[TopicPartition, list[ConsumerRecord]], size: int
) -> Iterator[dict[TopicPartition, list[ConsumerRecord]]]:
    """``polled`` cut into batches of ``size`` records, each partition's in order.

    >>> tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    >>> [{tp.partition: n for tp, n in b.items()} for b in batches({tp0: [1, 2, 3], tp1: [4]}, 2)]
    [{0: [1, 2]}, {0: [3], 1: [4]}]
    """
    batch: dict[TopicPartition, list[ConsumerRecord]] = {}
    room = size
    for tp, records in polled.items():
        start = 0
        while start < len(records):
            taken = records[start : start + room]
            batch[tp] = taken
            start += len(taken)
            room -= len(taken)
            if room == 0:
                yield batch
                batch, room = {}, size
    if batch:
        yield batch


def record_values(records: Sequence[ConsumerRecord]) -> tuple[list[bytes | None], list[float]]:
    """Values and Kafka timestamps (seconds) of records, for decoding."""
    return [r.value for r in records], [r.timestamp / 1000.0 for r in records]


def process_safely(
    records: list[ConsumerRecord],
    monitor: Monitor,
    *,
    now: float,
    decoded: DecodedRecords | None = None,
) -> BatchResult:
    """:func:`process_records`, where a record that makes the detectors fail is
    dead-lettered (reason ``processing_error``) instead of stopping the stream.

    After a failure the batch is redone record by record; events of the failed
    batch that were already counted before the failure may be counted twice.
    """
    try:
        return process_records(records, monitor, now=now, decoded=decoded)
    except Exception:  # noqa: BLE001 - a bug must not stop the stream
        log.exception("batch of %d records failed; redoing it record by record", len(records))
    result = BatchResult()
    for record in records:
        try:
            part = process_records([record], monitor, now=now)
        except Exception as exc:  # noqa: BLE001
            detail = f"processing failed: {type(exc).__name__}: {exc}".splitlines()[0]
            result.dead_letters.append(dead_letter(record, "processing_error", detail))
            continue
        result.alerts += part.alerts
        result.dead_letters += part.dead_letters
        result.columns += part.columns
        if part.newest_event_time is not None:
            result.newest_event_time = max(result.newest_event_time or 0.0, part.newest_event_time)
    return result


def process_records(
    records: list[ConsumerRecord],
    monitor: Monitor,
    *,
    now: float,
    decoded: DecodedRecords | None = None,
) -> BatchResult:
    """Decode (unless ``decoded`` holds what :func:`decode_values` made of the
    records) and judge a batch of event records (no I/O)."""
    result = BatchResult()
    if decoded is None:
        decoded = decode_values(*record_values(records))
    for index, rejection in decoded.rejections:
        result.dead_letters.append(
            dead_letter(records[index], rejection.reason, rejection.detail, rejection.index)
        )
    if decoded.columns:
        result.columns = decoded.columns
        result.alerts = monitor.process(result.columns, now=now)
        result.newest_event_time = max(float(c.timestamps.max()) for c in result.columns)
    return result


async def ensure_topics(bootstrap: str, config: WorkerConfig) -> None:
    """Create the contract's topics that do not exist yet."""
    t = config.topics
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, config.partitions, 1)
            for name in (t.events, t.labels, t.alerts, t.dlq)
            if name not in existing
        ]
        if t.baselines not in existing:
            wanted.append(NewTopic(t.baselines, 1, 1, topic_configs={"cleanup.policy": "compact"}))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


class _Handoff(ConsumerRebalanceListener):
    """Drops the state of models whose partitions move to another worker."""

    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.service.hand_over(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned partitions: %s", sorted(tp.partition for tp in assigned))


class IngestService(Service):
    """The worker's batch consumer: events in, alerts, dead letters, metrics out.

    Besides the events it reads two topics from the beginning, without a
    consumer group, and keeps following them: ``monitor.baselines`` (the
    baselines to judge against) and ``monitor.alerts`` (the open alert
    episodes, so that a restarted worker, or the next owner of a model after a
    rebalance, neither repeats a ``firing`` alert nor loses its ``resolved``).
    Events are judged only once both are read to their end.

    While the detectors judge one batch, the next one is decoded in the
    :class:`DecoderPool`'s ``config.decoders`` child processes. A rebalance
    (:meth:`release`) bumps ``generation``: batches polled before it are then
    dropped unjudged and uncommitted, since every partition kept or gained
    restarts from its committed offset.
    """

    def __init__(self, config: WorkerConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.monitor = Monitor(config.detectors, overrides=config.model_overrides)
        self.metrics = Metrics(max_models=config.max_models, max_features=config.max_features)
        self.ready = False
        self.baselines_loaded = False
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._state: AIOKafkaConsumer | None = None
        self._partition_of: dict[bytes, int] = {}  # record key (model id) -> partition
        self._newest_event_time: float | None = None
        self.decoders = DecoderPool(config.decoders)
        self.generation = 0
        # Polled batches being decoded, oldest first; the poller waits when it is full.
        self._pending: asyncio.Queue[PolledBatch] = asyncio.Queue(maxsize=max(1, config.decoders))
        self._events_per_record = 1.0  # smoothed
        # Offsets of judged and published batches, committed by _commit in the
        # background (a commit round trip is off the judge's path).
        self._to_commit: dict[TopicPartition, int] = {}
        self._commit_wanted = asyncio.Event()

    async def on_start(self) -> None:
        c = self.config
        try:
            await ensure_topics(c.bootstrap, c)
        except KafkaConnectionError:
            log.error(
                "cannot reach Kafka at %s: check --bootstrap / STREAMPROC_BOOTSTRAP", c.bootstrap
            )
            raise
        self._producer = AIOKafkaProducer(bootstrap_servers=c.bootstrap, linger_ms=5, acks="all")
        await self._producer.start()
        self._state = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await self._state.start()
        await self._catch_up()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap,
            group_id=c.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=c.max_batch,
            rebalance_timeout_ms=int(c.rebalance_timeout_s * 1000),
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        self._consumer.subscribe([c.topics.events], listener=_Handoff(self))
        await self._consumer.start()
        self.decoders.start()
        # Everything allocated so far (Faust, aiokafka, river, the baselines) lives
        # as long as the worker: keep it out of the cyclic GC's full collections,
        # which otherwise walk it again and again while batches churn objects.
        gc.collect()
        gc.freeze()

    async def on_stop(self) -> None:
        self.ready = False
        self._drop_pending()
        self.decoders.close()
        for client in (self._consumer, self._state, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # noqa: BLE001 - best effort on shutdown
                    log.exception("error while stopping a Kafka client")

    async def hand_over(self, revoked: set[TopicPartition]) -> None:
        """Before partitions move: commit what was judged, then :meth:`release`."""
        await self._commit_now()
        self.release(revoked)

    def release(self, revoked: set[TopicPartition]) -> None:
        """Forget the models of partitions that were taken away."""
        gone = {tp.partition for tp in revoked if tp.topic == self.config.topics.events}
        keys = [key for key, partition in self._partition_of.items() if partition in gone]
        for key in keys:
            del self._partition_of[key]
        self.monitor.forget(key.decode(errors="replace") for key in keys)
        self.ready = False
        self.generation += 1
        self._to_commit.clear()
        self._drop_pending()

    def _drop_pending(self) -> None:
        while not self._pending.empty():
            self._pending.get_nowait().decoded.close()

    async def _catch_up(self) -> None:
        """Read the baselines and alerts topics to their end."""
        consumer = self._state
        assert consumer is not None
        topics = (self.config.topics.baselines, self.config.topics.alerts)
        await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            self._apply_state(await consumer.getmany(*tps, timeout_ms=1000))
        self.baselines_loaded = True
        log.info("state read: %d baselines", len(self.monitor._baselines))  # noqa: SLF001

    def _apply_state(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in batch.items():
            apply = (
                self._apply_baseline
                if tp.topic == self.config.topics.baselines
                else (self._apply_alert)
            )
            for record in records:
                if record.value is not None:
                    apply(record)

    def _apply_alert(self, record: ConsumerRecord) -> None:
        try:
            alert = Alert.from_dict(orjson.loads(record.value))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.error("ignoring unreadable alert at offset %d: %s", record.offset, exc)
            return
        self.monitor.restore_alert(alert)

    def _apply_baseline(self, record: ConsumerRecord) -> None:
        try:
            baseline = Baseline.from_dict(orjson.loads(record.value))
        except (orjson.JSONDecodeError, ValueError) as exc:
            self.metrics.rejected.labels("bad_baseline").inc()
            log.error("ignoring bad baseline at offset %d: %s", record.offset, exc)
            return
        current = self.monitor.models.get(baseline.model_id)
        if current is not None and current.baseline is not None:
            if current.baseline.created_at == baseline.created_at:
                return  # our own learned baseline coming back
        self.monitor.set_baseline(baseline)
        log.info("baseline for model %s (%s)", baseline.model_id, baseline.source)

    @Service.task
    async def _follow_state(self) -> None:
        while not self.should_stop:
            if not self.baselines_loaded or self._state is None:
                await self.sleep(0.2)
                continue
            self._apply_state(await self._state.getmany(timeout_ms=500))

    @Service.task
    async def _poll(self) -> None:
        """Poll records and start decoding them, while :meth:`_judge` works."""
        while not self.should_stop:
            consumer = self._consumer
            if consumer is None:
                await self.sleep(0.1)
                continue
            # Records may carry arrays of events: a batch is about ``max_batch``
            # events, not ``max_batch`` records (which could be millions of events).
            max_batch = self.config.max_batch
            per_batch = max(1, min(max_batch, int(max_batch / self._events_per_record)))
            # Take several batches' worth of what is fetched: aiokafka fetches a
            # partition again only once its fetched records are all taken, so
            # taking them early overlaps the next fetch with judging these.
            polled = await consumer.getmany(
                timeout_ms=self.config.poll_ms, max_records=per_batch * POLL_BATCHES
            )
            assigned = consumer.assignment()
            self.ready = bool(assigned)
            self.metrics.assigned_partitions.set(len(assigned))
            for part in batches(polled, per_batch):
                batch = self._poll_done(part)
                try:
                    await self._pending.put(batch)
                except BaseException:
                    batch.decoded.close()
                    raise
            await self._measure_lag(consumer, assigned)

    @Service.task
    async def _judge(self) -> None:
        """Judge, publish and commit the polled batches in order."""
        while not self.should_stop:
            polled = await self._pending.get()
            events = await self._handle(polled)
            if events:
                per = max(1.0, events / len(polled.records))
                self._events_per_record = 0.8 * self._events_per_record + 0.2 * per

    @Service.task
    async def _commit(self) -> None:
        """Commit the offsets of judged batches, the newest at each round trip."""
        while not self.should_stop:
            await self._commit_wanted.wait()
            await self._commit_now()

    async def _commit_now(self) -> None:
        self._commit_wanted.clear()
        offsets, self._to_commit = self._to_commit, {}
        if not offsets or self._consumer is None:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("offsets not committed (%s); the partition's next owner redoes them", exc)

    def _poll_done(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> PolledBatch:
        """Start decoding a polled batch."""
        records = [r for part in batch.values() for r in part]
        for tp, part in batch.items():
            for key in {r.key for r in part} - {None}:
                self._partition_of[key] = tp.partition
        return PolledBatch(
            records,
            self.decoders.decode(*record_values(records)),
            {tp: part[-1].offset + 1 for tp, part in batch.items()},
            self.generation,
        )

    async def _measure_lag(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """Records waiting in the owned partitions, and the age of the newest event."""
        waiting = 0
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                waiting += max(0, highwater - await consumer.position(tp))
        self.metrics.consumer_lag.set(waiting)
        if self._newest_event_time is not None:
            self.metrics.event_lag.set(max(0.0, time.time() - self._newest_event_time))

    async def _handle(self, polled: PolledBatch) -> int:
        """Judge, publish, commit a decoded batch; return the number of valid events."""
        decoded = await polled.decoded
        if polled.generation != self.generation:
            return 0  # polled before partitions moved: refetched from the committed offsets
        # Judging makes many short-lived containers and no reference cycles: the
        # cyclic GC would only rescan them.
        gc.disable()
        try:
            result = process_safely(polled.records, self.monitor, now=time.time(), decoded=decoded)
        finally:
            gc.enable()
        await self._publish(result)
        if polled.generation == self.generation:  # else its partitions may be another's now
            self._to_commit.update(polled.offsets)
            self._commit_wanted.set()
        self._record_metrics(result)
        self.metrics.batch_duration.observe(time.perf_counter() - polled.polled_at)
        return sum(c.size for c in result.columns)

    async def _publish(self, result: BatchResult) -> None:
        producer = self._producer
        assert producer is not None
        topics = self.config.topics
        sends = [
            await producer.send(topics.alerts, alert.to_json(), key=alert.model_id.encode())
            for alert in result.alerts
        ]
        sends += [
            await producer.send(topics.dlq, d.value, key=d.key, headers=d.headers)
            for d in result.dead_letters
        ]
        for baseline in self._learned_baselines(result):
            sends.append(
                await producer.send(
                    topics.baselines,
                    orjson.dumps(baseline.to_dict()),
                    key=baseline.model_id.encode(),
                )
            )
        if sends:
            await asyncio.gather(*sends)
        for alert in result.alerts:
            log.warning("alert %s %s: %s", alert.status, alert.model_id, alert.message)

    def _learned_baselines(self, result: BatchResult) -> list[Baseline]:
        learned = []
        for columns in result.columns:
            model = self.monitor.models[columns.model_id]
            baseline = model.baseline
            if baseline is not None and baseline.source == "learned" and not model.published:
                model.published = True
                learned.append(baseline)
        return learned

    def _record_metrics(self, result: BatchResult) -> None:
        m = self.metrics
        for d in result.dead_letters:
            m.rejected.labels(d.reason).inc()
        for columns in result.columns:
            m.observe_model(
                self.monitor.models[columns.model_id],
                columns.size,
                int(columns.errors.sum()),
                columns.latency_ms,
            )
        m.observe_alerts(result.alerts)
        m.observe_firing(self.monitor.models.values())
        if result.newest_event_time is not None:
            self._newest_event_time = max(self._newest_event_time or 0.0, result.newest_event_time)
