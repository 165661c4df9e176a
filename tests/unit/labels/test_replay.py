"""``streamproc replay --labels``: the same join over files."""

import argparse
import subprocess
import sys

import numpy as np
import orjson

from streamproc.commands.offline import cmd_replay
from streamproc.detect.monitor import Monitor
from streamproc.simulate import Scenario, generate

N = 30_000


def files(tmp_path):
    events = [e for b in generate(Scenario(), events=N, batch=5000, seed=3) for e in b]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    lines = [
        orjson.dumps({"model_id": e["model_id"], "event_id": e["event_id"],
                      "label": "fraud", "timestamp": e["timestamp"] + 2.0})
        for e in events[::2]
    ]  # fmt: skip
    lines.insert(100, b"not json")
    lines.insert(200, lines[150])  # a duplicate
    lines.append(orjson.dumps({"model_id": "fraud-detector", "event_id": "nope", "label": "ok"}))
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(b"\n".join(lines) + b"\n")
    return events, path, labels


def test_replay_joins_labels_once_it_has_passed_their_predictions(tmp_path, monkeypatch):
    events, path, labels = files(tmp_path)
    calls = []

    def process(self, batches, *, now):  # what the performance detectors would get
        calls.append((batches, self._newest))
        return []

    original = Monitor.process

    def process_events(self, columns, *, now, locate=None):
        self._newest = max([getattr(self, "_newest", 0.0)] + [c.timestamps.max() for c in columns])
        return original(self, columns, now=now)

    monkeypatch.setattr(Monitor, "process_labels", process, raising=False)
    monkeypatch.setattr(Monitor, "process", process_events)
    args = argparse.Namespace(input=str(path), baseline=[], labels=str(labels), config=None)
    assert cmd_replay(args) == 0
    seen = [b for batches, _ in calls for b in batches]
    ids = [e for b in seen for e in b.event_ids]
    assert len(ids) == N // 2 and len(set(ids)) == N // 2
    assert all(np.allclose(b.label_delays(), 2.0) for b in seen)
    assert len(calls) > 1  # interleaved, not all at the end
    for batches, until in calls[:-1]:  # no label before the replay has passed its time
        assert all(b.label_times.max() <= until for b in batches)


def test_replay_labels_summary(tmp_path):
    _, path, labels = files(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "streamproc", "replay", "--input", str(path), "--labels",
         str(labels)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert f"labels: {N // 2} matched" in result.stderr
    assert "1 unknown_id, 0 expired, 1 duplicate, 0 bad_value; 1 rejected" in result.stderr
    assert ":101: rejected: value: not valid JSON" in result.stderr


def test_replay_without_labels_does_not_join(tmp_path):
    _, path, _ = files(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "streamproc", "replay", "--input", str(path)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert "labels:" not in result.stderr
