import threading
import uuid

from streamproc.client.ids import Uuid7Generator, uuid7, uuid7_time


def test_ids_are_uuid7_strictly_increasing_as_text():
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert str(parsed) == ids[0]


def test_a_frozen_clock_counts_on_then_borrows_the_next_millisecond():
    generator = Uuid7Generator(clock_ns=lambda: 1_700_000_000_000_000_000)
    ids = [generator() for _ in range(5_000)]  # more than one millisecond's 2048..4096
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert uuid7_time(ids[0]) == 1_700_000_000.0
    assert uuid7_time(ids[-1]) > 1_700_000_000.0  # borrowed


def test_a_clock_going_back_keeps_the_order():
    times = iter([2_000_000_000, 1_000_000_000, 3_000_000_000])
    generator = Uuid7Generator(clock_ns=lambda: next(times))
    first, second, third = generator(), generator(), generator()
    assert first < second < third


def test_threads_get_distinct_ids():
    generator = Uuid7Generator()
    out: list[list[str]] = [[] for _ in range(4)]

    def make(bucket: list[str]) -> None:
        bucket.extend(generator() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(b,)) for b in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for bucket in out for i in bucket]
    assert len(set(every)) == len(every)
    assert all(bucket == sorted(bucket) for bucket in out)
