import math

from streamproc.events.columns import EventColumns, columns_by_model
from streamproc.events.shapes import MISSING


def test_columns_keep_order_missing_and_nulls():
    events = [
        {"model_id": "m", "features": {"x": 1.0, "c": "a"}, "prediction": 0.5, "latency_ms": 3},
        {
            "model_id": "m",
            "features": {"x": None},
            "prediction": "yes",
            "error": "boom",
            "timestamp": "2026-11-22T00:00:00+00:00",
        },
    ]
    cols = EventColumns.from_events("m", events, default_timestamp=5.0)
    assert cols.features["x"] == [1.0, None]
    assert cols.features["c"] == ["a", MISSING]
    assert cols.timestamps.tolist() == [5.0, 1795305600.0]
    assert cols.prediction_scores[0] == 0.5 and math.isnan(cols.prediction_scores[1])
    assert cols.prediction_labels == [None, "yes"]
    assert cols.errors.tolist() == [False, True]
    assert cols.latency_ms[0] == 3 and math.isnan(cols.latency_ms[1])
    assert cols.slice(1, 2).features["x"] == [None]


def test_columns_by_model_groups_and_keeps_record_timestamps():
    events = [{"model_id": m, "features": {}} for m in "abab"]
    groups = columns_by_model(events, default_timestamp=[1.0, 2.0, 3.0, 4.0])
    assert [(g.model_id, g.timestamps.tolist()) for g in groups] == [
        ("a", [1.0, 3.0]),
        ("b", [2.0, 4.0]),
    ]
