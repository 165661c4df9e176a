import math

import numpy as np
import orjson
import pytest

from streamproc.events.validate import decode_label_record, validate_label
from streamproc.labels import LabelRows, decode_labels
from streamproc.labels.decode import decode_label_batches
from tests.record_batches import record_batch


def label(event_id="e1", **changes):
    return {"model_id": "m", "event_id": event_id, "label": "fraud", **changes}


def test_one_label_and_arrays_in_record_order():
    values = [
        orjson.dumps(label("a")),
        orjson.dumps([label("b", label=1), label("c", label=0.25, timestamp=7)]),
        orjson.dumps([]),
    ]
    rows, bad = decode_labels(values, [10.0, 11.0, 12.0])
    assert bad == []
    assert rows.event_ids == ["a", "b", "c"]
    assert rows.values == ["fraud", 1, 0.25]
    assert rows.times.tolist() == [10.0, 11.0, 7.0]
    assert rows.records == [0, 1, 1]
    assert rows.model_ids == ["m"] * 3


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [
        (b"{nope", "bad_json", "value: not valid JSON"),
        (None, "bad_json", "value: record has no value (tombstone)"),
        (b"42", "not_an_object", "label: must be a JSON object, got number"),
        (orjson.dumps({"event_id": "e", "label": "x"}), "bad_model_id", "model_id: must be"),
        (orjson.dumps(label(model_id="bad id!")), "bad_model_id", "model_id: must be"),
        (orjson.dumps({"model_id": "m", "label": "x"}), "missing_event_id", "event_id: required"),
        (orjson.dumps(label(event_id=5)), "missing_event_id", "event_id: required"),
        (orjson.dumps(label(label=None)), "bad_label", "label: must be a string or a number"),
        (orjson.dumps(label(label=True)), "bad_label", "label: must be a string or a number"),
        (orjson.dumps(label(label=[1])), "bad_label", "label: must be a string or a number"),
        (orjson.dumps(label(timestamp="yesterday")), "bad_timestamp", "timestamp: must be"),
    ],
)
def test_malformed_labels_are_rejected_with_one_line_reasons(value, reason, detail):
    rows, bad = decode_labels([orjson.dumps(label("ok")), value], [1.0, 2.0])
    assert rows.event_ids == ["ok"]
    ((index, rejection),) = bad
    assert index == 1 and rejection.reason == reason
    assert rejection.detail.startswith(detail) and "\n" not in rejection.detail


def test_an_array_keeps_its_good_labels_and_names_the_bad_element():
    value = orjson.dumps([label("a"), {"model_id": "m", "label": 1}, label("c")])
    rows, bad = decode_labels([value], [5.0])
    assert rows.event_ids == ["a", "c"]
    ((index, rejection),) = bad
    assert (index, rejection.index, rejection.detail) == (
        0,
        1,
        "[1] event_id: required string field is missing",
    )


def test_unknown_fields_and_rfc3339_timestamps_take_the_reference_path():
    value = orjson.dumps(label(timestamp="2026-11-22T00:00:00Z", source="crm"))
    rows, bad = decode_labels([value], [0.0])
    assert bad == [] and rows.times.tolist() == [1795305600.0]


def test_the_fast_path_agrees_with_the_reference_path():
    values = [
        orjson.dumps(label("a", label=3)),
        orjson.dumps([label("b"), label("c", timestamp=2.5)]),
        b'{"model_id": "m", "event_id": "d", "label": 1180591620717411303424}',  # > int64
    ]
    rows, bad = decode_labels(values, [0.0, 0.0, 0.0])
    assert bad == []
    reference = [e for v in values for e in decode_label_record(v)[0]]
    assert rows.event_ids == [e["event_id"] for e in reference]
    assert rows.values == [e["label"] for e in reference]


def test_validate_label_checks_the_timestamp():
    assert validate_label(label(timestamp=1.5)) is None
    assert validate_label(label(timestamp=math.inf)) is None  # a number, as for events
    assert validate_label(label(timestamp={})).reason == "bad_timestamp"


def test_slice():
    rows, _ = decode_labels([orjson.dumps([label("a"), label("b"), label("c")])], [1.0])
    part = rows.slice(1, 3)
    assert part.event_ids == ["b", "c"] and part.times.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "ids", [["e1", "e2", "e1"], ["", "x"], ["a\x1fb", "c"], ["only"], []], ids=repr
)
def test_rows_survive_pickling(ids):
    import pickle

    rows = LabelRows(["m", "n", "m"][: len(ids)], ids, ["x", 1, 2.5][: len(ids)],
                     np.arange(float(len(ids))), list(range(len(ids))))  # fmt: skip
    for sent in (rows, rows.grouped()):
        back = pickle.loads(pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL))
        assert (back.model_ids, back.event_ids, back.values, back.records, back.groups) == (
            sent.model_ids, sent.event_ids, sent.values, sent.records, sent.groups
        )  # fmt: skip
        assert [type(v) for v in back.values] == [type(v) for v in sent.values]
        assert back.times.tolist() == sent.times.tolist()


def test_record_batches_decode_in_a_decoder_as_their_values_would():
    label = b'{"model_id": "%s", "event_id": "e%d", "label": "yes"}'
    first = [(b"m", label % (b"m", i)) for i in range(4)]
    second = [(b"n", label % (b"n", 9)), (b"n", b"not json"), (b"m", label % (b"m", 7))]
    # the first batch fetched from its middle: its records before offset 102 are not ours
    decoded = decode_label_batches([record_batch(100, first, 102), record_batch(104, second, 0)])
    rows = decoded.rows
    assert rows.event_ids == ["e2", "e3", "e7", "e9"] and rows.groups == [("m", 3), ("n", 4)]
    assert rows.times.tolist() == [1_102.0, 1_103.0, 1_106.0, 1_104.0]  # their records' times
    assert [(index, r.reason) for index, r in decoded.rejections] == [(3, "bad_json")]
    assert decoded.keys == [{b"m"}, {b"m", b"n"}]
    # the same as decoding the records' values with their times
    values = [value for _, value in first[2:] + second]
    again, rejections = decode_labels(values, [1_102.0, 1_103.0, 1_104.0, 1_105.0, 1_106.0])
    assert again.grouped().event_ids == rows.event_ids and len(rejections) == 1
