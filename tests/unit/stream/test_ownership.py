from aiokafka import TopicPartition

from streamproc.stream.ownership import ModelPartitions


def test_the_models_of_revoked_partitions_are_taken_and_forgotten():
    owned = ModelPartitions()
    owned.note_batch({TopicPartition("events", 0): {b"a"}, TopicPartition("events", 2): {b"b"}})
    owned.note(b"c", 2)  # restored from a checkpoint
    owned.note_batch({TopicPartition("events", 0): {b"b"}})  # a key moved: the newest counts
    assert owned.take({2}) == ["c"]
    assert sorted(owned.take({0, 1})) == ["a", "b"]
    assert len(owned) == 0 and owned.take({0}) == []


def test_a_key_that_is_not_utf8_is_still_named():
    owned = ModelPartitions()
    owned.note(b"\xffm", 3)
    assert owned.take({3}) == ["\ufffdm"]
