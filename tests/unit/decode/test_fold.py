"""Names with a value in one event of a large batch are folded out of the
columns (decode.fold), and everything downstream gives what it gave with them."""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any

import numpy as np
import orjson

from streamproc.decode import decode_batch
from streamproc.decode.fold import FOLD_MIN_EVENTS, fold_singletons
from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events import columns as columns_module
from streamproc.events.columns import EventColumns, columns_by_model
from streamproc.events.shapes import MISSING
from streamproc.simulate import wide_events


def parts_of(events: list[dict[str, Any]], size: int) -> list[EventColumns]:
    return [
        EventColumns.from_events("m", events[i : i + size], default_timestamp=0.0)
        for i in range(0, len(events), size)
    ]


def event(i: int, **features: Any) -> dict[str, Any]:
    return {"model_id": "m", "features": {"x": float(i), **features}}


def test_a_small_batch_folds_nothing() -> None:
    events = [event(i, **{f"id_{i}": 1.0}) for i in range(FOLD_MIN_EVENTS - 1)]
    parts = parts_of(events, 100)
    before = [dict(p.features) for p in parts]
    assert fold_singletons(parts) == (None, 0)
    assert [p.features for p in parts] == before


def test_only_names_of_one_event_are_folded_with_their_row_in_the_batch() -> None:
    events = [event(i) for i in range(600)]
    events[5]["features"]["once"] = "a"
    events[7]["features"]["twice_in_a_part"] = 1.0
    events[9]["features"]["twice_in_a_part"] = 2.0
    events[150]["features"]["in_two_parts"] = None
    events[450]["features"]["in_two_parts"] = None
    events[599]["features"]["last"] = None  # a null is a value: the name was sent
    parts = parts_of(events, 100)
    folded, past = fold_singletons(parts)
    assert past == 0
    assert folded == {"once": (5, "a"), "last": (599, None)}
    assert "twice_in_a_part" in parts[0].features and "in_two_parts" in parts[1].features
    assert all("once" not in p.features and "last" not in p.features for p in parts)


def test_a_one_event_part_holding_an_array_is_folded_too() -> None:
    events = [event(i) for i in range(600)]
    events[-1]["features"]["solo"] = 2.5
    parts = parts_of(events[:-1], 599) + parts_of(events[-1:], 1)
    parts[-1].features["solo"] = np.array([2.5])  # as the decoding tiers make it
    assert fold_singletons(parts) == ({"solo": (599, 2.5)}, 0)


def test_names_past_the_batch_cap_are_taken_out_and_counted(monkeypatch) -> None:
    monkeypatch.setattr(columns_module, "MAX_BATCH_FEATURES", 4)
    events = [event(i, **{f"id_{i}": 1.0}) for i in range(600)]
    parts = parts_of(events, 200)  # each keeps 4 names: x, 3 ids (the rest counted)
    folded, past = fold_singletons(parts)
    assert list(folded) == ["id_0", "id_1", "id_2"]  # x, then the first three names
    assert past == 6  # the other parts' 3 + 3 ids
    assert all(list(p.features) == ["x"] for p in parts)


def test_slices_concat_and_unfold_carry_the_folded_names() -> None:
    events = [event(i) for i in range(600)]
    events[10]["features"]["a"] = 1.5
    events[400]["features"]["b"] = "u"
    whole = EventColumns.from_events("m", events, default_timestamp=0.0)
    parts = parts_of(events, 300)
    folded, _ = fold_singletons(parts)
    joined = EventColumns.concat(parts)
    joined.folded = folded
    assert joined.slice(0, 300).folded == {"a": (10, 1.5)}
    assert joined.slice(300, 600).folded == {"b": (100, "u")}
    assert joined.slice(20, 300).folded is None
    again = EventColumns.concat([joined.slice(0, 300), joined.slice(300, 600)])
    assert again.folded == folded
    back = joined.unfold()
    assert back.folded is None and back.features.keys() == whole.features.keys()
    for name, column in whole.features.items():
        assert columns_module.column_values(back.features[name]) == columns_module.column_values(
            column
        )
    only_b = joined.unfold({"b", "zz"})
    assert only_b.folded == {"a": (10, 1.5)} and only_b.features["b"][400] == "u"
    assert only_b.features["b"].count(MISSING) == 599


def flood_batches(events: int = 6000, models: int = 2, per_batch: int = 2000) -> list[list]:
    evs = wide_events(events=events, models=models, name_flood=True)
    values = [orjson.dumps(e) for e in evs]
    return [
        decode_batch(values[i : i + per_batch], [0.0] * per_batch).columns
        for i in range(0, len(values), per_batch)
    ]


def judge(batches: list[list[EventColumns]], baselines: list[Baseline] | None = None):
    monitor = Monitor(Settings(), baselines=baselines or [])
    out = []
    for batch in batches:
        out += [dataclasses.replace(a, detected_at=0.0) for a in monitor.process(batch, now=0.0)]
    return out, monitor


def test_a_monitor_judges_folded_batches_as_it_judges_them_unfolded() -> None:
    batches = flood_batches()
    assert all(c.folded for batch in batches for c in batch)
    unfolded = [[c.unfold() for c in batch] for batch in batches]
    folded_alerts, _ = judge(batches)
    plain_alerts, _ = judge(unfolded)
    assert folded_alerts == plain_alerts
    overflow = [a for a in folded_alerts if a.feature == "__overflow__"]
    assert overflow and overflow[0].status == "firing"


def test_a_baseline_feature_of_one_event_is_unfolded_and_judged() -> None:
    reference = [event(i, rare=float(i)) if i % 50 == 0 else event(i) for i in range(5000)]
    baseline = Baseline.fit(columns_by_model(reference, default_timestamp=0.0)[0])
    assert "rare" in baseline.features
    stream = [event(i, **({"rare": 1.0} if i == 1800 else {})) for i in range(2000)]
    values = [orjson.dumps(e) for e in stream]
    batch = decode_batch(values, [time.time()] * len(values)).columns
    assert batch[0].folded == {"rare": (1800, 1.0)}
    _, monitor = judge([batch], [baseline])
    _, plain = judge([[c.unfold() for c in batch]], [baseline])
    last = monitor.models["m"].latest
    assert last == plain.models["m"].latest
    assert last.features["rare"].present == 1  # in the last window, judged, not missing
    batch[0].folded = None
    _, lost = judge([batch], [baseline])
    assert lost.models["m"].latest.features["rare"].present == 0  # (what unfolding prevents)


def test_concat_puts_back_a_name_folded_in_one_batch_and_seen_in_another() -> None:
    def batch(rows: range, folded: dict[str, tuple[int, Any]] | None, **columns: Any):
        columns_ = EventColumns.from_events("m", [event(i) for i in rows], default_timestamp=0.0)
        columns_.features.update(columns)
        columns_.folded = folded
        return columns_

    first = batch(range(0, 3), {"twice": (1, 1.5), "once": (2, "a")})
    second = batch(range(3, 6), {"twice": (0, 2.5)}, col=[MISSING, 7.0, MISSING])
    third = batch(range(6, 9), {"col": (2, 8.0)})
    joined = EventColumns.concat([first, second, third])
    assert joined.folded == {"once": (2, "a")}
    assert joined.features["twice"] == [MISSING, 1.5, MISSING, 2.5] + [MISSING] * 5
    assert joined.features["col"] == [MISSING] * 4 + [7.0] + [MISSING] * 3 + [8.0]


def test_a_model_learns_from_folded_batches_what_it_learns_from_unfolded_ones() -> None:
    evs = wide_events(events=8000, models=2, name_flood=True)  # model-000: the even events
    # 'sometimes' in 25 of model-000's first 600 events (learned), then in one event
    # of a batch (folded there) during learning, and in one after it
    for k in [*range(0, 1200, 48), 1500, 6100]:
        evs[k]["features"]["sometimes"] = 1.0
    values = [orjson.dumps(e) for e in evs]
    batches = [
        decode_batch(values[i : i + 1200], [0.0] * 1200).columns for i in range(0, 8000, 1200)
    ]
    folded_in = [i for i, batch in enumerate(batches) if "sometimes" in (batch[0].folded or {})]
    assert folded_in == [1, 5]
    folded_alerts, monitor = judge(batches)
    plain_alerts, plain = judge([[c.unfold() for c in batch] for batch in batches])
    assert folded_alerts == plain_alerts
    for model_id, model in plain.models.items():
        mine = monitor.models[model_id].baseline
        assert mine is not None and model.baseline is not None
        assert mine.replace(created_at=0.0) == model.baseline.replace(created_at=0.0)
    assert "sometimes" in monitor.models["model-000"].baseline.features
    assert monitor.models["model-000"].latest == plain.models["model-000"].latest


def uniform(rng: random.Random, **features: Any) -> dict[str, Any]:
    return {"model_id": "m", "features": {"x": rng.random(), **features}}


def one_feature_baseline() -> Baseline:
    rng = random.Random(1)
    reference = [uniform(rng) for _ in range(2000)]
    return Baseline.fit(columns_by_model(reference, default_timestamp=0.0)[0], cycles=False)


def decoded(rows: list[dict[str, Any]], start: float) -> list[EventColumns]:
    for k, row in enumerate(rows):
        row["timestamp"] = start + k * 0.001
    return decode_batch([orjson.dumps(r) for r in rows], [0.0] * len(rows)).columns


def test_a_new_feature_that_becomes_one_event_a_batch_resolves_as_before() -> None:
    rng = random.Random(2)
    monitor = Monitor(Settings(), baselines=[one_feature_baseline()])
    seen = []
    for k in range(5):
        rows = [uniform(rng, **({"z": 1.0} if k == 0 or i == 250 else {})) for i in range(500)]
        batch = decoded(rows, 1000.0 + k)
        assert (k > 0) == bool(batch[0].folded)  # z is folded once it is in one event
        seen += [(a.status, a.feature) for a in monitor.process(batch, now=0.0)]
    assert seen == [("firing", "z"), ("resolved", "z")]


def test_a_name_folded_in_two_batches_of_one_window_is_one_new_name() -> None:
    rng = random.Random(3)
    settings = Settings(window_events=1000, max_tracked_features=1)
    monitor = Monitor(settings, baselines=[one_feature_baseline()])
    alerts = []
    for k in range(2):
        rows = [uniform(rng, **({"debug": 1.0} if i == 7 else {})) for i in range(500)]
        batch = decoded(rows, 1000.0 + k)
        assert batch[0].folded == {"debug": (7, 1.0)}
        alerts += monitor.process(batch, now=0.0)
    assert alerts == []  # one new name, within the cap of 1: no __overflow__
    assert monitor.models["m"].latest is not None
