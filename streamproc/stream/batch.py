"""The pure part of batch ingestion: records in, judged batch out, no I/O.

A poll is cut into :func:`batches`; each batch's values go to decoding
(:func:`record_values`), then through the detectors (:func:`process_safely`),
which yields a :class:`BatchResult`: alerts, :class:`DeadLetter` copies of the
records that could not be used, and the decoded columns (for metrics).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import orjson
from aiokafka import TopicPartition

from streamproc.config import Topics
from streamproc.decode import DecodedRecords, decode_batch
from streamproc.decode.pool import DecoderPool
from streamproc.detect.monitor import Monitor
from streamproc.events.alerts import Alert
from streamproc.events.columns import EventColumns
from streamproc.labels.decode import decode_label_batches, decode_labels_grouped
from streamproc.stream.fetch import RecordBatch, record_count, unpacked

# One logger for the whole ingestion path; its name predates the split into modules.
log = logging.getLogger("streamproc.stream.ingest")

POLL_BATCHES = 8  # batches a poll may take at most
_key, _value = attrgetter("key"), attrgetter("value")  # of a record
# A fetched record: ``offset``, ``timestamp`` (ms), ``key``, ``value``. The worker's
# consumer hands out aiokafka's C records, which do not know their topic and
# partition (:mod:`streamproc.stream.fetch`): those travel beside them ("sources").
# Of the labels topic it hands out whole record batches (``RecordBatch``), which a
# decoder process unpacks.
Record = Any


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record (or array element) for the dead-letter topic."""

    key: bytes | None
    value: bytes | None
    reason: str
    headers: list[tuple[str, bytes]]


@dataclass(slots=True)
class BatchResult:
    """What one polled batch produced."""

    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    columns: list[EventColumns] = field(default_factory=list)
    newest_event_time: float | None = None


def dead_letter(
    record: Record, source: TopicPartition, reason: str, detail: str, index: int | None = None
) -> DeadLetter:
    """The DLQ copy of a record of partition ``source`` (or of element ``index``
    of an array record)."""
    value = record.value
    headers = [
        ("error", detail.encode()),
        ("error.reason", reason.encode()),
        ("source.topic", source.topic.encode()),
        ("source.partition", str(source.partition).encode()),
        ("source.offset", str(record.offset).encode()),
    ]
    if index is not None:
        value = orjson.dumps(orjson.loads(record.value)[index])
        headers.append(("source.index", str(index).encode()))
    return DeadLetter(record.key, value, reason, headers)


@dataclass(slots=True)
class PolledBatch:
    """Records of one poll, their decoding under way, and the offsets to commit.

    ``generation`` counts the rebalances before the poll: a batch polled before
    partitions moved is dropped (see :class:`~streamproc.stream.ingest.IngestService`).
    ``records`` are the events topic's, ``labels`` the labels topic's (record
    batches, :class:`~streamproc.stream.fetch.RecordBatch`, or records), each
    with its partition (``sources``, ``label_sources``). ``decoded`` gives the
    events' :class:`DecodedRecords`, or with labels on (``DecoderPool.decode_poll``)
    those and the labels' :class:`~streamproc.labels.decode.BatchLabels` (or
    rows and rejections, of records).
    """

    records: list[Record]
    sources: list[TopicPartition]
    decoded: Coroutine[Any, Any, Any]
    offsets: dict[TopicPartition, int]
    generation: int
    labels: list[Record] = field(default_factory=list)  # of the labels topic
    label_sources: list[TopicPartition] = field(default_factory=list)
    # record keys (of the labels topic's record batches: added once decoded)
    keys: dict[TopicPartition, set[bytes]] = field(default_factory=dict)
    polled_at: float = field(default_factory=time.perf_counter)

    def add_label_keys(self, keys: list[set[bytes]]) -> dict[TopicPartition, set[bytes]]:
        """Note the keys of each of ``labels`` (record batches, whose keys the
        decoder gives); the keys of the labels partitions."""
        for tp, found in zip(self.label_sources, keys, strict=True):
            self.keys[tp] |= found
        return {tp: self.keys[tp] for tp in set(self.label_sources)}


def events_first(
    polled: dict[TopicPartition, list[Record]], labels: str | None
) -> dict[TopicPartition, list[Record]]:
    """A poll with the events partitions before the labels topic's (``labels``),
    so that labels are judged after the events polled with them (aiokafka hands
    out partitions in no set order): a label whose prediction is in the same
    poll then finds it waiting instead of waiting as an early label.

    >>> e, l = TopicPartition("events", 0), TopicPartition("labels", 0)
    >>> [tp.topic for tp in events_first({l: [1], e: [2]}, "labels")]
    ['events', 'labels']
    """
    if labels is None:
        return polled
    return dict(sorted(polled.items(), key=lambda item: item[0].topic == labels))


def batches(
    polled: dict[TopicPartition, list[Record]], size: int, labels: str | None = None
) -> Iterator[dict[TopicPartition, list[Record]]]:
    """``polled`` cut into batches of ``size`` records, each partition's in order;
    the records of the labels topic (``labels``), after the events
    (:func:`events_first`), all go with the last batch: a batch's fixed costs
    (a decoder's round trip, the detectors' work per model) are paid per
    batch of events, not again for the labels.

    >>> tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    >>> [{tp.partition: n for tp, n in b.items()} for b in batches({tp0: [1, 2, 3], tp1: [4]}, 2)]
    [{0: [1, 2]}, {0: [3], 1: [4]}]
    >>> tl = TopicPartition("l", 0)
    >>> [{tp.topic: n for tp, n in b.items()} for b in batches({tp0: [1, 2], tl: [3, 4]}, 1, "l")]
    [{'t': [1]}, {'t': [2], 'l': [3, 4]}]
    """
    batch: dict[TopicPartition, list[Record]] = {}
    room = size
    last: dict[TopicPartition, list[Record]] | None = None  # yielded when labels may follow
    for tp, records in polled.items():
        if tp.topic == labels:
            if last is not None:
                batch, last = last, None
            batch[tp] = records
            continue
        start = 0
        while start < len(records):
            if last is not None:
                yield last
                last = None
            taken = records[start : start + room]
            batch[tp] = taken
            start += len(taken)
            room -= len(taken)
            if room == 0:
                last, batch, room = batch, {}, size
    if last is not None:
        yield last
    if batch:
        yield batch


def sources_of(
    batch: dict[TopicPartition, list[Record]], labels: str | None = None
) -> tuple[list[Record], list[TopicPartition], list[Record], list[TopicPartition]]:
    """The records of a batch in one list, each one's partition in another, for
    the events topic and for the labels topic (``labels``; None: none).

    >>> tp0, tp1, tl = TopicPartition("e", 0), TopicPartition("e", 1), TopicPartition("l", 0)
    >>> batch = {tp0: ["a"], tp1: ["b", "c"], tl: ["x"]}
    >>> records, sources, _, label_sources = sources_of(batch, "l")
    >>> records, [tp.partition for tp in sources], label_sources == [tl]
    (['a', 'b', 'c'], [0, 1, 1], True)
    """
    records: list[Record] = []
    sources: list[TopicPartition] = []
    label_records: list[Record] = []
    label_sources: list[TopicPartition] = []
    for tp, part in batch.items():
        if tp.topic == labels:
            label_records += part
            label_sources += [tp] * len(part)
        else:
            records += part
            sources += [tp] * len(part)
    return records, sources, label_records, label_sources


def _records_of(items: list[Record]) -> list[Record]:
    """Records and record batches as records (the batches unpacked)."""
    return [r for item in items for r in (unpacked(item) if type(item) is RecordBatch else [item])]


def unpacked_labels(
    labels: list[Record], sources: list[TopicPartition]
) -> tuple[list[Record], list[TopicPartition]]:
    """The records of the labels topic's items (record batches unpacked), each
    with its partition."""
    if not any(type(item) is RecordBatch for item in labels):
        return labels, sources
    records: list[Record] = []
    record_sources: list[TopicPartition] = []
    for item, tp in zip(labels, sources, strict=True):
        some = _records_of([item])
        records += some
        record_sources += [tp] * len(some)
    return records, record_sources


def records_in(polled: dict[TopicPartition, list[Record]], labels: str | None) -> int:
    """The records of a poll (a record batch of the labels topic counts its
    records; the events' are counted without a look at each)."""
    return sum(
        record_count(part) if tp.topic == labels else len(part) for tp, part in polled.items()
    )


def record_values(records: Sequence[Record]) -> tuple[list[bytes | None], list[float]]:
    """Values and Kafka timestamps (seconds) of records, for decoding."""
    return [r.value for r in records], [r.timestamp / 1000.0 for r in records]


def start_decoding(
    batch: dict[TopicPartition, list[Record]],
    decoders: DecoderPool,
    generation: int,
    *,
    labels: str | None,
) -> PolledBatch:
    """Start decoding a polled batch; ``labels``: the labels topic (None: labels
    off), whose records are decoded with the events, in a decoder process."""
    offsets = {tp: part[-1].offset + 1 for tp, part in batch.items()}  # (a batch: its last)
    label_parts = [part for tp, part in batch.items() if tp.topic == labels]
    whole = all(type(item) is RecordBatch for part in label_parts for item in part)
    if not whole:  # records of an older format, or read_committed with aborts, among them
        batch = {
            tp: _records_of(part) if tp.topic == labels else part for tp, part in batch.items()
        }
    records, sources, label_records, label_sources = sources_of(batch, labels)
    keys = {tp: set(map(_key, part)) - {None} for tp, part in batch.items()}
    if labels is None:
        events = decoders.decode(*record_values(records))
        return PolledBatch(records, sources, events, offsets, generation, keys=keys)
    values, stamps = record_values(records)
    if whole:  # the record batches are unpacked by the decoder process
        decoding = decoders.decode_poll(values, stamps, label_records, decode_label_batches)
    else:
        label_values = list(map(_value, label_records))
        decoding = decoders.decode_poll(values, stamps, label_values, decode_labels_grouped)
    return PolledBatch(
        records,
        sources,
        decoding,
        offsets,
        generation,
        labels=label_records,
        label_sources=label_sources,
        keys=keys,
    )


def process_safely(
    records: list[Record],
    monitor: Monitor,
    *,
    sources: Sequence[TopicPartition],
    now: float,
    decoded: DecodedRecords | None = None,
) -> BatchResult:
    """:func:`process_records`, where a record that makes the detectors fail is
    dead-lettered (reason ``processing_error``) instead of stopping the stream.

    After a failure the batch is redone record by record; events of the failed
    batch that were already counted before the failure may be counted twice.
    """
    try:
        return process_records(records, monitor, sources=sources, now=now, decoded=decoded)
    except Exception:  # noqa: BLE001 - a bug must not stop the stream
        log.exception("batch of %d records failed; redoing it record by record", len(records))
    result = BatchResult()
    for record, source in zip(records, sources, strict=True):
        try:
            part = process_records([record], monitor, sources=[source], now=now)
        except Exception as exc:  # noqa: BLE001
            detail = f"processing failed: {type(exc).__name__}: {exc}".splitlines()[0]
            result.dead_letters.append(dead_letter(record, source, "processing_error", detail))
            continue
        result.alerts += part.alerts
        result.dead_letters += part.dead_letters
        result.columns += part.columns
        if part.newest_event_time is not None:
            result.newest_event_time = max(result.newest_event_time or 0.0, part.newest_event_time)
    return result


def process_records(
    records: list[Record],
    monitor: Monitor,
    *,
    sources: Sequence[TopicPartition],
    now: float,
    decoded: DecodedRecords | None = None,
) -> BatchResult:
    """Decode (unless ``decoded`` holds what :func:`~streamproc.decode.decode_batch` made of the
    records) and judge a batch of event records (no I/O); ``sources[i]`` is the
    partition of ``records[i]``."""
    result = BatchResult()
    if decoded is None:
        decoded = decode_batch(*record_values(records))
    for index, rejection in decoded.rejections:
        result.dead_letters.append(
            dead_letter(
                records[index], sources[index], rejection.reason, rejection.detail, rejection.index
            )
        )
    if decoded.columns:
        result.columns = decoded.columns
        result.alerts = monitor.process(result.columns, now=now)
        result.newest_event_time = max(float(c.timestamps.max()) for c in result.columns)
    return result


Output = tuple[str, bytes | None, bytes | None, Any]  # topic, value, key, headers


def outputs(result: BatchResult, monitor: Monitor, topics: Topics) -> list[Output]:
    """What a judged batch sends: its alerts, its dead letters, and the
    baselines its models learned in it (each once: marked published here)."""
    messages: list[Output] = [
        (topics.alerts, alert.to_json(), alert.model_id.encode(), None) for alert in result.alerts
    ]
    messages += [(topics.dlq, d.value, d.key, d.headers) for d in result.dead_letters]
    for columns in result.columns:
        model = monitor.models.get(columns.model_id)
        baseline = None if model is None else model.baseline
        if model is not None and baseline is not None and baseline.source == "learned":
            if not model.published:
                model.published = True
                value = orjson.dumps(baseline.to_dict())
                messages.append((topics.baselines, value, baseline.model_id.encode(), None))
    return messages
