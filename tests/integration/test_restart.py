"""A worker that restarts carries on: no repeated 'firing', the 'resolved' keeps the id."""

from __future__ import annotations

import orjson
import pytest

from streamproc.demo import stop_process
from streamproc.simulate import Scenario, generate
from tests.conftest import consume, metric, produce_events, unique_topics, wait_for

pytestmark = pytest.mark.integration


def events_of(scenario: Scenario, n: int, seed: int, offset: int = 0) -> list[dict]:
    batches = generate(scenario, events=n, batch=5000, seed=seed, offset=offset)
    return [e for batch in batches for e in batch]


def processed(worker, n: int) -> bool:
    return metric(worker.metrics(), "streamproc_events_total") >= n


def test_restart_keeps_alert_episodes(bootstrap, start_worker):
    topics = unique_topics()
    group = "restart-test"
    first = start_worker(topics, group=group)
    produce_events(bootstrap, topics.events, events_of(Scenario.demo(drift_at=6_000), 10_000, 1))
    assert wait_for(lambda: processed(first, 10_000), timeout=60), first.log()[-2000:]

    def alerts(expect: int) -> list[dict]:
        records = consume(bootstrap, topics.alerts, until=lambda r: len(r) >= expect, timeout=15)
        return [orjson.loads(r.value) for r in records]

    before = alerts(expect=4)
    psi_firing = {a["feature"]: a["alert_id"] for a in before if a["detector"] == "psi"}
    assert {"amount", "country"} <= set(psi_firing)
    stop_process(first.process)

    second = start_worker(topics, group=group)
    drifted = Scenario.demo(drift_at=0)
    produce_events(bootstrap, topics.events, events_of(drifted, 5_000, 2, offset=10_000))
    produce_events(bootstrap, topics.events, events_of(Scenario(), 5_000, 3, offset=15_000))
    assert wait_for(lambda: processed(second, 10_000), timeout=60), second.log()[-2000:]
    assert "baseline for model fraud-detector (learned)" in second.log()

    after = alerts(expect=len(before) + 3)[len(before) :]
    assert not [a for a in after if a["status"] == "firing" and a["detector"] == "psi"], after
    resolved = {
        a["feature"]: a["alert_id"]
        for a in after
        if a["status"] == "resolved" and a["detector"] == "psi"
    }
    for feature in ("amount", "country"):
        assert resolved.get(feature) == psi_firing[feature], (feature, after)
