"""Time-aware baselines: phase profiles, mixtures, calibration, learned phases."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import orjson
import pytest

from streamproc.detect.baseline import Baseline
from streamproc.detect.calibrate import Dispersion, dispersion_factor
from streamproc.detect.cycle import DAY, HOUR, mix, phase_of
from streamproc.detect.monitor import ModelMonitor
from streamproc.detect.settings import Settings
from streamproc.detect.window import WindowCounts
from streamproc.events.columns import EventColumns

T0 = 1_704_067_200.0  # a Monday 00:00 UTC
ZIPF = 1.0 / np.arange(1, 61) ** 1.1 / (1.0 / np.arange(1, 61) ** 1.1).sum()


def stream(
    days: float, per_hour: int, seed: int, *, cyclic: bool = True, walk: float = 0.0
) -> EventColumns:
    """``per_hour`` events an hour: ``hour`` (the clock), ``level`` (a daily cycle
    of 2 sd if ``cyclic``, plus a random walk per hour of ``walk`` sd), ``mix``
    (category shares that follow the clock if ``cyclic``), ``noise`` (i.i.d.)."""
    rng = np.random.default_rng(seed)
    hours = int(days * 24)
    ts = np.sort(T0 + rng.uniform(0, hours * HOUR, hours * per_hour))
    hour = ((ts - T0) // HOUR % 24).astype(np.int64)
    slot = ((ts - T0) // HOUR).astype(np.int64)
    drift = np.cumsum(rng.normal(0, walk, hours))[slot] if walk else 0.0
    level = (2.0 * np.sin(2 * np.pi * hour / 24) if cyclic else 0.0) + drift
    night = (hour < 8) if cyclic else np.zeros(len(ts), bool)
    mix_ = np.where(
        night,
        rng.choice(["a", "b", "c"], len(ts), p=[0.7, 0.2, 0.1]),
        rng.choice(["a", "b", "c"], len(ts), p=[0.2, 0.3, 0.5]),
    )
    n = len(ts)
    return EventColumns(
        model_id="m",
        model_version="v",
        timestamps=ts,
        features={
            "hour": hour,
            "level": level + rng.normal(0, 1, n),
            "mix": mix_.tolist(),
            "noise": rng.normal(0, 1, n),
            "rare": rng.choice(
                ["a", "b", "c", "r1", "r2"], n, p=[0.5, 0.3, 0.192, 0.005, 0.003]
            ).tolist(),
            "many": rng.choice([f"k{i}" for i in range(60)], n, p=ZIPF).tolist(),
            "count": rng.poisson(3, n),
        },
        prediction_scores=rng.uniform(0, 1, n),
        prediction_labels=[None] * n,
        latency_ms=rng.lognormal(3, 0.3, n),
        errors=rng.random(n) < 0.01,
        event_ids=[None] * n,
    )


def windows(counts: WindowCounts, cols: EventColumns, size: int) -> list:
    out = []
    for start in range(0, cols.size - size + 1, size):
        counts.add(cols.slice(start, start + size))
        out.append(counts.close(lambda key: False))
    return out


def test_phase_of_hours_and_weekends() -> None:
    ts = T0 + np.array([0.0, 5 * HOUR + 1, 5 * DAY + 2 * HOUR, 6 * DAY + 23 * HOUR])
    assert phase_of(ts, 24).tolist() == [0, 5, 2, 23]
    assert phase_of(ts, 48).tolist() == [0, 5, 26, 47]
    assert phase_of(ts[:1], 48).tolist() == [0]  # one-hour fast path


def test_mixture_weights_and_effective_size() -> None:
    q = np.array([[[0.5, 0.5], [0.1, 0.9], [1.0, 0.0]]])
    m = np.array([[1000.0, 250.0, 10.0]])
    expected, m_eff = mix(q, m, np.array([0.75, 0.25, 0.0]))
    assert expected[0].tolist() == pytest.approx([0.4, 0.6])
    assert m_eff[0] == pytest.approx(1.0 / (0.75**2 / 1000 + 0.25**2 / 250))


def test_hour_feature_is_normal_at_every_hour() -> None:
    baseline = Baseline.fit(stream(3, 2000, seed=1))
    assert baseline.phases is not None and baseline.phases.period == 24
    test = stream(1, 2000, seed=2)
    counts = WindowCounts(baseline, Settings())
    closed = windows(counts, test, 500)
    hour_psi = [c.report().features["hour"] for c in closed]
    assert len(hour_psi) == 96
    assert max(f.psi for f in hour_psi) < 0.05
    assert all(f.psi < f.psi_threshold for f in hour_psi)
    level = [c.report().features["level"] for c in closed]
    assert all(f.psi < f.psi_threshold for f in level)  # a 2 sd daily cycle is normal
    # without phases the same windows see the cycle as drift
    plain = WindowCounts(baseline.replace(phases=None), Settings())
    assert max(c.report().features["hour"].psi for c in windows(plain, test, 500)) > 1.0


def test_window_spanning_two_phases_uses_its_own_weights() -> None:
    baseline = Baseline.fit(stream(3, 2000, seed=1))
    test = stream(1, 2000, seed=2)
    at = int(np.searchsorted(test.timestamps, T0 + 7 * HOUR + 0.75 * HOUR))
    counts = WindowCounts(baseline, Settings(min_window_events=100))
    counts.add(test.slice(at, at + 1000))  # 3/4 in hour 7 ... the rest in hour 8
    closed = counts.close(lambda key: False)
    stats = closed.report().features["hour"]
    assert stats.psi < 0.05 and stats.psi < stats.psi_threshold


def test_calibration_iid_reference_gives_exactly_one() -> None:
    baseline = Baseline.fit(stream(3, 3000, seed=4, cyclic=False))
    cal = baseline.calibration
    assert cal.windows >= 400
    assert cal.psi == {} and cal.null_rate == {} and cal.adwin == {}
    assert cal.prediction == 1.0 and cal.error_rate == 1.0


def test_calibration_autocorrelated_reference_gives_more_than_one() -> None:
    baseline = Baseline.fit(stream(3, 3000, seed=4, cyclic=False, walk=0.3))
    assert baseline.calibration.psi.get("level", 1.0) > 1.5
    assert baseline.calibration.adwin.get("level", 1.0) > 1.5
    assert "noise" not in baseline.calibration.psi


def test_dispersion_factor_gate() -> None:
    rng = np.random.default_rng(0)
    assert dispersion_factor(rng.chisquare(9, 1000), 9) == 1.0
    assert dispersion_factor(rng.chisquare(9, 10), 9) == 1.0  # too few windows
    assert dispersion_factor(2 * rng.chisquare(9, 1000), 9) > 1.8


def test_dispersion_raises_the_psi_threshold() -> None:
    ref = stream(3, 2000, seed=1)
    baseline = Baseline.fit(ref)
    wider = baseline.replace(calibration=Dispersion(psi={"noise": 4.0}, windows=100))
    test = stream(1, 2000, seed=2).slice(0, 500)
    a, b = WindowCounts(baseline, Settings()), WindowCounts(wider, Settings())
    a.add(test), b.add(test)
    ta = a.close(lambda k: False).report().features["noise"].psi_threshold
    tb = b.close(lambda k: False).report().features["noise"].psi_threshold
    assert tb > ta and (tb == pytest.approx(4 * ta) or ta == Settings().psi_min)


def test_json_round_trip_with_phases_and_old_baselines() -> None:
    baseline = Baseline.fit(stream(3, 1000, seed=1, walk=0.3))
    data = orjson.loads(orjson.dumps(baseline.to_dict()))
    back = Baseline.from_dict(data)
    assert back.phases == baseline.phases
    assert back.calibration.psi == pytest.approx(baseline.calibration.psi, abs=1e-4)
    old = {k: v for k, v in data.items() if k not in ("phases", "calibration")}
    plain = Baseline.from_dict(old)
    assert plain.phases is None and plain.calibration == Dispersion()
    bad = dict(data, phases=dict(data["phases"], period=7))
    with pytest.raises(ValueError, match="phases"):
        Baseline.from_dict(bad)


def test_short_reference_has_no_phases() -> None:
    baseline = Baseline.fit(stream(1, 2000, seed=1))
    assert baseline.phases is None
    assert "phases" not in baseline.to_dict()


def feed(monitor: ModelMonitor, cols: EventColumns, size: int = 250) -> list:
    reports = []
    for start in range(0, cols.size, size):
        monitor.update(cols.slice(start, min(cols.size, start + size)), now=0.0)
        reports.append(monitor.latest)
    return reports


def test_learned_baseline_judges_drift_only_in_frozen_phases() -> None:
    cols = stream(2, 1500, seed=3)  # 1,500 an hour: each hour frozen at its end
    monitor = ModelMonitor("m", Settings())
    seen_open, seen_judged = False, False
    for start in range(0, 24 * 1500, 250):
        chunk = cols.slice(start, start + 250)
        monitor.update(chunk, now=0.0)
        report = monitor.latest
        if report is None:
            continue
        hour = int((report.window.end - T0) // HOUR)
        stats = report.features["level"]
        if hour >= 2 and report.window.start >= T0 + hour * HOUR:
            # the window's hour is being learned: no drift test, the null test runs
            seen_open |= math.isnan(stats.psi)
            assert math.isnan(stats.psi)
            assert not math.isnan(stats.null_ratio)
    # the second day: every phase is frozen and judged, with no false alarm
    alerts = []
    for start in range(24 * 1500, cols.size, 250):
        alerts += monitor.update(cols.slice(start, start + 250), now=0.0)
        report = monitor.latest
        seen_judged |= report is not None and not math.isnan(report.features["level"].psi)
    assert seen_open and seen_judged
    assert [a for a in alerts if a.status == "firing"] == []
    assert monitor.baseline is not None and monitor.baseline.phases is not None
    assert not monitor.published  # republished (calibrated) after a day


def test_learned_baseline_on_one_hour_of_traffic_is_as_before() -> None:
    cols = stream(1, 2000, seed=5, cyclic=False).slice(0, 3000)
    flat = replace(cols, timestamps=np.linspace(0.0, 10.0, cols.size))
    s = Settings(baseline_events=500, min_window_events=100)
    monitor = ModelMonitor("m", s)
    monitor.update(flat.slice(0, 500), now=0.0)
    assert monitor.baseline is not None
    plain = WindowCounts(monitor.baseline, s)
    checked = False
    for start in range(500, 3000, 250):
        chunk = flat.slice(start, start + 250)
        monitor.update(chunk, now=0.0)
        plain.add(chunk)
        if plain.due():
            ours = monitor.latest
            theirs = plain.close(lambda k: False).report()
            assert ours is not None
            checked = True
            for name, f in theirs.features.items():
                g = ours.features[name]
                assert g.psi == pytest.approx(f.psi, rel=1e-9, abs=1e-12)
                assert g.psi_threshold == pytest.approx(f.psi_threshold, rel=1e-9)
    assert checked


def test_a_published_partial_learned_baseline_goes_on_learning() -> None:
    cols = stream(2, 1500, seed=3)
    first = ModelMonitor("m", Settings())
    day = 24 * 1500 + 500
    for start in range(0, day, 250):
        first.update(cols.slice(start, start + 250), now=0.0)
    published = first.baseline
    assert published is not None and published.phases is not None
    assert not published.phases.frozen.all()  # weekend hours are not learned yet
    data = orjson.loads(orjson.dumps(published.to_dict()))
    back = Baseline.from_dict(data)
    assert back.phases is not None
    assert back.phases.frozen.tolist() == published.phases.frozen.tolist()
    second = ModelMonitor("m", Settings(), back)
    assert second._phases is not None  # resumes learning the unfrozen phases
    weekend = stream(7, 300, seed=9)  # Saturday hours from day 5 on
    at = int(np.searchsorted(weekend.timestamps, T0 + 5 * DAY))
    for start in range(at, weekend.size, 250):
        second.update(weekend.slice(start, start + 250), now=0.0)
    assert second.baseline is not None and second.baseline.phases is not None
    assert second.baseline.phases.frozen.all() and second._phases is None
