"""A name flood's batch, packed for shipping, unpickles as exactly the batch."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import orjson

from streamproc.decode import DecodedRecords, decode_batch
from streamproc.decode.ipc import share_strings
from streamproc.decode.sparse_ship import SparseList, pack_sparse, spread
from streamproc.simulate import wide_events
from tests.unit.decode.test_decode import same_columns
from tests.unit.decode.test_sparse import odd_flood


def shipped(values: list[bytes | None]) -> tuple[int, object, object]:
    stamps = [float(i) for i in range(len(values))]
    ranges: list = []
    packed = decode_batch(values, stamps, chunk_events=16, ranges=ranges)
    # the batch as decoded, its flood columns (made sparse at once) as plain lists
    # (a second decode may differ in form, array or list: which tier takes a
    # chunk depends on the schemas met before)
    here = DecodedRecords(
        [replace(c, features=plain(c.features), coded=dict(c.coded)) for c in packed.columns],
        list(packed.rejections),
        packed.events,
    )
    share_strings(packed)
    pack_sparse(packed, ranges)
    sparse = sum(type(c) is SparseList for m in packed.columns for c in m.features.values())
    return sparse, here, pickle.loads(pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL))


def plain(features: dict) -> dict:
    return {
        name: spread(c.total, c.pieces) if type(c) is SparseList else c
        for name, c in features.items()
    }


def same(a, b) -> None:
    assert a.rejections == b.rejections and a.events == b.events
    for x, y in zip(a.columns, b.columns, strict=True):
        same_columns(x, y)
        assert x.overflow == y.overflow
        for name in x.features:  # the same form too: list or array, and dtype
            assert type(x.features[name]) is type(y.features[name]), name
            if type(x.features[name]) is np.ndarray:
                assert x.features[name].dtype == y.features[name].dtype


def test_a_flood_batch_ships_its_rare_names_packed_and_unpickles_the_same() -> None:
    # 400 events a model: below decode.fold.FOLD_MIN_EVENTS, the rare names keep columns
    values = [orjson.dumps(e) for e in wide_events(events=2000, models=5, name_flood=True)]
    values[7] = b"not json"
    sparse, here, there = shipped(values)
    assert sparse > 100  # the rare names went packed
    same(here, there)


def test_odd_floods_and_normal_batches_unpickle_the_same() -> None:
    for values in (
        [orjson.dumps(e) for e in odd_flood()],
        [orjson.dumps(e) for e in wide_events(events=500, models=3)],
    ):
        _, here, there = shipped(values)
        same(here, there)
