"""The producer SDK end to end: a Reporter's events and labels reach a real
worker, closing loses none, and a broker outage costs drops, not the caller."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.client import Reporter
from tests.conftest import RunningWorker, consume, metric, unique_topics, wait_for

pytestmark = pytest.mark.integration

FEATURES = [f"f{i:02d}" for i in range(16)] + ["c0", "c1", "c2", "c3"]


def features(rng: random.Random) -> dict:
    values: dict = {name: rng.gauss(0.0, 1.0) for name in FEATURES[:16]}
    values.update({name: rng.choice("abcde") for name in FEATURES[16:]})
    return values


@pytest.fixture(scope="module")
def worker(start_worker) -> RunningWorker:
    return start_worker(unique_topics())


def test_every_event_and_label_of_a_reporter_reaches_the_worker(bootstrap, worker):
    rng = random.Random(1)
    topics = worker.topics
    reporter = Reporter(
        bootstrap,
        model_id="sdk-model",
        model_version="v1",
        events_topic=topics.events,
        labels_topic=topics.labels,
        when_full="block",  # this app prefers waiting to losing events
        flush_at_exit=False,
    )
    truths = []
    for _ in range(10_000):
        score = rng.random()
        event_id = reporter.record(
            features(rng),
            prediction={"label": "yes" if score > 0.5 else "no", "score": score},
            latency_ms=rng.uniform(1, 20),
        )
        truths.append((event_id, rng.choice(["yes", "no"])))
    for event_id, truth in truths:
        assert reporter.label(event_id, truth)
    assert reporter.close(timeout=30) is True
    stats = reporter.stats()
    assert stats["sent"] == 10_000 and stats["labels_sent"] == 10_000, stats
    assert stats["dropped"] == stats["invalid"] == 0, stats

    def counted() -> bool:
        samples = worker.metrics()
        return (
            metric(samples, "streamproc_events_total", model="sdk-model") == 10_000
            and metric(samples, "streamproc_labels_total", model="sdk-model") == 10_000
        )

    assert wait_for(counted, 60), (
        metric(worker.metrics(), "streamproc_events_total", model="sdk-model"),
        metric(worker.metrics(), "streamproc_labels_total", model="sdk-model"),
    )
    samples = worker.metrics()
    assert metric(samples, "streamproc_events_rejected_total") == 0
    assert metric(samples, "streamproc_labels_unmatched_total") == 0


def event_ids(bootstrap: str, topic: str, wanted: set[str], timeout: float) -> set[str]:
    """The event ids on ``topic`` (array records unpacked), reading until ``wanted`` are seen."""
    seen: set[str] = set()
    read = [0]  # records already unpacked (consume passes the same growing list)

    def until(records) -> bool:
        for record in records[read[0] :]:
            value = orjson.loads(record.value)
            seen.update(e["event_id"] for e in (value if isinstance(value, list) else [value]))
        read[0] = len(records)
        return wanted <= seen

    consume(bootstrap, topic, until=until, timeout=timeout)
    return seen


def create_topic(bootstrap: str, name: str) -> None:
    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, 1, 1)])
        finally:
            await admin.close()

    asyncio.run(run())


def test_a_broker_outage_costs_counted_drops_and_sending_resumes(tmp_path):
    port = free_port()
    topic = f"inference.events.outage.{uuid.uuid4().hex[:8]}"
    broker = EmbeddedBroker(port=port, log_path=tmp_path / "broker.log").start()
    create_topic(broker.bootstrap, topic)
    reporter = Reporter(
        broker.bootstrap, model_id="outage", events_topic=topic, labels_topic=topic + ".labels",
        max_queue=200, batch_events=50, delivery_timeout=3.0, flush_at_exit=False,
    )  # fmt: skip
    try:
        before = {reporter.record({"x": 1.0}, event_id=f"before-{i}") for i in range(100)}
        assert reporter.flush(20)
        assert before <= event_ids(broker.bootstrap, topic, before, 20)

        broker.stop()
        slowest = 0.0
        for i in range(3_000):
            started = time.perf_counter()
            reporter.record({"x": 2.0}, event_id=f"down-{i}")
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.05, f"a record() call took {slowest * 1000:.1f} ms with the broker down"
        stats = reporter.stats()
        # the queue holds 200, the sender at most one cycle (4 x 50): the rest is dropped
        assert stats["dropped"] >= 3_000 - 200 - 200, stats
        assert stats["sent"] == 100
        time.sleep(4)  # longer than delivery_timeout: the sender gives up its producer
        assert reporter.stats()["errors"] >= 1

        # the same port; its memory storage starts empty: the topic is made again, as a
        # cluster that comes back still has it (Tansu acks a produce to an unknown topic)
        broker.start()
        create_topic(broker.bootstrap, topic)

        def accounted() -> bool:  # what waited in the queue and the sender is sent
            stats = reporter.stats()
            return stats["queued"] == 0 and stats["sent"] + stats["dropped"] == 3_100

        assert wait_for(accounted, 30), reporter.stats()
        assert reporter.stats()["sent"] > 100
        after = {reporter.record({"x": 3.0}, event_id=f"after-{i}") for i in range(100)}
        assert reporter.flush(30), reporter.stats()
        assert after <= event_ids(broker.bootstrap, topic, after, 20)
        stats = reporter.stats()
        assert stats["errors"] >= 1
        assert stats["sent"] + stats["dropped"] == 3_200, stats  # every call is accounted for
        assert reporter.close(10)
    finally:
        reporter.close(1)
        broker.stop()
