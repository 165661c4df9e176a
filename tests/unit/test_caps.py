"""Bounded state under hostile cardinality: a new feature name per event."""

from __future__ import annotations

import orjson
import pytest

from streamproc.decode import decode_batch
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events import columns as columns_module
from streamproc.events.columns import MAX_BATCH_FEATURES, EventColumns, columns_by_model
from streamproc.simulate import wide_events
from tests.unit.decode.test_decode import check


def flood(events: int, models: int = 1, offset: int = 0) -> list[dict]:
    return wide_events(events=events, models=models, name_flood=True, offset=offset)


@pytest.mark.parametrize("chunk", [16, 256])
def test_a_name_flood_decodes_as_the_reference_path_and_columns_are_capped(chunk):
    values = [orjson.dumps(e) for e in flood(2 * MAX_BATCH_FEATURES)]
    check(values, chunk_events=chunk)
    decoded = decode_batch(values, [0.0] * len(values))
    (model,) = decoded.columns
    # the names of one event are folded out (decode.fold): 20 columns are left
    assert len(model.features) == 20 and len(model.folded) == MAX_BATCH_FEATURES - 20
    assert len(model.unfold().features) == MAX_BATCH_FEATURES
    assert model.overflow >= 2 * MAX_BATCH_FEATURES + 20 - MAX_BATCH_FEATURES
    assert {"n00", "c03"} <= set(model.features)  # the normal names come first


def test_a_partial_flood_with_mixed_models_decodes_as_the_reference():
    events = wide_events(events=300, models=3)
    events[100:200] = flood(100, models=3, offset=100)
    check([orjson.dumps(e) for e in events], chunk_events=64)


def test_concat_keeps_the_first_names_and_counts_the_rest(monkeypatch):
    monkeypatch.setattr(columns_module, "MAX_BATCH_FEATURES", 3)
    parts = [
        EventColumns.from_events(
            "m", [{"model_id": "m", "features": {"a": 1.0, f"x{i}": 1.0}}], default_timestamp=0.0
        )
        for i in range(4)
    ]
    joined = EventColumns.concat(parts)
    assert list(joined.features) == ["a", "x0", "x1"]
    assert joined.overflow == 2


def run(monitor: Monitor, events: list[dict], batch: int = 1000) -> list:
    alerts = []
    for i in range(0, len(events), batch):
        alerts += monitor.process(
            columns_by_model(events[i : i + batch], default_timestamp=0.0), now=0.0
        )
    return alerts


def test_a_flood_raises_one_overflow_alert_and_learns_no_flood_name():
    monitor = Monitor(Settings(max_tracked_features=50))
    alerts = run(monitor, flood(20_000, models=2))
    fired = [(a.model_id, a.feature, a.detector) for a in alerts if a.status == "firing"]
    assert sorted(fired) == [
        ("model-000", "__overflow__", "schema"),
        ("model-001", "__overflow__", "schema"),
    ]
    for model in monitor.models.values():
        assert model.baseline is not None
        assert not [name for name in model.baseline.features if name.startswith("f_")]
        assert len(model.baseline.features) == 20
        window = model._window
        assert window is None or len(window.state.new_features) <= 50


def test_the_flood_ends_and_the_overflow_alert_resolves():
    monitor = Monitor(Settings(max_tracked_features=50))
    run(monitor, flood(6_000))
    alerts = run(monitor, wide_events(events=6_000, models=1, offset=6_000))
    assert [(a.status, a.feature) for a in alerts] == [("resolved", "__overflow__")]


def test_models_past_the_cap_are_counted_not_judged():
    monitor = Monitor(max_models=2)
    run(monitor, wide_events(events=3_000, models=3))
    assert sorted(monitor.models) == ["model-000", "model-001"]
    assert monitor.untracked_events == 1_000
