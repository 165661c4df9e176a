"""Values near 1e308 (the contract accepts any finite number, and any epoch
seconds as a timestamp): learning never produces a non-finite statistic, and
numpy never warns. Every test here turns warnings into errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import orjson
import pytest

from streamproc.detect.adwin import BlockAdwin, update_rows
from streamproc.detect.baseline import Baseline
from streamproc.detect.cycle import phase_of
from streamproc.detect.learn import PhaseLearner
from streamproc.detect.moments import MOMENT_LIMIT, mean_sd, usable
from streamproc.detect.monitor import Monitor
from streamproc.detect.profiles import NumericProfile
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns
from streamproc.simulate import Scenario, generate

HUGE = (1e308, -1.7e308, 1.7976931348623157e308, 2.0**70)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def huge_events(n: int = 3000, seed: int = 5) -> list[dict]:
    """Demo events a minute apart (two days: the learner publishes its phases),
    one in five with a value, score, latency or timestamp near 1e308."""
    events = next(generate(Scenario.demo(model_id="m"), events=n, batch=n, seed=seed))
    rng = np.random.default_rng(seed)
    for i, e in enumerate(events):
        e["timestamp"] = 1_763_766_000.0 + 60.0 * i
        if i % 5 == 0:
            big = float(rng.choice(HUGE))
            kind = (i // 5) % 5
            if kind == 0:
                e["features"]["amount"] = big
            elif kind == 1:
                e["prediction"]["score"] = big
            elif kind == 2:
                e["latency_ms"] = abs(big)
            elif kind == 3:
                e["timestamp"] = big
            else:
                e["features"]["age"] = big
    return events


def all_finite(data) -> bool:
    if isinstance(data, float):
        return math.isfinite(data)
    if isinstance(data, dict):
        return all(all_finite(v) for v in data.values())
    if isinstance(data, list):
        return all(all_finite(v) for v in data)
    return True  # strings, ints, None: no float to overflow


def test_mean_sd_leaves_out_values_past_the_limit():
    assert mean_sd(np.array([1.0, 3.0, 1e308, -1e308, np.nan])) == (2, 2.0, 1.0)
    assert mean_sd(np.array([1e308, np.nan])) == (0, 0.0, 0.0)
    assert usable(np.array([MOMENT_LIMIT, -MOMENT_LIMIT, np.inf])).tolist() == [True, True, False]


def test_a_numeric_profile_of_huge_values_has_finite_moments_and_bins_them():
    values = np.array([1.0, 2.0, 3.0, 1e308, -1.7e308] * 20)
    p = NumericProfile.fit(values, bins=4)
    assert (p.mean, p.count) == (2.0, 100)
    assert math.isfinite(p.std) and p.maximum == 1e308 and p.minimum == -1.7e308
    assert p.bin_counts(np.array([1e308])).sum() == 1  # still binned (the top bin)


def test_phases_of_timestamps_past_year_9999_or_before_year_1_are_the_bounds():
    ts = np.array([1e308, 2.0**70, -1e308, -5.0, 5 * 3600.0, np.nan])
    assert phase_of(ts, 48).tolist() == [23, 23, 0, 23, 5, 0]
    assert phase_of(np.array([1e308, 1.7e308]), 24).tolist() == [23, 23]  # one hour: fast path


def test_the_phase_learner_keeps_finite_moments_of_huge_values():
    events = huge_events(600)
    columns = EventColumns.from_events("m", events, default_timestamp=0.0)
    learner = PhaseLearner(Baseline.fit(columns, cycles=False), cap=200, window_events=50)
    learner.add(columns)
    profile = learner.profile()
    assert all(np.isfinite(m).all() for m in profile.moments.values())
    assert all_finite(profile.to_dict())


def test_a_baseline_learned_from_huge_values_and_timestamps_round_trips():
    monitor = Monitor(Settings(baseline_events=200, min_window_events=20, window_events=50))
    events = huge_events()
    for start in range(0, len(events), 500):
        chunk = events[start : start + 500]
        monitor.process([EventColumns.from_events("m", chunk, default_timestamp=0.0)], now=0.0)
    baseline = monitor.models["m"].baseline
    assert baseline is not None and baseline.phases is not None  # learned, phases published
    data = baseline.to_dict()
    assert all_finite(data)
    for name in ("amount", "age"):
        assert abs(data["features"][name]["mean"]) <= 2.0**70  # those past 1e100 left out
    assert data["features"]["amount"]["max"] >= 1e308  # but seen
    back = Baseline.from_dict(orjson.loads(orjson.dumps(data)))
    assert back.to_dict() == orjson.loads(orjson.dumps(data))


def test_adwin_standardizes_huge_values_without_overflow_warnings():
    rng = np.random.default_rng(2)
    values = rng.normal(0, 1, 2000)
    values[::7] = 1.7976931348623157e308
    learning = BlockAdwin(block=25, center=None, warmup=500)  # center from the stream
    learning.update(values)
    assert math.isfinite(learning.center) and learning.scale > 0
    tiny = [BlockAdwin(block=25, center=0.0, scale=1e-300) for _ in range(2)]
    update_rows(tiny, [values.copy(), values.copy()])
    assert math.isfinite(tiny[0].mean)
