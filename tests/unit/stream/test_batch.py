import orjson
from aiokafka import ConsumerRecord, TopicPartition

from streamproc.detect.monitor import Monitor
from streamproc.stream.batch import batches, events_first, process_records, process_safely


def record(value: bytes, offset: int = 0, key: bytes = b"m") -> ConsumerRecord:
    return ConsumerRecord(
        topic="inference.events",
        partition=2,
        offset=offset,
        timestamp=1_000_000,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=(),
    )


def sources_of(records: list[ConsumerRecord]) -> list[TopicPartition]:
    return [TopicPartition(r.topic, r.partition) for r in records]


def event(model: str = "m", **features) -> dict:
    return {"model_id": model, "features": features or {"x": 1.0}}


def test_bad_records_become_dead_letters_with_headers():
    records = [
        record(orjson.dumps(event()), 0),
        record(b"[1, 2", 1),
        record(orjson.dumps([event(), {"model_id": "m"}]), 2),
    ]
    result = process_records(records, Monitor(), sources=sources_of(records), now=0.0)
    assert sum(c.size for c in result.columns) == 2
    assert result.newest_event_time == 1000.0  # the record time stands in
    whole, element = result.dead_letters
    assert whole.value == b"[1, 2" and whole.reason == "bad_json"
    headers = dict(whole.headers)
    assert headers["source.offset"] == b"1" and headers["source.partition"] == b"2"
    assert headers["source.topic"] == b"inference.events"
    assert element.value == orjson.dumps({"model_id": "m"})
    assert dict(element.headers)["source.index"] == b"1"
    assert dict(element.headers)["error"] == b"[1] features: required field is missing"


class FailsFor(Monitor):
    """A monitor with a bug that bites on one model."""

    def process(self, batches, *, now):
        if any(b.model_id == "poison" for b in batches):
            raise ZeroDivisionError("boom")
        return super().process(batches, now=now)


def test_a_detector_failure_dead_letters_only_the_record_that_caused_it():
    records = [
        record(orjson.dumps(event()), 0),
        record(orjson.dumps(event("poison")), 1),
        record(orjson.dumps(event()), 2),
    ]
    result = process_safely(records, FailsFor(), sources=sources_of(records), now=0.0)
    assert [c.model_id for c in result.columns] == ["m", "m"]
    (dead,) = result.dead_letters
    assert dead.reason == "processing_error"
    assert dict(dead.headers)["error"] == b"processing failed: ZeroDivisionError: boom"


def test_events_first_puts_the_labels_partitions_last_and_keeps_each_partitions_records():
    e0, e1 = TopicPartition("events", 0), TopicPartition("events", 1)
    l0, l1 = TopicPartition("labels", 0), TopicPartition("labels", 1)
    polled = {l1: ["x"], e0: ["a", "b"], l0: ["y", "z"], e1: ["c"]}
    ordered = events_first(polled, "labels")
    assert list(ordered) == [e0, e1, l1, l0]
    assert ordered == polled  # the same records per partition
    assert events_first(polled, None) is polled  # labels off: as polled


def test_a_polls_labels_go_with_its_last_batch_of_events_and_are_not_counted():
    e0, e1 = TopicPartition("events", 0), TopicPartition("events", 1)
    l0, l1 = TopicPartition("labels", 0), TopicPartition("labels", 1)
    polled = events_first({l0: ["x", "y"], e0: ["a", "b", "c"], e1: ["d"], l1: ["z"]}, "labels")
    cut = list(batches(polled, 2, "labels"))
    assert cut == [{e0: ["a", "b"]}, {e0: ["c"], e1: ["d"], l0: ["x", "y"], l1: ["z"]}]
    # a poll of labels alone is one batch; without a labels topic, labels are counted
    assert list(batches({l0: ["x", "y", "z"]}, 2, "labels")) == [{l0: ["x", "y", "z"]}]
    assert len(list(batches(polled, 2))) == 4


async def test_a_poll_of_record_batches_and_records_of_labels_keeps_every_labels_key():
    """Record batches of the labels topic among plain records (an older format,
    aborted transactions): all unpacked here, and every record's key noted."""
    from streamproc.decode.pool import DecoderPool
    from streamproc.stream.batch import start_decoding
    from tests.record_batches import record_batch

    l0, l1 = TopicPartition("labels", 0), TopicPartition("labels", 1)
    label = b'{"model_id": "m1", "event_id": "e", "label": "ok"}'
    poll = {l0: [record_batch(0, [(b"m1", label)], 0)], l1: [record(label, 5, key=b"m2")]}
    with DecoderPool(0) as pool:
        polled = start_decoding(poll, pool, 0, labels="labels")
        await polled.decoded
    assert polled.keys == {l0: {b"m1"}, l1: {b"m2"}}
    assert [r.offset for r in polled.labels] == [0, 5] and polled.label_sources == [l0, l1]
    assert polled.offsets == {l0: 1, l1: 6}
