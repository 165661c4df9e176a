"""Kafka-facing mistakes, as a user meets them: an unreachable bootstrap, a busy
metrics port; and the quiet worker (one start-up line, no Faust banner or
tables, no Faust consumer group or leader topic, a warning for overrides of
models it never sees); alerts filters and an empty alert topic."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from streamproc.broker import free_port
from streamproc.events.alerts import Alert
from tests.conftest import produce, produce_events, unique_topics, wait_for, worker_env

pytestmark = pytest.mark.integration


def run(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return result, time.monotonic() - started


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def closed() -> str:
    """A bootstrap address with nothing listening."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    path = tmp_path / "ref.jsonl"
    path.write_text(
        "".join(
            orjson.dumps({"model_id": "m", "features": {"x": float(i % 17)}}).decode() + "\n"
            for i in range(200)
        )
    )
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["produce", "--simulate", "--events", "10"],
        ["alerts"],
        ["alerts", "--follow"],
        ["baseline", "fit", "--model", "m", "--input", "REF", "--publish"],
    ],
)
def test_one_shot_commands_give_up_on_an_unreachable_kafka_in_one_line(closed, reference, args):
    args = [str(reference) if a == "REF" else a for a in args]
    result, took = run(*args, "--bootstrap", closed)
    one_line_error(result, f"cannot reach Kafka at {closed}", "--bootstrap")
    assert took < 10.0


def test_a_worker_waits_for_kafka_saying_so_once_per_retry(closed, tmp_path):
    log = tmp_path / "worker.log"
    env = worker_env(closed, unique_topics(), "errors")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamproc", "worker", "--metrics-port", str(free_port())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        assert wait_for(lambda: log.read_text().count("waiting for Kafka") >= 3, 30), (
            log.read_text()
        )
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "Traceback" not in text and "Unclosed" not in text
    waiting = [line for line in text.splitlines() if "waiting for Kafka" in line]
    assert all(f"waiting for Kafka at {closed}" in line for line in waiting)
    # one line per 5 s retry, and nothing else about it (no client errors)
    assert "Unable connect" not in text and "KafkaConnectionError" not in text
    assert len(text.splitlines()) <= len(waiting) + 5, text


def test_a_busy_metrics_port_is_one_line_at_once(bootstrap):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result, took = run("worker", "--bootstrap", bootstrap, "--metrics-port", str(port))
    one_line_error(result, f"metrics port 0.0.0.0:{port} is already in use", "--metrics-port")
    assert took < 10.0


def test_the_worker_starts_quietly_without_faust_kafka_clients(bootstrap, start_worker, tmp_path):
    topics = unique_topics()
    group = f"quiet-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "c.toml"
    config.write_text('[models."fraud-detectr"]\npsi_min = 0.3\n[models."m"]\npsi_min = 0.3\n')
    worker = start_worker(topics, group=group, env={"STREAMPROC_CONFIG": str(config)})
    produce_events(
        bootstrap,
        topics.events,
        [{"model_id": "m", "features": {"x": float(i % 13)}} for i in range(2600)],
    )
    assert wait_for(lambda: "overrides for model(s)" in worker.log(), 60), worker.log()
    text = worker.log()
    lines = text.splitlines()
    start = [line for line in lines if "streamproc worker: metrics http://" in line]
    assert len(start) == 1 and f"group {group}" in start[0] and topics.events in start[0]
    assert not any(line.startswith(("+", "|")) for line in lines), text  # no ASCII tables
    assert "Starting..." not in text.replace("IngestService]: Starting...", "")
    overrides = [line for line in lines if "overrides for model(s)" in line]
    assert len(overrides) == 1 and "fraud-detectr" in overrides[0]
    assert "m," not in overrides[0] and not overrides[0].endswith(" m")
    assert len(lines) < 25, text

    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def topics_and_groups() -> tuple[list[str], list]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return list(await admin.list_topics()), list(await admin.list_consumer_groups())
        finally:
            await admin.close()

    names, groups = asyncio.run(topics_and_groups())
    assert not any(f"streamproc-{group}" in name for name in names)
    assert not any(g[0] == f"streamproc-{group}" for g in groups)


def alert(model: str, status: str, detected_at: float) -> bytes:
    return Alert(
        alert_id=uuid.uuid4().hex[:24],
        status=status,
        severity="warning",
        model_id=model,
        model_version="v1",
        signal="feature",
        feature="x",
        detector="psi",
        value=0.5,
        threshold=0.1,
        window_start=detected_at - 1,
        window_end=detected_at,
        window_events=500,
        detected_at=detected_at,
        message=f"{model} {status}",
    ).to_json()


def test_alerts_filters_and_an_empty_topic(bootstrap):
    topic = unique_topics().alerts
    result, _ = run("alerts", "--bootstrap", bootstrap, "--topic", topic, "--idle", "1")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.strip() == f"no alerts on {topic} at {bootstrap}"
    now = time.time()
    produce(
        bootstrap,
        topic,
        [
            (b"a", alert("a", "firing", now - 7200)),
            (b"a", alert("a", "resolved", now - 60)),
            (b"b", alert("b", "firing", now - 30)),
        ],
    )

    def shown(*flags: str) -> list[str]:
        out, _ = run("alerts", "--bootstrap", bootstrap, "--topic", topic, "--json", *flags)
        assert out.returncode == 0, out.stderr
        return [orjson.loads(line)["message"] for line in out.stdout.splitlines()]

    assert shown() == ["a firing", "a resolved", "b firing"]
    assert shown("--model", "a") == ["a firing", "a resolved"]
    assert shown("--status", "firing") == ["a firing", "b firing"]
    assert shown("--since", "10m") == ["a resolved", "b firing"]
    assert shown("--since", "10m", "--model", "a", "--status", "resolved") == ["a resolved"]
    none, _ = run("alerts", "--bootstrap", bootstrap, "--topic", topic, "--model", "zzz")
    assert "3 alerts on" in none.stderr and "none matching" in none.stderr
