"""The worker end to end on a real broker: drift alerts, dead letters, metrics."""

from __future__ import annotations

import orjson
import pytest

from streamproc.detect.baseline import Baseline
from streamproc.events.columns import EventColumns
from streamproc.simulate import Scenario, generate
from tests.conftest import (
    RunningWorker,
    consume,
    metric,
    produce,
    produce_events,
    unique_topics,
    wait_for,
)

pytestmark = pytest.mark.integration

CONTRACT_METRICS = [
    "streamproc_events_total",
    "streamproc_events_rejected_total",
    "streamproc_feature_psi",
    "streamproc_feature_null_ratio",
    "streamproc_prediction_psi",
    "streamproc_alerts_total",
    "streamproc_alerts_firing",
    "streamproc_inference_latency_seconds_bucket",
    "streamproc_inference_latency_seconds_count",
    "streamproc_inference_errors_total",
    "streamproc_batch_duration_seconds_bucket",
    "streamproc_event_lag_seconds",
]


def events_of(scenario: Scenario, n: int, seed: int) -> list[dict]:
    return [e for batch in generate(scenario, events=n, batch=5000, seed=seed) for e in batch]


@pytest.fixture(scope="module")
def worker(bootstrap, start_worker) -> RunningWorker:
    """One worker on fresh topics, with a published baseline for model 'fitted'."""
    topics = unique_topics()
    reference = events_of(Scenario(model_id="fitted"), 10_000, seed=1)
    baseline = Baseline.fit(EventColumns.from_events("fitted", reference, default_timestamp=0.0))
    produce(bootstrap, topics.baselines, [(b"fitted", orjson.dumps(baseline.to_dict()))])
    return start_worker(topics)


def alerts_for(bootstrap: str, topic: str, model: str, expect: int, timeout: float) -> list[dict]:
    def enough(records):
        return sum(orjson.loads(r.value)["model_id"] == model for r in records) >= expect

    records = consume(bootstrap, topic, until=enough, timeout=timeout)
    return [a for r in records if (a := orjson.loads(r.value))["model_id"] == model]


def test_drift_alerts_name_exactly_the_drifted_features(bootstrap, worker):
    """(a) learned and published baselines; 3 drifted features of 9; alerts for those only."""
    for model, seed in (("learned", 2), ("fitted", 3)):
        scenario = Scenario.demo(model_id=model, drift_at=8_000)
        produce_events(bootstrap, worker.topics.events, events_of(scenario, 16_000, seed))
    assert wait_for(
        lambda: metric(worker.metrics(), "streamproc_events_total") >= 32_000, timeout=60
    ), worker.log()[-2000:]
    for model in ("learned", "fitted"):
        alerts = alerts_for(bootstrap, worker.topics.alerts, model, expect=4, timeout=20)
        features = {
            a["feature"] for a in alerts if a["status"] == "firing" and a["signal"] == "feature"
        }
        assert features == {"amount", "country", "income"}, (model, alerts)
        assert all(a["window"]["end"] >= 1_763_766_000.0 + 8.0 for a in alerts)
        assert {a["signal"] for a in alerts} <= {"feature", "prediction"}


def test_malformed_records_go_to_the_dlq_with_reasons(bootstrap, worker):
    """(b) bad records are dead-lettered and counted; the good ones around them processed."""
    good = events_of(Scenario(model_id="dlq-model"), 30, seed=4)
    bad = [
        b"{this is not json",
        orjson.dumps({"features": {"x": 1.0}}),
        orjson.dumps({"model_id": "dlq-model", "features": [1, 2]}),
        orjson.dumps({"model_id": "dlq-model", "features": {"x": [1, 2]}}),
    ]
    records = [(b"dlq-model", orjson.dumps(e)) for e in good[:10]]
    records += [(b"dlq-model", value) for value in bad]
    records.append((b"dlq-model", orjson.dumps(good[10:20] + [{"model_id": "dlq-model"}])))
    records += [(b"dlq-model", orjson.dumps(e)) for e in good[20:]]
    before = worker.metrics()
    produce(bootstrap, worker.topics.events, records)

    dead = consume(bootstrap, worker.topics.dlq, until=lambda r: len(r) >= 5, timeout=30)
    assert len(dead) == 5
    reasons = {r.value: dict(r.headers) for r in dead}
    for value in bad:
        headers = reasons[value]  # the original bytes, unchanged
        assert headers["source.topic"].decode() == worker.topics.events
        assert int(headers["source.offset"]) >= 0 and "source.partition" in headers
    errors = sorted(dict(r.headers)["error"].decode() for r in dead)
    assert any(e.startswith("value: not valid JSON") for e in errors)
    assert "model_id: required field is missing" in errors
    assert "features: must be an object, got array" in errors
    assert "features.x: must be a number, string, boolean or null, got array" in errors
    assert "[10] features: required field is missing" in errors
    assert all(r.key == b"dlq-model" for r in dead)

    def counted():
        now = worker.metrics()
        return metric(now, "streamproc_events_total", model="dlq-model") == 30

    assert wait_for(counted, timeout=20)
    after = worker.metrics()
    rejected = {
        reason: metric(after, "streamproc_events_rejected_total", reason=reason)
        - metric(before, "streamproc_events_rejected_total", reason=reason)
        for reason in (
            "bad_json",
            "missing_model_id",
            "bad_features",
            "bad_feature_value",
            "missing_features",
        )
    }
    assert rejected == {
        "bad_json": 1,
        "missing_model_id": 1,
        "bad_features": 1,
        "bad_feature_value": 1,
        "missing_features": 1,
    }


def test_metrics_over_http_match_what_was_sent(bootstrap, worker):
    """(c) every contract metric is served, and the counts match the events sent."""
    events = events_of(
        Scenario.demo(model_id="metrics-model", drift_at=4000, error_rate=0.01), 8000, seed=5
    )
    produce_events(bootstrap, worker.topics.events, events)
    assert wait_for(
        lambda: metric(worker.metrics(), "streamproc_events_total", model="metrics-model") == 8000,
        timeout=60,
    )
    alerts = alerts_for(bootstrap, worker.topics.alerts, "metrics-model", expect=3, timeout=20)
    samples = worker.metrics()
    names = {name for name, _ in samples}
    missing = [name for name in CONTRACT_METRICS if name not in names]
    assert not missing, missing

    m = "metrics-model"
    errors = sum(e["error"] is not None for e in events)
    assert metric(samples, "streamproc_inference_errors_total", model=m) == errors
    assert metric(samples, "streamproc_inference_latency_seconds_count", model=m) == 8000
    total_latency = sum(e["latency_ms"] for e in events) / 1000
    assert metric(samples, "streamproc_inference_latency_seconds_sum", model=m) == pytest.approx(
        total_latency, rel=1e-6
    )
    assert metric(samples, "streamproc_alerts_total", model=m) >= len(alerts)
    assert metric(samples, "streamproc_feature_null_ratio", model=m, feature="income") > 0.2
    assert metric(samples, "streamproc_feature_psi", model=m, feature="country") > 0.5
    assert metric(samples, "streamproc_feature_psi", model=m, feature="age") < 0.1
    firing = metric(samples, "streamproc_alerts_firing", model=m, signal="feature")
    assert firing >= 3
    assert 0 <= metric(samples, "streamproc_event_lag_seconds") < 10**9
    assert metric(samples, "streamproc_consumer_lag_records") == 0  # all consumed
