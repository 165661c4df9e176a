import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import columns_by_model
from streamproc.simulate import Scenario, generate
from streamproc.stream.metrics import Metrics


def samples(m: Metrics) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(m.exposition().decode())
        for s in f.samples
    }


def test_latency_histogram_from_arrays():
    m = Metrics()
    monitor = Monitor().model("a")
    m.observe_model(monitor, 4, 1, np.array([1.0, 3.0, 30.0, np.nan]))
    s = samples(m)

    def bucket(le: str) -> float:
        return s[("streamproc_inference_latency_seconds_bucket", (("le", le), ("model", "a")))]

    assert bucket("0.001") == 1 and bucket("0.005") == 2 and bucket("0.05") == 3
    assert bucket("+Inf") == 3
    assert s[("streamproc_inference_latency_seconds_count", (("model", "a"),))] == 3
    assert s[("streamproc_inference_latency_seconds_sum", (("model", "a"),))] == 0.034
    assert s[("streamproc_events_total", (("model", "a"),))] == 4
    assert s[("streamproc_inference_errors_total", (("model", "a"),))] == 1


def test_labels_are_capped_and_folding_is_counted():
    m = Metrics(max_models=2, max_features=3)
    monitor = Monitor(Settings(baseline_events=1000))
    for chunk in generate(Scenario.demo(drift_at=1000), events=3000, batch=3000):
        for model in ("a", "b", "c"):
            events = [{**e, "model_id": model} for e in chunk]
            monitor.process(columns_by_model(events, default_timestamp=0.0), now=0.0)
    for model in ("a", "b", "c"):
        m.observe_model(monitor.models[model], 1, 0, np.array([]))
    m.observe_firing(monitor.models.values())
    s = samples(m)
    models = {dict(k[1]).get("model") for k in s if k[0] == "streamproc_feature_psi"}
    features = {dict(k[1])["feature"] for k in s if k[0] == "streamproc_feature_psi"}
    assert models == {"a", "b", "__other__"}
    assert len(features) == 4 and "__other__" in features
    assert s[("streamproc_metric_series_folded_total", (("kind", "model"),))] >= 1
    firing = {k: v for k, v in s.items() if k[0] == "streamproc_alerts_firing"}
    assert firing and all(v >= 1 for v in firing.values())


def test_performance_gauges_realized_and_estimated():
    from streamproc.detect.baseline import Baseline
    from streamproc.simulate import synthetic_columns

    events, lab = synthetic_columns(20_000, np.random.default_rng(0))
    baseline = Baseline.fit(events, labels=lab.truth)
    monitor = Monitor(Settings(), baselines=[baseline])
    metrics = Metrics()
    events, lab = synthetic_columns(2000, np.random.default_rng(1))
    monitor.process([events], now=0.0)
    monitor.process_labels([lab], now=0.0)
    model = monitor.models["fraud-detector"]
    metrics.observe_model(model, events.size, 0, events.latency_ms)
    metrics.observe_performance(model)
    samples = {
        (s.name, s.labels["metric"]): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
        if family.name.startswith("streamproc_model_performance")
    }
    assert 0.9 < samples[("streamproc_model_performance", "accuracy")] < 0.98
    assert ("streamproc_model_performance", "recall:fraud") in samples
    assert 0.9 < samples[("streamproc_model_performance_estimated", "accuracy")] < 0.98
    assert ("streamproc_model_performance_estimated", "fn") in samples


def _absent_feature_run(m: Metrics) -> Monitor:
    """A learned baseline with 'age', then windows where 'age' is absent."""
    monitor = Monitor(Settings(baseline_events=1000))
    for k, chunk in enumerate(generate(Scenario(), events=3000, batch=1000)):
        if k == 2:
            for e in chunk:
                del e["features"]["age"]
        monitor.process(columns_by_model(chunk, default_timestamp=0.0), now=0.0)
        m.observe_model(monitor.models["fraud-detector"], len(chunk), 0, np.array([]))
    return monitor


def test_an_absent_feature_has_no_psi_threshold_or_null_ratio_series():
    m = Metrics()
    _absent_feature_run(m)
    s = samples(m)
    age = (("feature", "age"), ("model", "fraud-detector"))
    amount = (("feature", "amount"), ("model", "fraud-detector"))
    for name in ("streamproc_feature_psi", "streamproc_feature_psi_threshold",
                 "streamproc_feature_null_ratio"):  # fmt: skip
        assert (name, age) not in s, name  # absent: removed, not NaN or a sentinel
        assert (name, amount) in s and not np.isnan(s[(name, amount)])


def test_alerts_total_counts_firing_and_resolved_apart():
    from streamproc.events.alerts import Alert

    m = Metrics()

    def alert(status):
        return Alert("i", status, "warning", "a", "v", "feature", "x", "psi", 0.3, 0.1,
                     0.0, 1.0, 500, 1.0, "PSI")  # fmt: skip

    m.observe_alerts([alert("firing"), alert("resolved"), alert("firing")])
    s = samples(m)
    labels = (("detector", "psi"), ("model", "a"), ("severity", "warning"), ("signal", "feature"))
    assert s[("streamproc_alerts_total", (*labels, ("status", "firing")))] == 2
    assert s[("streamproc_alerts_total", (*labels, ("status", "resolved")))] == 1
