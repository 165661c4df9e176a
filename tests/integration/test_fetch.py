"""Whole-batch takes (streamproc.stream.fetch) against aiokafka's getmany, on the real broker."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamproc.stream.fetch import RecordBatch, take_whole_batches, unpacked

pytestmark = pytest.mark.integration

PARTITIONS = 2


async def filled_topic(bootstrap: str, records: int) -> str:
    """A new topic of ``PARTITIONS`` partitions holding ``records`` records, sent
    in several producer batches (so that fetches hold several record batches)."""
    topic = f"fetch.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=4096)
    await producer.start()
    try:
        for start in range(0, records, 250):
            sends = [
                await producer.send(
                    topic,
                    value=None if i % 97 == 5 else b"v%d" % i,  # some tombstones
                    key=b"k%d" % (i % 7),
                    partition=i % PARTITIONS,
                    timestamp_ms=1_700_000_000_000 + i,
                    headers=[("h", b"%d" % i)] if i % 11 == 0 else None,
                )
                for i in range(start, min(records, start + 250))
            ]
            for sent in sends:
                await sent
    finally:
        await producer.stop()
    return topic


async def drain(
    bootstrap: str,
    topic: str,
    *,
    whole: bool,
    max_records: int,
    expected: int,
    seek: int = 0,
    batches: bool = False,
) -> tuple[list[tuple], dict[int, int]]:
    """The ``expected`` records from offset ``seek`` of each partition, as
    (partition, offset, timestamp, key, value, headers), and the positions then.
    ``batches``: the topic's record batches handed out whole, unpacked here."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=8192
    )
    await consumer.start()
    try:
        if whole:
            assert take_whole_batches(consumer, whole=[topic] if batches else ())
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, seek)
        got: list[tuple] = []
        for _ in range(10_000):
            if len(got) >= expected:
                break
            polled = await consumer.getmany(timeout_ms=500, max_records=max_records)
            assert sum(map(len, polled.values())) <= max_records
            for tp, records in polled.items():
                if batches:  # as many batches as hold max_records records, and one more
                    assert all(type(item) is RecordBatch for item in records)
                    assert sum(item.count for item in records[:-1]) < max_records
                    assert all(item.count == len(unpacked(item)) for item in records)
                    records = [r for item in records for r in unpacked(item)]  # noqa: PLW2901
                got += [
                    (tp.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers))
                    for r in records
                ]
                # the position follows what was handed out
                assert await consumer.position(tp) > records[-1].offset
        assert not await consumer.getmany(timeout_ms=500)  # nothing more
        return got, {tp.partition: await consumer.position(tp) for tp in tps}
    finally:
        await consumer.stop()


@pytest.mark.parametrize("max_records", [7, 10_000])
async def test_whole_batch_takes_give_what_getmany_gives(bootstrap, max_records):
    topic = await filled_topic(bootstrap, 2_000)
    plain = await drain(bootstrap, topic, whole=False, max_records=max_records, expected=2_000)
    whole = await drain(bootstrap, topic, whole=True, max_records=max_records, expected=2_000)
    assert len(plain[0]) == 2_000
    assert sorted(whole[0]) == sorted(plain[0])  # partitions interleave as fetches come
    for p in range(PARTITIONS):  # each partition in offset order, none twice
        offsets = [offset for partition, offset, *_ in whole[0] if partition == p]
        assert offsets == sorted(set(offsets))
    assert whole[1] == plain[1]


async def test_a_fetch_from_the_middle_of_a_batch_skips_the_records_before_it(bootstrap):
    topic = await filled_topic(bootstrap, 600)
    left = 600 - PARTITIONS * 123
    plain = await drain(bootstrap, topic, whole=False, max_records=50, expected=left, seek=123)
    whole = await drain(bootstrap, topic, whole=True, max_records=50, expected=left, seek=123)
    assert len(whole[0]) == left
    assert min(offset for _, offset, *_ in whole[0]) == 123
    assert sorted(whole[0]) == sorted(plain[0]) and whole[1] == plain[1]


@pytest.mark.parametrize(("max_records", "seek"), [(3, 0), (10_000, 0), (50, 123)])
async def test_record_batches_handed_out_whole_unpack_to_what_getmany_gives(
    bootstrap, max_records, seek
):
    """The labels topic's way: a record batch a record, unpacked elsewhere (a
    fetch from the middle of a batch starts at the fetch's offset)."""
    topic = await filled_topic(bootstrap, 2_000)
    left = 2_000 - PARTITIONS * seek
    plain = await drain(
        bootstrap, topic, whole=False, max_records=max_records, expected=left, seek=seek
    )
    whole = await drain(
        bootstrap, topic, whole=True, max_records=max_records, expected=left, seek=seek,
        batches=True,
    )  # fmt: skip
    assert len(whole[0]) == left and min(offset for _, offset, *_ in whole[0]) == seek
    assert sorted(whole[0]) == sorted(plain[0]) and whole[1] == plain[1]


async def test_another_fetcher_is_left_as_it_is(bootstrap):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)  # not started: no fetcher yet
    assert take_whole_batches(consumer) is False


async def test_a_fetch_taken_whole_frees_its_bytes_without_the_cyclic_gc(bootstrap, monkeypatch):
    """The worker runs the cyclic GC rarely: a fetch's records and bytes must be
    freed by reference counting once handed out (they once piled up: ~120 MB)."""
    import gc
    import weakref

    from streamproc.stream import fetch

    fetched: list[weakref.ref] = []
    taker_init = fetch._Taker.__init__

    def noting(self, result, whole=False):
        taker_init(self, result, whole)
        fetched.append(weakref.ref(result._partition_records))

    monkeypatch.setattr(fetch._Taker, "__init__", noting)
    topic = await filled_topic(bootstrap, 4_000)
    gc.disable()
    try:
        got, _ = await drain(bootstrap, topic, whole=True, max_records=100, expected=4_000)
        # (how many fetches the broker answers with varies: more than one a partition)
        assert len(got) == 4_000 and len(fetched) > PARTITIONS
        # all freed but the last one of each partition (the consumer may still hold it)
        assert [ref() for ref in fetched].count(None) >= len(fetched) - PARTITIONS
    finally:
        gc.enable()
