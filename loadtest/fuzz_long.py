"""Long fuzz: mutated records through decoding and the detectors, then through a live worker.

    python loadtest/fuzz_long.py [--records 1000000] [--live 100000] [--seed 7]

Records: events of ``streamproc.simulate`` (20 models), as JSON objects or
arrays, of which about half are mutated (:func:`mutate`): bytes flipped,
inserted or cut, fields dropped or of the wrong type, values and names past
the limits, bad model ids, numbers JSON cannot hold, tombstones, random bytes,
arrays mixing good and bad elements, names of a flood.

1. In process (``--records``): ``decode_batch`` on batches of 5,000 records,
   then ``Monitor.process`` (small windows, so that windows close and the
   detectors judge). A crash is any exception. Accounting per record: the
   reference path (``decode_record``) says how many events and rejections
   each record holds; the batch must have that many events, and a rejection
   for every record with a rejected element. RSS sampled every 100,000 records
   (the records are generated a batch at a time, so that it is the detectors'
   memory, not 100,000 records held here).
2. Live (``--live``): the records sent to a real worker on the embedded broker
   (``STREAMPROC_BOOTSTRAP``: another), each record's partition and offset
   kept. Until the worker's committed offsets reach the end of every
   partition; then: ``streamproc_events_total`` = the events of the reference
   path, and on the DLQ each (partition, offset) exactly as many times as the
   reference path rejects elements of that record; the worker alive, its RSS
   sampled every 10,000 records.

Prints a JSON summary; exits 1 if any check failed. docs/reliability.md has the
figures of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streamproc.broker import EmbeddedBroker
from streamproc.config import Topics, WorkerConfig
from streamproc.decode import decode_batch
from streamproc.demo import stop_process, wait_ready
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.limits import MAX_FEATURES, MAX_NAME_CHARS, MAX_STRING_CHARS
from streamproc.events.validate import decode_record
from streamproc.simulate import Scenario, generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kill20 import PARTITIONS, committed, read_all, start_worker  # noqa: E402
from kill20 import worker_env as kill_worker_env  # noqa: E402
from soak import metrics_text, rss_bytes  # noqa: E402

MODELS = [f"fz-{i:02d}" for i in range(20)]
WEIRD = [
    None,
    True,
    1e308,
    -0.0,
    2**64 - 1,
    2**70,
    "",
    "NaN",
    "x" * (MAX_STRING_CHARS + 1),
    [],
    {},
    [1, "a"],
    {"a": {"b": [None]}},
]


def dumps(obj: Any) -> bytes:
    """JSON bytes; through ``json`` for integers past 64 bits (orjson refuses them)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False).encode()


def base_events(seed: int, n: int = 20_000) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k, model in enumerate(MODELS):
        scenario = Scenario.demo(model_id=model, drift_at=n // len(MODELS) // 2)
        out += next(generate(scenario, events=n // len(MODELS), batch=n, seed=seed + k))
    random.Random(seed).shuffle(out)
    return out


def mutate_event(rng: random.Random, event: dict[str, Any]) -> Any:
    """One broken or odd variant of ``event`` (some stay valid)."""
    e = orjson.loads(orjson.dumps(event))  # a deep copy
    kind = rng.randrange(14)
    features = e["features"]
    if kind == 0:
        del e[rng.choice(["model_id", "features"])]
    elif kind == 1:
        e["model_id"] = rng.choice(WEIRD + ["bad id", "é", "m" * 129, 7])
    elif kind == 2:
        e["features"] = rng.choice(WEIRD)
    elif kind == 3:
        features[rng.choice(list(features))] = rng.choice(WEIRD)
    elif kind == 4:
        features["n" * rng.choice([MAX_NAME_CHARS, MAX_NAME_CHARS + 1])] = 1.0
    elif kind == 5:
        e["features"] = {f"f{i}": float(i) for i in range(MAX_FEATURES + rng.choice([-1, 1]))}
    elif kind == 6:
        e["prediction"] = rng.choice(WEIRD)
    elif kind == 7:
        e["timestamp"] = rng.choice(WEIRD + ["2026-11-22T00:00:00Z", "yesterday", -5])
    elif kind == 8:
        e[rng.choice(["latency_ms", "error", "model_version", "event_id"])] = rng.choice(WEIRD)
    elif kind == 9:
        features[f"f_{rng.getrandbits(64):016x}"] = rng.random()  # a name flood
    elif kind == 10:
        features[rng.choice(["", 'a"b', "\\", "\x00", "名前", " "])] = rng.random()
    elif kind == 11:
        return rng.choice(WEIRD)
    elif kind == 12:
        features.clear()
    else:
        features[rng.choice(list(features))] = str(rng.random())  # a type change
    return e


def mutate_bytes(rng: random.Random, value: bytes) -> bytes | None:
    data = bytearray(value)
    kind = rng.randrange(6)
    if kind == 0 and data:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        data.insert(rng.randrange(len(data) + 1), rng.choice(b'{}[]",:\\0e-'))
    elif kind == 2:
        del data[rng.randrange(len(data) + 1) :]
    elif kind == 3:
        return None  # a tombstone
    elif kind == 4:
        return rng.randbytes(rng.randrange(40))
    else:
        return value.replace(b"1", b"1e999", 1)  # a number JSON floats cannot hold
    return bytes(data)


def records(seed: int, n: int) -> list[bytes | None]:
    """``n`` record values, about half of them broken."""
    return list(iter_records(seed, n))


def iter_records(seed: int, n: int) -> Iterator[bytes | None]:
    """The values of :func:`records`, one at a time (the in-process part holds
    one batch of them, not 100,000: its RSS is then the detectors', not ours)."""
    rng = random.Random(seed)
    pool = base_events(seed)
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            yield dumps(rng.choice(pool))
        elif r < 0.5:
            yield dumps([rng.choice(pool) for _ in range(rng.randint(0, 5))])
        elif r < 0.75:
            yield dumps(mutate_event(rng, rng.choice(pool)))
        elif r < 0.85:
            elements = [
                rng.choice(pool) if rng.random() < 0.6 else mutate_event(rng, rng.choice(pool))
                for _ in range(rng.randint(1, 5))
            ]
            yield dumps(elements)
        else:
            yield mutate_bytes(rng, dumps(rng.choice(pool)))


def reference(value: bytes | None) -> tuple[int, int, list[str]]:
    good, bad = decode_record(value)
    return len(good), len(bad), [b.reason for b in bad]


def rss_self() -> int:
    return rss_bytes(os.getpid())


def in_process(n: int, seed: int, say) -> dict[str, Any]:
    settings = Settings(baseline_events=200, min_window_events=20, window_events=50)
    monitor = Monitor(settings)
    crashes: list[str] = []
    mismatches = 0
    events = rejected = done = 0
    reasons: Counter = Counter()
    rss: list[int] = []
    started = time.perf_counter()
    chunk = 100_000
    for first in range(0, n, chunk):
        size = min(chunk, n - first)
        values = iter_records(seed + first, size)
        for _ in range(0, size, 5_000):
            batch = list(itertools.islice(values, 5_000))
            try:
                decoded = decode_batch(batch, [1_763_766_000.0 + i for i in range(len(batch))])
                monitor.process(decoded.columns, now=0.0)
            except Exception as exc:  # noqa: BLE001 - a crash is what we count
                crashes.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            expected = [reference(v) for v in batch]
            flagged = {i for i, _ in decoded.rejections}
            if decoded.events != sum(g for g, _, _ in expected) or any(
                bad and i not in flagged for i, (_, bad, _) in enumerate(expected)
            ):
                mismatches += 1
            events += decoded.events
            rejected += len(decoded.rejections)
            reasons.update(r.reason for _, r in decoded.rejections)
        done += size
        rss.append(rss_self())
        say(f"in process: {done:,} records, RSS {rss[-1] / 2**20:.0f} MB")
    warm = rss[1:] or rss
    return {
        "records": done,
        "events": events,
        "rejections": rejected,
        "rejection_reasons": dict(reasons.most_common()),
        "crashes": len(crashes),
        "crash_examples": crashes[:3],
        "batches_not_accounted": mismatches,
        "records_per_s": round(done / (time.perf_counter() - started)),
        "rss_mb_after_first_100k": {
            "first": round(warm[0] / 2**20),
            "last": round(warm[-1] / 2**20),
            "max": round(max(warm) / 2**20),
        },
    }


async def send_all(bootstrap: str, topic: str, values: list[bytes | None]) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=1 << 20)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, v, key=f"k{i % 64}".encode()) for i, v in enumerate(values)
        ]
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


def live(bootstrap: str, n: int, seed: int, say) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(*(f"{getattr(Topics(), f)}.fuzz-{suffix}" for f in Topics.__dataclass_fields__))
    group = f"fuzz-{suffix}"
    from streamproc.stream.topics import ensure_topics

    asyncio.run(
        ensure_topics(WorkerConfig(bootstrap=bootstrap, partitions=PARTITIONS, topics=topics))
    )
    values = records(seed + 10**9, n)
    expected = [reference(v) for v in values]
    logs = Path(tempfile.mkdtemp(prefix="streamproc-fuzz-"))
    env = {**kill_worker_env(bootstrap, topics, group), "STREAMPROC_LOG_LEVEL": "WARNING"}
    process, port = start_worker(env, logs / "worker.log")
    rss: list[int] = []
    end: dict[int, int] = {}
    where: list[tuple[int, int]] = []
    try:
        if not wait_ready(port, 120, lambda: process.poll() is None):
            raise RuntimeError((logs / "worker.log").read_text()[-2000:])
        started = time.monotonic()
        for first in range(0, n, 10_000):
            where += asyncio.run(send_all(bootstrap, topics.events, values[first : first + 10_000]))
            rss.append(rss_bytes(process.pid))
        for p, o in where:
            end[p] = max(end.get(p, 0), o + 1)
        deadline = time.monotonic() + 600
        done = {}
        while time.monotonic() < deadline and process.poll() is None:
            done = asyncio.run(committed(bootstrap, topics.events, group))
            if all(done[p] == end.get(p, 0) for p in done):
                break
            rss.append(rss_bytes(process.pid))
            time.sleep(1)
        took = time.monotonic() - started
        text = metrics_text(port)
        alive = process.poll() is None
    finally:
        stop_process(process)
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("streamproc_events_total{")
    )
    dead = Counter()
    for record in asyncio.run(read_all(bootstrap, topics.dlq)):
        h = dict(record.headers)
        dead[(int(h["source.partition"]), int(h["source.offset"]))] += 1
    want = Counter({where[i]: bad for i, (_, bad, _) in enumerate(expected) if bad})
    warm = rss[len(rss) // 10 :] or rss
    return {
        "records": n,
        "worker_alive": alive,
        "committed_equals_end": done == {p: end.get(p, 0) for p in done},
        "events_expected": sum(g for g, _, _ in expected),
        "events_counted": counted,
        "dlq_expected": sum(want.values()),
        "dlq_records": sum(dead.values()),
        "dlq_offsets_differing": sum(1 for k in set(want) | set(dead) if want[k] != dead[k]),
        "records_per_s": round(n / took),
        "rss_mb_after_first_tenth": {
            "first": round(warm[0] / 2**20),
            "last": round(warm[-1] / 2**20),
            "max": round(max(warm) / 2**20),
        },
        "rss_mb_each_10k_sent": [round(r / 2**20) for r in rss[: n // 10_000]],
        "tracebacks": (logs / "worker.log").read_text(errors="replace").count("Traceback"),
    }


def failures(inproc: dict | None, worker: dict | None) -> list[str]:
    failed = []
    if inproc:
        if inproc["crashes"]:
            failed.append(f"in process: {inproc['crashes']} crashes {inproc['crash_examples']}")
        if inproc["batches_not_accounted"]:
            failed.append(f"in process: {inproc['batches_not_accounted']} batches not accounted")
    if worker:
        if not worker["worker_alive"] or worker["tracebacks"]:
            failed.append("live: the worker died or logged a traceback")
        if not worker["committed_equals_end"]:
            failed.append("live: committed offsets short of the end")
        if worker["events_counted"] != worker["events_expected"]:
            failed.append("live: events counted != events of the reference path")
        if worker["dlq_offsets_differing"]:
            failed.append(f"live: {worker['dlq_offsets_differing']} offsets dead-lettered wrongly")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="in process (0: skip)")
    parser.add_argument("--live", type=int, default=100_000, help="through a worker (0: skip)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    inproc = in_process(args.records, args.seed, say) if args.records else None
    if inproc:
        print(json.dumps({"in_process": inproc}), flush=True)
    worker = None
    if args.live:
        bootstrap = os.environ.get("STREAMPROC_BOOTSTRAP")
        if bootstrap:
            worker = live(bootstrap, args.live, args.seed, say)
        else:
            log = Path(tempfile.gettempdir()) / f"streamproc-fuzz-broker-{os.getpid()}.log"
            with EmbeddedBroker(log_path=log) as broker:
                worker = live(broker.bootstrap, args.live, args.seed, say)
        print(json.dumps({"live": worker}), flush=True)
    failed = failures(inproc, worker)
    for line in failed:
        print("FAILED:", line)
    print("all checks passed" if not failed else f"{len(failed)} checks failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
