"""Broker connectivity as a worker sees it, readiness, and log rate-limiting.

The Kafka clients retry a lost broker for ever and log every failed attempt
(hundreds of lines a second under traffic), but nothing in them says "the
brokers are gone". :class:`Connectivity` says it: a probe task asks the
bootstrap servers for their API versions (a request every Kafka broker of any
version answers) every ``interval`` seconds, in a thread so that the event
loop never waits on a socket. The brokers count as lost when no probe has
succeeded for ``lost_after`` seconds, and reachable again at the next probe
that succeeds (each return is a reconnect). ``/ready`` answers 503 while they
are lost.

:class:`RateLimit` is a logging filter: at most one record per ``period``
seconds of each kind (logger and message template), the next one saying how
many were suppressed.

>>> limit = RateLimit(period=60)
>>> rec = lambda: logging.LogRecord("aiokafka", logging.ERROR, "", 0, "lost %s", ("x",), None)
>>> [limit.filter(rec()) for _ in range(3)]
[True, False, False]
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamproc.kafka_security import KafkaSecurity, wrap_probe

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 2.0
LOST_AFTER_S = 6.0  # no answer for this long: the brokers are lost (/ready 503 within ~8 s)


def broker_answers(
    host: str, port: int, timeout: float = 1.5, *, security: KafkaSecurity | None = None
) -> bool:
    """True when a Kafka broker at host:port answers an ApiVersions (v0) request
    (over TLS when ``security`` says so; brokers answer it before SASL)."""
    client = b"streamproc-probe"
    body = struct.pack(">hhih", 18, 0, 11, len(client)) + client
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            wrap_probe(raw, host, security or KafkaSecurity()) as s,
        ):
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            header = b""
            while len(header) < 8:
                chunk = s.recv(8 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    return struct.unpack(">ii", header)[1] == 11


def any_broker_answers(bootstrap: str, security: KafkaSecurity | None = None) -> bool:
    """True when one of the ``bootstrap`` brokers answers (:func:`broker_answers`)."""
    return any(
        broker_answers(host, port, security=security)
        for host, port in bootstrap_addresses(bootstrap)
    )


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port[,host:port]`` as (host, port) pairs (port 9092 if absent).

    >>> bootstrap_addresses("a:1, b")
    [('a', 1), ('b', 9092)]
    """
    out = []
    for part in bootstrap.split(","):
        part = part.strip().removeprefix("kafka://")
        if not part:
            continue
        host, _, port = part.rpartition(":")
        if not host:
            host, port = port, "9092"
        out.append((host.strip("[]"), int(port)))
    return out


@dataclass
class Connectivity:
    """Whether the brokers are reachable; fed by probe results (:meth:`observe`).

    ``on_change(connected)`` is called on each change (the gauge, the
    reconnect counter); ``clock`` is for tests.
    """

    lost_after: float = LOST_AFTER_S
    on_change: Callable[[bool], None] = lambda connected: None
    clock: Callable[[], float] = time.monotonic
    connected: bool = True
    reconnects: int = 0
    last_ok: float = field(default=0.0)
    lost_at: float | None = None

    def __post_init__(self) -> None:
        self.last_ok = self.clock()

    def observe(self, ok: bool) -> None:
        now = self.clock()
        if ok:
            self.last_ok = now
            if not self.connected:
                self.connected = True
                self.reconnects += 1
                gone = now - (self.lost_at or now)
                log.warning("brokers reachable again (lost for %.0f s)", gone + self.lost_after)
                self.on_change(True)
        elif self.connected and now - self.last_ok >= self.lost_after:
            self.connected = False
            self.lost_at = now
            log.error(
                "brokers unreachable for %.0f s: not ready until they answer", self.lost_after
            )
            self.on_change(False)


def readiness(*, assigned: bool, state_loaded: bool, connected: bool, stopping: bool) -> list[str]:
    """Why a worker is not ready (empty when it is).

    >>> readiness(assigned=True, state_loaded=True, connected=False, stopping=False)
    ['brokers unreachable']
    """
    why = []
    if stopping:
        why.append("stopping")
    if not connected:
        why.append("brokers unreachable")
    if not state_loaded:
        why.append("baselines and alerts not read yet")
    if not assigned:
        why.append("no partitions assigned")
    return why


@dataclass
class Readiness:
    """What ``/ready`` answers, from the worker's parts; each change is logged once.

    >>> r = Readiness(Connectivity(), state_loaded=lambda: True, assigned=True)
    >>> r.why(), r.body()["ready"]
    ([], True)
    """

    connectivity: Connectivity
    state_loaded: Callable[[], bool]  # baselines and alerts read to their end
    assigned: bool = False  # partitions assigned
    stopping: bool = False
    _reported: bool | None = None

    def why(self) -> list[str]:
        """Why the worker is not ready (empty: ready)."""
        return readiness(
            assigned=self.assigned,
            state_loaded=self.state_loaded(),
            connected=self.connectivity.connected,
            stopping=self.stopping,
        )

    def body(self) -> dict[str, Any]:
        """The JSON body of ``/ready`` (docs/contract.md)."""
        why = self.why()
        return {
            "ready": not why,
            "not_ready": why,
            "partitions_assigned": self.assigned,
            "baselines_loaded": self.state_loaded(),
            "brokers_reachable": self.connectivity.connected,
        }

    def report(self) -> None:
        """Log a change of readiness, in the words of ``/ready``."""
        why = self.why()
        if (not why) != self._reported:
            self._reported = not why
            if why:
                log.warning("streamproc worker not ready: %s", ", ".join(why))
            else:
                log.info(
                    "streamproc worker ready: partitions assigned, baselines and alerts read,"
                    " brokers reachable"
                )


class RateLimit(logging.Filter):
    """At most one record of a kind per ``period`` seconds (WARNING and above)."""

    def __init__(self, period: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.period = period
        self.clock = clock
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}  # kind -> (last, suppressed)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.msg if isinstance(record.msg, str) else type(record.msg))
        now = self.clock()
        last, suppressed = self._seen.get(kind, (None, 0))
        if last is not None and now - last < self.period:
            self._seen[kind] = (last, suppressed + 1)
            return False
        if len(self._seen) > 10_000:  # bounded, whatever the templates
            self._seen.clear()
        self._seen[kind] = (now, 0)
        if suppressed and last is not None:
            record.msg = f"{record.msg} [{suppressed} similar suppressed in {now - last:.0f} s]"
        return True


_LIMIT: RateLimit | None = None


def limit_log_rate(period: float = 5.0) -> RateLimit:
    """Rate-limit the warnings and errors of every handler of the root logger
    (installed once; call again after logging is reconfigured)."""
    global _LIMIT
    if _LIMIT is None:
        _LIMIT = RateLimit(period)
    for handler in logging.getLogger().handlers:
        if _LIMIT not in handler.filters:
            handler.addFilter(_LIMIT)
    return _LIMIT
