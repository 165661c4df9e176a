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
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamproc.events.alerts import Alert
from streamproc.kafka_security import KafkaSecurity, client_options, describe_failure
from streamproc.kafka_security import start_client as secure_start

CONNECT_TIMEOUT_S = 8.0  # one-shot commands give up on an unreachable Kafka after this


class KafkaUnreachable(Exception):
    """The bootstrap servers did not answer: one line saying which and why."""


async def start_client(
    client: Any, bootstrap: str, *, security: Any = None, timeout: float = CONNECT_TIMEOUT_S
) -> None:
    """Start an aiokafka client within ``timeout`` seconds, or stop it and raise
    :class:`KafkaUnreachable`: naming ``bootstrap`` (plaintext), or saying what
    failed in the TLS handshake or the SASL login (``security``, see
    :func:`streamproc.kafka_security.describe_failure`)."""
    try:
        await asyncio.wait_for(secure_start(client), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        try:
            await client.stop()
        except Exception:  # noqa: BLE001, S110 - reporting the first failure
            pass
        if KafkaSecurity.of(security).security_protocol != "PLAINTEXT":
            raise KafkaUnreachable(describe_failure(bootstrap, security, exc)) from None
        if isinstance(exc, asyncio.TimeoutError):
            reason = f"no answer in {timeout:.0f} s"
        elif isinstance(exc, KafkaConnectionError):
            reason = "no broker there answered"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        raise KafkaUnreachable(
            f"cannot reach Kafka at {bootstrap} ({reason}); "
            "check --bootstrap or STREAMPROC_BOOTSTRAP"
        ) from None


class Progress:
    """A line every ``every`` seconds on how many events were sent, and how fast.

    >>> lines = []
    >>> p = Progress(every=5.0, write=lines.append, clock=iter([0.0, 6.0]).__next__)
    >>> p.update(12000)
    >>> lines
    ['sent 12,000 events (2,000 events/s)']
    """

    def __init__(
        self,
        every: float = 5.0,
        write: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every = every
        self.write = write
        self.clock = clock
        self.started = self.last = clock()

    def update(self, sent: int) -> None:
        if self.write is None:
            return
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            rate = sent / max(now - self.started, 1e-9)
            self.write(f"sent {sent:,} events ({rate:,.0f} events/s)")


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
    progress: Callable[[str], object] | None = None,
    security: Any = None,
) -> int:
    """Send ``events`` to ``topic``, ``per_record`` to a Kafka record
    (:func:`event_record`), at most ``rate`` events a second on average (no
    limit if ``None`` or 0); return how many were sent.

    With ``restamp`` each event's ``timestamp`` is set to when it is sent;
    ``progress`` gets a line every 5 s (:class:`Progress`). Raises
    :class:`KafkaUnreachable` if the brokers do not answer.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=10, **client_options(security)
    )
    await start_client(producer, bootstrap, security=security)
    report = Progress(write=progress)
    sent = 0
    started = time.monotonic()
    pending: list[dict[str, Any]] = []
    try:
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
            report.update(sent)
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
    await start_client(producer, bootstrap, security=security)
    try:
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
) -> int:
    """Read ``topic`` from its beginning (no consumer group, nothing committed):
    each alert goes to ``on_alert``, the offset of a record that is not one to
    ``on_unreadable``. Stops once ``done(idle)`` is true before a poll, ``idle``
    being the seconds of polls in a row that returned nothing. Returns how many
    records it read; raises :class:`KafkaUnreachable` if the brokers do not answer.

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
    await start_client(consumer, bootstrap, security=security)
    read = 0
    try:
        idle = 0.0
        while not done(idle):
            batch = await consumer.getmany(timeout_ms=poll_ms)
            idle = 0.0 if batch else idle + poll_ms / 1000
            for records in batch.values():
                read += len(records)
                for record in records:
                    try:
                        alert = Alert.from_dict(orjson.loads(record.value))
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        on_unreadable(record.offset)
                        continue
                    on_alert(alert)
    finally:
        await consumer.stop()
    return read
