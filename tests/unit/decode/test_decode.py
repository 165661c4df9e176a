"""decode_batch (the bulk fast path) must give exactly what the reference
path gives: decode_record per record, then columns_by_model."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import orjson
import pytest

from streamproc.decode import decode_batch as decode_records
from streamproc.events.columns import EventColumns, column_values, columns_by_model
from streamproc.events.validate import decode_record
from streamproc.simulate import wide_events


def reference(values: list[bytes | None], stamps: list[float]):
    good: list[dict[str, Any]] = []
    defaults: list[float] = []
    rejections = []
    for i, value in enumerate(values):
        valid, bad = decode_record(value)
        good += valid
        defaults += [stamps[i]] * len(valid)
        rejections += [(i, r) for r in bad]
    columns = columns_by_model(good, default_timestamp=defaults) if good else []
    return columns, rejections


def same_columns(a: EventColumns, b: EventColumns) -> None:
    assert a.model_id == b.model_id
    assert a.model_version == b.model_version
    assert a.size == b.size
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert set(a.features) == set(b.features)
    for name in a.features:
        left, right = column_values(a.features[name]), column_values(b.features[name])
        assert left == right, name
        assert [type(v) for v in left] == [type(v) for v in right], name
    np.testing.assert_array_equal(a.prediction_scores, b.prediction_scores)
    assert a.prediction_labels == b.prediction_labels
    np.testing.assert_array_equal(a.latency_ms, b.latency_ms)
    np.testing.assert_array_equal(a.errors, b.errors)
    assert a.event_ids == b.event_ids


def check(values: list[bytes | None], chunk_events: int = 256) -> None:
    stamps = [float(i) for i in range(len(values))]
    fast = decode_records(values, stamps, chunk_events=chunk_events)
    slow_columns, slow_rejections = reference(values, stamps)
    assert fast.rejections == slow_rejections
    assert [c.model_id for c in fast.columns] == [c.model_id for c in slow_columns]
    for a, b in zip(fast.columns, slow_columns, strict=True):
        same_columns(a.unfold(), b)  # (large batches fold names of one event: decode.fold)
    assert fast.events == sum(c.size for c in slow_columns)
    without = decode_records(values, stamps, chunk_events=chunk_events, event_ids=False)
    assert without.rejections == slow_rejections
    for a, b in zip(without.columns, fast.columns, strict=True):
        assert a.event_ids == []
        a.event_ids = b.event_ids
        same_columns(a, b)


def events(n: int = 40, models: int = 3) -> list[dict[str, Any]]:
    return wide_events(events=n, models=models)


MUTATIONS = {
    "null numeric": lambda e: e["features"].__setitem__("n01", None),
    "string in numeric": lambda e: e["features"].__setitem__("n02", "x"),
    "bool in numeric": lambda e: e["features"].__setitem__("n03", True),
    "int in numeric": lambda e: e["features"].__setitem__("n04", 3),
    "huge int": lambda e: e["features"].__setitem__("n04", 2**64 - 1),
    "list value": lambda e: e["features"].__setitem__("n05", [1]),
    "dict value": lambda e: e["features"].__setitem__("c00", {"a": 1}),
    "missing feature": lambda e: e["features"].pop("c01"),
    "new feature": lambda e: e["features"].__setitem__("extra", 1.5),
    "negative latency": lambda e: e.__setitem__("latency_ms", -1),
    "bool latency": lambda e: e.__setitem__("latency_ms", True),
    "null latency": lambda e: e.__setitem__("latency_ms", None),
    "rfc3339 timestamp": lambda e: e.__setitem__("timestamp", "2026-11-22T00:00:00Z"),
    "bad timestamp": lambda e: e.__setitem__("timestamp", "yesterday"),
    "no timestamp": lambda e: e.pop("timestamp"),
    "int timestamp": lambda e: e.__setitem__("timestamp", 1763766000),
    "score prediction": lambda e: e.__setitem__("prediction", 0.25),
    "class prediction": lambda e: e.__setitem__("prediction", "fraud"),
    "bool prediction": lambda e: e.__setitem__("prediction", True),
    "numeric label": lambda e: e["prediction"].__setitem__("label", 3),
    "bool score": lambda e: e["prediction"].__setitem__("score", True),
    "list prediction": lambda e: e.__setitem__("prediction", [1]),
    "error string": lambda e: e.__setitem__("error", "timeout"),
    "error number": lambda e: e.__setitem__("error", 1),
    "empty version": lambda e: e.__setitem__("model_version", ""),
    "numeric version": lambda e: e.__setitem__("model_version", 2),
    "bad model id": lambda e: e.__setitem__("model_id", "bad id!"),
    "numeric model id": lambda e: e.__setitem__("model_id", 7),
    "no features": lambda e: e.pop("features"),
    "features list": lambda e: e.__setitem__("features", [1, 2]),
    "no event id": lambda e: e.pop("event_id"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("where", [0, 17, 39])
def test_single_event_records_with_one_odd_event(mutation: str, where: int) -> None:
    batch = events()
    MUTATIONS[mutation](batch[where])
    check([orjson.dumps(e) for e in batch])


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_array_records_with_one_odd_event(mutation: str) -> None:
    batch = events(300, models=1)
    MUTATIONS[mutation](batch[150])
    values = [orjson.dumps(batch[i : i + 100]) for i in range(0, 300, 100)]
    check(values, chunk_events=64)


def test_whole_column_of_one_kind() -> None:
    for mutation in (
        "null numeric",
        "int in numeric",
        "string in numeric",
        "no timestamp",
        "score prediction",
        "class prediction",
        "numeric label",
        "null latency",
    ):
        batch = events(30)
        for e in batch:
            MUTATIONS[mutation](e)
        check([orjson.dumps(e) for e in batch])


def test_bad_records_and_mixed_models() -> None:
    batch = events(60, models=4)
    other = copy.deepcopy(batch[:10])
    for e in other:
        e["model_id"] = "other"
        e["features"] = {"a": 1, "b": "x"}
    values: list[bytes | None] = [orjson.dumps(e) for e in batch]
    values[5:5] = [orjson.dumps(e) for e in other]
    values += [b"not json", b"[1, 2]", b"42", None, b"[]", orjson.dumps(batch[:3])]
    for chunk in (1, 7, 256):
        check(values, chunk_events=chunk)


def _raw(event: dict[str, Any], **raw: bytes) -> bytes:
    """An encoded event with extra top-level fields given as raw JSON text."""
    body = orjson.dumps(event)[:-1]
    return body + b"".join(b',"' + k.encode() + b'":' + v for k, v in raw.items()) + b"}"


@pytest.mark.parametrize(
    "odd",
    [
        {"tags": b'["a", 1]'},  # an unknown field (valid JSON)
        {"tags": b"1e400"},  # orjson rejects the number; msgspec would skip it unchecked
        {"tags": b'"\xff"'},  # invalid UTF-8 in an unknown field
        {"tags": b"123456789012345678901234567890"},  # orjson: float, msgspec: int
        {"model_id": b'"other"'},  # a duplicate key: the last one counts
        {"latency_ms": b"1e400"},
        {"latency_ms": b"-9223372036854775809"},  # below int64
        {"timestamp": b"9223372036854775808"},  # above int64
        {"event_id": b'{"a": 1}'},
    ],
)
def test_typed_decoding_gives_way_to_the_reference(odd: dict[str, bytes]) -> None:
    """What msgspec refuses or might read differently takes the orjson paths."""
    values = dumps_each_plain(events())
    values[5] = _raw(orjson.loads(values[5]), **odd)
    check(values)


def test_typed_decoding_of_odd_numbers() -> None:
    evs = events()
    evs[3]["features"]["n00"] = 123456789012345678901234567890  # orjson: a float
    evs[4]["features"]["n01"] = -(2**63) - 1
    evs[5]["prediction"]["score"] = 2**63
    evs[6]["features"]["n02"] = 5e-324
    evs[7]["features"]["n03"] = -0.0
    evs[8]["features"]["n04"] = 1e-400
    check([json.dumps(e).encode() for e in evs])


def dumps_each_plain(items: list[dict[str, Any]]) -> list[bytes | None]:
    return [orjson.dumps(e) for e in items]


@pytest.mark.parametrize(
    "prefix",
    [
        b'"n00": 1.5, ',  # a duplicate feature: the last one counts
        b'"n\\u0030\\u0030": 1.5, ',  # the same, escaped
        b'"n\\u0030\\u0031": 1.5, "n00": true, ',  # an escaped duplicate, a type change
        b'"extra": 1, ',  # one feature more
        None,  # none
    ],
)
@pytest.mark.parametrize("where", [0, 7])
def test_schema_decoding_of_odd_feature_names(prefix: bytes | None, where: int) -> None:
    evs = events(20, models=2)
    values = dumps_each_plain(evs)
    features = b"{}" if prefix is None else b"{" + prefix + orjson.dumps(evs[where]["features"])[1:]
    body = orjson.dumps({k: v for k, v in evs[where].items() if k != "features"})[:-1]
    values[where] = body + b',"features":' + features + b"}"
    check(values)
    check(values, chunk_events=4)


def test_schema_decoding_keeps_the_key_order_of_the_first_event() -> None:
    evs = events(30, models=2)
    flipped = copy.deepcopy(evs)
    for e in flipped:
        e["features"] = dict(reversed(list(e["features"].items())))
    values = dumps_each_plain(evs[:10] + flipped[10:20] + evs[20:])
    check(values)
    check(values, chunk_events=5)
    stamps = [0.0] * 30
    decode_records(dumps_each_plain(evs), stamps)  # the first order's decoder exists now
    out = decode_records(dumps_each_plain(flipped), stamps)
    assert list(out.columns[0].features) == list(flipped[0]["features"])


def test_float_first_features_refuse_integers_in_the_schema_decoder() -> None:
    import msgspec

    from streamproc.decode.schema import schema_decoder as _schema_decoder
    from streamproc.decode.schema import schema_of as _schema_of

    decode, _ = _schema_decoder(_schema_of({"x": 1.5, "c": "a"}))
    assert decode(b'{"model_id": "m", "features": {"x": null, "c": 2}}').features.f0 is None
    for text in (b"1", b"9223372036854775808", b"true", b'"1.5"'):
        with pytest.raises(msgspec.ValidationError):
            decode(b'{"model_id": "m", "features": {"x": ' + text + b', "c": "a"}}')
    # and decode_records still gives what the reference gives
    values = [
        orjson.dumps({"model_id": "m", "features": {"x": x, "c": c}})
        for x, c in [(1.5, "a"), (None, "b"), (2, "c"), (2.5, 3), (None, None), (0.5, True)]
    ]
    for chunk in (1, 2, 3, 6):
        check(values, chunk_events=chunk)


@pytest.mark.parametrize("chunk", [8, 64, 256])
def test_long_runs_with_odd_records_mixed_schemas_and_failed_checks(chunk: int) -> None:
    """Schema chunks stop at refused records, checks fail inside them, schemas mix:
    whichever path takes which records, the result is the reference's."""
    base = events(700, models=4)
    other = [
        {"model_id": "other", "features": {"a": float(i), "b": "x"}, "latency_ms": 1.0}
        for i in range(200)
    ]
    odd = copy.deepcopy(base)
    odd[5]["latency_ms"] = -1.0  # fails a check, not the decoder
    odd[90]["features"]["n03"] = 4  # an integer in a float feature: refused
    odd[91]["features"]["n03"] = 5
    odd[300]["model_id"] = "bad id!"
    odd[301]["features"]["extra"] = 1.0  # other names
    odd[450]["prediction"] = 0.5  # another kind of prediction
    values = dumps_each_plain(odd)
    values[200] = b"not json"
    values[650:650] = dumps_each_plain(other[:40])  # a run of another schema
    pairs = zip(dumps_each_plain(base[:100]), dumps_each_plain(other[:100]), strict=True)
    mixed = [v for pair in pairs for v in pair]
    for batch in (values, mixed, values[:300] + mixed + values[300:]):
        check(batch, chunk_events=chunk)


def test_models_with_their_own_features_and_kinds_in_one_chunk() -> None:
    """Columns are made model by model when the features differ; a model may
    send numbers as predictions while another sends objects."""
    evs: list[dict[str, Any]] = []
    for i in range(120):
        m = i % 3
        e: dict[str, Any] = {
            "model_id": f"m{m}",
            "features": {f"m{m}_x": i * 0.5, "c": "ab"[i % 2]},
        }
        e["prediction"] = 0.25 if m == 1 else {"score": 0.5, "label": "y"}
        if m == 2:
            e["features"]["n"] = i
        evs.append(e)
    values = dumps_each_plain(evs)
    for chunk in (4, 30, 256):
        check(values, chunk_events=chunk)
    values[50] = b"[1]"
    check(values)


def test_interleaved_models_keep_the_version_of_their_last_event() -> None:
    """Models interleaved in one chunk are split by model once per batch: each
    keeps the model_version of its own last event, with or without event ids."""
    evs = events(300, models=3)
    for i, e in enumerate(evs):
        e["model_version"] = f"v{i}"
    evs[-1]["model_version"] = None  # the last model's last event has none: "unknown"
    check(dumps_each_plain(evs))
    decoded = decode_records(dumps_each_plain(evs), [0.0] * len(evs), event_ids=False)
    assert [c.model_version for c in decoded.columns] == ["v297", "v298", "unknown"]
