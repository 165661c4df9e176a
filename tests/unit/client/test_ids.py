import threading
import time
import uuid

from streamproc.client.ids import CHUNK, IdPool, Uuid7Generator, uuid7, uuid7_time


def test_ids_are_uuid7_strictly_increasing_as_text():
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert str(parsed) == ids[0]


def test_a_frozen_clock_still_gives_strictly_increasing_ids():
    generator = Uuid7Generator(clock_ns=lambda: 1_700_000_000_000_000_000)
    ids = [generator() for _ in range(100_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid7_time(i) for i in ids} == {1_700_000_000.0}


def test_the_counter_carries_across_the_hex_groups():
    generator = Uuid7Generator(
        clock_ns=lambda: 0, randbits=lambda bits: (1 << 30) - 2 if bits == 40 else 0
    )
    ids = [generator() for _ in range(4)]  # the counter passes 2**30: the 12-bit group ticks
    assert ids == sorted(ids)
    assert [i[14:18] for i in ids] == ["7000", "7000", "7001", "7001"]


def test_the_default_clock_follows_the_wall_clock():
    assert abs(uuid7_time(uuid7()) - time.time()) < 1.0


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


def _reference(ms: int, count: int, rand: int) -> str:
    """The layout spelled out field by field (RFC 9562, 6.2 method 2)."""
    value = ms << 80 | 0x7 << 76 | (count >> 30) << 64 | 0b10 << 62 | (count & 0x3FFF_FFFF) << 32
    return str(uuid.UUID(int=value | rand))


def test_the_kept_head_is_redone_when_the_millisecond_or_the_counter_top_changes():
    clock = iter(range(0, 10_000_000_000, 400_000))  # 0.4 ms a call: the head changes often
    rands = iter(range(1_000_000))
    generator = Uuid7Generator(
        clock_ns=lambda: 1_700_000_000_000_000_000 + next(clock),
        randbits=lambda bits: (1 << 16) - 5 if bits == 40 else next(rands),
    )
    first_ms = 1_700_000_000_000
    ids = [generator() for _ in range(20)]  # the counter passes 2**16: its top bits tick
    expected = [
        _reference(first_ms + (i * 400_000) // 1_000_000, (1 << 16) - 5 + i, i) for i in range(20)
    ]
    assert ids == expected
    assert ids == sorted(ids)


def counting_pool(size: int = 4, max_age: float = 1.0) -> tuple[IdPool, list[str]]:
    made: list[str] = []

    def make() -> str:
        made.append(f"id{len(made):03d}")
        return made[-1]

    return IdPool(make, size=size, max_age=max_age), made


def test_the_pool_hands_out_ids_made_ahead_in_order():
    pool, made = counting_pool()
    pool.refill(100.0)
    assert made == ["id000", "id001", "id002", "id003"]
    assert [pool.take(100.1) for _ in range(3)] == ["id000", "id001", "id002"]
    assert len(made) == 4  # none made on the caller's side


def test_an_empty_pool_makes_the_id_on_the_spot_and_is_refilled():
    pool, made = counting_pool(size=2)
    assert pool.take(100.0) == "id000"  # never filled
    pool.refill(100.0)
    assert [pool.take(100.1), pool.take(100.1), pool.take(100.1)] == ["id001", "id002", "id003"]
    pool.refill(100.2)  # wanted: refilled although not half its age
    assert len(pool) == 2 and pool.take(100.2) == "id004"


def test_ids_older_than_max_age_are_never_handed_out():
    pool, made = counting_pool(max_age=1.0)
    pool.refill(100.0)
    assert pool.take(101.5) == "id004"  # made on the spot, not the stale id000
    pool.refill(101.5)  # renewed whole
    assert pool.take(101.6) == "id005"


def test_a_used_pool_is_renewed_at_half_its_age_limit():
    pool, made = counting_pool(max_age=1.0)
    pool.refill(100.0)
    pool.take(100.1)
    pool.refill(100.2)  # used, young, 3 of 4 left: nothing to do
    assert len(made) == 4
    pool.refill(100.6)
    assert made[4:] == ["id004", "id005", "id006", "id007"] and pool.take(100.6) == "id004"


def test_an_idle_pool_is_emptied_and_costs_nothing_until_wanted():
    pool, made = counting_pool(max_age=1.0)
    pool.refill(100.0)
    pool.refill(100.6)  # unused for half its age: emptied, not renewed
    assert len(pool) == 0 and len(made) == 4
    for t in (101.0, 150.0, 900.0):
        pool.refill(t)
    assert len(made) == 4
    assert pool.take(900.1) == "id004"  # on the spot; wanted again
    pool.refill(900.1)
    assert len(pool) == 4


def test_the_default_pool_gives_uuid7_of_the_time_taken():
    pool = IdPool()
    now = time.time()
    pool.refill(now)
    first, second = pool.take(now), pool.take(now)
    assert first < second and first[14] == "7"
    assert abs(uuid7_time(first) - now) < 1.0


def test_a_refill_pauses_between_chunks_and_a_renewal_serves_the_old_ids_meanwhile():
    pool, made = counting_pool(size=3 * CHUNK)
    pool.refill(100.0)
    assert len(pool) == 3 * CHUNK
    pool.take(100.1)
    during: list[str] = []
    pool.refill(100.6, pause=lambda: during.append(pool.take(100.6)))  # renewed whole
    assert during == ["id001", "id002"]  # two pauses (three chunks); the old pool served them
    assert pool.take(100.7) == f"id{3 * CHUNK:03d}" and len(pool) == 3 * CHUNK - 1
