"""How many records a batch takes (stream/sizing.py)."""

from aiokafka import TopicPartition

from streamproc.stream.sizing import BatchSize, records_per_event_record


def test_label_records_widen_a_batch_by_at_most_as_many_again_as_its_events():
    events, labels = TopicPartition("e", 0), TopicPartition("l", 1)
    ratio = records_per_event_record
    assert ratio({events: [0] * 4}, "l") == 1.0  # no labels: a batch is its events
    assert ratio({events: [0] * 4, labels: [0] * 4}, "l") == 2.0
    assert ratio({events: [0] * 3, labels: [0]}, "l") == 4 / 3
    assert ratio({events: [0], labels: [0] * 9}, "l") == 2.0  # capped: memory stays bounded
    assert ratio({labels: [0] * 9}, "l") == 2.0 and ratio({}, "l") is None


def test_a_batch_takes_max_batch_events_and_its_label_records_beside_them():
    size = BatchSize(max_batch=1000)
    size.polled({TopicPartition("e", 0): [0] * 10, TopicPartition("l", 0): [0] * 10}, "l")
    assert size.records() == int(1000 * 1.2)  # records per event record 1 -> 2, smoothed
    assert size.event_records() == 1000  # the labels are not counted in a batch
    for _ in range(100):
        size.judged(events=100_000, records=1000)  # 100 events a record
    assert size.records() == int(10 * 1.2) and size.event_records() == 10
