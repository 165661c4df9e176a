"""A model restored from its checkpoint behaves as the model it was taken from.

Each stateful piece is checked at a moment it holds state: the events buffered
to learn a baseline, the cycle phases being learned, an open window and ADWINs
part-way through a drift, the realized-performance windows, the label join's
pending predictions. ``restore(snapshot(x))`` and ``x`` then take the same
following events; they must give the same alerts and end in the same state.
"""

from __future__ import annotations

import pickle
import time
import zlib
from collections import Counter, deque

import numpy as np
import orjson
import pytest

from streamproc.detect.monitor import ModelMonitor, Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns, columns_by_model
from streamproc.labels import JoinSettings, LabelJoin, decode_labels
from streamproc.labels.pending import ModelJoin
from streamproc.simulate import NORMAL_FEATURES, Scenario, generate, labels_for
from streamproc.stream.checkpoint import (
    CheckpointError,
    decode,
    encode,
    freeze,
    snapshot,
    thaw,
)


def slow_drift(events: int, *, ramp_from: int, ramp_events: int, seed: int = 1) -> list[dict]:
    """Stable events whose ``amount`` then rises linearly by 1.5 sd over ``ramp_events``."""
    out = [e for batch in generate(Scenario(), events=events, batch=1000, seed=seed) for e in batch]
    mean, sd = NORMAL_FEATURES["amount"]
    for i, event in enumerate(out[ramp_from:], start=0):
        shift = 1.5 * sd * min(1.0, i / ramp_events)
        if event["features"]["amount"] is not None:
            event["features"]["amount"] += shift
    return out


def state(obj, _stack=()):
    """Everything ``obj`` holds, as plain comparable values (what pickle saves of it)."""
    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        return obj
    if isinstance(obj, float):
        return "nan" if obj != obj else obj
    if id(obj) in _stack:
        return "<cycle>"
    stack = (*_stack, id(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return ("ndarray", obj.shape, [state(x, stack) for x in obj.ravel().tolist()])
        return ("ndarray", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, np.generic):
        return state(obj.item(), stack)
    if isinstance(obj, (list, tuple, deque)):
        return [type(obj).__name__, *[state(x, stack) for x in obj]]
    if isinstance(obj, dict):
        return ["dict", *[(state(k, stack), state(v, stack)) for k, v in obj.items()]]
    if isinstance(obj, (set, frozenset)):
        return ["set", *sorted(repr(state(x, stack)) for x in obj)]
    if isinstance(obj, type) or callable(obj) and not hasattr(obj, "__reduce_ex__"):
        return repr(obj)
    reduced = obj.__reduce_ex__(5)
    if isinstance(reduced, str):
        return reduced
    return [getattr(reduced[0], "__qualname__", repr(reduced[0])),
            *[state(x, stack) for x in reduced[1:3]]]  # fmt: skip


def columns(events: list[dict]) -> list[EventColumns]:
    return columns_by_model(events, default_timestamp=0.0)


def restored(model: ModelMonitor) -> ModelMonitor:
    data = encode(snapshot(model.model_id, 0, 1, 0, monitor=model, join=None, now=0.0))
    return thaw(decode(data).monitor)


def run(model: ModelMonitor, events: list[dict], batch: int = 700) -> list:
    alerts = []
    for start in range(0, len(events), batch):
        for c in columns(events[start : start + batch]):
            alerts += model.update(c, now=0.0)
    return alerts


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Learned baselines are stamped with time.time(): the same for both copies."""
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)


EVENTS = slow_drift(30_000, ramp_from=8_000, ramp_events=15_000)


@pytest.mark.parametrize(
    ("cut", "what"),
    [
        (1_300, "baseline being learned from buffered events"),
        (4_250, "learned baseline, cycle phases being learned, window half full"),
        (9_300, "part-way through the drift: window counts and ADWIN state"),
    ],
)
def test_restored_model_judges_the_following_events_identically(cut, what):
    original = ModelMonitor("fraud-detector", Settings())
    run(original, EVENTS[:cut])
    copy = restored(original)
    assert state(copy) == state(original), what
    after_original, after_copy = run(original, EVENTS[cut:]), run(copy, EVENTS[cut:])
    assert after_copy == after_original, what
    assert [a for a in after_original if a.status == "firing"], "the drift must be detected"
    assert state(copy) == state(original), what


def test_the_checkpoint_holds_the_learning_progress():
    original = ModelMonitor("fraud-detector", Settings())
    run(original, EVENTS[:1_300])
    assert original.baseline is None
    copy = restored(original)
    run(copy, EVENTS[1_300:2_000])  # 700 more: 2000 events learned, not 700
    assert copy.baseline is not None and copy.baseline.source == "learned"


def test_realized_performance_windows_survive():
    events = [e for b in generate(Scenario(), events=6_000, batch=1000, seed=3) for e in b]
    labels = labels_for(events, delay_seconds=1.0, concept_drift_at=3_000, flip=0.4)

    def feed(monitor: Monitor, join: LabelJoin, lo: int, hi: int) -> list:
        alerts = []
        for start in range(lo, hi, 500):
            cols = columns(events[start : start + 500])
            alerts += monitor.process(cols, now=0.0)
            pairs = join.add(cols)
            rows, _ = decode_labels(
                [orjson.dumps(x) for x in labels[start : start + 500]], [0.0] * 500
            )
            pairs += join.match(rows)
            alerts += monitor.process_labels(pairs, now=0.0)
        return alerts

    monitor, join = Monitor(Settings()), LabelJoin(JoinSettings())
    feed(monitor, join, 0, 3_500)
    model = monitor.models["fraud-detector"]
    assert model.performance is not None and model.performance.counts is not None
    copy_monitor, copy_join = Monitor(Settings()), LabelJoin(JoinSettings())
    checkpoint = decode(
        encode(
            snapshot(
                "fraud-detector",
                0,
                1,
                1,
                monitor=model,
                join=join.models["fraud-detector"],
                now=0.0,
            )
        )  # fmt: skip
    )
    assert copy_monitor.adopt(thaw(checkpoint.monitor))
    assert copy_join.adopt(thaw(checkpoint.join))
    after = feed(monitor, join, 3_500, 6_000)
    assert feed(copy_monitor, copy_join, 3_500, 6_000) == after
    assert [a for a in after if a.signal == "performance"], "the concept drift must be seen"
    assert state(copy_monitor.models["fraud-detector"]) == state(model)


def test_pending_predictions_of_the_join_survive():
    events = [e for b in generate(Scenario(), events=300, batch=300, seed=4) for e in b]
    join = ModelJoin("fraud-detector", JoinSettings(), Counter())
    join.add(columns(events)[0])
    copy = thaw(freeze(join))
    assert len(copy.index) == 300
    rows, _ = decode_labels([orjson.dumps(x) for x in labels_for(events)], [0.0] * 300)
    a = join.match(rows.event_ids, rows.values, rows.times)
    b = copy.match(rows.event_ids, rows.values, rows.times)
    assert a.size == b.size == 300
    assert state(a) == state(b)
    assert state(copy) == state(join)


def test_a_join_with_gaps_history_and_early_labels_survives_compacted():
    """Pending slots with holes (matched, expired), recent ids of both
    generations and early labels: the packed checkpoint (only the pending slots,
    ids as one string, uncompressed) restores a join that answers the next
    labels exactly as the original: matches, duplicates, expiries, early ones."""
    events = [e for b in generate(Scenario(), events=2_000, batch=500, seed=5) for e in b]
    for i, event in enumerate(events):
        event["timestamp"] = float(i)
    settings = JoinSettings(ttl_seconds=1_500.0, recent_ids=1_000)
    join = ModelJoin("fraud-detector", settings, Counter())
    for start in range(0, 2_000, 500):
        join.add(columns(events[start : start + 500])[0])
    truth = labels_for(events)
    rows, _ = decode_labels([orjson.dumps(x) for x in truth[1_000:1_900:3]], [0.0] * 300)
    join.match(rows.event_ids, rows.values, rows.times)  # holes among the pending slots
    join.match(["early-1", "early-2"], ["yes", "no"], np.array([5.0, 6.0]))  # before their events
    assert join.early and join._matched_old and join.live[: join.head].sum() < join.head - join.tail
    data = freeze(join, compress=False)
    assert data[:1] == pickle.PROTO and len(data) < 100 * len(join.index) + 100_000
    copy = thaw(data)
    assert copy.index.keys() == join.index.keys() and copy.early == join.early
    # the next labels: pending (some twice), already matched, expired, and the early ones' events
    rows, _ = decode_labels([orjson.dumps(x) for x in truth[:2_000:7] * 2], [0.0] * 572)
    late = columns([{**events[0], "event_id": "early-1", "timestamp": 2_000.0}])[0]
    for j in (join, copy):
        j.counts.clear()
    a = join.match(rows.event_ids, rows.values, rows.times), join.add(late)
    b = copy.match(rows.event_ids, rows.values, rows.times), copy.add(late)
    assert state(a) == state(b) and a[0] is not None and a[1] is not None
    assert join.counts == copy.counts and join.counts["duplicate"] and join.counts["expired"]


def test_changed_settings_refuse_the_checkpoint():
    model = ModelMonitor("m", Settings(window_events=500))
    monitor = Monitor(Settings(window_events=1000))
    assert not monitor.adopt(thaw(freeze(model)))
    assert "m" not in monitor.models


def test_only_detection_classes_are_built():
    from streamproc.detect.adwin import adwin_delta
    from streamproc.stream.metrics import Metrics

    with pytest.raises(CheckpointError, match="posix.system"):
        thaw(zlib.compress(pickle.dumps(__import__("os").system)))
    with pytest.raises(CheckpointError, match="streamproc.detect.adwin.adwin_delta"):
        thaw(zlib.compress(pickle.dumps(adwin_delta)))  # a function, even of the detection core
    with pytest.raises(CheckpointError, match="streamproc.stream.metrics.Metrics"):
        thaw(zlib.compress(pickle.dumps(Metrics)))  # a class outside the pure core
    with pytest.raises(CheckpointError, match="unreadable state"):
        thaw(zlib.compress(b"\x80\x05garbage"))


def test_another_version_is_not_restored():
    data = encode(snapshot("m", 0, 1, 0, monitor=None, join=None, now=0.0))
    decode(data)
    with pytest.raises(CheckpointError, match="checkpoint version 99"):
        decode(data.replace(b"\xa7version\x03", b"\xa7version\x63"))
    with pytest.raises(CheckpointError, match="checkpoint version 1 "):  # the join's old layout
        decode(data.replace(b"\xa7version\x03", b"\xa7version\x01"))
    with pytest.raises(CheckpointError, match="checkpoint version 2 "):  # without folded names
        decode(data.replace(b"\xa7version\x03", b"\xa7version\x02"))
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        decode(b"{}")


def test_cost_of_a_checkpoint_of_100_models_with_20_features(capsys):
    """Not a pass/fail timing: prints what a checkpoint of 100 wide models costs."""
    from streamproc.simulate import wide_events  # 16 numeric + 4 categorical features

    models = []
    for m in range(100):
        model = ModelMonitor(f"m{m}", Settings())
        for batch in [wide_events(events=3_000, models=1, seed=m)]:
            for c in columns(batch):
                model.update(c, now=0.0)
        models.append(model)
    assert all(len(model.baseline.features) == 20 for model in models)
    started = time.perf_counter()
    values = [encode(snapshot(m.model_id, 0, 1, 0, monitor=m, join=None, now=0.0)) for m in models]
    took = time.perf_counter() - started
    sizes = sorted(len(v) for v in values)
    started = time.perf_counter()
    for value in values:
        thaw(decode(value).monitor)
    back = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\ncheckpoint of 100 models x 20 features: snapshot {took * 1000:.1f} ms, "
            f"restore {back * 1000:.1f} ms, bytes per model median {sizes[50]} max {sizes[-1]}"
        )
    assert sizes[-1] < 8 * 1024 * 1024


class _CallsAMethodOfAnAllowedClass:
    def __reduce__(self):
        return (getattr, (np.ndarray, "tofile"))  # then REDUCE could write any file


def test_a_payload_may_not_look_up_attributes_of_allowed_classes():
    with pytest.raises(CheckpointError, match="may not look up"):
        thaw(zlib.compress(pickle.dumps(_CallsAMethodOfAnAllowedClass(), protocol=5)))
