"""Seeded streams with known change points: the detectors fire exactly where they did.

Like river's drift tests, these pin detection positions, so a change to a
default or a detector that moves them is a visible, reviewed decision. Event
``i`` has timestamp ``i / 1000`` (1000 events per second), so windows close on
count, and the position of a window alert is its last event's index + 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.detect.adwin import BlockAdwin, adwin_delta
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns

CHANGE = 6_250
CATS = np.array(["a", "b", "c", "d", "e"], dtype=object)
CAT_P = [0.4, 0.3, 0.15, 0.1, 0.05]


def stream(size: int, seed: int, drift: str | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {
        "x": rng.normal(0.0, 1.0, size),
        "heavy": rng.lognormal(0.0, 1.0, size),
        "count": rng.poisson(3.0, size).astype(np.float64),
        "cat": CATS[rng.choice(5, size=size, p=CAT_P)],
    }
    after = slice(CHANGE, size)
    if drift == "shift":
        cols["x"][after] += 1.0
    elif drift == "small_shift":
        cols["heavy"][after] += 0.25 * np.sqrt((np.e - 1) * np.e)
    elif drift == "variance":
        cols["x"][after] *= np.sqrt(2.0)
    elif drift == "new_category":
        tail = cols["cat"][after]
        tail[rng.random(len(tail)) < 0.1] = "new"
    elif drift == "nulls":
        col = cols["heavy"].astype(object)
        col[CHANGE:][rng.random(size - CHANGE) < 0.3] = None
        cols["heavy"] = col
    return cols


def first_alerts(cols: dict[str, np.ndarray], batch: int = 250) -> list[tuple[str, str, int]]:
    """(feature, detector, position) of every firing alert, in order."""
    monitor = Monitor(Settings())
    size = len(cols["x"])
    out = []
    for start in range(0, size, batch):
        stop = min(size, start + batch)
        n = stop - start
        columns = EventColumns(
            model_id="m",
            model_version="v",
            timestamps=np.arange(start, stop, dtype=np.float64) / 1000.0,
            features={k: v[start:stop].tolist() for k, v in cols.items()},
            prediction_scores=np.full(n, np.nan),
            prediction_labels=[None] * n,
            latency_ms=np.full(n, np.nan),
            errors=np.zeros(n, dtype=bool),
            event_ids=[None] * n,
        )
        for alert in monitor.process([columns], now=0.0):
            if alert.status == "firing":
                out.append((alert.feature, alert.detector, round(alert.window_end * 1000) + 1))
    return out


def test_stationary_stream_raises_nothing():
    assert first_alerts(stream(60_000, seed=1), batch=5_000) == []


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ("shift", [("x", "psi", 6500), ("x", "adwin", 6750)]),
        # a log-normal shifted by 0.25 sd empties its lowest bins: PSI sees it first
        ("small_shift", [("heavy", "psi", 6500), ("heavy", "adwin", 7500)]),
        ("variance", [("x", "psi", 7000)]),
        ("new_category", [("cat", "psi", 6500)]),
        ("nulls", [("heavy", "null_rate", 6500)]),
    ],
)
def test_detection_positions(drift, expected):
    assert first_alerts(stream(12_000, seed=2, drift=drift)) == expected


def test_block_adwin_positions():
    rng = np.random.default_rng(3)
    detector = BlockAdwin(block=25, delta=1e-6, center=0.0, scale=1.0)
    assert detector.update(rng.normal(0.0, 1.0, 50_000)) == []
    changes = detector.update(rng.normal(1.0, 1.0, 2_000))
    assert [c.values_seen for c in changes] == [50_200]
    assert changes[0].mean_after == pytest.approx(1.0, abs=0.15)


def test_block_adwin_heavy_tail_has_no_false_alarm():
    rng = np.random.default_rng(4)
    values = rng.lognormal(0.0, 1.5, 300_000)
    detector = BlockAdwin(
        block=25, delta=1e-6, center=float(values[:2000].mean()), scale=float(values[:2000].std())
    )
    assert detector.update(values) == []


def test_block_adwin_learns_its_scale_without_a_baseline():
    rng = np.random.default_rng(5)
    detector = BlockAdwin(block=25, delta=1e-6)  # center=None: first 1000 values
    assert detector.update(rng.normal(100.0, 20.0, 10_000)) == []
    assert detector.center == pytest.approx(100.0, abs=2.0)
    changes = detector.update(rng.normal(120.0, 20.0, 2_000))
    assert [c.values_seen for c in changes] == [10_200]


def test_adwin_delta_follows_the_budget():
    s = Settings()
    assert s.adwin_delta is None
    delta = adwin_delta(
        false_alarm_events=2 * s.false_alarm_events,
        streams=20,
        block=s.adwin_block,
        clock=s.adwin_clock,
    )
    assert delta == pytest.approx(5e-7)
    # a budget ten times larger makes ADWIN ten times stricter
    assert adwin_delta(
        false_alarm_events=20 * s.false_alarm_events,
        streams=20,
        block=s.adwin_block,
        clock=s.adwin_clock,
    ) == pytest.approx(delta / 10)
