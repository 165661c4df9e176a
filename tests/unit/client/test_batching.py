import orjson
import pytest

from streamproc.client.batching import RecordBatcher
from streamproc.events.validate import decode_record


def event(i: int) -> bytes:
    return orjson.dumps({"model_id": "m", "event_id": str(i), "features": {"x": i}})


def test_records_close_by_count_and_decode_as_the_worker_decodes_them():
    batcher = RecordBatcher(max_events=3, max_bytes=10_000, linger=1.0)
    records = [r for i in range(7) for r in batcher.add(event(i), now=0.0)]
    records += batcher.drain()
    assert [n for _, n in records] == [3, 3, 1]
    ids = [e["event_id"] for value, _ in records for e in decode_record(value)[0]]
    assert ids == [str(i) for i in range(7)]
    assert len(batcher) == 0 and batcher.drain() == []


def test_records_close_before_passing_the_byte_bound():
    payload = event(0)
    bound = 3 * (len(payload) + 1) + 1
    batcher = RecordBatcher(max_events=100, max_bytes=bound, linger=1.0)
    records = [r for _ in range(10) for r in batcher.add(payload, now=0.0)] + batcher.drain()
    assert sum(n for _, n in records) == 10
    assert all(len(value) <= bound for value, _ in records)
    assert max(n for _, n in records) == 3


def test_records_close_by_time_from_their_first_event():
    batcher = RecordBatcher(max_events=100, max_bytes=10_000, linger=0.05)
    batcher.add(event(1), now=10.0)
    batcher.add(event(2), now=10.04)
    assert batcher.due(now=10.049) == []
    ((value, n),) = batcher.due(now=10.05)
    assert n == 2 and value.startswith(b"[")


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_events"):
        RecordBatcher(max_events=0)
    with pytest.raises(ValueError, match="max_bytes"):
        RecordBatcher(max_bytes=2_000_000)
