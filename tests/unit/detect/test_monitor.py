import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns, columns_by_model
from streamproc.simulate import Scenario, generate


def run(monitor, scenario, events, seed=0, batch=2000):
    alerts = []
    for chunk in generate(scenario, events=events, batch=batch, seed=seed):
        alerts += monitor.process(columns_by_model(chunk, default_timestamp=0.0), now=0.0)
    return alerts


def fired(alerts):
    return {(a.signal, a.feature, a.detector) for a in alerts if a.status == "firing"}


def test_demo_drifts_are_caught_and_nothing_else():
    alerts = run(Monitor(), Scenario.demo(drift_at=20_000), 40_000)
    assert fired(alerts) == {
        ("feature", "amount", "psi"),
        ("feature", "amount", "adwin"),
        ("feature", "country", "psi"),
        ("feature", "income", "null_rate"),
        ("prediction", None, "psi"),
        ("prediction", None, "adwin"),
    }
    assert all(a.window_end >= 1_763_766_000.0 + 20_000 / 1000 for a in alerts)


def test_stationary_stream_has_no_alert():
    assert run(Monitor(), Scenario(), 200_000, seed=11) == []


def test_learned_baseline_uses_the_first_events_only():
    monitor = Monitor(Settings(baseline_events=3000))
    run(monitor, Scenario(), 2500)
    assert monitor.models["fraud-detector"].baseline is None
    run(monitor, Scenario(), 1000, seed=1)
    baseline = monitor.models["fraud-detector"].baseline
    assert baseline is not None and baseline.events == 3000 and baseline.source == "learned"


def test_published_baseline_is_used_from_the_first_event():
    reference = next(generate(Scenario(), events=10_000, batch=10_000, seed=5))
    baseline = Baseline.fit(
        EventColumns.from_events("fraud-detector", reference, default_timestamp=0.0)
    )
    monitor = Monitor(baselines=[baseline])
    alerts = run(monitor, Scenario(drift_at=0, mean_shift={"age": 1.0}), 3000)
    assert ("feature", "age", "psi") in fired(alerts)


def test_schema_missing_new_and_type_change():
    def events(n, features):
        return [{"model_id": "m", "features": dict(features)} for _ in range(n)]

    monitor = Monitor(Settings(baseline_events=1000, window_events=500, min_window_events=100))
    rng = np.random.default_rng(0)
    reference = [
        {"model_id": "m", "features": {"a": float(x), "b": "u", "c": float(x)}}
        for x in rng.normal(size=1000)
    ]
    monitor.process(columns_by_model(reference, default_timestamp=0.0), now=0.0)
    broken = [
        {"model_id": "m", "features": {"a": "oops", "c": float(x), "d": 1.0}}
        for x in rng.normal(size=500)
    ]
    alerts = monitor.process(columns_by_model(broken, default_timestamp=0.0), now=0.0)
    schema = {(a.feature, a.severity) for a in alerts if a.signal == "schema"}
    assert schema == {("a", "critical"), ("b", "critical"), ("d", "warning")}
    messages = " ".join(a.message for a in alerts if a.signal == "schema")
    assert "wrong type" in messages and "missing" in messages and "is new" in messages


def test_error_rate_jump():
    monitor = Monitor()
    run(monitor, Scenario(), 5000)
    alerts = run(monitor, Scenario(error_rate=0.3), 2000, seed=3)
    assert ("errors", None, "error_rate") in fired(alerts)


def test_windows_close_by_time_for_quiet_models():
    monitor = Monitor(
        Settings(
            baseline_events=1000, window_events=100_000, min_window_events=200, window_seconds=10
        )
    )
    scenario = Scenario.demo(drift_at=2000)
    alerts = []
    for chunk in generate(scenario, events=5000, batch=100, rate=50):
        alerts += monitor.process(columns_by_model(chunk, default_timestamp=0.0), now=0.0)
    assert ("feature", "country", "psi") in fired(alerts)
    assert all(a.window_events < 1000 for a in alerts if a.detector == "psi")


def test_per_model_overrides():
    monitor = Monitor(
        overrides={"fraud-detector": {"window_events": 2000, "min_window_events": 100}}
    )
    assert monitor.model("fraud-detector").settings.window_events == 2000
    assert monitor.model("other").settings.window_events == Settings().window_events == 500


def test_a_new_monitor_carries_on_the_episodes_of_published_alerts():
    """After a restart: no second 'firing' for an open episode, and its resolve keeps the id."""
    first = Monitor()
    reference = run(first, Scenario.demo(drift_at=10_000), 12_000)
    firing = [a for a in reference if a.status == "firing"]
    baseline = first.models["fraud-detector"].baseline
    assert firing and baseline is not None

    second = Monitor(baselines=[baseline])
    for alert in reference:
        second.restore_alert(alert)
    again = run(second, Scenario.demo(drift_at=0), 5_000, seed=7)
    assert not [a for a in again if a.status == "firing" and a.detector != "adwin"]
    calm = run(second, Scenario(), 5_000, seed=8)
    resolved = {a.alert_id for a in calm if a.status == "resolved"}
    still_open = {a.alert_id for a in firing if a.detector != "adwin"}
    assert still_open <= resolved


def test_forget_keeps_open_episodes_for_when_the_model_comes_back():
    monitor = Monitor()
    alerts = run(monitor, Scenario.demo(drift_at=5_000), 8_000)
    open_before = monitor.models["fraud-detector"].policy.firing
    assert open_before and alerts
    monitor.forget(["fraud-detector"])
    assert "fraud-detector" not in monitor.models
    assert monitor.model("fraud-detector").policy.firing == open_before


def test_overrides_of_models_unseen_are_told_once_after_the_first_judged_window():
    monitor = Monitor(Settings(window_events=100, min_window_events=100, baseline_events=100),
                      overrides={"typo-model": {"psi_min": 0.2}})  # fmt: skip
    events = [{"model_id": "m", "features": {"x": float(i % 7)}} for i in range(150)]
    monitor.process(columns_by_model(events[:100], default_timestamp=0.0), now=0.0)
    assert monitor.unseen_overrides_once() == []  # learning: no window judged yet
    monitor.process(columns_by_model(events[100:] * 2, default_timestamp=0.0), now=0.0)
    assert monitor.unseen_overrides_once() == ["typo-model"]
    assert monitor.unseen_overrides_once() == []
    assert Monitor(Settings()).unseen_overrides_once() == []
