"""A name flood (every event with a feature name of its own, several models per
chunk) decodes to exactly what record-by-record decoding gives, and
features_by_model makes each model's columns in the very form (array or list,
dtype) that dict_feature_columns makes for that model's rows alone."""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import orjson
import pytest

from streamproc.decode.columnar import SPLIT, dict_feature_columns
from streamproc.decode.sparse import features_by_model
from streamproc.events.limits import MAX_FEATURES, MAX_NAME_CHARS, MAX_STRING_CHARS
from streamproc.simulate import wide_events
from tests.unit.decode.test_decode import check


def flood(n: int = 300, models: int = 10) -> list[dict[str, Any]]:
    return wide_events(events=n, models=models, name_flood=True)


def test_a_flood_batch_decodes_as_record_by_record() -> None:
    values = [orjson.dumps(e) for e in flood(600)]
    for chunk in (4, 64, 256):
        check(values, chunk_events=chunk)


def test_a_flood_in_array_records_decodes_as_record_by_record() -> None:
    evs = flood(400)
    values = [orjson.dumps(evs[i : i + 50]) for i in range(0, 400, 50)]
    check(values)
    check(values, chunk_events=64)


def odd_flood() -> list[dict[str, Any]]:
    """A flood with the odd cases of its names: kinds, repeats, several a row."""
    evs = flood(200, models=4)
    rng = random.Random(3)
    for i, e in enumerate(evs):
        features = e["features"]
        kind = i % 7
        if kind == 1:
            features[f"s_{i}"] = "abc"[i % 3]
        elif kind == 2:
            features[f"i_{i}"] = i
        elif kind == 3:
            features["shared"] = rng.choice([1.5, None, 2.5])  # in some rows of a model
        elif kind == 4:
            features["z_first"] = True  # several extra names in one row, in its order
            features["a_second"] = None
        elif kind == 5:
            features["c00"] = 7  # a common name with another kind in one row
        elif kind == 6:
            del features["n05"]  # a common name missing from one row
    evs.append({"model_id": "lonely", "features": {"x": 1.0, "f_only": "y"}})
    return evs


@pytest.mark.parametrize("chunk", [8, 50, 256])
def test_odd_floods_decode_as_record_by_record(chunk: int) -> None:
    check([orjson.dumps(e) for e in odd_flood()], chunk_events=chunk)


@pytest.mark.parametrize(
    "odd",
    [
        {"bad": [1]},  # a value that is not a feature value
        {"x" * (MAX_NAME_CHARS + 1): 1.0},  # a name too long
        {"s": "x" * (MAX_STRING_CHARS + 1)},  # a string too long
        {f"w{k}": 1.0 for k in range(MAX_FEATURES)},  # too many features
    ],
)
def test_a_bad_flood_event_is_rejected_as_record_by_record(odd: dict[str, Any]) -> None:
    evs = flood(100)
    evs[37]["features"].update(odd)
    check([orjson.dumps(e) for e in evs])


def same_form(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert type(a[name]) is type(b[name]), name
        if type(a[name]) is np.ndarray:
            assert a[name].dtype == b[name].dtype, name
            np.testing.assert_array_equal(a[name], b[name])
        else:
            assert list(a[name]) == list(b[name]), name


@pytest.mark.parametrize("rows_of", ["flood", "odd", "same names", "kinds per model"])
def test_features_by_model_are_dict_feature_columns_per_model(rows_of: str) -> None:
    if rows_of == "flood":
        evs = flood(120)
    elif rows_of == "odd":
        evs = odd_flood()
    elif rows_of == "same names":
        evs = wide_events(events=60, models=3)
    else:  # a common name of floats for one model, nulls only for another
        evs = copy.deepcopy(wide_events(events=60, models=3))
        for k, e in enumerate(evs):
            e["features"]["n00"] = None if e["model_id"] == "model-001" else 0.5 * k
            e["features"]["n01"] = k if e["model_id"] == "model-002" else 1.5
    rows = [e["features"] for e in evs]
    model_ids = [e["model_id"] for e in evs]
    out = features_by_model(rows, model_ids)
    assert out is not None
    models = list(dict.fromkeys(model_ids))
    assert len(out) == len(models)
    for model, features in zip(models, out, strict=True):
        expected = dict_feature_columns(
            [r for r, m in zip(rows, model_ids, strict=True) if m == model]
        )
        assert expected is not None and expected is not SPLIT
        same_form(features, expected[0])  # type: ignore[index]


def capped_flood() -> list[dict[str, Any]]:
    """Two models with far more names in a batch than a batch keeps
    (``MAX_BATCH_FEATURES``), and the cases of the names past the cap: one
    seen again later (in a row, then in every row of a chunk), one past
    :data:`MAX_NAME_CHARS` is tested apart."""
    evs = copy.deepcopy(flood(1800, models=2))
    for k, e in enumerate(evs):
        if 1200 <= k < 1300:
            e["features"]["f_late"] = 0.5  # a name first seen past the cap, in many rows
        if k in (1500, 1700):
            e["features"][next(n for n in evs[900]["features"] if n.startswith("f_"))] = "x"
        if k >= 1664:  # a name dropped earlier, then in every row of the last chunks
            e["features"]["f_again"] = 1.5
        if k == 700:
            e["features"]["f_again"] = 2.5
    return evs


@pytest.fixture
def own_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schemas these floods meet are forgotten afterwards: the shared
    SCHEMAS_SEEN would otherwise be filled towards its limit (its clearing
    mid-batch changes which tier decodes what in later tests)."""
    from streamproc.decode import schema

    monkeypatch.setattr(schema.SCHEMAS_SEEN, "_seen", set(schema.SCHEMAS_SEEN._seen))


@pytest.mark.usefixtures("own_schemas")
@pytest.mark.parametrize("chunk", [64, 256])
def test_names_past_the_batch_cap_are_counted_not_columnarised(chunk: int) -> None:
    """The columns past MAX_BATCH_FEATURES are left out while decoding, with
    the same columns, column order and overflow count as the reference path."""
    from streamproc.decode import decode_batch
    from streamproc.events.columns import MAX_BATCH_FEATURES, columns_by_model

    evs = capped_flood()
    values = [orjson.dumps(e) for e in evs]
    check(values, chunk_events=chunk)
    fast = decode_batch(values, [0.0] * len(values), chunk_events=chunk)
    slow = columns_by_model(evs, default_timestamp=0.0)
    assert [c.overflow for c in fast.columns] == [c.overflow for c in slow]
    for folded, plain in zip(fast.columns, slow, strict=True):
        # names of one event are folded out of a batch this large (decode.fold); the
        # rest keep their order, and unfolding gives the reference's columns
        assert folded.folded
        assert list(folded.features) == [n for n in plain.features if n in folded.features]
        assert set(folded.unfold().features) == set(plain.features)
        assert len(folded.unfold().features) == MAX_BATCH_FEATURES
    assert fast.columns[0].overflow > 600


@pytest.mark.usefixtures("own_schemas")
def test_a_name_too_long_past_the_batch_cap_is_rejected_as_record_by_record() -> None:
    evs = capped_flood()
    evs[1601]["features"]["x" * (MAX_NAME_CHARS + 1)] = 1.0
    check([orjson.dumps(e) for e in evs], chunk_events=64)
