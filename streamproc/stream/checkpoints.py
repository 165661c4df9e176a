"""Checkpoints in the worker: which models changed, what they cover, writing and restoring.

How the offsets stay exact (the payload is :mod:`streamproc.stream.checkpoint`):

- after each judged batch, :meth:`Checkpointer.judged` notes the models of its
  records (by record key, the model id) as changed, and the next offset of
  each of its partitions as *covered*: the models' state now holds every
  record before it;
- every ``checkpoint_seconds``, between two batches (the judge waits),
  :meth:`Checkpointer.collect`
  snapshots the changed models, each with the covered offsets of its events
  and labels partitions; the worker writes them to the state topic (acks from
  all replicas) and only then commits the covered offsets. With checkpoints
  on, offsets are committed at no other time, so a partition's committed
  offset is never past the state written for its models;
- a worker assigned partitions reads the state topic to its end
  (:meth:`Checkpointer.restore`) and adopts the newest checkpoint of each
  model of those partitions; the consumer resumes from the committed offsets.
  A checkpoint may cover more than the committed offset (the worker died
  after writing it, before committing): then the records of that model below
  its checkpoint's offsets are skipped (:meth:`Checkpointer.unseen`), those of
  the other models are judged. So each model's state counts each of its
  records once.

A model none of whose records were judged since its last checkpoint is not
written again: its state is still the one written, and still right at the
newer offset. A record of the state topic is keyed by model id and written to
partition ``p % n`` of the state topic's ``n`` (``p``: the model's events
partition), so a worker reads only the state partitions of its own partitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Histogram

from streamproc.config import WorkerConfig
from streamproc.detect.monitor import Monitor
from streamproc.kafka_security import client_options, start_client
from streamproc.labels import LabelJoin
from streamproc.stream.batch import PolledBatch, unpacked_labels
from streamproc.stream.checkpoint import Checkpoint, CheckpointError, decode, encode, snapshot, thaw
from streamproc.stream.metrics import Metrics
from streamproc.stream.topics import STATE_RECORD_BYTES

log = logging.getLogger("streamproc.stream.ingest")

MAX_CHECKPOINT_BYTES = 8 * 1024 * 1024  # a bigger one is written without its label join
assert MAX_CHECKPOINT_BYTES < STATE_RECORD_BYTES  # what the state topic takes

StateRecord = tuple[int, bytes, bytes]  # state partition, key, value


class Checkpointer:
    """The checkpoints of one worker's models (see the module doc)."""

    def __init__(
        self,
        config: WorkerConfig,
        monitor: Monitor,
        join: LabelJoin | None,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.monitor = monitor
        self.join = join
        self.events = config.topics.events
        self.labels = config.topics.labels
        self.state_partitions = 1  # set by the worker from the topic's metadata
        self.changed: dict[int, set[bytes]] = {}  # events partition -> model keys
        self.covered: dict[TopicPartition, int] = {}  # next offset judged
        self._restored: dict[TopicPartition, dict[bytes, int]] = {}  # checkpoint offsets
        self._skipping: set[TopicPartition] = set()  # partitions with records to skip
        self._last = time.monotonic()
        r = metrics.registry
        self.written = Counter(
            "streamproc_checkpoints_written", "Model checkpoints written.", registry=r
        )
        self.written_bytes = Counter(
            "streamproc_checkpoint_bytes_written", "Bytes of model checkpoints written.", registry=r
        )
        self.restored = Counter(
            "streamproc_checkpoints_restored", "Models restored from a checkpoint.", registry=r
        )
        self.unrestored = Counter(
            "streamproc_checkpoints_unrestored",
            "Checkpoints read but not restored, by reason.",
            ["reason"],
            registry=r,
        )
        for reason in ("unreadable", "settings_changed", "other_source"):
            self.unrestored.labels(reason)
        self.duration = Histogram(
            "streamproc_checkpoint_duration_seconds",
            "Time to snapshot the changed models of one checkpoint (the judge waits for it).",
            buckets=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
            registry=r,
        )

    # -- the judge's side ---------------------------------------------------------

    def judged(
        self, keys: dict[TopicPartition, set[bytes]], offsets: dict[TopicPartition, int]
    ) -> None:
        """A batch with records of these keys, up to these offsets, was judged."""
        for tp, found in keys.items():
            if found:
                changed = self.changed.get(tp.partition)
                if changed is None:
                    self.changed[tp.partition] = set(found)
                else:
                    changed |= found
        self.covered.update(offsets)

    def due(self) -> bool:
        """Whether ``checkpoint_seconds`` have passed since the last checkpoint."""
        return time.monotonic() - self._last >= self.config.checkpoint_seconds

    def idle(self) -> None:
        """Nothing changed: the next checkpoint is due ``checkpoint_seconds`` from now."""
        self._last = time.monotonic()

    def collect(self, *, now: float) -> tuple[list[StateRecord], dict[TopicPartition, int]]:
        """Snapshot the changed models: the state records to write, then the
        offsets to commit once they are written."""
        started = time.perf_counter()
        self._last = time.monotonic()
        records: list[StateRecord] = []
        for partition, keys in self.changed.items():
            for key in keys:
                record = self._record(partition, key, now)
                if record is not None:
                    records.append(record)
        self.changed = {}
        self.duration.observe(time.perf_counter() - started)
        return records, dict(self.covered)

    def _record(self, partition: int, key: bytes, now: float) -> StateRecord | None:
        model_id = key.decode(errors="replace")
        monitor = self.monitor.models.get(model_id)
        join = self.join.models.get(model_id) if self.join is not None else None
        if monitor is None and join is None:
            return None  # records that were all rejected, or a model past the cap
        events = TopicPartition(self.events, partition)
        labels = TopicPartition(self.labels, partition)
        events_offset, labels_offset = (
            max(self.covered.get(tp, 0), self._restored.get(tp, {}).get(key, 0))
            for tp in (events, labels)
        )

        def checkpoint(join: Any) -> bytes:
            return encode(
                snapshot(
                    model_id, partition, events_offset, labels_offset,
                    monitor=monitor, join=join, now=now,
                    events_topic=self.events, group_id=self.config.group_id,
                )
            )  # fmt: skip

        value = checkpoint(join)
        if len(value) > MAX_CHECKPOINT_BYTES and join is not None:
            log.warning(
                "checkpoint of model %s is %d bytes; written without its %d pending labels",
                model_id, len(value), len(join.index),
            )  # fmt: skip
            value = checkpoint(None)
        self.written.inc()
        self.written_bytes.inc(len(value))
        return partition % self.state_partitions, key, value

    @property
    def skipping(self) -> bool:
        """Whether restored checkpoints hold records not judged here yet."""
        return bool(self._skipping)

    def unseen(
        self, records: list[Any], sources: list[TopicPartition]
    ) -> tuple[list[Any], list[TopicPartition]]:
        """``records`` (in offset order per partition; ``sources[i]`` the partition
        of ``records[i]``) without those that a restored checkpoint already
        holds, and the partitions of those kept."""
        if not self._skipping:
            return records, sources
        kept = []
        kept_sources = []
        newest: dict[TopicPartition, int] = {}
        for record, tp in zip(records, sources, strict=True):
            if tp in self._skipping:
                newest[tp] = record.offset
                if record.offset < self._restored[tp].get(record.key, 0):
                    continue
            kept.append(record)
            kept_sources.append(tp)
        for tp, offset in newest.items():
            if offset + 1 >= max(self._restored[tp].values()):
                self._skipping.discard(tp)  # past every restored checkpoint
        return kept, kept_sources

    def drop_restored(self, polled: PolledBatch) -> tuple[bool, bool]:
        """Take out of ``polled`` the events and labels that a restored checkpoint
        already holds; say whether any events, and any labels, were taken out."""
        records, sources = self.unseen(polled.records, polled.sources)
        all_labels, all_sources = unpacked_labels(polled.labels, polled.label_sources)
        labels, label_sources = self.unseen(all_labels, all_sources)
        events_cut = len(records) != len(polled.records)
        labels_cut = len(labels) != len(all_labels)
        polled.records, polled.sources = records, sources
        polled.labels, polled.label_sources = labels, label_sources
        return events_cut, labels_cut

    def release(self, partitions: Iterable[int]) -> None:
        """Forget what was noted for partitions taken away."""
        for partition in partitions:
            self.changed.pop(partition, None)
            for topic in (self.events, self.labels):
                tp = TopicPartition(topic, partition)
                self.covered.pop(tp, None)
                self._restored.pop(tp, None)
                self._skipping.discard(tp)

    # -- restoring ------------------------------------------------------------------

    async def restore(self, partitions: set[int]) -> list[tuple[bytes, int]]:
        """Read the state topic to its end; adopt the models of ``partitions``
        that are not run here yet. Returns the restored models' keys and partitions."""
        if not partitions:
            return []
        newest = await self._read({p % self.state_partitions for p in partitions})
        restored: list[tuple[bytes, int]] = []
        for key, value in newest.items():
            try:
                checkpoint = decode(value)
            except CheckpointError as exc:
                self.unrestored.labels("unreadable").inc()
                log.error("checkpoint of %r not restored: %s", key, exc)
                continue
            if checkpoint.partition not in partitions:
                continue
            source = (checkpoint.events_topic, checkpoint.group_id)
            if source != (self.events, self.config.group_id):
                # its offsets are of another topic, or another group's progress
                self.unrestored.labels("other_source").inc()
                log.warning(
                    "checkpoint of model %s not restored: written for topic %r, group %r",
                    checkpoint.model_id, checkpoint.events_topic, checkpoint.group_id,
                )  # fmt: skip
                continue
            if checkpoint.model_id in self.monitor.models:
                continue  # run here already (its own state is newer)
            try:
                if self._adopt(checkpoint):
                    restored.append((key, checkpoint.partition))
            except CheckpointError as exc:
                self.unrestored.labels("unreadable").inc()
                log.error("checkpoint of model %s not restored: %s", checkpoint.model_id, exc)
        self.restored.inc(len(restored))
        return restored

    def _adopt(self, checkpoint: Checkpoint) -> bool:
        monitor = None if checkpoint.monitor is None else thaw(checkpoint.monitor)
        join = None if checkpoint.join is None else thaw(checkpoint.join)
        if monitor is not None and not self.monitor.adopt(monitor):
            self.unrestored.labels("settings_changed").inc()
            log.warning(
                "checkpoint of model %s not restored: its detector settings changed",
                checkpoint.model_id,
            )
            return False
        if join is not None and self.join is not None and not self.join.adopt(join):
            log.warning(
                "label join of model %s not restored: its bounds changed", checkpoint.model_id
            )
        key = checkpoint.model_id.encode()
        p = checkpoint.partition
        for topic, offset in ((self.events, checkpoint.events_offset),
                              (self.labels, checkpoint.labels_offset)):  # fmt: skip
            if offset > 0:
                tp = TopicPartition(topic, p)
                self._restored.setdefault(tp, {})[key] = offset
                self._skipping.add(tp)
        log.info(
            "model %s restored from its checkpoint (events before offset %d of partition %d)",
            checkpoint.model_id, checkpoint.events_offset, p,
        )  # fmt: skip
        return True

    async def _read(self, state_partitions: set[int]) -> dict[bytes, bytes]:
        """The newest value of each key in these partitions of the state topic."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.config.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            **client_options(self.config),
        )
        await start_client(consumer)
        newest: dict[bytes, bytes] = {}
        try:
            tps = [TopicPartition(self.config.topics.state, p) for p in sorted(state_partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                for records in (await consumer.getmany(*tps, timeout_ms=1000)).values():
                    for record in records:
                        if record.key is None:
                            continue
                        if record.value is None:
                            newest.pop(record.key, None)
                        else:
                            newest[record.key] = record.value
        finally:
            await consumer.stop()
        return newest
