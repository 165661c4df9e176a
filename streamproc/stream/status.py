"""What a worker monitors: the ``/status`` document, and its table for ``streamproc status``.

:class:`Activity` counts each model's judged events and their recent rate;
:func:`worker_status` builds the JSON document a worker serves at ``/status``
(its shape is in docs/contract.md); :func:`format_status` prints one as a table.

>>> from streamproc.detect.monitor import Monitor
>>> from streamproc.events.columns import columns_by_model
>>> from streamproc.simulate import Scenario, generate
>>> monitor, activity = Monitor(), Activity(clock=lambda: 100.0)
>>> columns = columns_by_model(next(generate(Scenario(), events=300)), default_timestamp=0.0)
>>> _ = monitor.process(columns, now=0.0)
>>> activity.add(columns)
>>> doc = worker_status(monitor, activity, worker_id="w1", host="h", group="g",
...                     partitions=[0, 2], now=100.0)
>>> model = doc["models"][0]
>>> model["model_id"], model["events"], model["baseline"]["source"], model["windows_judged"]
('fraud-detector', 300, 'learning', 0)
>>> print(format_status("http://h:9108", doc).splitlines()[0])
worker w1 on h, group g, partitions [0, 2]: 1 model(s), 300 events (http://h:9108)
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Container, Iterable
from typing import TYPE_CHECKING, Any

from streamproc.detect.monitor import ModelMonitor, Monitor

if TYPE_CHECKING:
    from streamproc.stream.ingest import IngestService

RATE_SECONDS = 30.0  # events/s is measured over about the last this many seconds


class Activity:
    """Judged events per model and their recent rate. Bounded: per model a
    count and at most ``RATE_SECONDS`` samples (one a second); models forgotten
    by the worker (partitions moved) are dropped with :meth:`forget`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.events: dict[str, int] = {}
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def add(self, columns: Iterable[Any], tracked: Container[str] | None = None) -> None:
        """Count a judged batch (its columns, one per model); only the models
        in ``tracked`` if given (the monitor's: not those past its cap)."""
        now = self.clock()
        for c in columns:
            if not c.size or (tracked is not None and c.model_id not in tracked):
                continue
            total = self.events[c.model_id] = self.events.get(c.model_id, 0) + c.size
            samples = self._samples.setdefault(c.model_id, deque(maxlen=int(RATE_SECONDS) + 1))
            if samples and now - samples[-1][0] < 1.0:
                samples[-1] = (samples[-1][0], total)
            else:
                if not samples:
                    samples.append((now, total - c.size))  # the rate starts before this batch
                samples.append((now, total))

    def rate(self, model_id: str) -> float:
        """Events per second over about the last ``RATE_SECONDS`` (or since the
        model's first event, if later); 0 once quiet that long.

        >>> clock = iter([0.0, 10.0, 10.0]).__next__
        >>> activity = Activity(clock=clock)
        >>> class C: model_id, size = "m", 50
        >>> activity.add([C()]); activity.add([C()])
        >>> activity.rate("m")
        10.0
        """
        samples = self._samples.get(model_id)
        if not samples:
            return 0.0
        now = self.clock()
        cutoff = now - RATE_SECONDS
        base = samples[0]  # the count just before the window (or when counting began)
        for sample in samples:
            if sample[0] > cutoff:
                break
            base = sample
        return (samples[-1][1] - base[1]) / max(now - max(base[0], cutoff), 1.0)

    def forget(self, model_ids: Iterable[str]) -> None:
        for model_id in model_ids:
            self.events.pop(model_id, None)
            self._samples.pop(model_id, None)


def baseline_status(monitor: ModelMonitor, now: float) -> dict[str, Any]:
    """Where a model's baseline came from and how old it is.

    ``source``: ``published`` (read from the baselines topic, e.g. ``baseline
    fit --publish``), ``learned`` (learned by a worker from the model's first
    events; ``sent`` says whether this worker published it yet), ``learning``
    (still buffering its first ``baseline_events`` events: nothing judged yet),
    ``none`` (no baseline and no events).
    """
    baseline = monitor.baseline
    if baseline is None:
        learned = monitor._learned  # noqa: SLF001 - the count of buffered events
        return {
            "source": "learning" if learned else "none",
            "age_seconds": None,
            "events": learned,
            "of": monitor.settings.baseline_events,
        }
    age = now - baseline.created_at if baseline.created_at > 0 else None
    out: dict[str, Any] = {
        "source": "learned" if baseline.source == "learned" else "published",
        "age_seconds": round(age, 1) if age is not None else None,
        "events": baseline.events,
    }
    if baseline.source == "learned":
        out["sent"] = monitor.published
    return out


def worker_status(
    monitor: Monitor,
    activity: Activity,
    *,
    worker_id: str,
    host: str,
    group: str,
    partitions: list[int],
    now: float,
    ready: bool | None = None,
) -> dict[str, Any]:
    """The ``/status`` document of a worker (see docs/contract.md)."""
    models = []
    for model_id in sorted(monitor.models):
        m = monitor.models[model_id]
        since = m.policy.open_since
        models.append(
            {
                "model_id": model_id,
                "model_version": m.model_version,
                "events": activity.events.get(model_id, 0),
                "events_per_second": round(activity.rate(model_id), 2),
                "baseline": baseline_status(m, now),
                "windows_judged": m.windows_judged,
                "open_episodes": [
                    {
                        "signal": signal,
                        "feature": feature,
                        "detector": detector,
                        "severity": severity,
                        "since": since.get((signal, feature, detector)),
                    }
                    for (signal, feature, detector), severity in sorted(
                        m.policy.firing.items(), key=lambda kv: str(kv[0])
                    )
                ],
            }
        )
    return {
        "schema": "status.v1",
        "worker": {"id": worker_id, "host": host, "group": group},
        "ready": ready,
        "partitions": sorted(partitions),
        "models": models,
        "untracked_events": monitor.untracked_events,
        "generated_at": now,
    }


def service_status(ingest: IngestService) -> dict[str, Any]:
    """The ``/status`` document of a running worker's ingest service."""
    consumer = ingest.consumer
    assigned = consumer.assignment() if consumer is not None else set()
    events = ingest.config.topics.events
    host = socket.gethostname()
    return worker_status(
        ingest.monitor,
        ingest.activity,
        worker_id=f"{host}:{os.getpid()}",
        host=host,
        group=ingest.config.group_id,
        partitions=[tp.partition for tp in assigned if tp.topic == events],
        now=time.time(),
        ready=not ingest.readiness.why(),
    )


def _age(seconds: float | None) -> str:
    """
    >>> [_age(s) for s in (None, 5, 125, 7300, 200000)]
    ['-', '5s', '2m05s', '2h01m', '2d07h']
    """
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


def format_status(url: str, doc: dict[str, Any]) -> str:
    """A worker's ``/status`` as a table, one row per model."""
    w = doc.get("worker", {})
    models = doc.get("models", [])
    total = sum(m.get("events", 0) for m in models)
    lines = [
        f"worker {w.get('id')} on {w.get('host')}, group {w.get('group')}, "
        f"partitions {doc.get('partitions')}: {len(models)} model(s), {total:,} events ({url})"
    ]
    if doc.get("ready") is False:
        lines[0] += " [not ready]"
    if not models:
        return "\n".join([*lines, "  (no model yet)"])
    rows = [("MODEL", "EVENTS", "EVENTS/S", "BASELINE", "AGE", "WINDOWS", "OPEN EPISODES")]
    for m in models:
        b = m.get("baseline", {})
        source = b.get("source", "?")
        if source == "learning":
            source = f"learning {b.get('events', 0)}/{b.get('of', '?')}"
        elif source == "learned" and b.get("sent") is False:
            source = "learned (unsent)"
        episodes = ", ".join(
            f"{e['detector']}:{e['feature'] or e['signal']} since {_clock(e['since'])}"
            if e.get("since")
            else f"{e['detector']}:{e['feature'] or e['signal']}"
            for e in m.get("open_episodes", [])
        )
        rows.append(
            (
                str(m.get("model_id")),
                f"{m.get('events', 0):,}",
                f"{m.get('events_per_second', 0.0):,.1f}",
                source,
                _age(b.get("age_seconds")),
                str(m.get("windows_judged", 0)),
                episodes or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [
            c.rjust(widths[i]) if i in (1, 2, 5) else c.ljust(widths[i])
            for i, c in enumerate(r[:-1])
        ]
        lines.append("  " + "  ".join(cells) + "  " + r[-1])
    return "\n".join(lines)
