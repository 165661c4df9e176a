import orjson
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from streamproc.config import WorkerConfig
from streamproc.detect.monitor import Monitor
from streamproc.events.columns import EventColumns
from streamproc.labels.decode import decode_label_batches, decode_labels_grouped
from streamproc.stream.batch import BatchResult
from streamproc.stream.labels import LabelStage
from streamproc.stream.metrics import Metrics
from tests.record_batches import record_batch


def record(value: bytes, offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord(
        topic="inference.labels",
        partition=1,
        offset=offset,
        timestamp=2_000_000,
        timestamp_type=0,
        key=b"m",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=(),
    )


def sources_of(records: list[ConsumerRecord]) -> list[TopicPartition]:
    return [TopicPartition(r.topic, r.partition) for r in records]


def columns(ids: list[str]) -> EventColumns:
    events = [
        {"model_id": "m", "event_id": i, "timestamp": 1000.0, "features": {}, "prediction": "ok"}
        for i in ids
    ]
    return EventColumns.from_events("m", events, default_timestamp=0.0)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_labels_are_joined_judged_and_measured(monkeypatch):
    metrics = Metrics()
    stage = LabelStage(WorkerConfig(), metrics)
    monitor = Monitor()
    got = []
    monkeypatch.setattr(
        Monitor, "process_labels", lambda self, b, *, now: got.extend(b) or [], raising=False
    )
    result = BatchResult(columns=[columns(["a", "b", "c"])])
    records = [
        record(orjson.dumps({"model_id": "m", "event_id": "a", "label": "ok"}), 0),
        record(b"{oops", 1),
        record(orjson.dumps([{"model_id": "m", "event_id": "b", "label": "no"}, {"x": 1}]), 2),
        record(orjson.dumps({"model_id": "m", "event_id": "a", "label": "ok"}), 3),
    ]
    stage.process(records, result, monitor, sources=sources_of(records), now=0.0)
    assert [b.event_ids for b in got] == [["a", "b"]]
    assert got[0].label_delays().tolist() == [1000.0, 1000.0]  # Kafka time 2000 s
    letters = result.dead_letters
    assert [d.reason for d in letters] == ["bad_json", "bad_model_id"]
    headers = dict(letters[1].headers)
    assert headers["source.topic"] == b"inference.labels" and headers["source.index"] == b"1"
    assert orjson.loads(letters[1].value) == {"x": 1}
    assert sample(metrics, "streamproc_labels_total", model="m") == 2
    assert sample(metrics, "streamproc_labels_unmatched_total", reason="duplicate") == 1
    assert sample(metrics, "streamproc_labels_unmatched_total", reason="unknown_id") == 0
    assert sample(metrics, "streamproc_labels_pending") == 1
    assert sample(metrics, "streamproc_label_delay_seconds_count") == 2
    assert sample(metrics, "streamproc_label_delay_seconds_bucket", le="3600.0") == 2


def test_labels_decoded_by_a_decoder_process_are_joined_as_those_decoded_here(monkeypatch):
    """The worker's decoder processes unpack the labels topic's record batches
    (decode_label_batches), or send grouped rows timed NaN where a label has no
    timestamp (decode_labels_grouped) that the stage gives its record's Kafka
    time: the pairs, dead letters and counts are the same as decoded here."""
    got: list = []
    monkeypatch.setattr(
        Monitor, "process_labels", lambda self, b, *, now: got.extend(b) or [], raising=False
    )
    records = [
        record(orjson.dumps({"model_id": "m", "event_id": "b", "label": "no"}), 0),
        record(orjson.dumps({"model_id": "n", "event_id": "x", "label": "ok"}), 1),
        record(b"{oops", 2),
        record(orjson.dumps({"model_id": "m", "event_id": "a", "label": "ok", "timestamp": 9}), 3),
    ]
    batch = record_batch(0, [(r.key, r.value) for r in records], 0, time_ms=2_000_000)
    outcomes = []
    for labels, decoded in (
        (records, None),
        (records, decode_labels_grouped([r.value for r in records])),
        ([batch], decode_label_batches([batch])),
        ([batch], None),
    ):
        got.clear()
        metrics = Metrics()
        stage = LabelStage(WorkerConfig(), metrics)
        other = EventColumns.from_events(
            "n",
            [{"model_id": "n", "event_id": "x", "timestamp": 1.0, "features": {}}],
            default_timestamp=0.0,
        )
        result = BatchResult(columns=[columns(["a", "b"]), other])
        sources = sources_of(records)[: len(labels)]
        stage.process(labels, result, Monitor(), sources=sources, now=0.0, decoded=decoded)
        outcomes.append(
            (
                [(b.model_id, b.event_ids, b.label_delays().tolist()) for b in got],
                [(d.reason, d.value) for d in result.dead_letters],
                sample(metrics, "streamproc_labels_total", model="m"),
                stage.join.pending,
            )
        )
    assert outcomes[0] == outcomes[1] == outcomes[2] == outcomes[3]
    assert outcomes[0][0] == [("m", ["b", "a"], [1000.0, -991.0]), ("n", ["x"], [1999.0])]


def test_a_failing_join_dead_letters_the_label_records(monkeypatch):
    stage = LabelStage(WorkerConfig(), Metrics())

    def boom(self, batches, *, now):
        raise RuntimeError("detector bug")

    monkeypatch.setattr(Monitor, "process_labels", boom, raising=False)
    records = [record(orjson.dumps({"model_id": "m", "event_id": "a", "label": "ok"}))]
    batch = record_batch(0, [(b"m", records[0].value)], 0)  # as the worker fetches them
    for labels, decoded in ((records, None), ([batch], decode_label_batches([batch]))):
        result = BatchResult(columns=[columns(["a"])])
        stage.process(
            labels, result, Monitor(), sources=sources_of(records), now=0.0, decoded=decoded
        )
        (letter,) = result.dead_letters
        assert letter.reason == "processing_error" and letter.value == records[0].value
        assert b"detector bug" in dict(letter.headers)["error"]


def test_config_labels_settings():
    from streamproc.config import load_config

    cfg = load_config(env={"STREAMPROC_LABELS": "off", "STREAMPROC_LABEL_TTL_SECONDS": "60"})
    assert cfg.labels is False and cfg.label_ttl_seconds == 60.0
    assert load_config(env={}).labels is True
    try:
        load_config(env={"STREAMPROC_LABELS": "maybe"})
    except ValueError as exc:
        assert "STREAMPROC_LABELS" in str(exc)
    else:
        raise AssertionError("no error")


class _Consumer:
    """The consumer calls of LabelStage.pace."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.held: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def paused(self) -> set[TopicPartition]:
        return set(self.held)

    def pause(self, *tps: TopicPartition) -> None:
        self.held |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.held -= set(tps)


def stamped(topic: str, offset: int, ms: int) -> ConsumerRecord:
    r = record(b"{}", offset)
    r.topic, r.timestamp = topic, ms
    return r


@pytest.mark.parametrize("ahead", ["labels", "events"])
def test_pace_holds_the_side_ahead_and_pauses_its_partition(ahead):
    # labels up to 1 s past their events, events up to 1 s past their labels
    config = WorkerConfig(early_label_seconds=2.0, label_ttl_seconds=2.0)
    stage = LabelStage(config, Metrics())
    tps = {side: TopicPartition(getattr(config.topics, side), 1) for side in ("events", "labels")}
    front, behind = tps[ahead], tps["events" if ahead == "labels" else "labels"]
    consumer = _Consumer(set(tps.values()))
    polled = {
        front: [stamped(front.topic, k, ms) for k, ms in enumerate((9_000, 11_000, 12_000))],
        behind: [stamped(behind.topic, 0, 10_000)],
    }
    both, neither = {1: True}, {1: False}
    out = stage.pace(consumer, polled, events_waiting=both, labels_waiting=both)  # type: ignore[arg-type]
    assert [r.offset for r in out[front]] == [0, 1] and out[behind] == polled[behind]
    assert consumer.held == {front}
    out = stage.pace(consumer, {}, events_waiting=neither, labels_waiting=neither)  # type: ignore[arg-type]
    assert [r.offset for r in out[front]] == [2] and consumer.held == set()
