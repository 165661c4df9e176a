"""Throughput, latency and memory of a streamproc worker, next to the Kafka ceiling.

One command, one run, all figures side by side on the same topics and events::

    python loadtest/throughput.py            # a table
    python loadtest/throughput.py --json     # the table on stderr, one JSON line on stdout
    python loadtest/throughput.py --labels   # only: a worker with and without labels
    python loadtest/throughput.py --checkpoints   # only: ceiling, worker with and without

``--labels`` measures only the cost of the label join, side by side in one run:
the real worker on the single-event topic with an empty labels topic, then a
new worker (own group) on the same events with a labels topic holding one
label record per event (``{"model_id", "event_id", "label", "timestamp"}``,
keyed by model); each rate is events/s until the worker has committed all its
records (events and labels), and the ratio (checkpoints off in both, so that
offsets are committed after each batch). The records carry the Kafka times a
model server sending them live would give them: each event its event time
(the timeline moved to the last hour), each label 5 s after its event; the
worker is then catching up on an hour-old backlog of both topics. A third
worker reads the same labels produced after all the events and stamped then
(a bulk upload of ground truth an hour late): they wait until the events are
judged, then are judged alone (reported; the target is the first case).

``--checkpoints`` measures only what checkpoints cost: the ceiling, a worker
with checkpoints on (the default) and one with them off, alternating three times;
medians and their ratios.

It starts its own embedded broker unless ``STREAMPROC_BOOTSTRAP`` is set. The
events (``streamproc.simulate.wide_events``): 16 numeric features with
full-precision floats, 4 categorical ones, a prediction (label and score), a
latency; 10 models; ~640 bytes each as JSON.

What is measured (each rate from the first event consumed to the last, so the
consumer-group join, which on Tansu waits for the rebalance timeout, and the
process start are excluded):

- ceiling: a bare aiokafka consumer, ``getmany`` + ``orjson.loads`` per record,
  on the single-event topic and on the topic of 100-event arrays;
- naive Faust: a Faust agent, ``async for`` per event + ``orjson.loads``
  (on the first ``--naive-events`` events of the single-event topic);
- streamproc: the real worker (``python -m streamproc worker``, every default
  detector on, its default decoder process, checkpoints on), rate read from
  the events judged (``/status``); the same with ``--decoders 0`` (decoding in the
  worker's own process); then two such single-process workers in one
  consumer group on the single-event topic (on 2 CPUs, one worker with its
  decoder process already uses both);
- replay: ``streamproc replay`` on a file of the same events;
- alert latency: a worker fed 50,000 events/s (records of 100 events) by this
  process; from the first drifted event of a model produced to each of its
  drift alerts consumed from the alerts topic;
- memory: the detection core's state per (model, feature) with 100 models x
  20 features (tracemalloc, after baselines and several windows), and RSS of
  a process running 10,000,000 events through decode + detectors (no Kafka).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from streamproc.broker import EmbeddedBroker, free_port  # noqa: E402
from streamproc.simulate import wide_events  # noqa: E402

PARTITIONS = 4
PER_RECORD = 100


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- Kafka helpers -------------------------------------------------------------


def own_broker() -> tuple[EmbeddedBroker | None, str]:
    """The broker named by ``STREAMPROC_BOOTSTRAP``, else a started embedded one
    (returned, for the caller to stop)."""
    bootstrap = os.environ.get("STREAMPROC_BOOTSTRAP")
    if bootstrap:
        return None, bootstrap
    broker = EmbeddedBroker().start()
    return broker, broker.bootstrap


async def create_topics(bootstrap: str, names: list[str], partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    records: list[tuple[bytes, bytes]],
    stamps: list[int] | None = None,
) -> None:
    """Produce ``records`` (key, value) in order; ``stamps``: their Kafka
    record times (ms), else the time of sending."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    try:
        for start in range(0, len(records), 20_000):
            futures = [
                await producer.send(
                    topic, value, key=key, timestamp_ms=None if stamps is None else stamps[i]
                )
                for i, (key, value) in enumerate(records[start : start + 20_000], start)
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def dumps_each(items: list[Any]) -> list[bytes]:
    """``orjson.dumps`` of each item, as compact bytes objects.

    (A list of separate ``orjson.dumps`` results holds ~8 KiB of memory per
    640-byte event here; going through one buffer keeps RSS figures honest.)
    """
    buffer = io.BytesIO()
    for item in items:
        buffer.write(orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE))
    return buffer.getvalue().splitlines()


def encode(
    events: list[dict[str, Any]],
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """Single-event records, and records of 100 events of one model."""
    single = list(zip([e["model_id"].encode() for e in events], dumps_each(events), strict=True))
    by_model: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_model.setdefault(e["model_id"], []).append(e)
    arrays = [
        (model.encode(), orjson.dumps(group[i : i + PER_RECORD]))
        for model, group in by_model.items()
        for i in range(0, len(group), PER_RECORD)
    ]
    return single, arrays


async def ceiling(bootstrap: str, topic: str, events: int, *, arrays: bool) -> float:
    """Events/s of getmany + orjson.loads per record, first batch to last event."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loads = orjson.loads
        count = 0
        first_at = first_count = None
        while count < events:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                if arrays:
                    for r in records:
                        count += len(loads(r.value))
                else:
                    for r in records:
                        loads(r.value)
                        count += 1
            if first_at is None and count:
                first_at, first_count = time.perf_counter(), count
        return (count - first_count) / (time.perf_counter() - first_at)  # type: ignore[operator]
    finally:
        await consumer.stop()


# -- naive Faust agent (child process) -------------------------------------------


def naive_faust_child(bootstrap: str, topic: str, events: int, out: str) -> None:
    import faust

    app = faust.App(
        f"naive-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        web_enabled=False,
        broker_rebalance_timeout=3.0,
        store="memory://",
        topic_allow_declare=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(topic, value_serializer="raw", key_serializer="raw")
    state = {"n": 0, "t0": 0.0}

    @app.agent(source)
    async def count(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            orjson.loads(value)
            state["n"] += 1
            if state["n"] == 1:
                state["t0"] = time.perf_counter()
            elif state["n"] == events:
                rate = (events - 1) / (time.perf_counter() - state["t0"])
                Path(out).write_text(json.dumps({"events_per_s": rate}))
                os.kill(os.getpid(), signal.SIGTERM)

    faust.Worker(
        app, loglevel="WARNING", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


def naive_faust(bootstrap: str, topic: str, events: int, timeout: float = 120) -> float:
    out = Path(tempfile.mkdtemp()) / "naive.json"
    child = subprocess.Popen(
        [sys.executable, __file__, "--naive-faust-child", bootstrap, topic, str(events), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=out.parent,  # Faust's data directory goes there, not into the checkout
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not out.exists():
        time.sleep(0.2)
    child.kill()  # its own consumer group: nobody waits for it to leave
    child.wait()
    if not out.exists():
        raise RuntimeError("naive Faust agent did not finish")
    return float(json.loads(out.read_text())["events_per_s"])


# -- streamproc workers (child processes) ------------------------------------------


class Worker:
    """One ``python -m streamproc worker`` process."""

    def __init__(
        self,
        bootstrap: str,
        events_topic: str,
        group: str,
        suffix: str,
        decoders: int | None = None,
        labels_topic: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "STREAMPROC_BOOTSTRAP": bootstrap,
            "STREAMPROC_GROUP_ID": group,
            "STREAMPROC_REBALANCE_TIMEOUT_S": "3",
            "STREAMPROC_PARTITIONS": str(PARTITIONS),
            "STREAMPROC_LOG_LEVEL": "WARNING",
            "STREAMPROC_TOPIC_EVENTS": events_topic,
            "STREAMPROC_TOPIC_LABELS": labels_topic or f"lt.labels.{suffix}",
            "STREAMPROC_TOPIC_BASELINES": f"lt.baselines.{suffix}",
            "STREAMPROC_TOPIC_ALERTS": f"lt.alerts.{suffix}",
            "STREAMPROC_TOPIC_DLQ": f"lt.dlq.{suffix}",
            "STREAMPROC_TOPIC_STATE": f"lt.state.{suffix}",
        }
        if decoders is not None:
            env["STREAMPROC_DECODERS"] = str(decoders)
        env.update(extra_env or {})
        self.alerts_topic = env["STREAMPROC_TOPIC_ALERTS"]
        self.log_path = Path(tempfile.mkdtemp()) / "worker.log"
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamproc", "worker", "--metrics-port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )

    def metric(self, name: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def judged(self) -> int | None:
        """Events judged so far, from ``/status`` (cheaper to render than ``/metrics``)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=2) as r:
                status = orjson.loads(r.read())
        except OSError:
            return None
        return sum(m["events"] for m in status["models"])

    def peak_rss(self) -> int:
        """Peak RSS of the worker plus that of its decoder processes."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return sum(_peak_rss(p) for p in [str(pid), *children])

    def stop(self) -> None:
        """SIGKILL: a clean stop waits ~15 s for Faust's own consumer group to
        settle; each run uses its own group, so nothing waits for this one."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _peak_rss(pid: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) * 1024 if match else 0


def run_workers(
    bootstrap: str,
    topic: str,
    events: int,
    count: int = 1,
    *,
    per_record: float = 1,
    decoders: int | None = None,
    timeout: float = 180,
    labels: tuple[str, int] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, int]:
    """Events/s of ``count`` workers in one group on a pre-filled topic; peak RSS.

    Progress is the events judged, read from each worker's ``/status`` every
    50 ms (a few hundred bytes to render; ``/metrics`` would cost the worker
    a few milliseconds each time, ~10 % at this rate), from the first event
    judged to the last. Not committed offsets: with checkpoints on (the
    default), offsets are committed only when a checkpoint is written.
    ``labels``: a pre-filled labels topic and its number of records; then
    checkpoints are off and the rate is events per second until the events and
    the labels are all committed (after each batch).
    """
    suffix = uuid.uuid4().hex[:8]
    group = f"lt-{suffix}"
    labels_topic = labels[0] if labels else None
    extra = {**(env or {}), **({"STREAMPROC_CHECKPOINT_SECONDS": "0"} if labels else {})}
    workers = [
        Worker(bootstrap, topic, group, suffix, decoders, labels_topic, extra) for _ in range(count)
    ]
    try:
        if labels:
            records = round(events / per_record)
            total = records + labels[1]
            topics = [topic, labels[0]]
            rate = asyncio.run(_committed_rate(bootstrap, topics, group, total, workers, timeout))
            return rate * records / total * per_record, max(w.peak_rss() for w in workers)
        rate = asyncio.run(_judged_rate(events, workers, timeout))
        return rate, max(w.peak_rss() for w in workers)
    finally:
        counted = sum(w.metric("streamproc_events_total") or 0.0 for w in workers)
        if counted < events:
            log(f"warning: workers counted {counted:.0f} of {events} events")
        for w in workers:
            w.stop()


def _stuck(workers: list[Worker], deadline: float) -> bool:
    return time.monotonic() > deadline or any(w.process.poll() is not None for w in workers)


async def _judged_rate(events: int, workers: list[Worker], timeout: float) -> float:
    """Events/s judged by ``workers``, from the first event judged to the last."""
    first_at = first_done = None
    done = 0
    deadline = time.monotonic() + timeout
    while done < events:
        if _stuck(workers, deadline):
            tail = workers[0].log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"workers judged {done} of {events} events\n{tail}")
        counts = await asyncio.gather(*(asyncio.to_thread(w.judged) for w in workers))
        done = sum(c or 0 for c in counts)
        if first_at is None and done > 0:
            first_at, first_done = time.perf_counter(), done
        await asyncio.sleep(0.05)
    return (done - first_done) / (time.perf_counter() - first_at)  # type: ignore[operator]


async def _committed_rate(
    bootstrap: str,
    topics: list[str],
    group: str,
    records: int,
    workers: list[Worker],
    timeout: float,
) -> float:
    """Records/s committed by ``group`` on ``topics``, from its first commit to the last record."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for topic in topics for p in range(PARTITIONS)]
    try:
        first_at = first_done = None
        done = 0
        deadline = time.monotonic() + timeout
        while done < records:
            if _stuck(workers, deadline):
                tail = workers[0].log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"workers committed {done} of {records} records\n{tail}")
            done = sum([(await consumer.committed(tp)) or 0 for tp in tps])
            if first_at is None and done > 0:
                first_at, first_done = time.perf_counter(), done
            await asyncio.sleep(0.05)
        return (done - first_done) / (time.perf_counter() - first_at)  # type: ignore[operator]
    finally:
        await consumer.stop()


# -- end-to-end alert latency ----------------------------------------------------


async def alert_latency(
    bootstrap: str, *, rate: float, stable_s: float, drift_s: float, models: int = 10
) -> tuple[list[float], int]:
    """Seconds from the first drifted event of a model produced to each of its
    drift alerts consumed; and the worker's peak RSS."""
    suffix = uuid.uuid4().hex[:8]
    topic = f"lt.latency.{suffix}"
    await create_topics(bootstrap, [topic])
    worker = Worker(bootstrap, topic, f"lt-{suffix}", suffix)
    try:
        from streamproc.demo import wait_ready

        if not await asyncio.to_thread(
            wait_ready, worker.port, 90, lambda: worker.process.poll() is None
        ):
            raise RuntimeError("latency worker not ready")
        pool = 100_000
        stable = wide_events(events=pool, models=models, seed=1)
        drifted = wide_events(events=pool, models=models, seed=2, drift_at=0)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
        consumer = AIOKafkaConsumer(
            worker.alerts_topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await producer.start()
        await consumer.start()
        drift_started: dict[str, float] = {}
        latencies: dict[tuple[str, str | None, str], float] = {}

        async def read_alerts() -> None:
            while True:
                batch = await consumer.getmany(timeout_ms=100)
                now = time.time()
                for records in batch.values():
                    for r in records:
                        a = orjson.loads(r.value)
                        model = a["model_id"]
                        if a["status"] != "firing" or model not in drift_started:
                            continue
                        if a["feature"] not in ("n00", "c00"):
                            continue
                        key = (model, a["feature"], a["detector"])
                        latencies.setdefault(key, now - drift_started[model])

        reader = asyncio.create_task(read_alerts())
        tick = 0.02
        per_tick = int(rate * tick)
        sent = 0
        started = time.monotonic()
        try:
            while time.monotonic() - started < stable_s + drift_s:
                drifting = time.monotonic() - started >= stable_s
                source = drifted if drifting else stable
                now = time.time()
                batch = [source[(sent + i) % pool] for i in range(per_tick)]
                by_model: dict[str, list[dict[str, Any]]] = {}
                for e in batch:
                    e["timestamp"] = now
                    by_model.setdefault(e["model_id"], []).append(e)
                for model, group in by_model.items():
                    for i in range(0, len(group), PER_RECORD):
                        await producer.send(
                            topic, orjson.dumps(group[i : i + PER_RECORD]), key=model.encode()
                        )
                    if drifting and model not in drift_started:
                        drift_started[model] = now
                sent += per_tick
                ahead = started + sent / rate - time.monotonic()
                await asyncio.sleep(max(0.0, ahead))
            await producer.flush()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(latencies) < 3 * models:
                await asyncio.sleep(0.1)
        finally:
            reader.cancel()
            await producer.stop()
            await consumer.stop()
        return sorted(latencies.values()), worker.peak_rss()
    finally:
        worker.stop()


# -- memory of the detection core -----------------------------------------------


def state_bytes_per_model_feature(models: int = 100, windows: int = 2) -> tuple[float, float]:
    """Bytes of Monitor state per (model, feature) after baselines + ``windows``
    windows, and after twice as many (flat if the state is bounded).

    The events are decoded first, untraced; tracemalloc then counts what the
    detectors keep (the batches themselves are dropped before measuring).
    """
    import tracemalloc

    from streamproc.decode import decode_batch as decode_records
    from streamproc.detect.monitor import Monitor
    from streamproc.detect.settings import Settings

    s = Settings()
    phases = [
        (s.baseline_events + windows * s.window_events) * models,
        windows * s.window_events * models,
    ]
    decoded = []
    offset = 0
    for phase in phases:
        batches = []
        for start in range(0, phase, 20_000):
            n = min(20_000, phase - start)
            lines = dumps_each(wide_events(events=n, models=models, offset=offset))
            batches.append(decode_records(lines, [0.0] * n).columns)
            offset += n
        decoded.append(batches)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    monitor = Monitor(s)
    sizes = []
    for batches in decoded:
        while batches:
            monitor.process(batches.pop(0), now=0.0)
        gc.collect()
        sizes.append(tracemalloc.get_traced_memory()[0] - before)
    tracemalloc.stop()
    features = 20
    return sizes[0] / (models * features), sizes[1] / (models * features)


def rss_child(events: int, out: str) -> None:
    """Run ``events`` events through decode + detectors; write RSS samples."""
    from streamproc.decode import decode_batch as decode_records
    from streamproc.detect.monitor import Monitor

    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    pool = dumps_each(wide_events(events=100_000, models=10, seed=3))
    gc.collect()
    monitor = Monitor()
    samples = []
    done = 0
    batch = 10_000
    started = time.perf_counter()
    while done < events:
        start = done % len(pool)
        lines = pool[start : start + batch]
        decoded = decode_records(lines, [0.0] * len(lines))
        monitor.process(decoded.columns, now=0.0)
        done += len(lines)
        if done % 500_000 == 0:
            samples.append((done, rss()))
    elapsed = time.perf_counter() - started
    Path(out).write_text(json.dumps({"samples": samples, "events_per_s": done / elapsed}))


def rss_over(events: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp()) / "rss.json"
    subprocess.run(
        [sys.executable, __file__, "--rss-child", str(events), str(out)], check=True, cwd=ROOT
    )
    data = json.loads(out.read_text())
    samples = data["samples"]
    warm = [r for n, r in samples if n >= events // 10]  # after the first tenth
    return {
        "rss_first_bytes": warm[0],
        "rss_last_bytes": warm[-1],
        "rss_max_bytes": max(warm),
        "rss_growth_ratio": max(warm) / warm[0] - 1.0,
        "core_events_per_s": data["events_per_s"],
    }


def replay_rate(events: list[dict[str, Any]]) -> float:
    path = Path(tempfile.mkdtemp()) / "events.jsonl"
    with open(path, "wb") as f:
        for start in range(0, len(events), 10_000):
            f.write(b"\n".join(dumps_each(events[start : start + 10_000])) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "streamproc", "replay", "--input", str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    match = re.search(r"\(([\d,]+) events/s\)", done.stderr)
    path.unlink()
    return float(match.group(1).replace(",", "")) if match else 0.0


# -- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line on stdout")
    parser.add_argument("--events", type=int, default=400_000, help="events per topic")
    parser.add_argument("--naive-events", type=int, default=40_000)
    parser.add_argument("--rss-events", type=int, default=10_000_000)
    parser.add_argument("--latency-rate", type=float, default=50_000.0)
    parser.add_argument("--naive-faust-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument(
        "--labels",
        action="store_true",
        help="only a worker without and with one label record per event, side by side",
    )
    parser.add_argument(
        "--labels-per-record",
        type=int,
        default=1,
        metavar="N",
        help="with --labels: N labels to a record (a JSON array, as the SDK sends them)",
    )
    parser.add_argument(
        "--checkpoints",
        action="store_true",
        help="only the ceiling and a worker with checkpoints on and off, side by side (3 rounds)",
    )
    args = parser.parse_args(argv)
    if args.naive_faust_child:
        b, topic, n, out = args.naive_faust_child
        naive_faust_child(b, topic, int(n), out)
        return 0
    if args.rss_child:
        rss_child(int(args.rss_child[0]), args.rss_child[1])
        return 0

    if args.labels:
        return labels_run(args.events, args.json, args.labels_per_record)
    if args.checkpoints:
        return checkpoints_run(args.events, args.json)

    started = time.monotonic()
    broker, bootstrap = own_broker()
    r: dict[str, Any] = {"events": args.events, "cpus": os.cpu_count()}
    try:
        log(f"broker {bootstrap}; generating {args.events} events")
        events = wide_events(events=args.events, models=10)
        single, arrays = encode(events)
        r["bytes_per_event"] = round(sum(len(v) for _, v in single) / len(single), 1)
        suffix = uuid.uuid4().hex[:8]
        t_single, t_arrays = f"lt.single.{suffix}", f"lt.arrays.{suffix}"
        asyncio.run(create_topics(bootstrap, [t_single, t_arrays]))
        asyncio.run(produce(bootstrap, t_single, single))
        asyncio.run(produce(bootstrap, t_arrays, arrays))
        events_per_array = args.events / len(arrays)
        del single, arrays
        gc.collect()

        log("ceiling: getmany + orjson.loads")
        r["ceiling_events_per_s"] = asyncio.run(
            ceiling(bootstrap, t_single, args.events, arrays=False)
        )
        r["batched_ceiling_events_per_s"] = asyncio.run(
            ceiling(bootstrap, t_arrays, args.events, arrays=True)
        )
        log("naive Faust agent")
        r["naive_faust_events_per_s"] = naive_faust(bootstrap, t_single, args.naive_events)
        log("streamproc worker, single-event records")
        r["streamproc_events_per_s"], rss1 = run_workers(bootstrap, t_single, args.events)
        log("streamproc worker decoding in its own process (--decoders 0), single-event records")
        r["streamproc_inline_events_per_s"], _ = run_workers(
            bootstrap, t_single, args.events, decoders=0
        )
        log("streamproc worker, 100-event records")
        r["streamproc_batched_events_per_s"], rss2 = run_workers(
            bootstrap, t_arrays, args.events, per_record=events_per_array
        )
        # One worker and its decoder already keep both cores of a 2-CPU machine busy:
        # compare one and two single-process workers (--decoders 0) instead.
        log("two streamproc workers (--decoders 0) in one group, single-event records")
        r["streamproc_2workers_events_per_s"], rss3 = run_workers(
            bootstrap, t_single, args.events, count=2, decoders=0
        )
        log(f"alert latency at {args.latency_rate:,.0f} events/s")
        latencies, rss4 = asyncio.run(
            alert_latency(bootstrap, rate=args.latency_rate, stable_s=6.0, drift_s=4.0)
        )
        r["peak_rss_bytes"] = max(rss1, rss2, rss3, rss4)
        r["alerts_timed"] = len(latencies)
        if latencies:
            r["p50_alert_latency_s"] = latencies[int(0.5 * (len(latencies) - 1))]
            r["p99_alert_latency_s"] = latencies[int(round(0.99 * (len(latencies) - 1)))]
        else:
            r["p50_alert_latency_s"] = r["p99_alert_latency_s"] = None
    finally:
        if broker is not None:
            broker.stop()
    log("streamproc replay")
    r["replay_events_per_s"] = replay_rate(events)
    del events
    log("detection state per (model, feature), 100 models x 20 features")
    first, second = state_bytes_per_model_feature()
    r["state_bytes_per_model_feature"] = round(max(first, second))
    r["state_growth_ratio"] = second / first - 1.0
    log(f"RSS over {args.rss_events:,} events through decode + detectors")
    r.update(rss_over(args.rss_events))
    r["rss_events"] = args.rss_events
    r["elapsed_s"] = round(time.monotonic() - started, 1)
    r.update(ratios(r))
    table(r)
    if args.json:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    return 0


LABEL_DELAY_S = 5.0  # a label's time after its event's, in the labels run


def label_records(
    events: list[dict[str, Any]], per_record: int = 1
) -> tuple[list[tuple[bytes, bytes]], list[float]]:
    """A label for every event, ``LABEL_DELAY_S`` after it, ``per_record`` to a
    record (a JSON array when more than 1, as the SDK sends them), keyed by
    model like the events; and each record's time (its last label's)."""
    labels = [
        {
            "model_id": e["model_id"],
            "event_id": e["event_id"],
            "label": "yes" if i % 3 else "no",
            "timestamp": e["timestamp"] + LABEL_DELAY_S,
        }
        for i, e in enumerate(events)
    ]
    if per_record == 1:
        keys = [e["model_id"].encode() for e in events]
        return list(zip(keys, dumps_each(labels), strict=True)), [x["timestamp"] for x in labels]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for label in labels:
        by_model.setdefault(label["model_id"], []).append(label)
    groups = [
        (model, group[i : i + per_record])
        for model, group in by_model.items()
        for i in range(0, len(group), per_record)
    ]
    groups.sort(key=lambda item: item[1][-1]["timestamp"])  # sent as they fill up
    records = [(model.encode(), orjson.dumps(group)) for model, group in groups]
    return records, [group[-1]["timestamp"] for _, group in groups]


def kafka_stamps(times: list[float], start: float, first_ms: int) -> list[int]:
    """Kafka record times (ms) for event times ``times`` (s): the timeline
    of the events from ``start`` moved to begin at ``first_ms``."""
    return [first_ms + round((t - start) * 1000) for t in times]


def labels_run(n: int, as_json: bool, per_record: int = 1) -> int:
    """``--labels``: the worker without and with a label record for every event."""
    started = time.monotonic()
    broker, bootstrap = own_broker()
    r: dict[str, Any] = {"events": n, "cpus": os.cpu_count()}
    try:
        log(f"broker {bootstrap}; generating {n} events and their labels")
        events = wide_events(events=n, models=10)
        single, _ = encode(events)
        labels, label_times = label_records(events, per_record)
        # the records stamped as a model server sending them live would: the
        # events at their event time (the last hour), each label 5 s after its event
        start, first_ms = events[0]["timestamp"], int(time.time() * 1000) - 3_600_000
        event_stamps = kafka_stamps([e["timestamp"] for e in events], start, first_ms)
        label_stamps = kafka_stamps(label_times, start, first_ms)
        del events
        suffix = uuid.uuid4().hex[:8]
        t_single, t_labels = f"lt.single.{suffix}", f"lt.labels.{suffix}"
        t_bulk, t_no_labels = f"lt.bulk.{suffix}", f"lt.nolabels.{suffix}"
        asyncio.run(create_topics(bootstrap, [t_single, t_labels, t_bulk, t_no_labels]))
        asyncio.run(produce(bootstrap, t_single, single, event_stamps))
        asyncio.run(produce(bootstrap, t_labels, labels, label_stamps))
        asyncio.run(produce(bootstrap, t_bulk, labels))  # stamped now: an hour after the events
        label_count = len(labels)
        del single, labels
        gc.collect()
        log("streamproc worker, single-event records, an empty labels topic")
        r["without_labels_events_per_s"], _ = run_workers(
            bootstrap, t_single, n, labels=(t_no_labels, 0)
        )
        log(f"streamproc worker, single-event records, a label per event, {per_record} a record")
        r["with_labels_events_per_s"], _ = run_workers(
            bootstrap, t_single, n, labels=(t_labels, label_count)
        )
        log("the same labels, produced an hour after the events (a bulk upload)")
        r["bulk_labels_events_per_s"], _ = run_workers(
            bootstrap, t_single, n, labels=(t_bulk, label_count)
        )
        r["labels_per_record"] = per_record
    finally:
        if broker is not None:
            broker.stop()
    without = r["without_labels_events_per_s"]
    ratio = r["with_labels_events_per_s"] / without
    r["labels_ratio"] = ratio
    r["bulk_labels_ratio"] = r["bulk_labels_events_per_s"] / without
    r["targets"] = {"labels_100pct>=0.8x": ratio >= 0.8}
    r["elapsed_s"] = round(time.monotonic() - started, 1)
    print(f"\nstreamproc label join ({r['cpus']} CPUs, {n:,} events, 10 models)", file=sys.stderr)
    print(
        f"  worker, no label records {without:>14,.0f}/s\n"
        f"  worker, a label per event ({per_record} a record, 5 s after it) "
        f"{r['with_labels_events_per_s']:>10,.0f}/s  {ratio:.2f}x\n"
        f"  worker, the same labels an hour after the events "
        f"{r['bulk_labels_events_per_s']:>10,.0f}/s  {r['bulk_labels_ratio']:.2f}x\n"
        f"  targets: labels_100pct>=0.8x {'met' if ratio >= 0.8 else 'NOT met'}\n"
        f"  run time {r['elapsed_s']} s\n",
        file=sys.stderr,
    )
    if as_json:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    return 0


def checkpoints_run(n: int, as_json: bool, rounds: int = 3) -> int:
    """``--checkpoints``: the ceiling, then a worker with checkpoints on (the
    default, every 10 s and when caught up) and off, alternating ``rounds`` times."""
    started = time.monotonic()
    broker, bootstrap = own_broker()
    r: dict[str, Any] = {"events": n, "cpus": os.cpu_count(), "on": [], "off": [], "ceiling": []}
    try:
        log(f"broker {bootstrap}; generating {n} events")
        single, _ = encode(wide_events(events=n, models=10))
        t_single = f"lt.single.{uuid.uuid4().hex[:8]}"
        asyncio.run(create_topics(bootstrap, [t_single]))
        asyncio.run(produce(bootstrap, t_single, single))
        del single
        gc.collect()
        for round_ in range(rounds):
            log(f"round {round_ + 1}: ceiling, worker with checkpoints, worker without")
            r["ceiling"].append(asyncio.run(ceiling(bootstrap, t_single, n, arrays=False)))
            r["on"].append(run_workers(bootstrap, t_single, n)[0])
            off = {"STREAMPROC_CHECKPOINT_SECONDS": "0"}
            r["off"].append(run_workers(bootstrap, t_single, n, env=off)[0])
    finally:
        if broker is not None:
            broker.stop()
    on, off, top = (statistics.median(r[k]) for k in ("on", "off", "ceiling"))
    r.update(on_vs_ceiling=on / top, off_vs_ceiling=off / top, on_vs_off=on / off)
    r["targets"] = {"checkpoints_on_vs_ceiling>=0.8": on / top >= 0.8}
    r["elapsed_s"] = round(time.monotonic() - started, 1)
    rates = ", ".join
    print(
        f"\nstreamproc checkpoints ({r['cpus']} CPUs, {n:,} single-event records, 10 models, "
        f"medians of {rounds} alternating rounds)\n"
        f"  ceiling                 {top:>10,.0f}/s  ({rates(f'{x:,.0f}' for x in r['ceiling'])})\n"
        f"  worker, checkpoints on  {on:>10,.0f}/s  {on / top:.2f}x ceiling  "
        f"({rates(f'{x:,.0f}' for x in r['on'])})\n"
        f"  worker, checkpoints off {off:>10,.0f}/s  {off / top:.2f}x ceiling  "
        f"({rates(f'{x:,.0f}' for x in r['off'])})\n"
        f"  on / off {on / off:.2f}; target on >= 0.8x ceiling "
        f"{'met' if on / top >= 0.8 else 'NOT met'}; run time {r['elapsed_s']} s\n",
        file=sys.stderr,
    )
    if as_json:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))
    return 0


def ratios(r: dict[str, Any]) -> dict[str, Any]:
    single = r["streamproc_events_per_s"] / r["ceiling_events_per_s"]
    batched = r["streamproc_batched_events_per_s"] / r["batched_ceiling_events_per_s"]
    naive = r["streamproc_events_per_s"] / r["naive_faust_events_per_s"]
    p99 = r.get("p99_alert_latency_s")
    targets = {
        "single_vs_ceiling>=0.6": single >= 0.6,
        "single_vs_naive_faust>=10": naive >= 10,
        "batched_vs_batched_ceiling>=0.6": batched >= 0.6,
        "replay>=200k/s": r["replay_events_per_s"] >= 200_000,
        "p99_alert_latency<=2s": p99 is not None and p99 <= 2.0,
        "state_per_model_feature<=32KiB": r["state_bytes_per_model_feature"] <= 32 * 1024,
        "rss_flat_within_5%": r["rss_growth_ratio"] <= 0.05,
    }
    return {
        "single_vs_ceiling": single,
        "batched_vs_batched_ceiling": batched,
        "single_vs_naive_faust": naive,
        "two_workers_vs_one": r["streamproc_2workers_events_per_s"]
        / r["streamproc_inline_events_per_s"],
        "targets": targets,
    }


def table(r: dict[str, Any]) -> None:
    def row(name: str, value: str, note: str = "") -> None:
        print(f"  {name:<46} {value:>14}  {note}", file=sys.stderr)

    print(
        f"\nstreamproc throughput ({r['cpus']} CPUs, {r['events']:,} events per topic, "
        f"{r['bytes_per_event']} bytes/event, 10 models)",
        file=sys.stderr,
    )
    row("ceiling: getmany + orjson.loads, 1 event/record", f"{r['ceiling_events_per_s']:,.0f}/s")
    row(
        "ceiling: getmany + orjson.loads, 100 events/record",
        f"{r['batched_ceiling_events_per_s']:,.0f}/s",
    )
    row("naive Faust agent, 1 event/record", f"{r['naive_faust_events_per_s']:,.0f}/s")
    row(
        "streamproc worker, 1 event/record",
        f"{r['streamproc_events_per_s']:,.0f}/s",
        f"{r['single_vs_ceiling']:.2f}x ceiling, {r['single_vs_naive_faust']:.1f}x naive Faust",
    )
    row(
        "  same, decoding in the worker (--decoders 0)",
        f"{r['streamproc_inline_events_per_s']:,.0f}/s",
        f"{r['streamproc_inline_events_per_s'] / r['ceiling_events_per_s']:.2f}x ceiling",
    )
    row(
        "streamproc worker, 100 events/record",
        f"{r['streamproc_batched_events_per_s']:,.0f}/s",
        f"{r['batched_vs_batched_ceiling']:.2f}x batched ceiling",
    )
    row(
        "2 workers (--decoders 0), 1 event/record",
        f"{r['streamproc_2workers_events_per_s']:,.0f}/s",
        f"{r['two_workers_vs_one']:.2f}x one worker with --decoders 0",
    )
    row("streamproc replay (file, no Kafka)", f"{r['replay_events_per_s']:,.0f}/s")
    row(
        f"decode + detectors (no Kafka), {r['rss_events']:,} events",
        f"{r['core_events_per_s']:,.0f}/s",
    )
    p50, p99 = r.get("p50_alert_latency_s"), r.get("p99_alert_latency_s")
    row(
        "alert latency p50 / p99 at 50,000 events/s",
        "n/a" if p50 is None else f"{p50:.2f} / {p99:.2f} s",
        f"{r['alerts_timed']} alerts",
    )
    row(
        "detection state per (model, feature)",
        f"{r['state_bytes_per_model_feature']:,} B",
        f"100 models x 20 features; {r['state_growth_ratio']:+.1%} after 2x the windows",
    )
    row(
        f"RSS over {r['rss_events']:,} events (after warm-up)",
        f"{r['rss_first_bytes'] / 2**20:,.0f}->{r['rss_last_bytes'] / 2**20:,.0f} MiB",
        f"max growth {r['rss_growth_ratio']:+.1%}",
    )
    row("worker peak RSS", f"{r['peak_rss_bytes'] / 2**20:,.0f} MiB")
    print(
        "  targets: "
        + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in r["targets"].items()),
        file=sys.stderr,
    )
    print(f"  run time {r['elapsed_s']} s\n", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
