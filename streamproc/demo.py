"""``streamproc demo``: broker, worker and drifting traffic on one machine.

Starts the embedded broker, a worker process, a producer of synthetic
traffic (:mod:`streamproc.simulate`) that drifts after a warm-up in three
features, and of its labels (on the labels topic, a few seconds later), and
prints alerts as they arrive, then a summary. Everything it
started is stopped on exit, on ``--duration`` or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.children import preexec_die_with_parent
from streamproc.config import Topics
from streamproc.events.alerts import Alert, format_alert
from streamproc.kafka_io import follow_alerts, produce
from streamproc.simulate import Scenario, generate

SECURITY_ENV = ("STREAMPROC_SECURITY_PROTOCOL", "STREAMPROC_SSL_", "STREAMPROC_SASL_")


def start_worker(bootstrap: str, metrics_port: int, log_path: str, **env: str) -> subprocess.Popen:
    """A ``streamproc worker`` process (its output goes to ``log_path``) for the
    demo's own broker, which speaks PLAINTEXT: the environment's TLS/SASL
    settings (``STREAMPROC_SECURITY_PROTOCOL``, ``STREAMPROC_SSL_*``,
    ``STREAMPROC_SASL_*``) are not passed on. The demo's producers and alert
    follower connect with the default, PLAINTEXT, too."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(SECURITY_ENV)}
    environment = {**inherited, "STREAMPROC_BOOTSTRAP": bootstrap, **env}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamproc", "worker", "--metrics-port", str(metrics_port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec_die_with_parent,  # the demo's worker dies with the demo
        )


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(port: int, timeout: float, alive: Callable[[], bool]) -> bool:
    """Poll ``/ready`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def summarize(alerts: list[Alert], scenario: Scenario) -> tuple[str, bool]:
    """A summary, and whether the drifted features (only they) fired."""
    fired = {
        a.feature for a in alerts if a.status == "firing" and a.signal == "feature" and a.feature
    }
    expected = scenario.drifted_features
    lines = ["", "Summary", "-------"]
    lines.append(
        f"alerts received: {len(alerts)} "
        f"({sum(a.status == 'firing' for a in alerts)} firing, "
        f"{sum(a.status == 'resolved' for a in alerts)} resolved)"
    )
    for name in sorted(expected | fired):
        detectors = sorted(
            {a.detector for a in alerts if a.feature == name and a.status == "firing"}
        )
        state = "drifted" if name in expected else "stable "
        verdict = ("caught by " + ", ".join(detectors)) if detectors else "NOT caught"
        if name not in expected:
            verdict = "FALSE ALARM by " + ", ".join(detectors)
        lines.append(f"  {name:<12} {state}  {verdict}")
    from streamproc.simulate import FEATURES

    quiet = sorted(set(FEATURES) - expected - fired)
    lines.append(f"  stable features with no alert: {', '.join(quiet)}")
    others = sorted(
        {
            f"{a.signal}/{a.detector}"
            for a in alerts
            if a.status == "firing" and a.signal != "feature"
        }
    )
    if others:
        lines.append(f"  other signals: {', '.join(others)}")
    ok = expected <= fired and fired <= expected
    lines.append(
        "result: "
        + (
            "every drifted feature caught, no false alarm"
            if ok
            else "MISMATCH between drifted and alerted features"
        )
    )
    return "\n".join(lines), ok


def run_demo(*, duration: float, rate: float, out=sys.stdout) -> int:
    """Run the whole demo; return the process exit code."""
    workdir = tempfile.mkdtemp(prefix="streamproc-demo-")
    broker = EmbeddedBroker(log_path=os.path.join(workdir, "broker.log"))
    worker: subprocess.Popen | None = None
    alerts: list[Alert] = []
    traffic_seconds = max(20.0, duration - 25.0)
    drift_after = traffic_seconds * 0.35
    scenario = Scenario.demo(drift_at=int(rate * drift_after))
    print(f"streamproc demo: logs in {workdir}", file=out, flush=True)
    try:
        broker.start()
        print(f"  broker   {broker.bootstrap} (embedded Tansu)", file=out, flush=True)
        port = free_port()
        worker = start_worker(
            broker.bootstrap,
            port,
            os.path.join(workdir, "worker.log"),
            STREAMPROC_LOG_LEVEL="WARNING",
        )
        print(
            f"  worker   pid {worker.pid}, metrics http://127.0.0.1:{port}/metrics",
            file=out,
            flush=True,
        )
        if not wait_ready(port, 60.0, lambda: worker is not None and worker.poll() is None):
            print("worker did not become ready; see worker.log", file=out)
            return 1
        print(
            f"  traffic  {rate:.0f} events/s for {traffic_seconds:.0f} s, model "
            f"'{scenario.model_id}'; drift after {drift_after:.0f} s in: "
            f"{', '.join(sorted(scenario.drifted_features))}",
            file=out,
            flush=True,
        )
        print("\nAlerts as they arrive:", file=out, flush=True)
        asyncio.run(
            _traffic_and_alerts(broker.bootstrap, scenario, rate, traffic_seconds, alerts, out)
        )
        text, ok = summarize(alerts, scenario)
        print(text, file=out, flush=True)
        print(labels_line(port), file=out, flush=True)
        return 0 if ok else 2
    except KeyboardInterrupt:
        print("\ninterrupted; stopping", file=out)
        return 130
    finally:
        if worker is not None:
            stop_process(worker)
        broker.stop()


async def _traffic_and_alerts(
    bootstrap: str, scenario: Scenario, rate: float, seconds: float, alerts: list[Alert], out
) -> None:
    """Send ``rate`` events a second for ``seconds`` while printing the alerts."""
    topics = Topics()
    stop = asyncio.Event()

    def show(alert: Alert) -> None:
        alerts.append(alert)
        print(format_alert(alert), file=out, flush=True)

    def unreadable(offset: int) -> None:
        print(f"(unreadable alert at offset {offset})", file=out, flush=True)

    follower = asyncio.create_task(
        follow_alerts(
            bootstrap, topics.alerts, show, unreadable, done=lambda _: stop.is_set(), poll_ms=300
        )
    )

    def traffic() -> Iterator[dict[str, Any]]:  # the same events each time it is called
        batches = generate(
            scenario,
            events=int(rate * seconds),
            batch=max(1, int(rate * 0.1)),
            start_time=time.time(),
            rate=rate,
        )
        return (e for batch in batches for e in batch)

    try:
        await asyncio.gather(
            produce(bootstrap, topics.events, traffic(), rate=rate, restamp=True),
            _delayed_labels(bootstrap, topics.labels, traffic(), rate),
        )
        await asyncio.sleep(3.0)  # let the last windows close and alerts arrive
    finally:
        stop.set()
        await follower


LABEL_DELAY_SECONDS = 5.0


def labels_line(port: int) -> str:
    """How many labels the worker joined, from its ``/metrics``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return "labels: (worker metrics unavailable)"
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("streamproc_labels_total{")
    )
    pending = next(
        (line.rsplit(" ", 1)[1] for line in text.splitlines()
         if line.startswith("streamproc_labels_pending ")),
        "0",
    )  # fmt: skip
    return (
        f"labels: {total:.0f} joined to their predictions "
        f"({LABEL_DELAY_SECONDS:.0f} s after them), {float(pending):.0f} predictions pending"
    )


async def _delayed_labels(
    bootstrap: str, topic: str, events: Iterable[dict[str, Any]], rate: float
) -> None:
    """The ground truth of the demo's events, ``LABEL_DELAY_SECONDS`` after them."""
    await asyncio.sleep(LABEL_DELAY_SECONDS)
    await produce(bootstrap, topic, labels_of(events), rate=rate, restamp=True)


def labels_of(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Label events for the demo's events: the synthetic ground truth of
    :func:`streamproc.simulate.labels_for` (its concept drift included)."""
    from streamproc.simulate import labels_for

    yield from labels_for(list(events))
