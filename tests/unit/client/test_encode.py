import math

import numpy as np
import orjson
import pytest

from streamproc.client.encode import encode_event, encode_label
from streamproc.events.validate import decode_label_record, decode_record


def call(features, prediction=None, latency_ms=None, error=None):
    return (1_763_766_000.5, "e-1", features, prediction, latency_ms, error)


def test_a_good_event_is_what_the_worker_accepts():
    payload, problem, non_finite = encode_event(
        "fraud", "v3", call({"amount": 12.5, "country": "DE", "age": None, "new": True},
                            {"label": "fraud", "score": 0.87}, 12.3)
    )  # fmt: skip
    assert problem is None and non_finite == 0
    good, bad = decode_record(payload)
    assert bad == [] and good[0]["model_version"] == "v3"
    assert good[0]["prediction"] == {"label": "fraud", "score": 0.87}
    assert "error" not in good[0]  # None fields are left out


def test_numpy_scalars_become_plain_values():
    features = {"a": np.float32(1.5), "b": np.int64(3), "c": np.str_("DE"), "d": np.bool_(True)}
    payload, problem, _ = encode_event("m", "v", call(features, np.int64(1), np.float64(2.0)))
    assert problem is None
    event = orjson.loads(payload)
    assert event["features"] == {"a": 1.5, "b": 3, "c": "DE", "d": True}
    assert event["prediction"] == 1 and event["latency_ms"] == 2.0


def test_non_finite_numbers_are_sent_as_null_and_counted():
    features = {"a": math.nan, "b": math.inf, "c": np.float64("-inf"), "d": 1.0}
    payload, problem, non_finite = encode_event(
        "m", "v", call(features, {"score": math.nan}, math.nan)
    )
    assert problem is None and non_finite == 5
    event = orjson.loads(payload)
    assert event["features"] == {"a": None, "b": None, "c": None, "d": 1.0}
    assert event["prediction"] == {"score": None} and event["latency_ms"] is None


@pytest.mark.parametrize(
    ("features", "prediction", "latency", "reason"),
    [
        ({1: 2.0}, None, None, "non_string_key"),
        ({"a": [1, 2]}, None, None, "bad_feature_value"),
        ({"a": np.zeros(3)}, None, None, "bad_feature_value"),
        ({"a": object()}, None, None, "unserializable"),
        ([("a", 1)], None, None, "bad_features"),
        ({"x" * 300: 1}, None, None, "feature_name_too_long"),
        ({"a": "y" * 2000}, None, None, "feature_value_too_long"),
        ({f"f{i}": i for i in range(1001)}, None, None, "too_many_features"),
        ({"a": 1}, [0.1, 0.9], None, "bad_prediction"),
        ({"a": 1}, {"score": "high"}, None, "bad_prediction"),
        ({"a": 1}, None, -1.0, "bad_latency"),
        ({"a": 1}, None, "fast", "bad_latency"),
    ],
)
def test_what_the_contract_refuses_is_a_named_rejection(features, prediction, latency, reason):
    payload, problem, _ = encode_event("m", "v", call(features, prediction, latency))
    assert payload is None and problem is not None
    assert problem.reason == reason, problem.detail


def test_an_exception_as_error_is_its_type_and_message():
    payload, problem, _ = encode_event("m", "v", call({"a": 1}, error=TimeoutError("slow db")))
    assert problem is None and orjson.loads(payload)["error"] == "TimeoutError: slow db"


def test_an_event_too_large_for_a_record_is_refused():
    features = {f"f{i}": "z" * 1000 for i in range(1000)}
    _, problem, _ = encode_event("m", "v", call(features))
    assert problem is not None and problem.reason == "record_too_large"


def test_labels_are_what_the_worker_accepts_and_bad_ones_are_named():
    payload, problem, _ = encode_label("m", (5.0, "e-1", np.int64(1)))
    assert problem is None
    good, bad = decode_label_record(payload)
    assert bad == [] and good[0] == {
        "model_id": "m",
        "event_id": "e-1",
        "label": 1,
        "timestamp": 5.0,
    }
    for label in (True, None, [1], math.inf):
        payload, problem, _ = encode_label("m", (5.0, "e-1", label))
        assert payload is None and problem.reason == "bad_label", label


def _random_value(rng):
    return rng.choice(
        [
            1.5, -0.0, 7, True, None, "DE", "x" * 1_025, float("nan"), float("inf"), [1], {"a": 1},
            np.float32(2.5), np.int64(3), 2**70, object(), (1, 2),
        ]
    )  # fmt: skip


def _random_call(rng):
    features = {f"f{i}": _random_value(rng) for i in range(rng.randrange(4))}
    if rng.random() < 0.1:
        features["n" * 257] = 1.0
    if rng.random() < 0.05:
        features = {f"f{i}": 1.0 for i in range(1_001)}
    if rng.random() < 0.05:
        features[3] = 1.0
    if rng.random() < 0.05:
        features = rng.choice([[1.0], "text", None])
    if rng.random() < 0.9:  # mostly plain features: the fast path
        features = {f"f{i}": rng.choice([1.5, 2, "a", None, False]) for i in range(20)}
    prediction = rng.choice(
        [
            None, 0.9, 1, "yes", True, float("nan"), [1], object(), {"label": "a", "score": 0.5},
            {"score": 0.5, "label": "b"}, {"label": "a", "score": "high"}, {"label": [1]},
            {"score": True}, {"other": 1}, {"label": "a", "other": 1.0}, {"label": 1, "score": 0.5},
            {"label": None, "score": float("inf")}, np.float64(0.2),
        ]
    )  # fmt: skip
    latency = rng.choice([None, 5.0, 0, -1.0, True, "5", float("nan"), np.float32(3.0)])
    error = rng.choice([None, "boom", ValueError("bad"), 42])
    timestamp = rng.choice([1_763_766_000.5, 1_763_766_000, True, "2026-11-22T00:00:00Z", "x"])
    return (timestamp, "e-1", features, prediction, latency, error)


def test_random_calls_are_encoded_only_as_events_the_worker_accepts():
    import random

    rng = random.Random(7)
    calls = [_random_call(rng) for _ in range(3_000)]
    identities = [("m", "v1"), ("bad id!", "v1"), ("m", 3)]
    results = [encode_event(*identities[i % 3], c) for i, c in enumerate(calls)]
    accepted = [payload for payload, _, _ in results if payload is not None]
    assert 100 < len(accepted) < len(calls)  # both outcomes are exercised
    good, bad = decode_record(b"[" + b",".join(accepted) + b"]")
    assert bad == [] and len(good) == len(accepted)
