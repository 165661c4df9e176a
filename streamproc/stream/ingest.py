"""Batch ingestion: Kafka records in, detectors run, alerts and dead letters out.

Faust's per-message machinery costs about 100 µs a record, so the worker does
not consume through Faust agents. :class:`IngestService` is a ``mode`` service
started by the Faust worker; it owns an aiokafka consumer in the worker's
consumer group, and four tasks:

1. the poller (:meth:`~IngestService._poll`): ``getmany`` up to ``max_batch``
   records, and hand their values to the
   :class:`~streamproc.decode.pool.DecoderPool` (decoding, validation,
   columns per model, in ``decoders`` child processes; with labels on, the
   poll's label records are decoded there too, with its events);
2. the judge (:meth:`~IngestService._judge`), meanwhile, takes the polled
   batches in order: their decoded columns through the detectors
   (:func:`~streamproc.stream.batch.process_safely`, synchronous, vectorised);
   publish the alerts and dead letters and wait until the broker has them;
   update metrics; hand the batch's offsets to
3. the committer (:meth:`~IngestService._commit`), which commits the newest
   offsets handed to it at each round trip to the broker (the judge does not
   wait for commits);
4. the state follower (:meth:`~IngestService._follow_state`), which keeps
   applying new baselines and alerts (:class:`~streamproc.stream.state.StateReader`).

Offsets advance only after a batch is fully processed and its outputs are
delivered: a crash replays at most the batches in flight (at-least-once), and
stable alert ids make the replayed alerts recognisable as the same ones. When
partitions move, the offsets of judged batches are committed first, and
batches polled before the move are dropped unjudged: the partitions' owners
(this worker included) fetch them again from the committed offsets.

With checkpoints (``checkpoint_seconds`` > 0, :mod:`streamproc.stream.checkpoints`)
the judge writes the changed models' state every ``checkpoint_seconds`` and
offsets are committed only then, up to what the written state covers; before
partitions move, and when the worker stops, a last checkpoint is written.
Partitions assigned restore their models' checkpoints before any of their
records is judged.

The pure batch logic is in :mod:`streamproc.stream.batch`, topic
administration in :mod:`streamproc.stream.topics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
)
from mode import Service

from streamproc.config import WorkerConfig
from streamproc.decode.nogc import no_gc
from streamproc.decode.pool import DecoderPool
from streamproc.detect.monitor import Monitor
from streamproc.kafka_security import client_options, describe_failure, start_client
from streamproc.labels.decode import decode_labels_grouped
from streamproc.stream.batch import (
    POLL_BATCHES,
    BatchResult,
    PolledBatch,
    batches,
    outputs,
    process_safely,
    record_values,
)
from streamproc.stream.checkpoints import MAX_CHECKPOINT_BYTES, Checkpointer, StateRecord
from streamproc.stream.health import (
    PROBE_INTERVAL_S,
    Connectivity,
    bootstrap_addresses,
    broker_answers,
    limit_log_rate,
    readiness,
)
from streamproc.stream.labels import (
    CopartitionError,
    LabelStage,
    check_copartitioned,
)
from streamproc.stream.metrics import Metrics
from streamproc.stream.state import StateReader
from streamproc.stream.status import Activity, worker_status
from streamproc.stream.topics import ensure_topics, partitions_of

log = logging.getLogger(__name__)

KAFKA_RETRY_S = 5.0  # at start-up, how often an unreachable Kafka is tried again


class _Handoff(ConsumerRebalanceListener):
    """Drops the state of models whose partitions move to another worker."""

    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.service.hand_over(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned partitions: %s", sorted(tp.partition for tp in assigned))
        await self.service.take_over(assigned)


class IngestService(Service):
    """The worker's batch consumer: events in, alerts, dead letters, metrics out.

    Before consuming events it reads the baselines and open alert episodes
    back from Kafka (:class:`StateReader`); events are judged only once both
    topics are read to their end.

    While the detectors judge one batch, the next one is decoded in the
    :class:`DecoderPool`'s ``config.decoders`` child processes. A rebalance
    (:meth:`release`) bumps ``generation``: batches polled before it are then
    dropped unjudged and uncommitted, since every partition kept or gained
    restarts from its committed offset.
    """

    def __init__(self, config: WorkerConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.monitor = Monitor(
            config.detectors, overrides=config.model_overrides, max_models=config.max_models_judged
        )
        self.metrics = Metrics(
            max_models=config.max_models, max_feature_series=config.max_feature_series
        )
        self._state = StateReader(config, self.monitor, self.metrics)
        self.ready = False
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._partition_of: dict[bytes, int] = {}  # record key (model id) -> partition
        self._newest_event_time: float | None = None
        # The label join (stream/labels.py) needs the events' ids from the decoders.
        self.labels = LabelStage(config, self.metrics) if config.labels else None
        self.decoders = DecoderPool(config.decoders, event_ids=config.labels)
        self.checkpoints = (
            Checkpointer(
                config, self.monitor, self.labels.join if self.labels else None, self.metrics
            )
            if config.checkpoint_seconds > 0
            else None
        )
        # Held while a batch is judged and published, and while checkpoints are
        # taken or restored: a checkpoint's state and offsets are of the same batches.
        self._judging = asyncio.Lock()
        # Set when a poll finds nothing right after a full one: the backlog is
        # judged, so checkpoint (and commit) now rather than at the cadence.
        self._caught_up = asyncio.Event()
        self._backlogged = False
        self._in_flight = 0  # batches polled and not judged yet
        self.generation = 0
        # Polled batches being decoded, oldest first; the poller waits when it is full.
        self._pending: asyncio.Queue[PolledBatch] = asyncio.Queue(maxsize=max(1, config.decoders))
        self._events_per_record = 1.0  # smoothed
        # Offsets of judged and published batches, committed by _commit in the
        # background (a commit round trip is off the judge's path).
        self._to_commit: dict[TopicPartition, int] = {}
        self._commit_wanted = asyncio.Event()
        # Broker reachability and readiness (stream/health.py); /ready reports them.
        self.stopping = False
        self.connectivity = Connectivity(on_change=self.metrics.set_connected)
        self._ready_reported: bool | None = None
        self._overrides_checked = not config.model_overrides
        self.activity = Activity()  # events and rates per model, for /status

    def status(self) -> dict[str, Any]:
        """The ``/status`` document (stream/status.py, docs/contract.md)."""
        consumer = self._consumer
        assigned = consumer.assignment() if consumer is not None else set()
        events = self.config.topics.events
        host = socket.gethostname()
        return worker_status(
            self.monitor,
            self.activity,
            worker_id=f"{host}:{os.getpid()}",
            host=host,
            group=self.config.group_id,
            partitions=[tp.partition for tp in assigned if tp.topic == events],
            now=time.time(),
            ready=not self.not_ready(),
        )

    def not_ready(self) -> list[str]:
        """Why the worker is not ready (empty: ready)."""
        return readiness(
            assigned=self.ready,
            state_loaded=self.baselines_loaded,
            connected=self.connectivity.connected,
            stopping=self.stopping,
        )

    def report_readiness(self) -> None:
        """Log each change of readiness, in the words of ``/ready``."""
        why = self.not_ready()
        if (not why) != self._ready_reported:
            self._ready_reported = not why
            if why:
                log.warning("streamproc worker not ready: %s", ", ".join(why))
            else:
                log.info(
                    "streamproc worker ready: partitions assigned, baselines and alerts read,"
                    " brokers reachable"
                )

    @property
    def baselines_loaded(self) -> bool:
        """Whether the baselines and alerts topics were read to their end."""
        return self._state.loaded

    async def on_start(self) -> None:
        c = self.config
        limit_log_rate()  # a lost broker makes the Kafka clients log hundreds of lines a second
        t = c.topics
        log.info(
            "streamproc worker: metrics http://%s:%d/metrics, group %s, Kafka %s, topics: "
            "events %s, labels %s, baselines %s, alerts %s, dead letters %s",
            c.metrics_host,
            c.metrics_port,
            c.group_id,
            c.bootstrap,
            t.events,
            t.labels if self.labels is not None else "(off)",
            t.baselines,
            t.alerts,
            t.dlq,
        )
        await self._wait_for_kafka()
        if self.labels is not None:
            try:
                await check_copartitioned(c)
            except CopartitionError as exc:
                log.error("%s", exc)
                raise
        if self.checkpoints is not None:
            found = await partitions_of(c, [c.topics.state])
            self.checkpoints.state_partitions = len(found[c.topics.state])
        self._producer = AIOKafkaProducer(
            bootstrap_servers=c.bootstrap,
            linger_ms=5,
            acks="all",
            max_request_size=MAX_CHECKPOINT_BYTES + 1024 * 1024,
            **client_options(c),
        )
        await start_client(self._producer)
        await self._state.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap,
            group_id=c.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=c.max_batch,
            rebalance_timeout_ms=int(c.rebalance_timeout_s * 1000),
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            # range: partition N of the events and of the labels topic go to the same worker
            partition_assignment_strategy=(RangePartitionAssignor,),
            **client_options(c),
        )
        topics = [c.topics.events] + ([c.topics.labels] if self.labels is not None else [])
        self._consumer.subscribe(topics, listener=_Handoff(self))
        await start_client(self._consumer)
        self.decoders.start()
        # Everything allocated so far (Faust, aiokafka, river, the baselines) lives
        # as long as the worker: keep it out of the cyclic GC's full collections,
        # which otherwise walk it again and again while batches churn objects.
        gc.collect()
        gc.freeze()

    async def _wait_for_kafka(self) -> None:
        """Create the missing topics once a broker answers; until then say once
        every :data:`KAFKA_RETRY_S` seconds that the worker is waiting."""
        c = self.config
        clients = logging.getLogger("aiokafka")
        level = clients.level
        if not log.isEnabledFor(logging.DEBUG):
            clients.setLevel(logging.CRITICAL)  # our line says it, once per retry
        attempts = 0
        while True:
            try:
                await asyncio.wait_for(ensure_topics(c), KAFKA_RETRY_S * 2)
                break
            except (TimeoutError, KafkaConnectionError, OSError) as exc:
                attempts += 1
                why = "no answer" if isinstance(exc, asyncio.TimeoutError) else "no broker answered"
                if c.security.security_protocol != "PLAINTEXT":  # a TLS handshake can fail
                    why = await asyncio.to_thread(describe_failure, c.bootstrap, c, exc)
                log.warning(
                    "waiting for Kafka at %s (%s; %d attempts): retrying every %.0f s; "
                    "check --bootstrap / STREAMPROC_BOOTSTRAP",
                    c.bootstrap,
                    why,
                    attempts,
                    KAFKA_RETRY_S,
                )
                await asyncio.sleep(KAFKA_RETRY_S)
            except KafkaError as exc:  # e.g. a refused SASL login: waiting will not help
                log.error("worker cannot start: %s", describe_failure(c.bootstrap, c, exc))
                raise SystemExit(1) from None  # the line above says why: no traceback after it
        clients.setLevel(level)
        if attempts:
            log.warning("Kafka at %s answered after %d attempts", c.bootstrap, attempts)

    def _check_overrides(self) -> None:
        """Once a window was judged: warn once of per-model overrides for models
        that sent nothing here (a misspelt model id, or another worker's model)."""
        if self._overrides_checked:
            return
        if any(m.windows_judged for m in self.monitor.models.values()):
            self._overrides_checked = True
            unseen = self.monitor.models_not_seen()
            if unseen:
                log.warning(
                    "[models] overrides for model(s) with no events here by the first judged "
                    "window: %s (misspelt model id? or another worker's partitions)",
                    ", ".join(unseen),
                )

    async def on_stop(self) -> None:
        self.ready = False
        self.stopping = True
        self._drop_pending()
        self.decoders.close()
        if self.checkpoints is not None:
            try:  # the last state and its offsets, if the broker answers soon
                await asyncio.wait_for(self._last_checkpoint(), timeout=2.5)
            except Exception as exc:  # noqa: BLE001 - best effort on shutdown
                log.warning(
                    "no checkpoint on stop (%s); the next owner resumes from the last one",
                    exc or type(exc).__name__,
                )
        else:
            try:  # what was judged and published is committed, if the broker answers soon
                await asyncio.wait_for(self._commit_now(), timeout=2.0)
            except Exception as exc:  # noqa: BLE001 - best effort on shutdown
                log.warning("offsets not committed on stop (%s)", exc or type(exc).__name__)
        for client in (self._consumer, self._state.consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # noqa: BLE001 - best effort on shutdown
                    log.exception("error while stopping a Kafka client")

    async def hand_over(self, revoked: set[TopicPartition]) -> None:
        """Before partitions move: checkpoint and commit what was judged, then :meth:`release`."""
        if self.checkpoints is not None:
            async with self._judging:
                await self._checkpoint()
                await self._commit_now()
                self.release(revoked)
            return
        await self._commit_now()
        self.release(revoked)

    async def _last_checkpoint(self) -> None:
        async with self._judging:
            self.generation += 1  # batches polled from now on are not judged
            await self._checkpoint()
            await self._commit_now()

    async def take_over(self, assigned: set[TopicPartition]) -> None:
        """Partitions assigned: restore their models' checkpoints (before any
        of their records is judged)."""
        if self.checkpoints is None:
            return
        events = self.config.topics.events
        partitions = {tp.partition for tp in assigned if tp.topic == events}
        async with self._judging:
            started = time.perf_counter()
            restored = await self.checkpoints.restore(partitions)
            for key, partition in restored:
                self._partition_of[key] = partition
        log.info(
            "restored %d models from checkpoints in %.0f ms",
            len(restored),
            (time.perf_counter() - started) * 1000,
        )

    async def _checkpoint(self) -> None:
        """Write the changed models' state; then hand the offsets it covers to the committer."""
        assert self.checkpoints is not None
        records, offsets = self.checkpoints.collect(now=time.time())
        await self._send_state(records)
        self._to_commit.update(offsets)
        self._commit_wanted.set()

    async def _send_state(self, records: list[StateRecord]) -> None:
        topic = self.config.topics.state
        while records:
            producer = self._producer
            assert producer is not None
            try:
                sends = [
                    await producer.send(topic, value, key=key, partition=partition)
                    for partition, key, value in records
                ]
                await asyncio.gather(*sends)
                return
            except KafkaError as exc:  # the broker is away: send them again
                if self.should_stop:
                    raise
                log.warning("checkpoints not written (%s); writing them again", type(exc).__name__)
                await asyncio.sleep(1.0)

    def release(self, revoked: set[TopicPartition]) -> None:
        """Forget the models of partitions that were taken away."""
        gone = {tp.partition for tp in revoked if tp.topic == self.config.topics.events}
        keys = [key for key, partition in self._partition_of.items() if partition in gone]
        for key in keys:
            del self._partition_of[key]
        models = [key.decode(errors="replace") for key in keys]
        self.monitor.forget(models)
        self.activity.forget(models)
        if self.labels is not None:
            self.labels.forget(models)
        if self.checkpoints is not None:
            self.checkpoints.release(gone)
        self.ready = False
        self.generation += 1
        self._to_commit.clear()
        self._drop_pending()

    def _drop_pending(self) -> None:
        while not self._pending.empty():
            self._pending.get_nowait().decoded.close()
            self._in_flight -= 1

    # -- the four tasks ----------------------------------------------------------

    @Service.task
    async def _probe(self) -> None:
        """Probe the brokers every few seconds (stream/health.py); log readiness changes."""
        addresses = bootstrap_addresses(self.config.bootstrap)
        security = self.config.security
        loop = asyncio.get_running_loop()

        def answers() -> bool:
            return any(broker_answers(host, port, security=security) for host, port in addresses)

        while not self.should_stop:
            self.connectivity.observe(await loop.run_in_executor(None, answers))
            self.report_readiness()
            await self.sleep(PROBE_INTERVAL_S)

    @Service.task
    async def _follow_state(self) -> None:
        """Apply baselines and alerts published after the catch-up."""
        while not self.should_stop:
            if not self._state.loaded or self._state.consumer is None:
                await self.sleep(0.2)
                continue
            await self._state.follow()

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
            taken = sum(map(len, polled.values()))
            if taken >= per_batch:
                self._backlogged = True
            elif not taken and self._backlogged and not self._in_flight:
                self._backlogged = False
                self._caught_up.set()
            assigned = consumer.assignment()
            self.ready = bool(assigned)
            events = self.config.topics.events
            self.metrics.assigned_partitions.set(sum(tp.topic == events for tp in assigned))
            for part in batches(polled, per_batch):
                batch = self._start_decoding(part)
                self._in_flight += 1
                try:
                    await self._pending.put(batch)
                except BaseException:
                    self._in_flight -= 1
                    batch.decoded.close()
                    raise
            await self._measure_lag(consumer, assigned)

    @Service.task
    async def _judge(self) -> None:
        """Judge, publish and commit the polled batches in order."""
        while not self.should_stop:
            polled = await self._pending.get()
            try:
                decoded = await polled.decoded
                if polled.generation != self.generation:
                    continue  # polled before partitions moved: refetched from the committed offsets
                async with self._judging:
                    if polled.generation != self.generation:
                        continue
                    result = await self._judge_batch(polled, decoded)
                    await self._publish(result)
                    if self.checkpoints is None:
                        self._to_commit.update(polled.offsets)
                        self._commit_wanted.set()
            finally:
                self._in_flight -= 1
            self._record_metrics(result)
            self._check_overrides()
            self.metrics.batch_duration.observe(time.perf_counter() - polled.polled_at)
            events = sum(c.size for c in result.columns)
            if events:
                per = max(1.0, events / len(polled.records))
                self._events_per_record = 0.8 * self._events_per_record + 0.2 * per

    @Service.task
    async def _take_checkpoints(self) -> None:
        """Every ``checkpoint_seconds``, and when a backlog has been judged (a
        poll finds nothing after a full one), between two batches: checkpoint
        the changed models (then their offsets are committed)."""
        checkpoints = self.checkpoints
        if checkpoints is None:
            return
        while not self.should_stop:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._caught_up.wait(), timeout=min(1.0, self.config.checkpoint_seconds / 4)
                )
            caught_up = self._caught_up.is_set()
            self._caught_up.clear()
            if checkpoints.due() or (caught_up and checkpoints.changed):
                if not checkpoints.changed:
                    checkpoints.idle()
                    continue
                async with self._judging:
                    await self._checkpoint()

    @Service.task
    async def _commit(self) -> None:
        """Commit the offsets of judged batches, the newest at each round trip."""
        while not self.should_stop:
            await self._commit_wanted.wait()
            await self._commit_now()

    # -- the poller's and the judge's steps -------------------------------------

    async def _judge_batch(self, polled: PolledBatch, decoded: Any) -> BatchResult:
        """Run a batch's events and labels through the detectors and the join."""
        records, labels = polled.records, polled.labels
        label_rows = None  # decoded with the events, in a decoder process
        if self.labels is not None:
            decoded, label_rows = decoded
        checkpoints = self.checkpoints
        if checkpoints is not None and checkpoints.skipping:
            # right after a restore: drop what the models' checkpoints already hold
            kept, kept_labels = checkpoints.unseen(records), checkpoints.unseen(labels)
            if len(kept) != len(records):
                records = kept
                decoded = await self.decoders.decode(*record_values(records))
            if len(kept_labels) != len(labels):
                labels, label_rows = kept_labels, None  # decoded again, here
        with no_gc():
            now = time.time()
            result = process_safely(records, self.monitor, now=now, decoded=decoded)
            if self.labels is not None:
                self.labels.process(labels, result, self.monitor, now=now, decoded=label_rows)
        if checkpoints is not None:
            checkpoints.judged(polled.keys, polled.offsets)
        return result

    async def _commit_now(self) -> None:
        self._commit_wanted.clear()
        offsets, self._to_commit = self._to_commit, {}
        if not offsets or self._consumer is None:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("offsets not committed (%s); the partition's next owner redoes them", exc)
        except KafkaError as exc:  # the broker is away: commit them with the next ones
            log.warning("offsets not committed yet (%s); retrying", type(exc).__name__)
            for tp, offset in offsets.items():
                self._to_commit.setdefault(tp, offset)
            if not self.should_stop:
                await asyncio.sleep(1.0)
                self._commit_wanted.set()

    def _start_decoding(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> PolledBatch:
        """Start decoding a polled batch."""
        labels = self.config.topics.labels if self.labels is not None else None
        records = [r for tp, part in batch.items() if tp.topic != labels for r in part]
        keys = {tp: {r.key for r in part} - {None} for tp, part in batch.items()}
        for tp, found in keys.items():
            for key in found:
                self._partition_of[key] = tp.partition
        offsets = {tp: part[-1].offset + 1 for tp, part in batch.items()}
        if labels is None:
            decoding = self.decoders.decode(*record_values(records))
            return PolledBatch(records, decoding, offsets, self.generation, keys=keys)
        # the label records are decoded with the events, in a decoder process
        label_records = [r for tp, part in batch.items() if tp.topic == labels for r in part]
        values, stamps = record_values(records)
        return PolledBatch(
            records,
            self.decoders.decode_poll(
                values, stamps, [r.value for r in label_records], decode_labels_grouped
            ),
            offsets,
            self.generation,
            labels=label_records,
            keys=keys,
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

    async def _publish(self, result: BatchResult) -> None:
        """Send alerts, dead letters and newly learned baselines; wait until all are acked."""
        messages = outputs(result, self.monitor, self.config.topics)
        while messages:
            producer = self._producer
            assert producer is not None
            try:
                sends = [
                    await producer.send(topic, value, key=key, headers=headers)
                    for topic, value, key, headers in messages
                ]
                await asyncio.gather(*sends)
                break
            except KafkaError as exc:  # the broker is away: send them again (same alert ids)
                if self.should_stop:
                    raise
                log.warning("outputs not delivered (%s); sending them again", type(exc).__name__)
                await asyncio.sleep(1.0)
        for alert in result.alerts:
            log.warning("alert %s %s: %s", alert.status, alert.model_id, alert.message)

    def _record_metrics(self, result: BatchResult) -> None:
        self.metrics.observe_batch(result, self.monitor)
        self.activity.add(result.columns, tracked=self.monitor.models)
        if result.newest_event_time is not None:
            self._newest_event_time = max(self._newest_event_time or 0.0, result.newest_event_time)
