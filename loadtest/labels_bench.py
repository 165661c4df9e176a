"""The label join's cost: judge-path throughput with and without labels, and
memory per pending prediction.

    python loadtest/labels_bench.py [--events 300000] [--rounds 3] [--pending 1000000]

Throughput, side by side in one process, no Kafka: batches of 5,000
single-event records of ``simulate.wide_events`` (10 models, 20 features),
decoded beforehand and passed through pickle as a decoder process sends them
to the worker (not timed: the same in both), judged with the
cyclic GC paused as the worker's judge does (``no_gc``). Without labels:
``process_records`` (the detectors) per batch. With labels: the same, plus what
the worker's own process does for one label record per event of the previous
batch (so 100 % of the events get their label, one batch later): the label
records' values and times packed for the decoder process
(``label_values``, ``packed_batch``, pickled), the decoded rows unpickled from
the decoder's reply, and ``LabelStage.process`` (the join, metrics). The
labels' decoding itself is done by the decoder process, as in the worker: it is
measured apart (``decode_labels`` and pickling the reply, µs per label of the
decoder's CPU), not counted in the events/s. Rounds alternate without/with;
reported: the median of each and of the per-round ratios, and the label stage's
worker-process µs per label (around that work alone). All times are this
process's CPU time (``time.process_time``), not the wall clock: on a shared
machine the others' load then costs little precision (caches aside). Not
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
import pickle
import sys
import time
import tracemalloc
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from aiokafka import ConsumerRecord  # noqa: E402

from streamproc.config import WorkerConfig  # noqa: E402
from streamproc.decode import decode_batch  # noqa: E402
from streamproc.decode.ipc import packed_batch, share_strings  # noqa: E402
from streamproc.decode.nogc import no_gc  # noqa: E402
from streamproc.detect.monitor import Monitor  # noqa: E402
from streamproc.events.columns import EventColumns  # noqa: E402
from streamproc.labels import LabelJoin, decode_labels  # noqa: E402
from streamproc.simulate import wide_events  # noqa: E402
from streamproc.stream.batch import process_records  # noqa: E402
from streamproc.stream.labels import LabelStage, label_values  # noqa: E402
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
        share_strings(decoded)  # as a decoder process sends it: equal strings one object
        decoded = pickle.loads(pickle.dumps(decoded, protocol=pickle.HIGHEST_PROTOCOL))
        batches.append((ev, lab, decoded))
    return batches


def decoder_side(batches) -> tuple[list[bytes], float]:
    """What the decoder process does for each batch's labels (its replies, pickled),
    and its µs per label."""
    replies, labels = [], 0
    started = time.process_time()
    for _, lab, _ in batches:
        values, times = label_values(lab)
        decoded = decode_labels(values, times.tolist())
        replies.append(pickle.dumps((True, decoded), protocol=pickle.HIGHEST_PROTOCOL))
        labels += len(lab)
    return replies, (time.process_time() - started) / labels * 1e6


def run(batches, replies: list[bytes] | None) -> tuple[float, float]:
    """Events/s of the judge's work (with labels if ``replies``), and the
    worker-process µs per label of the label work alone."""
    monitor = Monitor()
    monitor.process_labels = lambda b, *, now: []  # type: ignore[method-assign]
    stage = LabelStage(WorkerConfig(), Metrics()) if replies is not None else None
    previous: list[ConsumerRecord] = []
    rows = None
    events = labels = 0
    label_seconds = 0.0
    clock = time.process_time  # CPU time: other processes on the machine do not count
    gc.collect()
    started = clock()
    for k, (ev, lab, decoded) in enumerate(batches):
        with no_gc():
            result = process_records(ev, monitor, now=0.0, decoded=decoded)
            if stage is not None:
                t = clock()
                stage.process(previous, result, monitor, now=0.0, decoded=rows)
                # the poll's labels are sent to a decoder, its reply comes back
                packed = packed_batch(*label_values(lab))
                pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL)
                rows = pickle.loads(replies[k])[1]  # type: ignore[index]
                previous = lab
                label_seconds += clock() - t
                labels += len(previous)
        events += len(ev)
    elapsed = clock() - started
    if stage is not None:
        assert stage.join.take_counts().get("unknown_id", 0) == 0
    return events / elapsed, label_seconds / max(1, labels) * 1e6

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
    replies, decoder_us = decoder_side(batches)
    without, with_, ratios, stage_us = [], [], [], []
    for _ in range(args.rounds):  # alternate: each round's ratio is side by side
        a = run(batches, None)[0]
        b, us = run(batches, replies)
        without.append(a)
        with_.append(b)
        ratios.append(b / a)
        stage_us.append(us)
    a, b, r = median(without), median(with_), median(ratios)
    print(f"judge path without labels: {a:,.0f} events/s (median of {args.rounds})")
    print(
        f"judge path with a label for every event: {b:,.0f} events/s; "
        f"ratio {r:.2f}x (median; rounds: {', '.join(f'{x:.2f}' for x in ratios)})"
    )
    print(
        f"label stage, worker process: {median(stage_us):.2f} µs per label (median); "
        f"decoder process: {decoder_us:.2f} µs per label (decoding, pickling the reply)"
    )
    del batches
    per = memory(args.pending)
    print(
        f"memory: {per:.0f} bytes per pending prediction (tracemalloc, ids included), "
        f"{per * 1e6 / 2**20:.0f} MiB per million ({args.pending:,} pending)"
    )


if __name__ == "__main__":
    main()
