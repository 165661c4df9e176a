"""Scale-out: two workers in one consumer group split the partitions and count
every event exactly once between them."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from streamproc.simulate import wide_events
from tests.conftest import metric, produce_events, unique_topics, wait_for

pytestmark = pytest.mark.integration

EVENTS = 6000
MODELS = 12


def test_two_workers_share_partitions_and_count_each_event_once(bootstrap, start_worker):
    topics = unique_topics()
    group = f"scale-{uuid.uuid4().hex[:8]}"
    # one worker with a decoder process, one decoding in its own process
    first = start_worker(topics, group=group, env={"STREAMPROC_DECODERS": "1"})
    second = start_worker(topics, group=group, env={"STREAMPROC_DECODERS": "0"})
    workers = (first, second)

    def children(worker) -> list[str]:
        pid = worker.process.pid
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()

    assert children(first) and not children(second)

    def assigned() -> list[float]:
        return [metric(w.metrics(), "streamproc_assigned_partitions") for w in workers]

    # the worker creates the events topic with 4 partitions (STREAMPROC_PARTITIONS)
    assert wait_for(lambda: all(a > 0 for a in assigned()) and sum(assigned()) == 4, 30), (
        f"partitions not split between the two workers: {assigned()}"
    )

    produce_events(bootstrap, topics.events, wide_events(events=EVENTS, models=MODELS))

    def counted() -> list[float]:
        return [metric(w.metrics(), "streamproc_events_total") for w in workers]

    assert wait_for(lambda: sum(counted()) >= EVENTS, 40), f"counted {counted()} of {EVENTS}"
    time.sleep(1.0)  # nothing may be counted twice: the total must stay at EVENTS
    per_worker = counted()
    assert sum(per_worker) == EVENTS, per_worker
    assert all(c > 0 for c in per_worker), f"one worker got no events: {per_worker}"
    assert all(a > 0 for a in assigned())
    # stop both at once: each stop waits for its group to settle (~15 s on Tansu)
    for w in workers:
        w.process.terminate()
    for w in workers:
        w.process.wait(30)
