"""The Kafka-facing commands as a user runs them: baseline fit --publish, produce, alerts."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from streamproc.simulate import Scenario, generate
from tests.conftest import metric, unique_topics, wait_for

pytestmark = pytest.mark.integration


def streamproc(bootstrap: str, topics, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STREAMPROC_BOOTSTRAP": bootstrap}
    for name in ("events", "baselines", "alerts", "dlq", "labels"):
        env[f"STREAMPROC_TOPIC_{name.upper()}"] = getattr(topics, name)
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_publish_produce_arrays_and_read_alerts(bootstrap, start_worker, tmp_path):
    topics = unique_topics()
    reference, events = tmp_path / "ref.jsonl", tmp_path / "events.jsonl"
    for path, scenario, n, seed in (
        (reference, Scenario(), 10_000, 1),
        (events, Scenario.demo(drift_at=3_000), 8_000, 2),
    ):
        with path.open("wb") as f:
            for batch in generate(scenario, events=n, batch=5000, seed=seed):
                f.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))
    fit = streamproc(
        bootstrap,
        topics,
        "baseline",
        "fit",
        "--model",
        "fraud-detector",
        "--input",
        str(reference),
        "--publish",
        "--config",
        "/dev/null",
    )
    assert "published to " + topics.baselines in fit.stderr

    worker = start_worker(topics)
    produced = streamproc(
        bootstrap,
        topics,
        "produce",
        "--input",
        str(events),
        "--per-record",
        "100",
        "--topic",
        topics.events,
    )
    assert "sent 8000 events" in produced.stderr
    assert wait_for(lambda: metric(worker.metrics(), "streamproc_events_total") == 8000, timeout=60)
    assert "baseline for model fraud-detector (fit)" in worker.log()

    def printed() -> str:
        return streamproc(bootstrap, topics, "alerts", "--idle", "1").stdout

    assert wait_for(lambda: "feature/country  psi" in printed(), timeout=20)
    lines = printed().splitlines()
    assert all("FIRING" in line or "RESOLVED" in line for line in lines)
    assert {"feature/amount  psi", "feature/income  null_rate"} <= {
        " ".join(line.split()[5:7]).replace(" ", "  ") for line in lines
    }
