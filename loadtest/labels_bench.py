"""The label join's cost: a worker process's throughput with and without
labels, and memory per pending prediction.

    python loadtest/labels_bench.py [--events 300000] [--rounds 3] [--pending 1000000]

Throughput, side by side in one process, no Kafka: polls of 5,000
single-event records of ``simulate.wide_events`` (10 models, 20 features);
with labels, each poll also holds one label record for every event of the
previous poll (so 100 % of the events get their label, one poll later). Per
poll the bench does what the worker's own process does:

- ``ipc``: send the records to a decoder process (``DecoderPool.decode``, or
  with labels ``decode_poll``: the message pickled into a memory file) and
  receive and unpickle its reply. The decoder's work is done beforehand, not
  timed: its replies wait in memory files (without labels without the events'
  ids, as the decoders drop them then). The decoder's CPU for the labels
  (``decode_labels_grouped``, pickling the rows) is reported apart;
- ``judge``: ``process_records`` (the detectors), with the cyclic GC paused
  as the worker's judge does (``no_gc``);
- ``labels``: ``LabelStage.process`` (the join, metrics).

Rounds alternate without/with. Reported, medians over the rounds: events/s
of the worker's process (ipc + judge [+ labels]) and the ratio; the judge
path alone (judge without, against judge + labels + the labels' share of ipc
with) and its ratio; µs per label in the worker's process (the stage, and the
difference in ipc) and in the decoder. All times are this process's CPU time
(``time.process_time``), not the wall clock: on a shared machine the others'
load then costs less precision (caches aside). Not included: aiokafka's own
cost per fetched record (the label records double the records a worker
fetches; ``loadtest/throughput.py --labels`` measures the real worker).

Memory: ``--pending`` predictions with 12-character ids added to a
``LabelJoin`` and none labelled; tracemalloc bytes per pending prediction,
ids' strings included (the decoded events are dropped, so the join holds the
only reference to them).
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import time
import tracemalloc
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from aiokafka import ConsumerRecord, TopicPartition  # noqa: E402

from streamproc.config import WorkerConfig  # noqa: E402
from streamproc.decode import decode_batch  # noqa: E402
from streamproc.decode.ipc import packed_batch, pickled_memfd, share_strings  # noqa: E402
from streamproc.decode.nogc import no_gc  # noqa: E402
from streamproc.decode.pool import poll_message  # noqa: E402
from streamproc.detect.monitor import Monitor  # noqa: E402
from streamproc.events.columns import EventColumns  # noqa: E402
from streamproc.labels import LabelJoin  # noqa: E402
from streamproc.labels.decode import decode_labels_grouped  # noqa: E402
from streamproc.simulate import wide_events  # noqa: E402
from streamproc.stream.batch import process_records, record_values  # noqa: E402
from streamproc.stream.labels import LabelStage  # noqa: E402
from streamproc.stream.metrics import Metrics  # noqa: E402

BATCH = 5000
SOURCE = TopicPartition("inference.events", 0)  # the partition the dead letters would name


def record(topic: str, offset: int, key: bytes, value: bytes, ts: int) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, ts, 0, key, value, None, len(key), len(value), ())


def workload(n: int):
    """Polls of 5,000 event records each and the label records of the previous
    poll's events (so every event gets its label, one poll later)."""
    events = wide_events(events=n, models=10)  # each with an event_id
    polls = []
    previous: list[ConsumerRecord] = []
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
        polls.append((ev, previous))
        previous = lab
    return polls


def decoder_side(polls) -> tuple[list[int], list[int], float]:
    """What the decoder process sends back for each poll, in memory files:
    without labels, with labels; and its CPU µs per label for the labels
    (decoding, pickling)."""
    plain, with_labels = [], []
    label_seconds, labels = 0.0, 0
    for ev, lab in polls:
        decoded = decode_batch(*record_values(ev))
        share_strings(decoded)  # as a decoder process does
        t = time.process_time()
        rows = decode_labels_grouped([r.value for r in lab])
        pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        label_seconds += time.process_time() - t
        labels += len(lab)
        with_labels.append(pickled_memfd((True, (decoded, rows))))
        for columns in decoded.columns:  # without labels, the decoders drop the event ids
            columns.event_ids = []
        plain.append(pickled_memfd((True, decoded)))
    return plain, with_labels, label_seconds / labels * 1e6


def received(fd: int) -> Any:
    """A decoder's reply as the worker receives it (``ipc.receive``) and unpickles it."""
    with open(os.dup(fd), "rb") as f:
        f.seek(0)
        return pickle.loads(f.read())[1]


def run(polls, replies: list[int], labels: bool) -> dict[str, float]:
    """The worker process's CPU seconds for the polls: ``ipc`` (sending the
    records to a decoder process, unpickling its reply), ``judge`` (the
    detectors), ``labels`` (``LabelStage.process``); and the labels joined."""
    monitor = Monitor()
    monitor.process_labels = lambda b, *, now: []  # type: ignore[method-assign]
    stage = LabelStage(WorkerConfig(), Metrics()) if labels else None
    spent = {"ipc": 0.0, "judge": 0.0, "labels": 0.0, "events": 0, "labelled": 0}
    clock = time.process_time  # CPU time: other processes on the machine do not count
    gc.collect()
    for k, (ev, lab) in enumerate(polls):
        t0 = clock()
        values, stamps = record_values(ev)
        if stage is None:  # DecoderPool.decode, then .decode_poll (label values: as the worker
            # sent them before it sent the record batches whole, docs/performance.md "Session 12")
            os.close(pickled_memfd(packed_batch(values, stamps)))
            decoded = received(replies[k])
        else:
            message = poll_message(values, stamps, [r.value for r in lab], decode_labels_grouped)
            os.close(pickled_memfd(message))
            decoded, rows = received(replies[k])
        t1 = clock()
        with no_gc():  # as the worker's judge
            result = process_records(
                ev, monitor, sources=[SOURCE] * len(ev), now=0.0, decoded=decoded
            )
            t2 = clock()
            if stage is not None:
                stage.process(
                    lab, result, monitor, sources=[SOURCE] * len(lab), now=0.0, decoded=rows
                )
        t3 = clock()
        spent["ipc"] += t1 - t0
        spent["judge"] += t2 - t1
        spent["labels"] += t3 - t2
        spent["events"] += len(ev)
        spent["labelled"] += len(lab)
    if stage is not None:
        # every label matched: only the last poll's events wait, no label does
        assert (stage.join.pending, stage.join.early) == (len(polls[-1][0]), 0)
    return spent


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
    polls = workload(args.events)
    plain, with_labels, decoder_us = decoder_side(polls)
    rounds = []
    for _ in range(args.rounds):  # alternate: each round's ratios are side by side
        rounds.append((run(polls, plain, labels=False), run(polls, with_labels, labels=True)))
    n = args.events

    def rate(spent: dict[str, float], *parts: str) -> float:
        return n / sum(spent[p] for p in parts)

    def label_us(a: dict[str, float], b: dict[str, float]) -> float:
        return (b["labels"] + b["ipc"] - a["ipc"]) / b["labelled"] * 1e6

    full = [rate(b, "ipc", "judge", "labels") / rate(a, "ipc", "judge") for a, b in rounds]
    judge = [
        n / (b["judge"] + b["labels"] + b["ipc"] - a["ipc"]) / rate(a, "judge") for a, b in rounds
    ]
    stage_us = [b["labels"] / b["labelled"] * 1e6 for _, b in rounds]
    ipc_us = [(b["ipc"] - a["ipc"]) / b["labelled"] * 1e6 for a, b in rounds]
    print(f"{n:,} events, {rounds[0][1]['labelled']:,} labels; medians of {args.rounds} rounds")
    print(
        f"worker process (records to a decoder and back, the detectors): without labels "
        f"{median(rate(a, 'ipc', 'judge') for a, _ in rounds):,.0f} events/s, with a label "
        f"for every event {median(rate(b, 'ipc', 'judge', 'labels') for _, b in rounds):,.0f} "
        f"events/s: {median(full):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in full)})"
    )
    print(
        f"judge path only (detectors; with labels plus all the label work): "
        f"{median(rate(a, 'judge') for a, _ in rounds):,.0f} events/s without, "
        f"{median(judge):.2f}x with (rounds: {', '.join(f'{x:.2f}' for x in judge)})"
    )
    print(
        f"labels, worker process: {median(label_us(a, b) for a, b in rounds):.2f} µs per label "
        f"(LabelStage.process {median(stage_us):.2f}, records to a decoder and back "
        f"{median(ipc_us):.2f}); decoder process: {decoder_us:.2f} µs per label"
    )
    del polls, plain, with_labels
    per = memory(args.pending)
    print(
        f"memory: {per:.0f} bytes per pending prediction (tracemalloc, ids included), "
        f"{per * 1e6 / 2**20:.0f} MiB per million ({args.pending:,} pending)"
    )


if __name__ == "__main__":
    main()
