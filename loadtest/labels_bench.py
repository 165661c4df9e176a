"""The label join's cost: judge-path throughput with and without labels, and
memory per pending prediction.

    python loadtest/labels_bench.py [--events 300000] [--pending 1000000]

Throughput, side by side in one process, no Kafka: batches of 5,000
single-event records of ``simulate.wide_events`` (10 models, 20 features),
decoded beforehand (in the worker a decoder process does that). Without
labels: ``process_records`` (the detectors) per batch. With labels: the same,
then ``LabelStage.process`` with one label record per event of the previous
batch (so 100 % of the events get their label, one batch later): label decoding,
the join, metrics. Reported: events/s of that work, and the ratio. Not
included: aiokafka's own cost per fetched record (the label records double the
records a worker fetches; see README, "Labels").

Memory: ``--pending`` predictions with 12-character ids added to a
``LabelJoin`` and none labelled; tracemalloc bytes per pending prediction,
ids' strings included (the decoded events are dropped, so the join holds the
only reference to them).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from aiokafka import ConsumerRecord  # noqa: E402

from streamproc.config import WorkerConfig  # noqa: E402
from streamproc.decode import decode_batch  # noqa: E402
from streamproc.detect.monitor import Monitor  # noqa: E402
from streamproc.events.columns import EventColumns  # noqa: E402
from streamproc.labels import LabelJoin  # noqa: E402
from streamproc.simulate import wide_events  # noqa: E402
from streamproc.stream.batch import process_records  # noqa: E402
from streamproc.stream.labels import LabelStage  # noqa: E402
from streamproc.stream.metrics import Metrics  # noqa: E402

BATCH = 5000


def record(topic: str, offset: int, key: bytes, value: bytes, ts: int) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, ts, 0, key, value, None, len(key), len(value), ())


def workload(n: int):
    events = wide_events(events=n, models=10)  # each with an event_id
    batches = []
    for start in range(0, n, BATCH):
        part = events[start : start + BATCH]
        ev = [
            record("inference.events", start + i, e["model_id"].encode(), orjson.dumps(e), 0)
            for i, e in enumerate(part)
        ]
        lab = [
            record(
                "inference.labels",
                start + i,
                e["model_id"].encode(),
                orjson.dumps(
                    {
                        "model_id": e["model_id"],
                        "event_id": e["event_id"],
                        "label": "yes" if i % 3 else "no",
                        "timestamp": e["timestamp"] + 5,
                    }
                ),  # fmt: skip
                int((e["timestamp"] + 5) * 1000),
            )
            for i, e in enumerate(part)
        ]
        decoded = decode_batch([r.value for r in ev], [0.0] * len(ev))
        batches.append((ev, lab, decoded))
    return batches


def run(batches, labels: bool) -> float:
    monitor = Monitor()
    monitor.process_labels = lambda b, *, now: []  # type: ignore[method-assign]
    stage = LabelStage(WorkerConfig(), Metrics()) if labels else None
    previous: list[ConsumerRecord] = []
    events = 0
    gc.collect()
    started = time.perf_counter()
    for ev, lab, decoded in batches:
        result = process_records(ev, monitor, now=0.0, decoded=decoded)
        if stage is not None:
            stage.process(previous, result, monitor, now=0.0)
            previous = lab
        events += len(ev)
    elapsed = time.perf_counter() - started
    if stage is not None:
        assert stage.join.take_counts().get("unknown_id", 0) == 0
    return events / elapsed


def memory(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    join = LabelJoin()
    for start in range(0, n, BATCH):
        k = min(BATCH, n - start)
        columns = EventColumns(
            model_id="m",
            model_version="v",
            timestamps=np.arange(start, start + k, dtype=np.float64) / 100,
            features={},
            prediction_scores=np.full(k, 0.5),
            prediction_labels=["yes" if i % 3 else "no" for i in range(k)],
            latency_ms=np.full(k, np.nan),
            errors=np.zeros(k, bool),
            event_ids=[f"evt-{i:08d}" for i in range(start, start + k)],
        )
        join.add([columns])
        del columns
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert join.pending == n
    return used / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batches = workload(args.events)
    without, with_ = [], []
    for _ in range(args.rounds):  # alternate, best of each
        without.append(run(batches, labels=False))
        with_.append(run(batches, labels=True))
    a, b = max(without), max(with_)
    print(f"judge path without labels: {a:,.0f} events/s")
    print(f"judge path with a label for every event: {b:,.0f} events/s ({b / a:.2f}x)")
    del batches
    per = memory(args.pending)
    print(
        f"memory: {per:.0f} bytes per pending prediction (tracemalloc, ids included), "
        f"{per * 1e6 / 2**20:.0f} MiB per million ({args.pending:,} pending)"
    )


if __name__ == "__main__":
    main()
