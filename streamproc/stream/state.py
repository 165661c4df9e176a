"""The worker's state, read back from Kafka: baselines and open alert episodes.

Two topics are read from the beginning, without a consumer group, and then
followed: ``monitor.baselines`` (the baselines to judge against) and
``monitor.alerts`` (the open alert episodes, so that a restarted worker, or
the next owner of a model after a rebalance, neither repeats a ``firing``
alert nor loses its ``resolved``).
"""

from __future__ import annotations

import logging

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streamproc.config import WorkerConfig
from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.events.alerts import Alert
from streamproc.kafka_security import client_options, start_client
from streamproc.stream.metrics import Metrics
from streamproc.stream.topics import partitions_of

log = logging.getLogger("streamproc.stream.ingest")  # see streamproc.stream.batch


class StateReader:
    """Feeds the baselines and alerts topics into ``monitor``.

    :meth:`start` reads both to their end (then ``loaded`` is true);
    :meth:`follow` applies what arrived since, one poll at a time.
    """

    def __init__(self, config: WorkerConfig, monitor: Monitor, metrics: Metrics) -> None:
        self.config = config
        self.monitor = monitor
        self.metrics = metrics
        self.consumer: AIOKafkaConsumer | None = None
        self.loaded = False

    async def start(self) -> None:
        """Start the consumer and read both topics to their end."""
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.config.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",  # docs/reliability.md: harmless without transactions
            **client_options(self.config),
        )
        await start_client(self.consumer)
        await self._catch_up()

    async def _catch_up(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        topics = self.config.topics
        partitions = await partitions_of(self.config, (topics.baselines, topics.alerts))
        tps = [TopicPartition(topic, p) for topic, ps in partitions.items() for p in ps]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            self.apply(await consumer.getmany(*tps, timeout_ms=1000))
        self.loaded = True
        log.info("state read: %d baselines", len(self.monitor.baselines))

    async def follow(self) -> None:
        """Apply the records that arrive within half a second."""
        assert self.consumer is not None
        self.apply(await self.consumer.getmany(timeout_ms=500))

    def apply(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Apply polled state records (tombstones are skipped)."""
        for tp, records in batch.items():
            apply = (
                self._apply_baseline
                if tp.topic == self.config.topics.baselines
                else self._apply_alert
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
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            # a bad record on a compacted topic must not crash every worker that reads it
            self.metrics.rejected.labels("bad_baseline").inc()
            log.error("ignoring bad baseline at offset %d: %s", record.offset, exc)
            return
        current = self.monitor.models.get(baseline.model_id)
        if current is not None and current.baseline is not None:
            if current.baseline.created_at == baseline.created_at:
                return  # our own learned baseline coming back
        self.monitor.set_baseline(baseline)
        log.info("baseline for model %s (%s)", baseline.model_id, baseline.source)
