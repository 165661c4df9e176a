"""``streamproc status`` against two workers of one consumer group."""

from __future__ import annotations

import subprocess
import sys
import uuid

import orjson
import pytest

from streamproc.broker import free_port
from streamproc.simulate import wide_events
from tests.conftest import produce_events, unique_topics, wait_for

pytestmark = pytest.mark.integration

EVENTS = 6000
MODELS = 12  # as in test_scale_out: their keys fall in all 4 partitions


def status(*urls: str, json: bool = True) -> subprocess.CompletedProcess:
    args = [a for url in urls for a in ("--worker", url)]
    return subprocess.run(
        [sys.executable, "-m", "streamproc", "status", *args, *(["--json"] if json else [])],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_shows_both_workers_and_splits_the_models(bootstrap, start_worker, tmp_path):
    topics = unique_topics()
    group = f"status-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "status.toml"
    config.write_text(
        "[detectors]\nbaseline_events = 300\nwindow_events = 200\nmin_window_events = 100\n"
    )
    env = {"STREAMPROC_CONFIG": str(config), "STREAMPROC_DECODERS": "0"}
    workers = [start_worker(topics, group=group, env=env) for _ in range(2)]
    urls = [f"http://127.0.0.1:{w.port}" for w in workers]

    def docs() -> list[dict]:
        done = status(*urls)
        if done.returncode != 0:
            return []
        return [entry["status"] for entry in orjson.loads(done.stdout) if "status" in entry]

    def split() -> bool:
        d = docs()
        return len(d) == 2 and all(doc["partitions"] for doc in d)

    assert wait_for(split, 40), f"partitions not split: {docs()}"
    produce_events(bootstrap, topics.events, wide_events(events=EVENTS, models=MODELS))

    def total() -> int:
        return sum(m["events"] for doc in docs() for m in doc["models"])

    assert wait_for(lambda: total() >= EVENTS, 40), f"counted {total()} of {EVENTS}"
    first, second = docs()
    assert total() == EVENTS
    assert first["worker"]["group"] == second["worker"]["group"] == group
    assert first["worker"]["id"] != second["worker"]["id"]
    assert set(first["partitions"]).isdisjoint(second["partitions"])
    assert len(first["partitions"]) + len(second["partitions"]) == 4
    mine = [{m["model_id"] for m in doc["models"]} for doc in (first, second)]
    assert mine[0] and mine[1] and mine[0].isdisjoint(mine[1]), mine
    assert len(mine[0] | mine[1]) == MODELS
    for doc in (first, second):
        for m in doc["models"]:
            assert m["events"] == EVENTS // MODELS
            assert m["baseline"]["source"] == "learned" and m["baseline"]["age_seconds"] >= 0
            assert m["windows_judged"] >= 1
            assert isinstance(m["open_episodes"], list)

    table = status(*urls, json=False)
    assert table.returncode == 0, table.stderr
    print(table.stdout)  # shown with pytest -s
    for doc in (first, second):
        assert f"worker {doc['worker']['id']}" in table.stdout
    for model in mine[0] | mine[1]:
        assert model in table.stdout

    # one worker gone: the others are shown, and the missing one is named
    gone = f"http://127.0.0.1:{free_port()}"
    partial = status(urls[0], gone, json=False)
    assert partial.returncode == 0 and "worker " in partial.stdout
    assert f"not answering: {gone}/status" in partial.stderr
    # none answers: one line, non-zero exit
    nobody = status(gone, json=False)
    assert nobody.returncode == 1 and nobody.stderr.strip().count("\n") == 0
    assert gone in nobody.stderr and "Traceback" not in nobody.stderr

    for w in workers:
        w.process.terminate()
    for w in workers:
        w.process.wait(30)
