"""Soak: millions of events across 1,000 models x 20 features through a real worker.

    python loadtest/soak.py [--events 10000000] [--models 1000] [--backlog 1000000]

One embedded broker (``STREAMPROC_BOOTSTRAP``: another), fresh topics with 4
partitions, one ``python -m streamproc worker`` with its defaults (metric caps
``max_models`` 100, ``max_features`` 50; one decoder process). The events:
a pool of ``streamproc.simulate.wide_events`` (``--models`` models, 16 numeric
and 4 categorical features each), pre-encoded once as JSON arrays of 100
events of one model, sent over and over (gzip-compressed batches, level 1, so
that the broker's in-memory storage holds a fraction of the bytes) while at most
``--backlog`` events wait uncommitted. Every ``--sample-s`` seconds: the
worker's RSS (its process plus its decoder's), the number of sample lines
of ``/metrics``, the events committed (the group's committed offsets x 100).

Prints one JSON line at the end: throughput (committed events / s from the
first commit), RSS first/last/max after warm-up (``--warmup`` events: by
default 3,000 a model, past the learning of its baseline), the largest
``/metrics`` line count, and whether the worker counted every event
(``streamproc_events_total``). docs/reliability.md has the figures of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.config import Topics, WorkerConfig
from streamproc.demo import wait_ready
from streamproc.simulate import wide_events
from streamproc.stream.topics import ensure_topics

PARTITIONS = 4
PER_RECORD = 100


def fast_gzip() -> None:
    """aiokafka gzips at level 9 (~10,000 events/s here, slower than the worker);
    level 1 is several times faster and still ~4x smaller than plain JSON."""
    import aiokafka.codec

    def gzip_level_1(payload, compresslevel=None):
        return aiokafka.codec.gzip_encode(payload, compresslevel=1)

    for name in ("aiokafka.record.default_records", "aiokafka.record._crecords.default_records"):
        module = sys.modules.get(name) or __import__(name, fromlist=["gzip_encode"])
        if hasattr(module, "gzip_encode"):
            module.gzip_encode = gzip_level_1


def pool_records(models: int, events: int, seed: int = 5) -> list[tuple[bytes, bytes]]:
    """``events`` events as records of ``PER_RECORD`` events of one model."""
    by_model: dict[str, list[dict]] = {}
    for e in wide_events(events=events, models=models, seed=seed):
        by_model.setdefault(e["model_id"], []).append(e)
    records = [
        (model.encode(), orjson.dumps(group[i : i + PER_RECORD]))
        for model, group in by_model.items()
        for i in range(0, len(group), PER_RECORD)
    ]
    assert all(len(orjson.loads(v)) == PER_RECORD for _, v in records[:3])
    return records


def rss_bytes(pid: int) -> int:
    """RSS of ``pid`` plus that of its children (the decoder)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    total = 0
    for p in [str(pid), *children]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def sample_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def events_counted(text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("streamproc_events_total{")
    )


async def soak(bootstrap: str, args: argparse.Namespace, say) -> dict:
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(*(f"{getattr(Topics(), n)}.soak-{suffix}" for n in Topics.__dataclass_fields__))
    group = f"soak-{suffix}"
    await ensure_topics(WorkerConfig(bootstrap=bootstrap, partitions=PARTITIONS, topics=topics))
    pool = pool_records(args.models, args.pool)
    megabytes = sum(len(v) for _, v in pool) / 1e6
    say(f"pool: {len(pool)} records of {PER_RECORD} events, {megabytes:.0f} MB")
    records = args.events // PER_RECORD
    env = {
        **os.environ,
        "STREAMPROC_BOOTSTRAP": bootstrap,
        "STREAMPROC_GROUP_ID": group,
        "STREAMPROC_REBALANCE_TIMEOUT_S": "3",
        "STREAMPROC_PARTITIONS": str(PARTITIONS),
        "STREAMPROC_LOG_LEVEL": "WARNING",
        "STREAMPROC_LABELS": "off",
        **{
            f"STREAMPROC_TOPIC_{n.upper()}": getattr(topics, n) for n in Topics.__dataclass_fields__
        },
    }
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="streamproc-soak-")) / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streamproc", "worker", "--metrics-port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=1 << 20,
        acks=1,
        compression_type=args.compression or None,
    )
    offsets = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await producer.start()
    await offsets.start()
    tps = [TopicPartition(topics.events, p) for p in range(PARTITIONS)]
    samples: list[dict] = []
    sent = committed = 0
    first_commit: tuple[float, int] | None = None
    started = time.monotonic()
    next_sample = started
    try:
        if not wait_ready(port, 120, lambda: worker.poll() is None):
            raise RuntimeError(f"worker not ready:\n{log.read_text()[-2000:]}")
        while committed < records:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
            if sent < records and (sent - committed) * PER_RECORD < args.backlog:
                chunk = min(1_000, records - sent)
                futures = [
                    await producer.send(topics.events, value, key=key)
                    for key, value in (pool[(sent + i) % len(pool)] for i in range(chunk))
                ]
                await asyncio.gather(*futures)
                sent += chunk
            else:
                await asyncio.sleep(0.5)
            committed = sum([(await offsets.committed(tp)) or 0 for tp in tps])
            now = time.monotonic()
            if first_commit is None and committed:
                first_commit = (now, committed)
            if now >= next_sample or committed >= records:
                next_sample = now + args.sample_s
                text = await asyncio.to_thread(metrics_text, port)
                sample = {
                    "t_s": round(now - started, 1),
                    "events": committed * PER_RECORD,
                    "sent": sent * PER_RECORD,
                    "rss_mb": round(rss_bytes(worker.pid) / 2**20, 1),
                    "metrics_lines": sample_lines(text),
                }
                samples.append(sample)
                say(json.dumps(sample))
        text = metrics_text(port)
    finally:
        await producer.stop()
        await offsets.stop()
        worker.kill()  # a clean stop waits for Faust's group; nothing waits for this one
        worker.wait()
    assert first_commit is not None
    elapsed = time.monotonic() - first_commit[0]
    warm = [s for s in samples if s["events"] >= args.warmup] or samples[-1:]
    rss = [s["rss_mb"] for s in warm]
    return {
        "events": committed * PER_RECORD,
        "models": args.models,
        "features": 20,
        "events_per_s": round((committed - first_commit[1]) * PER_RECORD / elapsed),
        "wall_s": round(time.monotonic() - started),
        "counted_by_worker": events_counted(text),
        "warmup_events": args.warmup,
        "rss_after_warmup_mb": {"first": rss[0], "last": rss[-1], "max": max(rss)},
        "rss_growth_after_warmup": round(max(rss) / rss[0] - 1, 3),
        "metrics_lines": {
            "first": samples[0]["metrics_lines"],
            "max": max(s["metrics_lines"] for s in samples),
            "last": sample_lines(text),
        },
        "samples": len(samples),
        "log": str(log),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--models", type=int, default=1_000)
    parser.add_argument(
        "--pool", type=int, default=200_000, help="distinct events sent over and over"
    )
    parser.add_argument("--backlog", type=int, default=1_000_000, help="most events uncommitted")
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument(
        "--warmup",
        type=int,
        help="events before RSS counts as warm (default: 3,000 per model: the 2,000 of "
        "a learned baseline and two windows)",
    )
    parser.add_argument("--compression", default="gzip", help="producer compression ('' for none)")
    args = parser.parse_args()

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    args.warmup = args.warmup if args.warmup is not None else 3_000 * args.models
    if args.compression == "gzip":
        fast_gzip()
    bootstrap = os.environ.get("STREAMPROC_BOOTSTRAP")
    if bootstrap:
        result = asyncio.run(soak(bootstrap, args, say))
    else:
        log = Path(tempfile.gettempdir()) / f"streamproc-soak-broker-{os.getpid()}.log"
        with EmbeddedBroker(log_path=log) as broker:
            result = asyncio.run(soak(broker.bootstrap, args, say))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
