"""Connectivity, readiness and log rate-limiting (stream/health.py)."""

from __future__ import annotations

import logging
import socket
import struct
import threading

from streamproc.stream.health import (
    Connectivity,
    RateLimit,
    any_broker_answers,
    bootstrap_addresses,
    broker_answers,
    readiness,
)
from streamproc.stream.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_brokers_are_lost_after_lost_after_seconds_of_failed_probes_and_return_at_once():
    clock = Clock()
    changes: list[bool] = []
    c = Connectivity(lost_after=6.0, on_change=changes.append, clock=clock)
    for t in (2.0, 4.0):
        clock.now = t
        c.observe(False)
    assert c.connected  # 4 s without an answer: not yet
    clock.now = 6.0
    c.observe(False)
    assert not c.connected and changes == [False]
    clock.now = 8.0
    c.observe(False)
    assert changes == [False]  # told once
    clock.now = 10.0
    c.observe(True)
    assert c.connected and c.reconnects == 1 and changes == [False, True]


def test_the_gauge_and_the_reconnect_counter_follow_the_changes():
    m = Metrics()
    c = Connectivity(lost_after=0.0, on_change=m.set_connected)
    c.observe(False)
    assert m.kafka_connected._value.get() == 0
    c.observe(True)
    assert m.kafka_connected._value.get() == 1
    assert m.kafka_reconnects._value.get() == 1
    text = m.exposition().decode()
    assert "streamproc_kafka_connected 1.0" in text
    assert "streamproc_kafka_reconnects_total 1.0" in text


def test_readiness_says_why():
    assert readiness(assigned=True, state_loaded=True, connected=True, stopping=False) == []
    assert readiness(assigned=False, state_loaded=False, connected=True, stopping=False) == [
        "baselines and alerts not read yet",
        "no partitions assigned",
    ]
    assert "stopping" in readiness(assigned=True, state_loaded=True, connected=True, stopping=True)


def test_rate_limit_lets_one_record_of_a_kind_through_per_period_and_counts_the_rest():
    clock = Clock()
    limit = RateLimit(period=5.0, clock=clock)

    def record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.conn", level, "", 0, msg, ("x",), None)

    passed = [limit.filter(record("Unable connect to %s")) for _ in range(300)]
    assert passed.count(True) == 1
    assert limit.filter(record("another kind %s"))  # kinds are limited apart
    assert limit.filter(record("info %s", logging.INFO))  # below WARNING: untouched
    clock.now = 5.0
    r = record("Unable connect to %s")
    assert limit.filter(r)
    assert "[299 similar suppressed in 5 s]" in r.getMessage()


def test_bootstrap_addresses():
    assert bootstrap_addresses("kafka://a:1,b:2") == [("a", 1), ("b", 2)]


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_probe_is_an_api_versions_request_and_a_dead_port_fails_it():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                size = struct.unpack(">i", conn.recv(4))[0]
                request = conn.recv(size)
                api, version, correlation = struct.unpack(">hhi", request[:8])
                assert (api, version) == (18, 0)
                conn.sendall(struct.pack(">ii", 4, correlation))

        thread = threading.Thread(target=answer)
        thread.start()
        # the first bootstrap address is dead: the second one answers
        assert any_broker_answers(f"127.0.0.1:{dead_port()},127.0.0.1:{port}")
        thread.join()
    assert not broker_answers("127.0.0.1", port, timeout=0.5)


def test_readiness_says_why_and_logs_each_change_once(caplog):
    from streamproc.stream.health import Readiness

    loaded = [False]
    ready = Readiness(Connectivity(), state_loaded=lambda: loaded[0], assigned=True)
    with caplog.at_level(logging.INFO, logger="streamproc.stream.health"):
        ready.report()
        ready.report()
        loaded[0] = True
        ready.report()
    assert ready.body() == {
        "ready": True,
        "not_ready": [],
        "partitions_assigned": True,
        "baselines_loaded": True,
        "brokers_reachable": True,
    }
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "streamproc worker not ready: baselines and alerts not read yet",
        "streamproc worker ready: partitions assigned, baselines and alerts read,"
        " brokers reachable",
    ]
