"""Detector state survives a killed worker and a rebalance (checkpoints in ``monitor.state``).

The reference is a pure offline run of the same events through a
:class:`~streamproc.detect.monitor.Monitor` (what an uninterrupted worker
computes): the first alert of a slow drift of ``amount`` must come from the
same window, give or take one window, when the worker that was judging the
drift is killed half-way (or its partitions move to another worker).
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamproc.demo import stop_process
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import columns_by_model
from streamproc.simulate import NORMAL_FEATURES, Scenario, generate, labels_for
from tests.conftest import consume, metric, produce, produce_events, unique_topics, wait_for

pytestmark = pytest.mark.integration

START, RATE = 1_763_766_000.0, 1000.0  # generate()'s event times: START + i / RATE
MODEL = "fraud-detector"
FAST = {"STREAMPROC_CHECKPOINT_SECONDS": "0.5", "STREAMPROC_DECODERS": "0"}


def slow_drift(events: int, *, ramp_from: int, ramp_events: int, seed: int = 1) -> list[dict]:
    """Stable events whose ``amount`` then rises linearly by 1.5 sd over ``ramp_events``."""
    out = [e for batch in generate(Scenario(), events=events, batch=1000, seed=seed) for e in batch]
    sd = NORMAL_FEATURES["amount"][1]
    for i, event in enumerate(out[ramp_from:]):
        if event["features"]["amount"] is not None:
            event["features"]["amount"] += 1.5 * sd * min(1.0, i / ramp_events)
    return out


EVENTS = slow_drift(13_000, ramp_from=8_000, ramp_events=15_000)
CUT = 9_300  # the worker goes away here: the drift is building up, not yet detected


def first_drift(alerts: list[dict], detector: str | None = None) -> int:
    """The input position of the end of the window of the first alert on ``amount``
    (of ``detector``, if given)."""
    firing = [
        a
        for a in alerts
        if a["status"] == "firing"
        and a["feature"] == "amount"
        and detector in (None, a["detector"])
    ]
    assert firing, alerts
    return round((min(a["window"]["end"] for a in firing) - START) * RATE)


def offline_alerts() -> list[dict]:
    monitor = Monitor(Settings())
    alerts = []
    for start in range(0, len(EVENTS), 1000):
        columns = columns_by_model(EVENTS[start : start + 1000], default_timestamp=0.0)
        alerts += [a.to_dict() for a in monitor.process(columns, now=0.0)]
    return alerts


def processed(worker, n: int) -> bool:
    return metric(worker.metrics(), "streamproc_events_total") >= n


def committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offsets of ``topic``, summed over its partitions."""

    async def run() -> int:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
            offsets = [await consumer.committed(TopicPartition(topic, p)) for p in partitions]
            return sum(o or 0 for o in offsets)
        finally:
            await consumer.stop()

    return asyncio.run(run())


def checkpointed(bootstrap: str, group: str, topic: str, records: int) -> bool:
    """Offsets are committed only after a checkpoint covering them is written."""
    return wait_for(lambda: committed(bootstrap, group, topic) >= records, timeout=15, interval=0.5)


def worker_alerts(bootstrap: str, topics) -> list[dict]:
    """The worker's alerts, up to PSI's firing on ``amount`` (ADWIN's comes no later)."""

    def seen(records) -> bool:
        alerts = [orjson.loads(r.value) for r in records]
        return any(
            (a["feature"], a["status"], a["detector"]) == ("amount", "firing", "psi")
            for a in alerts
        )

    records = consume(bootstrap, topics.alerts, until=seen, timeout=30)
    return [orjson.loads(r.value) for r in records]


@pytest.fixture(scope="module")
def reference() -> tuple[int, int]:
    """Where the offline run finds the drift: first alert of any detector, first of PSI."""
    alerts = offline_alerts()
    position, psi = first_drift(alerts), first_drift(alerts, "psi")
    assert CUT < position <= psi < len(EVENTS) - 1000, (position, psi)  # after the cut
    return position, psi


def assert_found_where_offline(alerts: list[dict], reference: tuple[int, int]) -> None:
    position, psi = reference
    # The acceptance: the first alert within one window of the uninterrupted run's.
    # (ADWIN's alert is reported at the end of the chunk it fired in, and chunks
    # follow the worker's batches: it may move within a window from run to run.)
    assert abs(first_drift(alerts) - position) <= Settings().window_events
    # PSI judges whole windows: it fires at the very same event only if the
    # restored window was counted exactly. Without checkpoints the new owner's
    # windows start at the cut and end at 9,299 + k * 500 events: never 10,999.
    assert first_drift(alerts, "psi") == psi, (first_drift(alerts, "psi"), psi)


def test_killed_worker_is_replaced_and_the_drift_found_where_it_would_be(
    bootstrap, start_worker, reference
):
    topics = unique_topics()
    group = "checkpoint-kill"
    first = start_worker(topics, group=group, env=FAST)
    produce_events(bootstrap, topics.events, EVENTS[:CUT])
    assert wait_for(lambda: processed(first, CUT), timeout=60), first.log()[-2000:]
    assert checkpointed(bootstrap, group, topics.events, CUT), first.log()[-2000:]
    first.process.kill()  # SIGKILL: no goodbye, no last checkpoint
    first.process.wait()

    second = start_worker(topics, group=group, env=FAST)
    samples = second.metrics()
    assert metric(samples, "streamproc_checkpoints_restored_total") == 1, second.log()[-2000:]
    produce_events(bootstrap, topics.events, EVENTS[CUT:])
    rest = len(EVENTS) - CUT
    assert wait_for(lambda: processed(second, rest), timeout=60), second.log()[-2000:]
    # neither counted twice nor skipped: exactly the events after the cut were judged
    assert metric(second.metrics(), "streamproc_events_total") == rest
    assert_found_where_offline(worker_alerts(bootstrap, topics), reference)


def test_rebalance_hands_the_state_to_the_other_worker(bootstrap, start_worker, reference):
    topics = unique_topics()
    group = "checkpoint-rebalance"
    first = start_worker(topics, group=group, env=FAST)
    produce_events(bootstrap, topics.events, EVENTS[:CUT])
    assert wait_for(lambda: processed(first, CUT), timeout=60), first.log()[-2000:]
    second = start_worker(topics, group=group, env=FAST)
    stop_process(first.process)  # gracefully: its partitions all move to the second
    assert wait_for(
        lambda: metric(second.metrics(), "streamproc_assigned_partitions") == 4, timeout=30
    ), second.log()[-2000:]
    assert metric(second.metrics(), "streamproc_checkpoints_restored_total") >= 1
    assert "model fraud-detector restored from its checkpoint" in second.log()
    produce_events(bootstrap, topics.events, EVENTS[CUT:])
    rest = len(EVENTS) - CUT
    assert wait_for(lambda: processed(second, rest), timeout=60), second.log()[-2000:]
    assert metric(second.metrics(), "streamproc_events_total") == rest
    assert_found_where_offline(worker_alerts(bootstrap, topics), reference)


def test_pending_label_joins_survive_a_killed_worker(bootstrap, start_worker):
    topics = unique_topics()
    group = "checkpoint-labels"
    events = [e for b in generate(Scenario(), events=3_000, batch=1000, seed=5) for e in b]
    first = start_worker(topics, group=group, env=FAST)
    produce_events(bootstrap, topics.events, events)
    assert wait_for(lambda: processed(first, len(events)), timeout=60), first.log()[-2000:]
    assert checkpointed(bootstrap, group, topics.events, len(events)), first.log()[-2000:]
    first.process.kill()
    first.process.wait()

    second = start_worker(topics, group=group, env=FAST)
    labels = labels_for(events, delay_seconds=30.0)
    produce(bootstrap, topics.labels, [(MODEL.encode(), orjson.dumps(x)) for x in labels])

    def joined() -> bool:
        return metric(second.metrics(), "streamproc_labels_total", model=MODEL) >= len(labels)

    assert wait_for(joined, timeout=60), second.log()[-2000:]
    samples = second.metrics()
    assert metric(samples, "streamproc_labels_unmatched_total") == 0
    accuracy = metric(samples, "streamproc_model_performance", model=MODEL, metric="accuracy")
    assert 0.8 < accuracy <= 1.0, accuracy  # realized performance counted the joined labels


def test_a_worker_that_has_caught_up_commits_without_waiting_for_the_cadence(
    bootstrap, start_worker
):
    topics = unique_topics()
    group = "checkpoint-caught-up"
    produce_events(bootstrap, topics.events, EVENTS[:6_000])  # a backlog before it starts
    slow = {"STREAMPROC_CHECKPOINT_SECONDS": "600"}
    worker = start_worker(topics, group=group, env={**FAST, **slow})
    assert wait_for(lambda: processed(worker, 6_000), timeout=60), worker.log()[-2000:]
    # the 600 s cadence is far away: only catching up can have checkpointed and committed
    assert checkpointed(bootstrap, group, topics.events, 6_000), worker.log()[-2000:]
    assert metric(worker.metrics(), "streamproc_checkpoints_written_total") >= 1
