"""``Reporter``: what a model server calls to send its inference events and labels.

``record()`` costs the request a few microseconds: it reads the clock,
takes an event id made ahead by the sender thread
(:class:`~streamproc.client.ids.IdPool`), checks the sample and the queue's
bound, and appends one tuple to a bounded queue; a daemon thread
(:mod:`streamproc.client.sender`) validates, batches and sends. Nothing
raises into the caller after construction: bad values, a full queue and an
unreachable broker are counted (:meth:`Reporter.stats`) and told once per
kind (``on_error`` or a log line).

Example (needs a broker)::

    with Reporter("localhost:9092", model_id="fraud-detector") as reporter:
        event_id = reporter.record({"amount": 12.5, "country": "DE"}, prediction=0.87)
        reporter.label(event_id, "fraud")
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import os
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

from streamproc.client.ids import IdPool
from streamproc.client.problems import Counters, ErrorCallback
from streamproc.client.sampling import kept
from streamproc.client.sender import EVENT, FLUSH, LABEL, Sender
from streamproc.config import Topics
from streamproc.events.shapes import MODEL_ID_PATTERN
from streamproc.kafka_security import KafkaSecurity, client_options, from_environment

__all__ = ["Reporter", "AsyncReporter"]

# Bound once: record() is on the request path (saves an attribute lookup).
_now = time.time

log = logging.getLogger("streamproc.client")

DEFAULT_BOOTSTRAP = "localhost:9092"


class Reporter:
    """Send one model's inference events and labels to Kafka, without blocking.

    Parameters (everything but ``model_id`` has a default; a wrong one raises
    ``ValueError`` here, at start-up, never later):

    bootstrap
        Kafka bootstrap servers; default ``STREAMPROC_BOOTSTRAP``, else
        ``localhost:9092``.
    model_id, model_version
        Put on every event (``model_id`` is also the records' key).
    events_topic, labels_topic
        Default ``STREAMPROC_TOPIC_EVENTS`` / ``STREAMPROC_TOPIC_LABELS``, else
        the contract's ``inference.events`` / ``inference.labels``.
    sample_rate
        Share of events sent (0 < rate <= 1), decided by a hash of the event
        id; the label of an event left out is left out too.
    max_queue
        Calls waiting for the sender, at most (default 10,000).
    when_full
        ``"drop"`` (default: the call is counted in ``dropped`` and returns)
        or ``"block"`` (the call waits for room, at most ``block_timeout``
        seconds, ``None``: as long as it takes, then drops).
    batch_events, linger_ms
        A record holds at most ``batch_events`` events (default 500) and is
        sent at most ``linger_ms`` (default 50) after its first event.
    on_error
        ``on_error(kind, detail)``, called from the sender thread the first
        time each kind of problem happens (and at each loss of the broker);
        default: a warning on the ``streamproc.client`` logger.
    security
        TLS and SASL: a :class:`~streamproc.kafka_security.KafkaSecurity` or a
        mapping of its settings (``security_protocol``, ``ssl_cafile``, ...);
        default: the ``STREAMPROC_SECURITY_PROTOCOL``, ``STREAMPROC_SSL_CAFILE``,
        ... variables, as the worker reads them (README, "Configuration").
    kafka_options
        Extra keyword arguments of ``aiokafka.AIOKafkaProducer`` (compression, ...).
    flush_at_exit
        Close (flushing, up to 5 s) when the interpreter exits (default True).
    """

    def __init__(
        self,
        bootstrap: str | None = None,
        *,
        model_id: str,
        model_version: str = "unknown",
        events_topic: str | None = None,
        labels_topic: str | None = None,
        sample_rate: float = 1.0,
        max_queue: int = 10_000,
        when_full: Literal["drop", "block"] = "drop",
        block_timeout: float | None = None,
        batch_events: int = 500,
        linger_ms: float = 50.0,
        on_error: ErrorCallback | None = None,
        security: KafkaSecurity | Mapping[str, Any] | None = None,
        kafka_options: dict[str, Any] | None = None,
        flush_at_exit: bool = True,
        delivery_timeout: float = 15.0,
    ) -> None:
        if type(model_id) is not str or not MODEL_ID_PATTERN.fullmatch(model_id):
            raise ValueError(f"model_id must be 1 to 128 of [A-Za-z0-9._:-], got {model_id!r}")
        if type(model_version) is not str:
            raise ValueError(f"model_version must be a string, got {model_version!r}")
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        if when_full not in ("drop", "block"):
            raise ValueError(f"when_full must be 'drop' or 'block', got {when_full!r}")
        if linger_ms < 0:
            raise ValueError(f"linger_ms must be >= 0, got {linger_ms}")
        bootstrap = bootstrap or os.environ.get("STREAMPROC_BOOTSTRAP") or DEFAULT_BOOTSTRAP
        topics = Topics()
        self.model_id = model_id
        self.model_version = model_version
        self._closed = False
        self.sample_rate = float(sample_rate)  # also sets _gated
        self.max_queue = max_queue
        self.block = when_full == "block"
        self.block_timeout = block_timeout
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._counters = Counters(on_error)
        self._space = threading.Event()
        self._ids = IdPool()
        self._sender = Sender(
            queue=self._queue,
            ids=self._ids,
            counters=self._counters,
            space=self._space,
            bootstrap=bootstrap,
            model_id=model_id,
            model_version=model_version,
            events_topic=events_topic or os.environ.get("STREAMPROC_TOPIC_EVENTS") or topics.events,
            labels_topic=labels_topic or os.environ.get("STREAMPROC_TOPIC_LABELS") or topics.labels,
            batch_events=batch_events,
            linger=linger_ms / 1000,
            kafka_options={
                **client_options(from_environment() if security is None else security),
                **(kafka_options or {}),
            },
            delivery_timeout=delivery_timeout,
        )
        self._sender.start()
        self._at_exit = flush_at_exit
        if flush_at_exit:
            atexit.register(self._close_at_exit)

    @property
    def bootstrap(self) -> str:
        return self._sender.bootstrap

    @property
    def sample_rate(self) -> float:
        """Share of events sent; settable (the next calls use the new rate)."""
        return self._sample_rate

    @sample_rate.setter
    def sample_rate(self, rate: float) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {rate}")
        self._sample_rate = float(rate)
        #: True when record() must look at sampling or closing (one test on the common path).
        self._gated = self._closed or self._sample_rate < 1.0

    # -- the request path -------------------------------------------------------

    def record(
        self,
        features: dict[str, Any],
        prediction: Any = None,
        latency_ms: float | None = None,
        error: str | BaseException | None = None,
        event_id: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        """Queue one inference event; return its ``event_id`` (a new UUIDv7 if none).

        ``features``: name to number, string, boolean or None (copied, so the
        caller may reuse the dict). ``prediction``: a number, a string or
        ``{"label": ..., "score": ...}``. ``timestamp``: epoch seconds,
        default now. Never raises, never waits (unless ``when_full="block"``).
        """
        try:
            now = _now()
            if event_id is None:
                event_id = self._ids.take(now)
            elif type(event_id) is not str:
                event_id = str(event_id)
            if self._gated:  # sampling or closed: the rare paths
                if self._sample_rate < 1.0 and not kept(event_id, self._sample_rate):
                    self._counters.add("unsampled")
                    return event_id
                if self._closed:
                    self._counters.add("dropped")
                    return event_id
            queue = self._queue
            if len(queue) >= self.max_queue and not self._wait_for_room():
                self._counters.add("dropped")
                return event_id
            queue.append(
                (
                    EVENT,
                    now if timestamp is None else timestamp,
                    event_id,
                    features.copy() if type(features) is dict else features,
                    prediction,
                    latency_ms,
                    error,
                )
            )
            return event_id
        except Exception as exc:  # noqa: BLE001 - the request path must not fail
            self._counters.reject("internal", f"record: {type(exc).__name__}: {exc}")
            return event_id if isinstance(event_id, str) else ""

    def label(self, event_id: str, label: str | float, timestamp: float | None = None) -> bool:
        """Queue the ground truth of the event ``event_id``; True if it was queued
        (False: dropped, or its event was left out by ``sample_rate``)."""
        try:
            if type(event_id) is not str:
                event_id = str(event_id)
            if self.sample_rate < 1.0 and not kept(event_id, self.sample_rate):
                self._counters.add("unsampled")
                return False
            if self._closed or (len(self._queue) >= self.max_queue and not self._wait_for_room()):
                self._counters.add("dropped")
                return False
            self._queue.append(
                (LABEL, time.time() if timestamp is None else timestamp, event_id, label)
            )
            return True
        except Exception as exc:  # noqa: BLE001 - the request path must not fail
            self._counters.reject("internal", f"label: {type(exc).__name__}: {exc}")
            return False

    def _wait_for_room(self) -> bool:
        """With ``when_full="block"``: wait until the queue has room (or the timeout)."""
        if not self.block:
            return False
        deadline = None if self.block_timeout is None else time.monotonic() + self.block_timeout
        while len(self._queue) >= self.max_queue:
            if self._closed or not self._sender.alive:
                return False
            wait = 0.05
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return False
            self._space.clear()
            if len(self._queue) < self.max_queue:
                break
            self._space.wait(wait)
        return True

    # -- the rest -----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters (see :class:`streamproc.client.problems.Counters`) and ``queued``,
        e.g. ``{'sent': 9000, 'labels_sent': 0, 'dropped': 0, 'invalid': 1,
        'unsampled': 0, 'non_finite': 2, 'errors': 0, 'problems': {'bad_latency': 1},
        'queued': 1000}``."""
        return {**self._counters.snapshot(), "queued": len(self._queue)}

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued before this call is sent; False on timeout."""
        if not self._sender.alive:
            return not self._queue
        done = threading.Event()
        self._queue.append((FLUSH, done))
        self._sender.wake()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Flush (up to ``timeout`` seconds; then what is unsent is dropped and
        counted) and stop the sender. True if nothing was lost. Idempotent."""
        if self._closed:
            return True
        self._closed = True
        self._gated = True
        dropped_before = self._counters.snapshot()["dropped"]
        if self._at_exit:
            atexit.unregister(self._close_at_exit)
        self._sender.abandon_at = time.monotonic() + timeout
        flushed = self.flush(timeout + 1.0)
        self._sender.stop(5.0)
        left = sum(1 for item in self._queue if item[0] != FLUSH)
        self._queue.clear()
        if left:
            self._counters.add("dropped", left)
        return flushed and self._counters.snapshot()["dropped"] == dropped_before

    def _close_at_exit(self) -> None:
        if not self.close(5.0):
            log.warning("streamproc client: unsent events dropped at exit: %s", self.stats())

    def __enter__(self) -> Reporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncReporter:
    """:class:`Reporter` for asyncio servers: ``record`` and ``label`` as they are
    (synchronous, non-blocking), ``flush`` and ``close`` awaitable (they wait
    in a worker thread, not on the event loop). Same parameters.

    Example (needs a broker)::

        async with AsyncReporter(model_id="fraud-detector") as reporter:
            reporter.record({"amount": 12.5}, prediction=0.87)
    """

    def __init__(self, bootstrap: str | None = None, **options: Any) -> None:
        if options.get("when_full") == "block":
            raise ValueError("AsyncReporter cannot block the event loop: use when_full='drop'")
        self._reporter = Reporter(bootstrap, **options)
        self.record = self._reporter.record
        self.label = self._reporter.label
        self.stats = self._reporter.stats

    @property
    def model_id(self) -> str:
        return self._reporter.model_id

    async def flush(self, timeout: float = 10.0) -> bool:
        return await asyncio.to_thread(self._reporter.flush, timeout)

    async def close(self, timeout: float = 10.0) -> bool:
        return await asyncio.to_thread(self._reporter.close, timeout)

    async def __aenter__(self) -> AsyncReporter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
