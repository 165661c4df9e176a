"""The worker's checkpoint bookkeeping, without Kafka: what is written, with
which offsets, and which records a restored model skips."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka import TopicPartition

from streamproc.config import WorkerConfig
from streamproc.detect.monitor import Monitor
from streamproc.events.columns import columns_by_model
from streamproc.labels import LabelJoin
from streamproc.simulate import Scenario, generate
from streamproc.stream.batch import PolledBatch
from streamproc.stream.checkpoint import decode
from streamproc.stream.checkpoints import Checkpointer
from streamproc.stream.metrics import Metrics
from tests.record_batches import record_batch

CONFIG = WorkerConfig(checkpoint_seconds=5.0)
EVENTS, LABELS = CONFIG.topics.events, CONFIG.topics.labels


def worker() -> tuple[Monitor, LabelJoin, Checkpointer]:
    monitor, join = Monitor(CONFIG.detectors), LabelJoin()
    checkpointer = Checkpointer(CONFIG, monitor, join, Metrics())
    checkpointer.state_partitions = 2
    return monitor, join, checkpointer


def judge(monitor: Monitor, join: LabelJoin, n: int, model: str = "a") -> None:
    events = next(generate(Scenario(model_id=model), events=n, batch=n))
    columns = columns_by_model(events, default_timestamp=0.0)
    monitor.process(columns, now=0.0)
    join.add(columns)


def record(offset: int, key: bytes, topic: str = EVENTS, partition: int = 3):
    return SimpleNamespace(topic=topic, partition=partition, offset=offset, key=key)


def test_changed_models_are_written_with_the_offsets_they_cover():
    monitor, join, checkpointer = worker()
    judge(monitor, join, 100, "a")
    judge(monitor, join, 50, "b")
    tp, labels = TopicPartition(EVENTS, 3), TopicPartition(LABELS, 3)
    checkpointer.judged({tp: {b"a", b"b", b"gone"}}, {tp: 150})
    checkpointer.judged({labels: {b"a"}}, {labels: 7})
    records, commit = checkpointer.collect(now=1.0)
    assert commit == {tp: 150, labels: 7}
    written = {key: decode(value) for _, key, value in records}
    assert sorted(written) == [b"a", b"b"]  # "gone": no state (its records were rejected)
    assert {p for p, _, _ in records} == {3 % 2}
    assert (written[b"a"].events_offset, written[b"a"].labels_offset) == (150, 7)
    assert checkpointer.collect(now=2.0)[0] == []  # nothing changed since: nothing written


def test_a_restored_model_skips_the_records_its_checkpoint_holds():
    monitor, join, checkpointer = worker()
    judge(monitor, join, 100, "a")
    tp = TopicPartition(EVENTS, 3)
    checkpointer.judged({tp: {b"a"}}, {tp: 120})
    ((_, _, value),) = checkpointer.collect(now=1.0)[0]

    # the worker died after writing this checkpoint, before committing offset 120:
    # the next owner resumes from offset 100 (the last commit)
    monitor2, join2, checkpointer2 = worker()
    assert checkpointer2._adopt(decode(value))
    assert "a" in monitor2.models and "a" in join2.models
    assert checkpointer2.skipping
    records = [record(o, k) for o, k in [(100, b"a"), (101, b"b"), (119, b"a"), (120, b"a")]]
    polled = PolledBatch(records, [tp] * 4, decoded=None, offsets={tp: 121}, generation=0)  # type: ignore[arg-type]
    assert checkpointer2.drop_restored(polled) == (True, False)  # events cut, no labels
    kept = [(r.offset, r.key) for r in polled.records]
    assert kept == [(101, b"b"), (120, b"a")] and polled.sources == [tp] * 2
    assert not checkpointer2.skipping  # past every restored offset: no more filtering
    assert checkpointer2.unseen(records, [tp] * 4)[0] is records


def restored(offsets: dict[TopicPartition, int]) -> Checkpointer:
    """The checkpointer of a new worker that restored model "a", checkpointed
    with its records judged up to ``offsets``."""
    monitor, join, checkpointer = worker()
    judge(monitor, join, 100, "a")
    checkpointer.judged({tp: {b"a"} for tp in offsets}, offsets)
    ((_, _, value),) = checkpointer.collect(now=1.0)[0]
    _, _, again = worker()
    assert again._adopt(decode(value))
    return again


def test_labels_fetched_as_record_batches_are_unpacked_to_skip_what_a_checkpoint_holds():
    tp, labels = TopicPartition(EVENTS, 3), TopicPartition(LABELS, 3)
    checkpointer2 = restored({tp: 120, labels: 40})
    batch = record_batch(38, [(b"a", b"x"), (b"b", b"y"), (b"a", b"z")], start=38)
    polled = PolledBatch(
        [], [], decoded=None, offsets={labels: 41}, generation=0,  # type: ignore[arg-type]
        labels=[batch], label_sources=[labels],
    )  # fmt: skip
    assert checkpointer2.drop_restored(polled) == (False, True)  # a label of "a" cut
    assert [(r.offset, r.value) for r in polled.labels] == [(39, b"y"), (40, b"z")]
    assert polled.label_sources == [labels] * 2


def test_a_model_written_again_keeps_its_restored_offset_as_a_floor():
    tp, labels = TopicPartition(EVENTS, 3), TopicPartition(LABELS, 3)
    checkpointer2 = restored({tp: 120, labels: 40})
    checkpointer2.judged({tp: {b"a"}}, {tp: 130})  # events judged, no labels yet
    ((_, _, again),) = checkpointer2.collect(now=2.0)[0]
    assert (decode(again).events_offset, decode(again).labels_offset) == (130, 40)


def test_released_partitions_are_forgotten():
    monitor, join, checkpointer = worker()
    judge(monitor, join, 10, "a")
    tp = TopicPartition(EVENTS, 3)
    checkpointer.judged({tp: {b"a"}}, {tp: 10})
    checkpointer.release([3])
    assert checkpointer.collect(now=1.0) == ([], {})


def test_only_checkpoints_of_the_same_events_topic_and_group_are_restored():
    import asyncio
    import dataclasses

    monitor, join, checkpointer = worker()
    judge(monitor, join, 100, "a")
    tp = TopicPartition(EVENTS, 3)
    checkpointer.judged({tp: {b"a"}}, {tp: 120})
    ((_, key, value),) = checkpointer.collect(now=1.0)[0]
    assert (decode(value).events_topic, decode(value).group_id) == (EVENTS, CONFIG.group_id)

    async def state(_partitions):
        return {key: value}

    for other in (
        dataclasses.replace(CONFIG, group_id="another-group"),
        dataclasses.replace(CONFIG, topics=dataclasses.replace(CONFIG.topics, events="other")),
        CONFIG,
    ):
        monitor2 = Monitor(other.detectors)
        checkpointer2 = Checkpointer(other, monitor2, LabelJoin(), Metrics())
        checkpointer2._read = state  # type: ignore[method-assign]
        restored = asyncio.run(checkpointer2.restore({3}))
        assert (restored == [(b"a", 3)]) == (other is CONFIG), other
        assert ("a" in monitor2.models) == (other is CONFIG)
