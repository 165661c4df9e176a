"""Batch ingestion: Kafka records in, detectors run, alerts and dead letters out.

Faust's per-message machinery costs about 100 µs a record, so the worker does
not consume through Faust agents. :class:`IngestService` is a ``mode`` service
started by the Faust worker; it owns an aiokafka consumer in the worker's
consumer group, and seven tasks:

1. the poller (:meth:`~IngestService._poll`): ``getmany`` about ``max_batch``
   events, and hand their values (and the poll's labels) to the
   :class:`~streamproc.decode.pool.DecoderPool` (decoding, validation,
   columns per model, in ``decoders`` child processes);
2. the judge (:meth:`~IngestService._judge`), meanwhile, takes the polled
   batches in order: their decoded columns through the detectors
   (:func:`~streamproc.stream.batch.process_safely`, synchronous, vectorised);
   publish the alerts and dead letters and wait until the broker has them;
   update metrics; hand the batch's offsets to
3. the committer (:meth:`~IngestService._commit`), which commits the newest
   offsets handed to it at each round trip to the broker (the judge does not
   wait for commits);
4. the checkpointer (:meth:`~IngestService._take_checkpoints`), between two
   batches, when checkpoints are on;
5. the state follower (:meth:`~IngestService._follow_state`), which keeps
   applying new baselines and alerts (:class:`~streamproc.stream.state.StateReader`);
6. the probe (:meth:`~IngestService._probe`) of the brokers, for ``/ready``;
7. the heap trimmer (:meth:`~IngestService._trim_heap`, :mod:`streamproc.stream.heap`).

Offsets advance only after a batch is fully processed and its outputs are
delivered (:mod:`~streamproc.stream.delivery`): a crash replays at most the
batches in flight (at-least-once), and stable alert ids make the replayed
alerts recognisable as the same ones. With checkpoints (``checkpoint_seconds``
> 0, :mod:`streamproc.stream.checkpoints`) the judge writes the changed
models' state every ``checkpoint_seconds`` and offsets are committed only then,
up to what the written state covers. What happens when partitions move is in
:mod:`streamproc.stream.handover`; connecting to Kafka in
:mod:`streamproc.stream.connect`, readiness in :mod:`streamproc.stream.health`,
the pure batch logic in :mod:`streamproc.stream.batch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mode import Service

from streamproc.config import WorkerConfig
from streamproc.decode.nogc import no_gc, settle_gc
from streamproc.decode.pool import DecoderPool
from streamproc.detect.monitor import Monitor
from streamproc.labels.decode import BatchLabels
from streamproc.stream.batch import (
    POLL_BATCHES,
    BatchResult,
    PolledBatch,
    batches,
    events_first,
    outputs,
    process_safely,
    record_values,
    records_in,
    start_decoding,
)
from streamproc.stream.checkpoints import Checkpointer
from streamproc.stream.connect import announce, start_consumer, start_producer, wait_for_kafka
from streamproc.stream.delivery import Committer, deliver
from streamproc.stream.handover import Handover
from streamproc.stream.health import (
    PROBE_INTERVAL_S,
    Connectivity,
    Readiness,
    any_broker_answers,
    limit_log_rate,
)
from streamproc.stream.heap import TRIM_EVERY_S, trim_heap
from streamproc.stream.labels import (
    LabelStage,
    check_copartitioned,
)
from streamproc.stream.metrics import Metrics
from streamproc.stream.ownership import ModelPartitions
from streamproc.stream.sizing import BatchSize
from streamproc.stream.state import StateReader
from streamproc.stream.status import Activity
from streamproc.stream.topics import partitions_of

log = logging.getLogger(__name__)


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
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.owned = ModelPartitions()  # the models here, by partition
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
        self.judging = asyncio.Lock()
        # Set when a poll finds nothing right after a full one: the backlog is
        # judged, so checkpoint (and commit) now rather than at the cadence.
        self._caught_up = asyncio.Event()
        self._backlogged = False
        self._in_flight = 0  # batches polled and not judged yet
        self.generation = 0
        # Polled batches being decoded, oldest first; the poller waits when it is full.
        # Two more than the decoders: while the judge runs the detectors (tens of ms
        # without yielding), the decoder still has batches to work ahead on.
        self._pending: asyncio.Queue[PolledBatch] = asyncio.Queue(
            maxsize=max(1, config.decoders) + 2
        )
        self.batch_size = BatchSize(config.max_batch)  # records a batch takes
        # Offsets of judged and published batches, committed by _commit in the
        # background (a commit round trip is off the judge's path).
        self.committer = Committer(stopping=lambda: self.should_stop)
        self.handover = Handover(self)
        # Broker reachability and readiness (stream/health.py); /ready reports them.
        self.connectivity = Connectivity(on_change=self.metrics.set_connected)
        self.readiness = Readiness(self.connectivity, state_loaded=lambda: self._state.loaded)
        self.activity = Activity()  # events and rates per model, for /status

    async def on_start(self) -> None:
        c = self.config
        limit_log_rate()  # a lost broker makes the Kafka clients log hundreds of lines a second
        announce(c, labels=self.labels is not None)
        await wait_for_kafka(c)
        if self.labels is not None:
            await check_copartitioned(c)
        if self.checkpoints is not None:
            found = await partitions_of(c, [c.topics.state])
            self.checkpoints.state_partitions = len(found[c.topics.state])
        self.producer = await start_producer(c)
        await self._state.start()
        topics = [c.topics.events] + ([c.topics.labels] if self.labels is not None else [])
        self.consumer = await start_consumer(c, topics, self.handover)
        self.committer.consumer = self.consumer
        self.decoders.start()
        settle_gc()  # what the worker made so far lives as long as it does

    def _check_overrides(self) -> None:
        """Warn once of per-model overrides for models that sent nothing here."""
        if unseen := self.monitor.unseen_overrides_once():
            log.warning(
                "[models] overrides for model(s) with no events here by the first judged "
                "window: %s (misspelt model id? or another worker's partitions)",
                ", ".join(unseen),
            )

    async def on_stop(self) -> None:
        self.readiness.assigned = False
        self.readiness.stopping = True
        self._drop_pending()
        self.decoders.close()
        await self.handover.at_stop()
        for client in (self.consumer, self._state.consumer, self.producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # noqa: BLE001 - best effort on shutdown
                    log.exception("error while stopping a Kafka client")

    def release(self, revoked: set[TopicPartition]) -> None:
        """Forget the models of partitions that were taken away."""
        gone = {tp.partition for tp in revoked if tp.topic == self.config.topics.events}
        models = self.owned.take(gone)
        self.monitor.forget(models)
        self.activity.forget(models)
        if self.labels is not None:
            self.labels.forget(models, gone)
        if self.checkpoints is not None:
            self.checkpoints.release(gone)
        self.readiness.assigned = False
        self.generation += 1
        self.committer.clear()
        self._drop_pending()

    def _drop_pending(self) -> None:
        while not self._pending.empty():
            self._pending.get_nowait().decoded.close()
            self._in_flight -= 1

    # -- the seven tasks -----------------------------------------------------------

    @Service.task
    async def _probe(self) -> None:
        """Probe the brokers every few seconds (stream/health.py); log readiness changes."""
        loop = asyncio.get_running_loop()
        bootstrap, security = self.config.bootstrap, self.config.security
        while not self.should_stop:
            answers = await loop.run_in_executor(None, any_broker_answers, bootstrap, security)
            self.connectivity.observe(answers)
            self.readiness.report()
            await self.sleep(PROBE_INTERVAL_S)

    @Service.task
    async def _trim_heap(self) -> None:
        """Give the memory that batches freed back to the OS (stream/heap.py)."""
        while not self.should_stop:
            await self.sleep(TRIM_EVERY_S)
            trim_heap()

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
            consumer = self.consumer
            if consumer is None:
                await self.sleep(0.1)
                continue
            per_batch = self.batch_size.records()  # a batch of events and labels (stream/sizing.py)
            # Take several batches' worth of what is fetched: aiokafka fetches a
            # partition again only once its fetched records are all taken, so
            # taking them early overlaps the next fetch with judging these.
            polled = await consumer.getmany(
                timeout_ms=self.config.poll_ms, max_records=per_batch * POLL_BATCHES
            )
            generation = self.generation  # a rebalance while this poll waits below outdates it
            labels = self.config.topics.labels if self.labels is not None else None
            taken = records_in(polled, labels)
            self.batch_size.polled(polled, labels)
            if taken >= per_batch:
                self._backlogged = True
            elif not taken and self._backlogged and not self._in_flight:
                self._backlogged = False
                self._caught_up.set()
            assigned = consumer.assignment()
            self.readiness.assigned = bool(assigned)
            events = self.config.topics.events
            self.metrics.assigned_partitions.set(sum(tp.topic == events for tp in assigned))
            if self.labels is not None:
                paced = await self.labels.paced(
                    consumer, polled, generation, lambda: self.generation
                )
                if paced is None:
                    continue  # partitions moved meanwhile: these records are read again
                polled = paced
            cut = self.batch_size.event_records()
            for part in batches(events_first(polled, labels), cut, labels):
                batch = start_decoding(part, self.decoders, generation, labels=labels)
                self.owned.note_batch(batch.keys)
                self._in_flight += 1
                try:
                    await self._pending.put(batch)
                except BaseException:
                    self._in_flight -= 1
                    batch.decoded.close()
                    raise
            await self.metrics.observe_lag(consumer, assigned, self._newest_event_time)

    @Service.task
    async def _judge(self) -> None:
        """Judge, publish and commit the polled batches in order."""
        while not self.should_stop:
            polled = await self._pending.get()
            try:
                decoded = await polled.decoded
                if polled.generation != self.generation:
                    continue  # polled before partitions moved: refetched from the committed offsets
                async with self.judging:
                    if polled.generation != self.generation:
                        continue
                    result = await self._judge_batch(polled, decoded)
                    await self._publish(result)
                    if self.checkpoints is None:
                        self.committer.add(polled.offsets)
            finally:
                self._in_flight -= 1
            self._record_metrics(result)
            self._check_overrides()
            self.metrics.batch_duration.observe(time.perf_counter() - polled.polled_at)
            self.batch_size.judged(sum(c.size for c in result.columns), len(polled.records))

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
                async with self.judging:
                    await self.handover.checkpoint()

    @Service.task
    async def _commit(self) -> None:
        """Commit the offsets of judged batches, the newest at each round trip."""
        while not self.should_stop:
            await self.committer.commit_wanted()

    # -- the poller's and the judge's steps -------------------------------------

    async def _judge_batch(self, polled: PolledBatch, decoded: Any) -> BatchResult:
        """Run a batch's events and labels through the detectors and the join."""
        label_rows = None  # decoded with the events, in a decoder process
        if self.labels is not None:
            decoded, label_rows = decoded
            if isinstance(label_rows, BatchLabels):  # the label records' keys, from there
                self.owned.note_batch(polled.add_label_keys(label_rows.keys))
        checkpoints = self.checkpoints
        if checkpoints is not None and checkpoints.skipping:
            # right after a restore: drop what the models' checkpoints already hold
            events_cut, labels_cut = checkpoints.drop_restored(polled)
            if events_cut:
                decoded = await self.decoders.decode(*record_values(polled.records))
            if labels_cut:
                label_rows = None  # decoded again, here
        records, labels = polled.records, polled.labels
        sources, label_sources = polled.sources, polled.label_sources
        with no_gc():
            now = time.time()
            result = process_safely(
                records, self.monitor, sources=sources, now=now, decoded=decoded
            )
            if self.labels is not None:
                self.labels.process(
                    labels,
                    result,
                    self.monitor,
                    sources=label_sources,
                    now=now,
                    decoded=label_rows,
                )
        if checkpoints is not None:
            checkpoints.judged(polled.keys, polled.offsets)
        return result

    async def _publish(self, result: BatchResult) -> None:
        """Send alerts, dead letters and newly learned baselines; wait until all are acked."""
        assert self.producer is not None
        messages = [
            (topic, value, key, headers, None)
            for topic, value, key, headers in outputs(result, self.monitor, self.config.topics)
        ]
        await deliver(self.producer, messages, what="outputs", stopping=lambda: self.should_stop)
        for alert in result.alerts:
            log.warning("alert %s %s: %s", alert.status, alert.model_id, alert.message)

    def _record_metrics(self, result: BatchResult) -> None:
        self.metrics.observe_batch(result, self.monitor)
        self.activity.add(result.columns, tracked=self.monitor.models)
        if result.newest_event_time is not None:
            self._newest_event_time = max(self._newest_event_time or 0.0, result.newest_event_time)
