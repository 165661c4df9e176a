"""A decoded batch shipped with its text columns as codes unpickles as it was."""

from __future__ import annotations

import pickle

import orjson

from streamproc.decode import decode_batch
from streamproc.decode.ipc import CodedList, pack_coded, share_strings
from streamproc.events.columns import column_values
from streamproc.simulate import wide_events
from tests.unit.decode.test_decode import same_columns


def test_coded_text_columns_and_labels_unpickle_as_the_plain_lists() -> None:
    evs = wide_events(events=300, models=3)
    evs[4]["features"]["c00"] = None  # a null among the strings: coded too
    evs[7]["features"]["c01"] = 1  # a number among the strings: not coded
    evs[9]["features"]["c02"] = True
    evs[11]["prediction"] = {"score": 0.5, "label": None}
    values = [orjson.dumps(e) for e in evs]
    here = decode_batch(values, [0.0] * len(values))
    shipped = decode_batch(values, [0.0] * len(values))
    share_strings(shipped)
    pack_coded(shipped)
    coded = {(c.model_id, name) for c in shipped.columns for name in c.coded}
    assert ("model-000", "c00") in coded and ("model-001", "c01") not in coded
    packed = [
        type(column) is CodedList
        for c in shipped.columns
        for column in (*c.features.values(), c.prediction_labels)
    ]
    assert sum(packed) >= 3 * 3  # text columns and labels of each model went as codes
    there = pickle.loads(pickle.dumps(shipped, protocol=pickle.HIGHEST_PROTOCOL))
    assert there.rejections == here.rejections and there.events == here.events
    for a, b in zip(here.columns, there.columns, strict=True):
        same_columns(a, b)
        assert all(type(column) is not CodedList for column in b.features.values())
        for name, (codes, distinct) in b.coded.items():
            assert [distinct[k] for k in codes.tolist()] == column_values(a.features[name])
