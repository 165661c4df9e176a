import orjson
import pytest

from streamproc.events.validate import decode_record, validate_event, validate_label

GOOD = {
    "model_id": "fraud-detector",
    "model_version": "2026-11-01",
    "event_id": "7f3c2a9e",
    "timestamp": 1763766000.123,
    "features": {"amount": 12.5, "country": "DE", "age": None, "is_new": True},
    "prediction": {"label": "fraud", "score": 0.87},
    "latency_ms": 12.3,
    "error": None,
}


def test_contract_example_is_valid_and_unknown_fields_are_ignored():
    assert validate_event(GOOD) is None
    assert validate_event({**GOOD, "something_new": [1, 2]}) is None


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"model_id": None}, "missing_model_id", "model_id"),
        ({"model_id": "has space"}, "bad_model_id", "model_id"),
        ({"model_id": "x" * 129}, "bad_model_id", "model_id"),
        ({"features": None}, "missing_features", "features"),
        ({"features": [1, 2]}, "bad_features", "features"),
        ({"features": {"amount": [1]}}, "bad_feature_value", "features.amount"),
        ({"features": {"amount": {"a": 1}}}, "bad_feature_value", "features.amount"),
        ({"prediction": [0.1]}, "bad_prediction", "prediction"),
        ({"prediction": {"score": "high"}}, "bad_prediction", "prediction.score"),
        ({"latency_ms": -1}, "bad_latency", "latency_ms"),
        ({"latency_ms": "fast"}, "bad_latency", "latency_ms"),
        ({"error": 500}, "bad_error", "error"),
        ({"timestamp": "yesterday"}, "bad_timestamp", "timestamp"),
        ({"model_version": 3}, "bad_model_version", "model_version"),
    ],
)
def test_each_broken_rule_names_its_field(change, reason, field):
    event = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    problem = validate_event(event)
    assert problem is not None
    assert problem.reason == reason
    assert problem.detail.startswith(field + ":")


def test_decode_single_array_and_garbage():
    assert decode_record(orjson.dumps(GOOD)) == ([GOOD], [])
    good, bad = decode_record(orjson.dumps([GOOD, {"model_id": "m"}, GOOD]))
    assert len(good) == 2 and [(r.reason, r.index) for r in bad] == [("missing_features", 1)]
    assert bad[0].detail.startswith("[1] features:")
    assert decode_record(b"{not json")[1][0].reason == "bad_json"
    assert decode_record(b'"text"')[1][0].reason == "not_an_object"
    assert decode_record(None)[1][0].reason == "bad_json"


def test_label_validation():
    assert validate_label({"model_id": "m", "event_id": "e", "label": 0.3}) is None
    assert validate_label({"model_id": "m", "event_id": "e", "label": None}).reason == "bad_label"
