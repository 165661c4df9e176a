"""``streamproc demo``: broker, worker and drifting traffic on one machine.

Starts the embedded broker, a worker process, and two model servers of
synthetic traffic (:mod:`streamproc.simulate`), instrumented with the
producer SDK (:func:`instrumented_model`:
:class:`streamproc.client.AsyncReporter` sends their predictions, and their
labels a few seconds later): after a warm-up, the first model's inputs drift
in three features; the second model's inputs stay as they were but the
world changes under it (a concept drift: 30 % of its truths flip), which
only its realized performance can show. Prints alerts as they arrive, then a
summary. Everything it started is stopped on exit, on ``--duration`` or Ctrl-C.
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
from collections import deque
from collections.abc import Callable
from typing import Any

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.children import preexec_die_with_parent
from streamproc.client import AsyncReporter
from streamproc.config import Topics
from streamproc.events.alerts import Alert, format_alert
from streamproc.kafka_io import follow_alerts
from streamproc.simulate import Scenario, generate, labels_for

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


CONCEPT_FLIP = 0.3  # share of the concept-drift model's truths flipped after the drift


def summarize(
    alerts: list[Alert], scenario: Scenario, concept: Scenario | None = None
) -> tuple[str, bool]:
    """A summary, and whether the drifted features (only they) fired, and the
    ``concept`` model (if any) got a performance alert and no feature alert."""
    ours = [a for a in alerts if a.model_id == scenario.model_id]
    fired = {
        a.feature for a in ours if a.status == "firing" and a.signal == "feature" and a.feature
    }
    expected = scenario.drifted_features
    lines = ["", "Summary", "-------"]
    lines.append(
        f"alerts received: {len(alerts)} "
        f"({sum(a.status == 'firing' for a in alerts)} firing, "
        f"{sum(a.status == 'resolved' for a in alerts)} resolved)"
    )
    lines.append(f"model '{scenario.model_id}' (its inputs drift):")
    for name in sorted(expected | fired):
        detectors = sorted({a.detector for a in ours if a.feature == name and a.status == "firing"})
        state = "drifted" if name in expected else "stable "
        verdict = ("caught by " + ", ".join(detectors)) if detectors else "NOT caught"
        if name not in expected:
            verdict = "FALSE ALARM by " + ", ".join(detectors)
        lines.append(f"  {name:<12} {state}  {verdict}")
    from streamproc.simulate import FEATURES

    quiet = sorted(set(FEATURES) - expected - fired)
    lines.append(f"  stable features with no alert: {', '.join(quiet)}")
    others = sorted(
        {f"{a.signal}/{a.detector}" for a in ours if a.status == "firing" and a.signal != "feature"}
    )
    if others:
        lines.append(f"  other signals: {', '.join(others)}")
    ok = expected <= fired and fired <= expected
    if concept is not None:
        theirs = [a for a in alerts if a.model_id == concept.model_id and a.status == "firing"]
        caught = sorted({a.detector for a in theirs if a.signal == "performance"})
        false = sorted({f"{a.feature}/{a.detector}" for a in theirs if a.signal == "feature"})
        lines.append(
            f"model '{concept.model_id}' (inputs unchanged, {CONCEPT_FLIP:.0%} of its truths flip):"
        )
        lines.append(
            "  performance  "
            + (f"caught by {', '.join(caught)}" if caught else "NOT caught")
            + (f"; FALSE ALARM on {', '.join(false)}" if false else "; no feature alert")
        )
        ok = ok and bool(caught) and not false
    lines.append(
        "result: "
        + (
            "every drifted feature and the concept drift caught, no false alarm"
            if ok
            else "MISMATCH between what drifted and what alerted"
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
    concept = Scenario(model_id="credit-scorer", drift_at=None)  # its inputs never drift
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
            f"{', '.join(sorted(scenario.drifted_features))}; model '{concept.model_id}' "
            f"{rate / 2:.0f} events/s, a concept drift after {drift_after:.0f} s",
            file=out,
            flush=True,
        )
        print("\nAlerts as they arrive:", file=out, flush=True)
        asyncio.run(
            _traffic_and_alerts(
                broker.bootstrap,
                (scenario, concept),
                rate,
                traffic_seconds,
                drift_after,
                alerts,
                out,
            )
        )
        text, ok = summarize(alerts, scenario, concept)
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
    bootstrap: str,
    models: tuple[Scenario, Scenario],
    rate: float,
    seconds: float,
    drift_after: float,
    alerts: list[Alert],
    out,
) -> None:
    """Send ``rate`` events a second of the first model and half as many of the
    second (a concept drift after ``drift_after`` s) for ``seconds``, while
    printing the alerts."""
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
    try:
        drifting, concept = models
        concept_at = int(rate / 2 * drift_after)
        sent = await asyncio.gather(
            instrumented_model(bootstrap, topics, drifting, rate, seconds),
            instrumented_model(bootstrap, topics, concept, rate / 2, seconds, concept_at),
        )
        print(file=out)
        for model, stats in zip(models, sent, strict=True):
            print(
                f"  sent     {stats['sent']} events and {stats['labels_sent']} labels of "
                f"'{model.model_id}' with streamproc.client ({stats['dropped']} dropped, "
                f"{stats['invalid']} invalid)",
                file=out,
                flush=True,
            )
        await asyncio.sleep(3.0)  # let the last windows close and alerts arrive
    finally:
        stop.set()
        await follower


LABEL_DELAY_SECONDS = 5.0


async def instrumented_model(
    bootstrap: str,
    topics: Topics,
    scenario: Scenario,
    rate: float,
    seconds: float,
    concept_drift_at: int | None = None,
) -> dict[str, Any]:
    """The demo's model server, instrumented as a real one would be: each
    prediction goes to :meth:`AsyncReporter.record`, which returns its event id;
    the ground truth of each prediction comes ``LABEL_DELAY_SECONDS`` later and
    goes to :meth:`AsyncReporter.label` with that id. ``rate`` predictions a
    second (the synthetic traffic of :mod:`streamproc.simulate`) for
    ``seconds``; from request ``concept_drift_at`` on, a share ``CONCEPT_FLIP``
    of the truths flip. Returns the reporter's counters."""
    reporter = AsyncReporter(
        bootstrap,
        model_id=scenario.model_id,
        model_version=scenario.model_version,
        events_topic=topics.events,
        labels_topic=topics.labels,
        flush_at_exit=False,
        security={},  # the demo's own broker speaks plaintext, whatever STREAMPROC_* says
    )
    truths: deque[tuple[float, list[tuple[str, Any]]]] = deque()  # (when due, [(id, label)])
    requests = generate(
        scenario,
        events=int(rate * seconds),
        batch=max(1, int(rate * 0.1)),
        start_time=time.time(),
        rate=rate,
    )
    started = time.monotonic()
    served = 0
    try:
        for number, batch in enumerate(requests):
            event_ids = [
                reporter.record(
                    request["features"],
                    prediction=request["prediction"],
                    latency_ms=request["latency_ms"],
                    error=request["error"],
                )
                for request in batch
            ]
            truth = labels_for(  # the synthetic truth, in request order
                batch, seed=number, concept_drift_at=concept_drift_at, flip=CONCEPT_FLIP
            )
            due = time.monotonic() + LABEL_DELAY_SECONDS
            truths.append((due, [(i, t["label"]) for i, t in zip(event_ids, truth, strict=True)]))
            served += len(batch)
            _send_due_labels(reporter, truths)
            ahead = served / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        while truths:
            await asyncio.sleep(max(0.0, truths[0][0] - time.monotonic()))
            _send_due_labels(reporter, truths)
    finally:
        await reporter.close()
    return reporter.stats()


def _send_due_labels(
    reporter: AsyncReporter, truths: deque[tuple[float, list[tuple[str, Any]]]]
) -> None:
    now = time.monotonic()
    while truths and truths[0][0] <= now:
        for event_id, label in truths.popleft()[1]:
            reporter.label(event_id, label)


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
