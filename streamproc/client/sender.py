"""The SDK's I/O: a daemon thread with its own asyncio loop and AIOKafkaProducer.

The thread takes what callers queued (at most ``take`` items a cycle),
encodes it (:mod:`streamproc.client.encode`), batches it into records
(:mod:`streamproc.client.batching`) and sends them, events keyed by
``model_id`` to the events topic, labels to the labels topic. When a send
fails (broker down, timeout) it drops the producer, waits (exponential
backoff up to ``backoff_max`` seconds), makes a new one and sends the same
records again: it takes nothing new meanwhile, so the callers' queue fills
to its bound and further calls are dropped and counted, and at most one
cycle's records wait in the thread. A record whose send failed after it
reached the broker may arrive twice (at-least-once). At the start of each
cycle it refills the callers' pool of event ids (:class:`~.ids.IdPool`),
unless more than a cycle's items wait: then this thread is the bottleneck and
the callers make their own ids.

The GIL: encoding is Python code. A caller's thread that wakes (from I/O, a
sleep, a lock) while this thread encodes waits for the GIL, and CPython
makes it wait up to ``sys.getswitchinterval()`` (5 ms) before it forces the
holder to let go. So the thread encodes in slices of :data:`GIL_SLICE`
seconds and sleeps :data:`GIL_PAUSE` between them (``time.sleep(0)`` does
not do it: the thread takes the GIL back before the woken caller can). The
process-wide switch interval is left alone.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from streamproc.client.batching import RecordBatcher
from streamproc.client.encode import encode_event, encode_label
from streamproc.client.ids import IdPool
from streamproc.client.problems import Counters

__all__ = ["Sender", "EVENT", "LABEL", "FLUSH"]

log = logging.getLogger("streamproc.client")

#: Kinds of queued items: ``(EVENT, timestamp, event_id, features, prediction,
#: latency_ms, error)``, ``(LABEL, timestamp, event_id, label)``, ``(FLUSH, threading.Event)``.
EVENT, LABEL, FLUSH = 0, 1, 2

#: Encoding time (seconds) after which the thread lets go of the GIL ...
GIL_SLICE = 0.001
#: ... for this long (seconds; the OS's timer slack adds about 50 us).
GIL_PAUSE = 0.00005


def _let_callers_in() -> None:
    """Let go of the GIL for :data:`GIL_PAUSE` (a caller waiting for it runs)."""
    time.sleep(GIL_PAUSE)


class Sender:
    """Drains ``queue`` to Kafka from its own thread until :meth:`stop`."""

    def __init__(
        self,
        *,
        queue: collections.deque[tuple[Any, ...]],
        counters: Counters,
        ids: IdPool | None = None,
        space: threading.Event,
        bootstrap: str,
        model_id: str,
        model_version: str,
        events_topic: str,
        labels_topic: str,
        batch_events: int,
        linger: float,
        kafka_options: dict[str, Any] | None,
        delivery_timeout: float = 15.0,
        backoff_max: float = 2.0,
    ) -> None:
        self.queue = queue
        self.counters = counters
        #: Event ids made ahead for the callers, refilled at every cycle.
        self.ids = ids
        self.space = space
        self.bootstrap = bootstrap
        self.model_id = model_id
        self.model_version = model_version
        self.key = model_id.encode()
        self.events_topic = events_topic
        self.labels_topic = labels_topic
        self.events = RecordBatcher(max_events=batch_events, linger=linger)
        self.labels = RecordBatcher(max_events=batch_events, linger=linger)
        self.take = batch_events * 4
        self.tick = min(linger, 0.05)
        self.kafka_options = dict(kafka_options or {})
        self.delivery_timeout = delivery_timeout
        self.backoff_max = backoff_max
        #: After this monotonic time a failing send is given up (set by close).
        self.abandon_at: float | None = None
        self._stopping = False
        self._outbox: list[tuple[str, bytes, int]] = []  # (topic, value, events)
        self._producer: AIOKafkaProducer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="streamproc-client", daemon=True)
        self._outage_since: float | None = None

    # -- the caller's side ----------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._started.wait(5.0)

    def wake(self) -> None:
        """Have the thread look at the queue now (not at its next tick)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has closed
                pass

    def stop(self, timeout: float) -> None:
        """End the thread (after the cycle it is in) and wait up to ``timeout`` for it."""
        self._stopping = True
        self.wake()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # noqa: BLE001 - a bug here must not take the server down
            log.exception("streamproc client: the sender thread failed; events are no longer sent")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._started.set()
        try:
            while True:
                if self.ids is not None and len(self.queue) < self.take:
                    # (a longer queue: this thread is the bottleneck; callers make their ids)
                    self.ids.refill(time.time(), _let_callers_in)
                markers, taken = self._take()
                now = time.monotonic()
                if markers:
                    self._queue_records(self.events_topic, self.events.drain())
                    self._queue_records(self.labels_topic, self.labels.drain())
                else:
                    self._queue_records(self.events_topic, self.events.due(now))
                    self._queue_records(self.labels_topic, self.labels.due(now))
                if self._outbox:
                    await self._deliver()
                for marker in markers:
                    marker.set()
                if self._stopping:
                    break
                if not taken and not self._outbox:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.tick)
                    except TimeoutError:
                        pass
        finally:
            await self._drop_producer()

    def _take(self) -> tuple[list[threading.Event], int]:
        """Encode up to ``take`` queued items (stopping after a flush marker)."""
        queue, counters, now = self.queue, self.counters, time.monotonic()
        clock, pause = time.perf_counter, time.sleep
        markers: list[threading.Event] = []
        taken = non_finite = 0
        slice_ends = clock() + GIL_SLICE
        while taken < self.take:
            try:
                item = queue.popleft()
            except IndexError:
                break
            taken += 1
            if not taken & 7 and clock() >= slice_ends:
                pause(GIL_PAUSE)  # a caller waiting for the GIL gets it now, not in 5 ms
                slice_ends = clock() + GIL_SLICE
            kind = item[0]
            if kind == FLUSH:
                markers.append(item[1])
                break
            try:
                if kind == EVENT:
                    payload, problem, bad = encode_event(
                        self.model_id, self.model_version, item[1:]
                    )
                    batcher, topic = self.events, self.events_topic
                else:
                    payload, problem, bad = encode_label(self.model_id, item[1:])
                    batcher, topic = self.labels, self.labels_topic
            except Exception as exc:  # noqa: BLE001 - a bug in encoding loses one call, not all
                counters.reject("internal", f"encoding: {type(exc).__name__}: {exc}")
                continue
            if payload is None:
                if problem is not None:
                    counters.reject(problem.reason, problem.detail)
                continue
            non_finite += bad
            self._queue_records(topic, batcher.add(payload, now))
        if taken:
            self.space.set()
        if non_finite:
            counters.add("non_finite", non_finite)
        return markers, taken

    def _queue_records(self, topic: str, records: list[tuple[bytes, int]]) -> None:
        for value, events in records:
            self._outbox.append((topic, value, events))

    async def _deliver(self) -> None:
        """Send the outbox; on failure make a new producer and send it again."""
        attempt = 0
        while self._outbox:
            now = time.monotonic()
            limit = self.delivery_timeout
            if self.abandon_at is not None:
                limit = max(0.05, min(limit, self.abandon_at - now))
            try:
                await asyncio.wait_for(self._send_outbox(), limit)
            except Exception as exc:  # noqa: BLE001 - KafkaError, TimeoutError, OSError, ...
                self.counters.add("errors")
                await self._drop_producer()
                if self._outage_since is None:
                    self._outage_since = now
                    self.counters.tell(
                        "send_failed",
                        f"cannot send to {self.bootstrap} ({_describe(exc)}); "
                        "retrying; meanwhile calls queue up to the bound, then are dropped "
                        "and counted",
                    )
                if self.abandon_at is not None and time.monotonic() >= self.abandon_at:
                    lost = sum(events for _, _, events in self._outbox)
                    self.counters.add("dropped", lost)
                    log.warning("streamproc client: gave up %d unsent events and labels", lost)
                    self._outbox.clear()
                    return
                pause = min(self.backoff_max, 0.1 * 2**attempt)
                if self.abandon_at is not None:
                    pause = max(0.0, min(pause, self.abandon_at - time.monotonic()))
                attempt += 1
                await asyncio.sleep(pause)
                continue
            if self._outage_since is not None:
                log.warning(
                    "streamproc client: sending to %s again after %.1f s",
                    self.bootstrap,
                    time.monotonic() - self._outage_since,
                )
                self._outage_since = None

    async def _send_outbox(self) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id="streamproc-client",
                linger_ms=2,
                request_timeout_ms=int(self.delivery_timeout * 1000),
                **self.kafka_options,
            )
            try:
                await producer.start()
            except BaseException:
                await _quietly_stop(producer)
                raise
            self._producer = producer
        producer = self._producer
        futures = [
            await producer.send(topic, value, key=self.key) for topic, value, _ in self._outbox
        ]
        await asyncio.gather(*futures)
        for topic, _, events in self._outbox:
            self.counters.add("sent" if topic == self.events_topic else "labels_sent", events)
        self._outbox.clear()

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _quietly_stop(producer)


async def _quietly_stop(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 5.0)
    except Exception:  # noqa: BLE001 - it is being thrown away
        pass


def _describe(exc: BaseException) -> str:
    """``TypeName: message``, or the type alone when the message is empty."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
