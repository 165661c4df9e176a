"""The label join end to end on a real broker: labels after and before their
predictions, duplicated, unknown, expired, malformed; metrics and dead letters."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamproc.broker import free_port
from streamproc.detect.baseline import Baseline
from streamproc.events.columns import EventColumns
from streamproc.simulate import Scenario, generate, labels_for
from tests.conftest import (
    RunningWorker,
    consume,
    metric,
    produce,
    unique_topics,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.integration

T0 = 1_763_766_000.0
EARLY = 30.0  # early_label_seconds of the worker below
TTL = 100.0  # label_ttl_seconds


@pytest.fixture(scope="module")
def worker(start_worker) -> RunningWorker:
    return start_worker(
        unique_topics(),
        env={
            "STREAMPROC_LABEL_TTL_SECONDS": str(TTL),
            "STREAMPROC_EARLY_LABEL_SECONDS": str(EARLY),
        },
    )


def event(model: str, event_id: str, t: float) -> dict:
    return {
        "model_id": model,
        "event_id": event_id,
        "timestamp": t,
        "features": {"x": 1.0},
        "prediction": {"label": "ok", "score": 0.3},
    }


def label(model: str, event_id: str, t: float, value="fraud") -> dict:
    return {"model_id": model, "event_id": event_id, "label": value, "timestamp": t}


def send(bootstrap: str, topic: str, items: list[dict], per_record: int = 1) -> None:
    chunks = [items[i : i + per_record] for i in range(0, len(items), per_record)]
    produce(
        bootstrap,
        topic,
        [(c[0]["model_id"].encode(), orjson.dumps(c[0] if len(c) == 1 else c)) for c in chunks],
    )


def events_counted(worker: RunningWorker, model: str, n: int) -> bool:
    return wait_for(
        lambda: metric(worker.metrics(), "streamproc_events_total", model=model) >= n, timeout=30
    )


def unmatched(samples: dict, reason: str) -> float:
    return metric(samples, "streamproc_labels_unmatched_total", reason=reason)


def test_labels_after_their_predictions_are_matched(bootstrap, worker):
    t = worker.topics
    events = [event("after", f"a{i}", T0 + i / 10) for i in range(200)]  # within the TTL
    send(bootstrap, t.events, events, per_record=20)
    assert events_counted(worker, "after", 200), worker.log()[-2000:]
    send(bootstrap, t.labels, [label("after", f"a{i}", T0 + 60 + i / 10) for i in range(150)], 10)
    assert wait_for(
        lambda: metric(worker.metrics(), "streamproc_labels_total", model="after") == 150, 30
    ), worker.log()[-2000:]
    samples = worker.metrics()
    assert metric(samples, "streamproc_label_delay_seconds_count") >= 150
    assert metric(samples, "streamproc_labels_pending") >= 50


def test_labels_before_their_predictions_wait_for_them(bootstrap, worker):
    t = worker.topics
    send(bootstrap, t.labels, [label("before", f"b{i}", T0 + 5) for i in range(20)])
    assert wait_for(lambda: metric(worker.metrics(), "streamproc_labels_early") >= 20, 30)
    send(bootstrap, t.events, [event("before", f"b{i}", T0 + i / 10) for i in range(20)])
    assert wait_for(
        lambda: metric(worker.metrics(), "streamproc_labels_total", model="before") == 20, 30
    ), worker.log()[-2000:]


def test_duplicate_unknown_and_expired_labels_are_counted_by_reason(bootstrap, worker):
    t = worker.topics
    before = worker.metrics()
    send(bootstrap, t.events, [event("dup", f"d{i}", T0 + i) for i in range(10)])
    send(bootstrap, t.events, [event("exp", "old", T0)])
    assert events_counted(worker, "dup", 10) and events_counted(worker, "exp", 1)
    # "old" passes the TTL once a newer prediction of its model is TTL seconds later
    send(bootstrap, t.events, [event("exp", "new", T0 + TTL + 50)])
    assert events_counted(worker, "exp", 2)
    send(bootstrap, t.labels, [label("dup", f"d{i}", T0 + 20) for i in range(10)])
    assert wait_for(
        lambda: metric(worker.metrics(), "streamproc_labels_total", model="dup") == 10, 30
    )
    send(bootstrap, t.labels, [label("dup", f"d{i}", T0 + 21) for i in range(4)])  # again
    send(bootstrap, t.labels, [label("exp", "old", T0 + TTL + 60)])
    send(bootstrap, t.labels, [label("dup", f"ghost{i}", T0 + 20) for i in range(3)])
    assert wait_for(lambda: metric(worker.metrics(), "streamproc_labels_early") >= 3, 30)
    # unknown ids wait as early labels until predictions are EARLY seconds past them
    send(bootstrap, t.events, [event("dup", "later", T0 + 20 + EARLY + 10)])

    def counted() -> bool:
        now = worker.metrics()
        return (
            unmatched(now, "duplicate") - unmatched(before, "duplicate") == 4
            and unmatched(now, "expired") - unmatched(before, "expired") == 1
            and unmatched(now, "unknown_id") - unmatched(before, "unknown_id") == 3
        )

    assert wait_for(counted, 30), (worker.metrics(), worker.log()[-2000:])
    after = worker.metrics()
    assert metric(after, "streamproc_labels_total", model="exp") == 0
    assert metric(after, "streamproc_predictions_unlabelled_total", reason="expired") >= 1


def test_bad_values_are_counted(bootstrap, worker):
    t = worker.topics
    before = unmatched(worker.metrics(), "bad_value")
    send(bootstrap, t.events, [event("bad", f"v{i}", T0 + i) for i in range(3)])
    assert events_counted(worker, "bad", 3)
    send(bootstrap, t.labels, [label("bad", "v0", T0 + 9, 0.5), label("bad", "v1", T0 + 9, 1)])
    assert wait_for(
        lambda: metric(worker.metrics(), "streamproc_labels_total", model="bad") == 1, 30
    )
    assert unmatched(worker.metrics(), "bad_value") - before == 1


def test_malformed_label_records_go_to_the_dlq_with_reasons(bootstrap, worker):
    t = worker.topics
    before = worker.metrics()
    bad = [
        b"{not json",
        orjson.dumps({"model_id": "mal", "label": "x"}),
        orjson.dumps({"model_id": "mal", "event_id": "e", "label": None}),
        orjson.dumps([label("mal", "m1", T0), {"model_id": "mal", "event_id": "e2"}]),
    ]
    produce(bootstrap, t.labels, [(b"mal", v) for v in bad])
    dead = consume(
        bootstrap,
        t.dlq,
        until=lambda r: sum(dict(x.headers)["source.topic"] == t.labels.encode() for x in r) >= 4,
        timeout=30,
    )
    dead = [r for r in dead if dict(r.headers)["source.topic"] == t.labels.encode()]
    errors = sorted(dict(r.headers)["error"].decode() for r in dead)
    assert len(dead) == 4, errors
    assert any(e.startswith("value: not valid JSON") for e in errors)
    assert "event_id: required string field is missing" in errors
    assert "label: must be a string or a number" in errors
    assert "[1] label: must be a string or a number" in errors
    assert all(r.key == b"mal" for r in dead)
    assert bad[0] in {r.value for r in dead}  # the original bytes

    def rejected() -> dict[str, float]:
        after = worker.metrics()
        return {
            reason: metric(after, "streamproc_events_rejected_total", reason=reason)
            - metric(before, "streamproc_events_rejected_total", reason=reason)
            for reason in ("bad_json", "missing_event_id", "bad_label")
        }

    expected = {"bad_json": 1, "missing_event_id": 1, "bad_label": 2}
    assert wait_for(lambda: rejected() == expected, 10), rejected()


def test_a_labels_topic_with_other_partitions_stops_the_worker(bootstrap, tmp_path):
    topics = unique_topics()

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topics.labels, 2, 1)])
        finally:
            await admin.close()

    asyncio.run(create())
    env = worker_env(bootstrap, topics, f"copart-{uuid.uuid4().hex[:8]}")  # events: 4 partitions
    proc = subprocess.run(
        [sys.executable, "-m", "streamproc", "worker", "--metrics-port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "must have the same number of partitions" in out, out[-2000:]
    errors = [line for line in out.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1, out[-2000:]  # one line says why, no second one or traceback


def test_a_concept_drift_that_no_feature_shows_raises_a_performance_alert(bootstrap, worker):
    """The inputs stay as they were; from event 6,000 on, 30 % of the truths
    flip (accuracy ~0.94 -> ~0.7). Only the realized performance can see it."""
    t = worker.topics
    model = "concept"
    scenario = Scenario(model_id=model, drift_at=None)
    reference = [e for b in generate(scenario, events=20_000, batch=5_000, seed=1) for e in b]
    truth = [x["label"] for x in labels_for(reference, delay_seconds=0.0)]
    columns = EventColumns.from_events(model, reference, default_timestamp=0.0)
    baseline = Baseline.fit(columns, labels=truth)
    produce(bootstrap, t.baselines, [(model.encode(), orjson.dumps(baseline.to_dict()))])
    time.sleep(2)  # the worker reads the baseline before the first window closes
    later = T0 + 1_000  # after the other tests' events; 1,000 events/s: labels within the TTL
    events = [e for b in generate(scenario, events=16_000, seed=2, start_time=later) for e in b]
    labels = labels_for(events, delay_seconds=0.0, concept_drift_at=6_000, flip=0.3)
    for i in range(0, len(events), 2_000):
        send(bootstrap, t.events, events[i : i + 2_000], per_record=100)
        send(bootstrap, t.labels, labels[i : i + 2_000], per_record=100)

    def alerts_of_model(records) -> list[dict]:
        return [a for a in map(orjson.loads, (r.value for r in records)) if a["model_id"] == model]

    def performance(records) -> list[dict]:
        return [a for a in alerts_of_model(records) if a["signal"] == "performance"]

    records = consume(bootstrap, t.alerts, until=lambda r: bool(performance(r)), timeout=60)
    fired = performance(records)
    assert fired, (alerts_of_model(records), worker.log()[-3000:])
    assert fired[0]["status"] == "firing"
    assert fired[0]["detector"] in {"accuracy", "error_rate_adwin"}, fired[0]
    assert not [a for a in alerts_of_model(records) if a["signal"] == "drift"]
    assert metric(worker.metrics(), "streamproc_labels_total", model=model) >= 6_000


def fill_backlog(bootstrap: str, topics, n: int, every_s: float, labelled_every: int) -> None:
    """``n`` events of one model, ``every_s`` apart (event and Kafka time), and
    a label for every ``labelled_every``-th, 30 minutes after its prediction."""

    async def fill() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, 4, 1) for t in (topics.events, topics.labels)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
        await producer.start()
        try:
            sent = []
            for i in range(n):
                t = T0 + i * every_s
                records = [(topics.events, event("backlog", f"k{i}", t), t)]
                if i % labelled_every == 0:
                    records.append((topics.labels, label("backlog", f"k{i}", t + 1_800), t + 1_800))
                for topic, value, stamp in records:
                    sent.append(
                        await producer.send(
                            topic,
                            orjson.dumps(value),
                            key=b"backlog",
                            timestamp_ms=int(stamp * 1000),
                        )
                    )
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    asyncio.run(fill())


def all_labels_matched(worker: RunningWorker, events: int, labels: int) -> None:
    assert wait_for(lambda: metric(worker.metrics(), "streamproc_events_total") == events, 120), (
        worker.log()[-3000:]
    )
    assert wait_for(lambda: metric(worker.metrics(), "streamproc_labels_total") == labels, 30), (
        {r: unmatched(worker.metrics(), r) for r in ("unknown_id", "expired")},
        worker.log()[-3000:],
    )
    assert unmatched(worker.metrics(), "unknown_id") == unmatched(worker.metrics(), "expired") == 0


def test_a_backlog_of_sparse_labels_is_judged_in_step_with_its_events(bootstrap, start_worker):
    """A worker that starts on a backlog: 120,000 events, one a second of Kafka
    time, and a label for every 8th, 30 minutes after its prediction. Read at
    the events' pace, the labels topic covers that time 8 times faster and its
    labels wait as early labels: with room for 3,000 a model, thousands would
    be lost (``unknown_id``; the run without the pacing lost them). Held back
    until their events are polled, none are."""
    topics = unique_topics()
    fill_backlog(bootstrap, topics, 120_000, every_s=1.0, labelled_every=8)
    worker = start_worker(
        topics,
        env={
            "STREAMPROC_MAX_EARLY_LABELS": "3000",
            "STREAMPROC_EARLY_LABEL_SECONDS": "60",
            "STREAMPROC_LABEL_TTL_SECONDS": str(7 * 86_400),
        },
    )
    all_labels_matched(worker, 120_000, 120_000 // 8)


def test_a_backlog_of_a_slow_model_keeps_its_predictions_until_their_labels(
    bootstrap, start_worker
):
    """A backlog of a model with one event every 3 s: one poll (40,000 events)
    spans 33 hours of event time, more than the 24-hour TTL, so the labels
    polled after it found their predictions expired (1,910 of 15,000 lost in
    a review's run). Events held back while they run more than half the TTL
    ahead of their labels keep every prediction until its label."""
    topics = unique_topics()
    fill_backlog(bootstrap, topics, 120_000, every_s=3.0, labelled_every=8)
    worker = start_worker(topics)  # the default TTL (24 h) and early-label settings
    all_labels_matched(worker, 120_000, 120_000 // 8)
