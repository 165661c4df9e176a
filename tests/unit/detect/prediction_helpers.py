"""Windows of events with chosen predictions, judged by one detector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.settings import Settings
from streamproc.detect.window import WindowCounts
from streamproc.events.columns import EventColumns


def events(n: int, prediction: Callable[[int], Any], seed: int = 0) -> EventColumns:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    rows = [
        {"model_id": "m", "features": {"x": float(x[i])}, "prediction": prediction(i)}
        for i in range(n)
    ]
    for i, row in enumerate(rows):
        if row["prediction"] is ...:
            del row["prediction"]  # no prediction field at all
        row["timestamp"] = i / 1000
    return EventColumns.from_events("m", rows, default_timestamp=0.0)


def closed(
    baseline: Baseline, window: EventColumns, chunk: int = 500, settings: Settings | None = None
) -> ClosedWindow:
    counts = WindowCounts(baseline, settings or Settings())
    for start in range(0, window.size, chunk):
        counts.add(window.slice(start, min(window.size, start + chunk)))
    return counts.close(lambda key: False)


def fit(n: int, prediction: Callable[[int], Any], seed: int = 1) -> Baseline:
    return Baseline.fit(events(n, prediction, seed))


def score(i: int) -> float:
    return float((i * 7919 % 1000) / 1000)


def both(i: int) -> dict[str, Any]:
    s = score(i)
    return {"score": s, "label": "fraud" if s > 0.8 else "ok"}
