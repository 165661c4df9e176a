"""The performance detectors: realized (labels) and estimated (scores), on seeded streams."""

import numpy as np
import pytest

from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.detect.window import WindowCounts
from streamproc.events.labels import LabelledPredictions
from streamproc.simulate import UNCERTAIN_SHIFT, flip_for, synthetic_columns

START = 1_763_766_000.0


@pytest.fixture(scope="module")
def baseline():
    events, lab = synthetic_columns(20_000, np.random.default_rng(12345))
    return Baseline.fit(events, labels=lab.truth)


def flipped(lab: LabelledPredictions, rng, share: float) -> LabelledPredictions:
    swap = {"fraud": "ok", "ok": "fraud"}
    flips = (rng.random(lab.size) < share).tolist()
    lab.truth = [swap[t] if f else t for t, f in zip(lab.truth, flips, strict=True)]
    return lab


def run_labels(monitor, *, labels, change, share, seed, batch=250):
    """Labelled predictions in batches; from ``change`` on a share of truths flipped.
    Returns (position, alert) of each performance alert."""
    rng = np.random.default_rng(seed)
    out = []
    for first in range(0, labels, batch):
        _, lab = synthetic_columns(batch, rng, first=first, label_delay=60.0)
        if first >= change:
            lab = flipped(lab, rng, share)
        for alert in monitor.process_labels([lab], now=0.0):
            out.append((first + batch, alert))
    return out


def test_stationary_labels_raise_nothing(baseline):
    monitor = Monitor(Settings(), baselines=[baseline])
    assert run_labels(monitor, labels=200_000, change=10**9, share=0.0, seed=1) == []
    latest = monitor.models["fraud-detector"].performance.latest
    assert latest["accuracy"] == pytest.approx(0.94, abs=0.03)
    assert {"brier", "precision:fraud", "recall:ok"} <= latest.keys()


def test_accuracy_drop_is_detected_then_resolves_under_one_id(baseline):
    monitor = Monitor(Settings(), baselines=[baseline])
    alerts = run_labels(monitor, labels=20_000, change=10_000, share=flip_for(0.85), seed=2)
    firing = [(pos, a) for pos, a in alerts if a.status == "firing"]
    assert firing and all(pos > 10_000 for pos, _ in firing), alerts
    pos, first = [(pos, a) for pos, a in firing if a.detector == "accuracy"][0]
    assert 10_000 < pos <= 12_000  # the first full window after the change
    assert (first.signal, first.feature, first.detector) == ("performance", None, "accuracy")
    assert first.value < first.threshold < 0.94  # value: the accuracy; threshold: alert below
    assert first.window_events == 1000 and first.severity == "critical"
    assert first.message.startswith("accuracy is 0.8")
    # recovery: two clean windows resolve it, same alert id
    for first_label in range(20_000, 26_000, 250):
        _, lab = synthetic_columns(250, np.random.default_rng(first_label), first=first_label)
        for a in monitor.process_labels([lab], now=0.0):
            alerts.append((first_label, a))
    resolved = [a for _, a in alerts if a.status == "resolved" and a.detector == "accuracy"]
    assert resolved and resolved[0].alert_id == first.alert_id


def test_small_drop_is_found_by_adwin_on_the_error_stream(baseline):
    monitor = Monitor(Settings(), baselines=[baseline])
    alerts = run_labels(monitor, labels=40_000, change=20_000, share=flip_for(0.90), seed=3)
    firing = {a.detector: pos for pos, a in alerts if a.status == "firing"}
    assert firing and min(firing.values()) > 20_000
    assert min(firing.values()) <= 25_000, firing


def test_same_alert_ids_on_replay(baseline):
    ids = []
    for _ in range(2):
        monitor = Monitor(Settings(), baselines=[baseline])
        alerts = run_labels(monitor, labels=14_000, change=10_000, share=0.2, seed=4)
        ids.append([a.alert_id for _, a in alerts])
    assert ids[0] and ids[0] == ids[1]


def test_learned_reference_without_a_published_one():
    monitor = Monitor(Settings(performance_reference_labels=3000))
    alerts = run_labels(monitor, labels=12_000, change=8000, share=0.2, seed=5)
    performance = monitor.models["fraud-detector"].performance
    assert performance.reference.source == "learned" and performance.reference.labels == 3000
    assert performance.reference.calibration is None
    assert any(a.detector == "accuracy" and pos > 8000 for pos, a in alerts), alerts


def test_process_labels_routes_each_model():
    monitor = Monitor(Settings(performance_reference_labels=500, performance_window=500))
    rng = np.random.default_rng(6)
    _, a = synthetic_columns(600, rng, model_id="a")
    _, b = synthetic_columns(100, rng, model_id="b")
    assert monitor.process_labels([a, b], now=0.0) == []
    assert monitor.models["a"].performance.reference is not None
    assert monitor.models["b"].performance.reference is None  # still learning
    assert monitor.models["a"].performance.counts.labels == 100


def test_regression_mae_rise(baseline):
    rng = np.random.default_rng(7)
    settings = Settings()
    monitor = Monitor(settings)
    alerts = []
    for first in range(0, 30_000, 500):
        truth = rng.normal(100, 10, 500)
        noise = rng.normal(0, 2.0 if first < 15_000 else 2.6, 500)
        lab = LabelledPredictions(
            model_id="reg",
            event_ids=[str(i) for i in range(first, first + 500)],
            timestamps=START + np.arange(first, first + 500) / 1000,
            label_times=START + np.arange(first, first + 500) / 1000 + 5,
            scores=truth + noise,
            predicted=[None] * 500,
            truth=[None] * 500,
            truth_values=truth,
        )
        alerts += [(first, a) for a in monitor.process_labels([lab], now=0.0)]
    firing = [(pos, a) for pos, a in alerts if a.status == "firing"]
    assert firing and all(pos >= 15_000 for pos, _ in firing), firing
    assert firing[0][1].detector in {"mae", "abs_error_adwin"}
    mae = [a for _, a in firing if a.detector == "mae"]
    assert mae and mae[0].value > mae[0].threshold and mae[0].message.startswith("mean absolute")
    latest = monitor.models["reg"].performance.latest
    assert set(latest) == {"mae", "rmse", "mean_error"}


def events_run(baseline, *, events, change, shift, seed, batch=500):
    monitor = Monitor(Settings(), baselines=[baseline])
    rng = np.random.default_rng(seed)
    found = []
    for first in range(0, events, batch):
        cols, _ = synthetic_columns(
            batch, rng, first=first, amount_shift=shift if first >= change else 0.0
        )
        for a in monitor.process([cols], now=0.0):
            if a.detector == "estimated_accuracy":
                found.append((first + batch, a))
    return monitor, found


def test_estimated_accuracy_quiet_on_stationary_traffic(baseline):
    monitor, found = events_run(baseline, events=200_000, change=10**9, shift=0.0, seed=8)
    assert found == []
    estimate = monitor.models["fraud-detector"].latest.estimate
    assert estimate["accuracy"] == pytest.approx(0.94, abs=0.03)
    assert {"tp", "fp", "tn", "fn", "precision", "recall"} <= estimate.keys()


def test_estimated_accuracy_fires_on_a_covariate_shift_without_labels(baseline):
    _, found = events_run(baseline, events=30_000, change=10_000, shift=UNCERTAIN_SHIFT, seed=9)
    assert found, "no estimated_accuracy alert"
    pos, alert = found[0]
    assert 10_000 < pos <= 12_000
    assert (alert.signal, alert.status) == ("performance", "firing")
    assert alert.value < alert.threshold and alert.severity == "warning"
    assert alert.message.startswith("estimated accuracy")


def test_estimate_counts_do_not_depend_on_chunking(baseline):
    cols, _ = synthetic_columns(480, np.random.default_rng(10))
    settings = Settings()
    whole, parts = WindowCounts(baseline, settings), WindowCounts(baseline, settings)
    whole.add(cols)
    for s in range(0, 480, 37):
        parts.add(cols.slice(s, s + 37))
    assert np.allclose(whole.state.estimate, parts.state.estimate)


def test_the_performance_share_comes_out_of_the_event_tests_budget(baseline):
    settings = Settings()
    cols, _ = synthetic_columns(500, np.random.default_rng(11))
    plain = baseline.replace(performance=None)
    alphas = []
    for b in (plain, baseline):
        counts = WindowCounts(b, settings)
        counts.add(cols)
        alphas.append(counts.close(lambda key: False).alpha)
    features = 2
    assert alphas[0] == pytest.approx(500 / (2 * 1e7) / (2 * features + 2))
    assert alphas[1] == pytest.approx(500 * 0.8 / (2 * 1e7) / (2 * features + 3))


def test_concept_drift_is_seen_by_the_labels_only(baseline):
    """Flipped truths, unchanged inputs: realized accuracy fires, the estimate cannot."""
    monitor = Monitor(Settings(), baselines=[baseline])
    rng = np.random.default_rng(12)
    found = set()
    for first in range(0, 30_000, 500):
        cols, lab = synthetic_columns(500, rng, first=first)
        if first >= 10_000:
            lab = flipped(lab, rng, flip_for(0.85))
        alerts = monitor.process([cols], now=0.0) + monitor.process_labels([lab], now=0.0)
        found |= {a.detector for a in alerts if a.status == "firing"}
    assert "accuracy" in found and "estimated_accuracy" not in found


def test_labels_for_the_demo_events():
    from streamproc.simulate import Scenario, generate, labels_for

    events = [e for b in generate(Scenario(), events=20_000, batch=5000, seed=3) for e in b]
    labels = labels_for(events, delay_seconds=30.0, concept_drift_at=10_000, flip=0.2, seed=1)
    assert len(labels) == 20_000 and labels[0]["timestamp"] == events[0]["timestamp"] + 30.0
    right = [e["prediction"]["label"] == x["label"] for e, x in zip(events, labels, strict=True)]
    assert np.mean(right[:10_000]) == pytest.approx(0.94, abs=0.01)
    assert np.mean(right[10_000:]) == pytest.approx(0.94 - 0.2 * 0.88, abs=0.015)
    partial = labels_for(events[:1000], labelled=0.5, delay_seconds=1.0, delay_jitter=10.0)
    assert 400 < len(partial) < 600
