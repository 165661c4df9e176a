"""Connecting a worker to Kafka: waiting for a broker, then its consumer and producer."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamproc.config import WorkerConfig
from streamproc.kafka_security import client_options, describe_failure, start_client
from streamproc.stream.checkpoints import MAX_CHECKPOINT_BYTES
from streamproc.stream.fetch import take_whole_batches
from streamproc.stream.topics import ensure_topics

log = logging.getLogger(__name__)

KAFKA_RETRY_S = 5.0  # at start-up, how often an unreachable Kafka is tried again


def announce(c: WorkerConfig, labels: bool) -> None:
    """The worker's first log line: where it serves metrics, its group, Kafka, topics."""
    t = c.topics
    log.info(
        "streamproc worker: metrics http://%s:%d/metrics, group %s, Kafka %s, topics: "
        "events %s, labels %s, baselines %s, alerts %s, dead letters %s",
        c.metrics_host,
        c.metrics_port,
        c.group_id,
        c.bootstrap,
        t.events,
        t.labels if labels else "(off)",
        t.baselines,
        t.alerts,
        t.dlq,
    )


async def wait_for_kafka(c: WorkerConfig) -> None:
    """Create the missing topics once a broker answers; until then say once
    every :data:`KAFKA_RETRY_S` seconds that the worker is waiting. A refused
    login (waiting will not help) ends the process with one line."""
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


async def start_producer(c: WorkerConfig) -> AIOKafkaProducer:
    """The producer of alerts, dead letters, baselines and checkpoints (acks from all replicas)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=c.bootstrap,
        linger_ms=5,
        acks="all",
        max_request_size=MAX_CHECKPOINT_BYTES + 1024 * 1024,
        **client_options(c),
    )
    await start_client(producer)
    return producer


async def start_consumer(
    c: WorkerConfig, topics: list[str], listener: ConsumerRebalanceListener
) -> AIOKafkaConsumer:
    """The consumer of events (and labels) in the worker's group; offsets are
    committed by the worker, partitions assigned by range so that partition N
    of the events and of the labels topic go to the same worker."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=c.bootstrap,
        group_id=c.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=c.max_batch,
        rebalance_timeout_ms=int(c.rebalance_timeout_s * 1000),
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        partition_assignment_strategy=(RangePartitionAssignor,),
        **client_options(c),
    )
    consumer.subscribe(topics, listener=listener)
    await start_client(consumer)
    # records without a ConsumerRecord each; the labels topic's not unpacked at all
    take_whole_batches(consumer, whole=[t for t in topics if t == c.topics.labels])
    return consumer
