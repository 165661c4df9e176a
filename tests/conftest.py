"""Shared fixtures: one real Kafka-protocol broker per test session, workers, helpers.

The session starts the embedded broker (``streamproc broker``'s Tansu) unless
``STREAMPROC_BOOTSTRAP`` names a broker to use instead. Each test that needs
isolation uses its own topic names and consumer group (:func:`unique_topics`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.config import Topics
from streamproc.demo import stop_process, wait_ready


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """Bootstrap servers of the session's broker."""
    external = os.environ.get("STREAMPROC_BOOTSTRAP")
    if external:
        yield external
        return
    log = Path(tempfile.gettempdir()) / f"streamproc-test-broker-{os.getpid()}.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker.bootstrap


def unique_topics() -> Topics:
    """Topic names no other test uses (the contract's names plus a suffix)."""
    suffix = uuid.uuid4().hex[:8]
    t = Topics()
    return Topics(
        events=f"{t.events}.{suffix}",
        labels=f"{t.labels}.{suffix}",
        baselines=f"{t.baselines}.{suffix}",
        alerts=f"{t.alerts}.{suffix}",
        dlq=f"{t.dlq}.{suffix}",
        state=f"{t.state}.{suffix}",
    )


@dataclass
class RunningWorker:
    process: subprocess.Popen
    port: int
    topics: Topics
    log_path: Path

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return scrape(self.port)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def worker_env(bootstrap: str, topics: Topics, group: str) -> dict[str, str]:
    env = {
        **os.environ,
        "STREAMPROC_BOOTSTRAP": bootstrap,
        "STREAMPROC_GROUP_ID": group,
        "STREAMPROC_REBALANCE_TIMEOUT_S": "3",
        "STREAMPROC_PARTITIONS": "4",
        "STREAMPROC_LOG_LEVEL": "INFO",
    }
    for name in ("events", "labels", "baselines", "alerts", "dlq", "state"):
        env[f"STREAMPROC_TOPIC_{name.upper()}"] = getattr(topics, name)
    return env


@pytest.fixture(scope="module")
def start_worker(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., RunningWorker]]:
    """Start ``streamproc worker`` processes; all are stopped when the module ends."""
    running: list[RunningWorker] = []
    tmp_path = tmp_path_factory.mktemp("workers")

    def start(
        topics: Topics,
        *,
        group: str | None = None,
        ready_timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> RunningWorker:
        port = free_port()
        log_path = tmp_path / f"worker-{port}.log"
        env = {
            **worker_env(bootstrap, topics, group or f"test-{uuid.uuid4().hex[:8]}"),
            **(env or {}),
        }
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamproc", "worker", "--metrics-port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        worker = RunningWorker(process, port, topics, log_path)
        running.append(worker)
        if not wait_ready(port, ready_timeout, lambda: process.poll() is None):
            raise AssertionError(f"worker not ready in {ready_timeout} s:\n{worker.log()[-3000:]}")
        return worker

    yield start
    for worker in running:
        stop_process(worker.process)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a worker's ``/metrics``: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(samples: dict, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for (n, lbls), value in samples.items()
        if n == name and all(dict(lbls).get(k) == v for k, v in labels.items())
    )


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    """Send (key, value) records and wait until the broker has them all."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(topic, value, key=key) for key, value in records]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


def produce_events(bootstrap: str, topic: str, events: list[dict]) -> None:
    produce(bootstrap, topic, [(e["model_id"].encode(), orjson.dumps(e)) for e in events])


def consume(
    bootstrap: str, topic: str, *, until: Callable[[list[ConsumerRecord]], bool], timeout: float
) -> list[ConsumerRecord]:
    """Read ``topic`` from the beginning until ``until(records)`` or ``timeout``."""

    async def run() -> list[ConsumerRecord]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not until(records):
                batch = await consumer.getmany(timeout_ms=500)
                for part in batch.values():
                    records += part
        finally:
            await consumer.stop()
        return records

    return asyncio.run(run())


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
