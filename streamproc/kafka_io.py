"""Kafka clients of the command line and the demo: one produce loop, one alert follower.

``streamproc produce`` and ``streamproc demo`` send events with :func:`produce`;
``streamproc alerts`` and the demo read alerts with :func:`follow_alerts`;
``streamproc baseline fit --publish`` sends its baseline with :func:`send_one`.
Each takes ``security`` (a :class:`~streamproc.kafka_security.KafkaSecurity`,
a ``WorkerConfig``, or ``None`` for PLAINTEXT) and connects through
:func:`~streamproc.kafka_security.client_options`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamproc.events.alerts import Alert
from streamproc.kafka_security import client_options, start_client


def event_record(events: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """Key and value of the Kafka record carrying ``events``: keyed by the first
    event's model id; one event as a JSON object, more as a JSON array.

    >>> event_record([{"model_id": "m", "features": {}}])
    (b'm', b'{"model_id":"m","features":{}}')
    >>> event_record([{"model_id": "m"}, {"model_id": "m"}])
    (b'm', b'[{"model_id":"m"},{"model_id":"m"}]')
    """
    key = str(events[0].get("model_id", "")).encode()
    return key, orjson.dumps(events[0] if len(events) == 1 else events)


async def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[dict[str, Any]],
    *,
    per_record: int = 1,
    rate: float | None = None,
    restamp: bool = False,
    security: Any = None,
) -> int:
    """Send ``events`` to ``topic``, ``per_record`` to a Kafka record
    (:func:`event_record`), at most ``rate`` events a second on average (no
    limit if ``None`` or 0); return how many were sent.

    With ``restamp`` each event's ``timestamp`` is set to when it is sent.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=10, **client_options(security)
    )
    sent = 0
    started = time.monotonic()
    pending: list[dict[str, Any]] = []
    try:
        await start_client(producer)
        for event in events:
            if restamp:
                event["timestamp"] = time.time()
            pending.append(event)
            if len(pending) < per_record:
                continue
            key, value = event_record(pending)
            await producer.send(topic, value, key=key)
            sent += len(pending)
            pending = []
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if pending:
            key, value = event_record(pending)
            await producer.send(topic, value, key=key)
            sent += len(pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def send_one(
    bootstrap: str, topic: str, key: str, value: bytes, *, security: Any = None
) -> None:
    """Send one record and wait until every in-sync replica has it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_options(security))
    try:
        await start_client(producer)
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def follow_alerts(
    bootstrap: str,
    topic: str,
    on_alert: Callable[[Alert], object],
    on_unreadable: Callable[[int], object],
    *,
    done: Callable[[float], bool],
    poll_ms: int = 500,
    security: Any = None,
) -> None:
    """Read ``topic`` from its beginning (no consumer group, nothing committed):
    each alert goes to ``on_alert``, the offset of a record that is not one to
    ``on_unreadable``. Stops once ``done(idle)`` is true before a poll, ``idle``
    being the seconds of polls in a row that returned nothing.

    Reads committed records only (``isolation_level="read_committed"``): the
    same as reading everything while no producer of alerts uses transactions
    (docs/reliability.md), and right if one ever does.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        **client_options(security),
    )
    try:
        await start_client(consumer)
        idle = 0.0
        while not done(idle):
            batch = await consumer.getmany(timeout_ms=poll_ms)
            idle = 0.0 if batch else idle + poll_ms / 1000
            for records in batch.values():
                for record in records:
                    try:
                        alert = Alert.from_dict(orjson.loads(record.value))
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        on_unreadable(record.offset)
                        continue
                    on_alert(alert)
    finally:
        await consumer.stop()
