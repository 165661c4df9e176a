"""SIGKILL a worker at random moments, many times, and check what it leaves behind.

    python loadtest/kill20.py [--kills 20] [--events 60000] [--seed 1] [--bootstrap host:port]

One embedded broker (or ``--bootstrap``), one consumer group, fresh topics
with 4 partitions. The stream: three models of :mod:`streamproc.simulate`
(``drifting``: ``Scenario.demo``, drifting from the middle of the stream on,
with a published baseline; ``steady-a`` and ``steady-b``: no drift, baselines
learned by the worker), ``--events`` events each in JSON-array records of 20,
and 10 malformed records per slice (five kinds, keys spread over the
partitions). The stream is sent in ``kills + 1`` slices: each cycle starts a
worker, sends the next slice, and SIGKILLs the worker after a random delay
(a third at 0.3 to ``--max-delay`` s after its start, most of them before
it is ready; a third 0 to 1 s after ``/ready``, while it catches up on the
slices sent while it was down; a third 1 to 6 s after, when it has usually
caught up). The phase of each kill is read just before it: ``start-up``
(``/ready`` not 200), ``catch-up`` (``streamproc_consumer_lag_records`` > 0)
or ``live``. After the last kill a
final worker gets the last slice and runs until the group's committed offsets
reach the end of every partition (events cannot be summed over restarts: the
metrics start from 0 in each process).

Checked (``check`` returns what failed; exit 1 if anything did):

- nothing stuck: committed offset == end offset on every events partition;
- dead letters by offset: the ``(source.partition, source.offset)`` of every
  malformed record is on the DLQ at least once (at-least-once: a record in
  flight at a kill is dead-lettered again), and nothing else is;
- the drift is caught: firing alerts for ``amount``, ``country`` and
  ``income`` of ``drifting``;
- no false alert: no firing alert of ``steady-a``/``steady-b``, none of
  ``drifting`` for another feature;
- no episode fired twice: each firing ``alert_id`` once on ``monitor.alerts``;
- no decoder child outlives its killed worker; no ``Traceback`` in any log.

``tests/integration/test_kills.py`` runs it with 4 kills in ``make test``;
docs/reliability.md has the figures of a 20-kill run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.config import Topics, WorkerConfig
from streamproc.demo import stop_process, wait_ready
from streamproc.detect.baseline import Baseline
from streamproc.events.columns import EventColumns
from streamproc.simulate import Scenario, generate
from streamproc.stream.topics import ensure_topics

PARTITIONS = 4
PER_RECORD = 20
DRIFTED = {"amount", "country", "income"}
STEADY = ("steady-a", "steady-b")

#: Malformed record values, one of each kind per slice (``{i}`` made unique).
MALFORMED = (
    b"{this is not json %d",
    b'{"features": {"x": %d}}',
    b'{"model_id": "drifting", "features": [%d]}',
    b'{"model_id": "drifting", "features": {"x": [%d]}}',
    b'{"model_id": "bad model id %d", "features": {"x": 1}}',
)
BAD_PER_SLICE = 10


@dataclass
class Kill:
    after_s: float  # since the worker's start
    phase: str  # start-up (not ready), catch-up (ready, lag > 0) or live
    orphans: int  # decoder children still alive 5 s after the kill


@dataclass
class Outcome:
    kills: list[Kill] = field(default_factory=list)
    events: int = 0
    records: int = 0
    malformed: set[tuple[int, int]] = field(default_factory=set)
    dead: Counter = field(default_factory=Counter)  # (partition, offset) -> times on the DLQ
    committed: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)  # last produced offset + 1
    alerts: list[dict] = field(default_factory=list)
    tracebacks: int = 0
    final_catch_up_s: float = 0.0
    wall_s: float = 0.0


def topics_for_run() -> Topics:
    suffix = uuid.uuid4().hex[:8]
    t = Topics()
    return Topics(*(f"{getattr(t, n)}.kill-{suffix}" for n in Topics.__dataclass_fields__))


def worker_env(bootstrap: str, topics: Topics, group: str) -> dict[str, str]:
    env = {
        **os.environ,
        "STREAMPROC_BOOTSTRAP": bootstrap,
        "STREAMPROC_GROUP_ID": group,
        "STREAMPROC_REBALANCE_TIMEOUT_S": "3",
        "STREAMPROC_PARTITIONS": str(PARTITIONS),
        "STREAMPROC_LOG_LEVEL": "INFO",
        "STREAMPROC_LABELS": "off",
    }
    for name in Topics.__dataclass_fields__:
        env[f"STREAMPROC_TOPIC_{name.upper()}"] = getattr(topics, name)
    return env


def stream_slices(events: int, slices: int, seed: int) -> list[list[tuple[bytes, bytes, bool]]]:
    """The stream as ``slices`` lists of (key, value, malformed) records."""
    drifting = Scenario.demo(model_id="drifting", drift_at=events // 2)
    per_model = {
        "drifting": generate(drifting, events=events, batch=PER_RECORD, seed=seed),
        **{
            m: generate(Scenario(model_id=m), events=events, batch=PER_RECORD, seed=seed + k + 1)
            for k, m in enumerate(STEADY)
        },
    }
    records_per_model = -(-events // PER_RECORD)
    per_slice = -(-records_per_model // slices)
    rng = random.Random(seed)
    out: list[list[tuple[bytes, bytes, bool]]] = []
    bad = 0
    for _ in range(slices):
        chunk: list[tuple[bytes, bytes, bool]] = []
        for _ in range(per_slice):
            for model, batches in per_model.items():
                batch = next(batches, None)
                if batch:
                    chunk.append((model.encode(), orjson.dumps(batch), False))
        for _ in range(BAD_PER_SLICE):
            value = MALFORMED[bad % len(MALFORMED)] % bad
            chunk.insert(rng.randrange(len(chunk) + 1), (f"bad-{bad}".encode(), value, True))
            bad += 1
        out.append(chunk)
    return out


async def send(bootstrap: str, topic: str, records, outcome: Outcome) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = [(await producer.send(topic, value, key=key), bad) for key, value, bad in records]
        for future, bad in futures:
            meta = await future
            outcome.end[meta.partition] = max(outcome.end.get(meta.partition, 0), meta.offset + 1)
            if bad:
                outcome.malformed.add((meta.partition, meta.offset))
    finally:
        await producer.stop()
    outcome.records += len(records)


async def committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The committed offset of ``group`` per partition of ``topic`` (0: none).

    The end offsets to compare them with come from the producer's acknowledgements:
    this Tansu's ListOffsets answered the last offset, not the next one, for
    partitions of many-record batches (the worker commits the next one).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: (await consumer.committed(tp)) or 0 for tp in parts}
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topic: str, idle_s: float = 3.0) -> list:
    """Every record of ``topic``: read from the beginning until nothing new came
    for ``idle_s`` (not up to the end offsets: see :func:`committed`)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (await partitions(consumer, topic))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        records: list = []
        last_new = time.monotonic()
        deadline = last_new + 120
        while time.monotonic() < min(deadline, last_new + idle_s):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
                last_new = time.monotonic()
        return records
    finally:
        await consumer.stop()


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(40):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await consumer._client.force_metadata_update()  # noqa: SLF001
        await asyncio.sleep(0.25)
    return list(range(PARTITIONS))


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def phase_of(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
            if r.status != 200:
                return "start-up"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return "start-up"
    lag = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("streamproc_consumer_lag_records")
    )
    return "catch-up" if lag > 0 else "live"


def start_worker(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamproc", "worker", "--metrics-port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return process, port


def run(
    bootstrap: str,
    *,
    kills: int = 20,
    events: int = 60_000,
    seed: int = 1,
    max_delay: float = 12.0,
    logs: Path | None = None,
    say=print,
) -> Outcome:
    """Run the kill cycles against ``bootstrap``; return what was observed."""
    started = time.monotonic()
    logs = logs or Path(tempfile.mkdtemp(prefix="streamproc-kill-"))
    topics, group = topics_for_run(), f"kill-{uuid.uuid4().hex[:8]}"
    env = worker_env(bootstrap, topics, group)
    outcome = Outcome(events=3 * events)
    asyncio.run(
        ensure_topics(WorkerConfig(bootstrap=bootstrap, partitions=PARTITIONS, topics=topics))
    )
    reference = next(generate(Scenario(model_id="drifting"), events=10_000, batch=10_000, seed=99))
    baseline = Baseline.fit(EventColumns.from_events("drifting", reference, default_timestamp=0.0))
    asyncio.run(
        send(
            bootstrap,
            topics.baselines,
            [(b"drifting", orjson.dumps(baseline.to_dict()), False)],
            Outcome(),
        )
    )
    slices = stream_slices(events, kills + 1, seed)
    rng = random.Random(seed)
    for k in range(kills):
        process, port = start_worker(env, logs / f"worker-{k:02d}.log")
        born = time.monotonic()
        asyncio.run(send(bootstrap, topics.events, slices[k], outcome))
        moment = rng.random()
        if moment < 1 / 3:  # a random moment of the start-up
            time.sleep(max(0.0, rng.uniform(0.3, max_delay) - (time.monotonic() - born)))
        else:  # the first second of judging (catching up), or later
            wait_ready(port, 90, lambda p=process: p.poll() is None)
            time.sleep(rng.uniform(0.0, 1.0) if moment < 2 / 3 else rng.uniform(1.0, 6.0))
        phase = phase_of(port) if process.poll() is None else "exited"
        children = children_of(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(c) for c in children):
            time.sleep(0.1)
        kill = Kill(round(time.monotonic() - born, 1), phase, sum(alive(c) for c in children))
        outcome.kills.append(kill)
        say(f"kill {k + 1:2d}: {kill.after_s:5.1f} s after start, {kill.phase}")
    process, port = start_worker(env, logs / "worker-final.log")
    final_start = time.monotonic()
    try:
        asyncio.run(send(bootstrap, topics.events, slices[kills], outcome))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            outcome.committed = asyncio.run(committed(bootstrap, topics.events, group))
            if all(outcome.committed[p] == outcome.end.get(p, 0) for p in outcome.committed):
                break
            if os.environ.get("KILL20_DEBUG"):
                say(f"  committed {outcome.committed} end {outcome.end}")
            time.sleep(1)
        outcome.final_catch_up_s = round(time.monotonic() - final_start, 1)
        say(f"final worker: committed {outcome.committed}, end {outcome.end}")
        wait_ready(port, 5, lambda: process.poll() is None)
    finally:
        stop_process(process)
    for record in asyncio.run(read_all(bootstrap, topics.dlq)):
        headers = dict(record.headers)
        outcome.dead[(int(headers["source.partition"]), int(headers["source.offset"]))] += 1
    outcome.alerts = [
        orjson.loads(r.value) for r in asyncio.run(read_all(bootstrap, topics.alerts))
    ]
    outcome.tracebacks = sum(
        p.read_text(errors="replace").count("Traceback") for p in logs.glob("*.log")
    )
    outcome.wall_s = round(time.monotonic() - started, 1)
    say(f"worker logs in {logs}")
    return outcome


def check(outcome: Outcome) -> list[str]:
    """What went wrong (empty: all good)."""
    failed = []
    ends = {p: outcome.end.get(p, 0) for p in range(PARTITIONS)}
    if not outcome.end or outcome.committed != ends:
        failed.append(f"stuck: committed {outcome.committed} != end {outcome.end}")
    missing = outcome.malformed - set(outcome.dead)
    if missing:
        failed.append(f"{len(missing)} malformed records not dead-lettered: {sorted(missing)[:5]}")
    extra = set(outcome.dead) - outcome.malformed
    if extra:
        failed.append(f"{len(extra)} good records dead-lettered: {sorted(extra)[:5]}")
    firing = [a for a in outcome.alerts if a["status"] == "firing"]
    caught = {
        a["feature"] for a in firing if a["model_id"] == "drifting" and a["signal"] == "feature"
    }
    if not DRIFTED <= caught:
        failed.append(f"drift not caught: firing features of drifting {sorted(caught)}")
    false = [
        a
        for a in firing
        if a["model_id"] != "drifting"
        or (a["signal"] == "feature" and a["feature"] not in DRIFTED)
        or a["signal"] not in ("feature", "prediction")
    ]
    if false:
        failed.append(f"{len(false)} false alerts: {false[:3]}")
    twice = [i for i, n in Counter(a["alert_id"] for a in firing).items() if n > 1]
    if twice:
        failed.append(f"{len(twice)} episodes fired twice: {twice[:5]}")
    orphans = sum(k.orphans for k in outcome.kills)
    if orphans:
        failed.append(f"{orphans} decoder children outlived their killed worker")
    if outcome.tracebacks:
        failed.append(f"{outcome.tracebacks} tracebacks in the worker logs")
    return failed


def summary(outcome: Outcome) -> dict:
    firing = [a for a in outcome.alerts if a["status"] == "firing"]
    return {
        "kills": len(outcome.kills),
        "kill_phases": dict(Counter(k.phase for k in outcome.kills)),
        "kill_delays_s": [k.after_s for k in outcome.kills],
        "events": outcome.events,
        "records": outcome.records,
        "committed_offsets": outcome.committed,
        "end_offsets": outcome.end,
        "malformed": len(outcome.malformed),
        "dlq_records": sum(outcome.dead.values()),
        "dlq_dead_lettered_twice_or_more": sum(n > 1 for n in outcome.dead.values()),
        "firing": sorted(
            f"{a['model_id']}/{a['signal']}/{a['feature']}/{a['detector']}" for a in firing
        ),
        "alert_records": len(outcome.alerts),
        "final_worker_catch_up_s": outcome.final_catch_up_s,
        "wall_s": outcome.wall_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--events", type=int, default=60_000, help="events per model")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=12.0)
    parser.add_argument("--bootstrap", help="a running broker (default: an embedded one)")
    args = parser.parse_args()
    options = dict(kills=args.kills, events=args.events, seed=args.seed, max_delay=args.max_delay)
    if args.bootstrap:
        outcome = run(args.bootstrap, **options)
    else:
        log = Path(tempfile.gettempdir()) / f"streamproc-kill-broker-{os.getpid()}.log"
        with EmbeddedBroker(log_path=log) as broker:
            outcome = run(broker.bootstrap, **options)
    print(json.dumps(summary(outcome), indent=1))
    failed = check(outcome)
    for line in failed:
        print("FAILED:", line)
    print("all checks passed" if not failed else f"{len(failed)} checks failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
