"""Fetched records without a Python object each: aiokafka's own C records.

``AIOKafkaConsumer.getmany`` makes a ``ConsumerRecord`` of every record in
Python: a generator step, a method call and a dataclass per record, about
2.5 us of the worker's own process per record (a quarter to a third of it at
100,000 events/s, measured with py-spy). :func:`take_whole_batches` makes one
consumer's ``getmany`` hand out the records that aiokafka's record batches
already hold (its C ``DefaultRecord``: ``offset``, ``timestamp``, ``key``,
``value``, ``headers``, ``timestamp_type``; not ``topic`` or ``partition``:
those are the keys of the dict ``getmany`` returns), taken a batch at a time
with ``list(batch)``.

Only one step of aiokafka's is replaced: ``FetchResult.getall``, on each
fetch result of that consumer's fetcher (set on the result as it is stored).
The rest of ``getmany`` (waiting, assignment checks, errors, the next fetch)
is aiokafka's own. It keeps aiokafka's rules: records before the fetch offset
are skipped, control batches are skipped, and the consumed position moves as
aiokafka moves it (past the last record handed out; to the fetch's end once
all are). A batch whose CRC fails raises ``CorruptRecordException`` as in
aiokafka, and the partition is fetched again from the last record handed out
(aiokafka moves past the records before the bad batch without handing them
out). Batches are unpacked only as records are asked for: a fetch of
megabytes is not held twice, as bytes and as records.
A fetch that carries aborted transactions (``read_committed``) is taken by
aiokafka's own ``getall``.

The records of the topics named ``whole`` are not unpacked at all: each
record batch is handed out as one :class:`RecordBatch`, its bytes as fetched,
for a decoder process to unpack (:func:`unpacked`). The worker's labels topic
is read so: one record a label, mostly, whose unpacking was the largest cost
of a label in the worker's own process. To keep the fetched bytes, aiokafka's
fetcher makes its ``MemoryRecords`` through :class:`_KeptBytes`.

If this aiokafka's fetcher is not the one this was written for (its private
attributes differ), nothing is replaced: :func:`take_whole_batches` returns
False and ``getmany`` is unchanged.

``tests/integration/test_fetch.py`` checks it against ``getmany`` on a real
broker: the same records at the same offsets, the same positions.
"""

from __future__ import annotations

import collections
import logging
import sys
from collections.abc import Collection
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CorruptRecordException

log = logging.getLogger(__name__)

__all__ = ["RecordBatch", "record_count", "take_whole_batches", "unpacked"]

try:
    from aiokafka.consumer import fetcher as _fetcher_module
    from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
    from aiokafka.record.default_records import DefaultRecordBatch
except ImportError:  # another aiokafka layout: getmany as it is
    FetchResult = PartitionRecords = DefaultRecordBatch = None  # type: ignore[assignment,misc]
    _fetcher_module = None  # type: ignore[assignment]

# What this module reads and writes of aiokafka's (checked before replacing anything).
_RESULT = ("_topic_partition", "_partition_records", "check_assignment", "has_more")
_RESULT_METHODS = ("_update_position", "getall")
_PARTS = ("_records", "_aborted_transactions", "_check_crcs", "next_fetch_offset")


class RecordBatch:
    """A record batch of a partition, as fetched (magic 2): its records from
    offset ``start`` on are the ones handed out (a fetch may start in the
    middle of a batch). ``offset``: the batch's last offset, and ``timestamp``:
    its base time (ms; that of them all when the broker stamps the batch), as
    a record's, so that a batch passes for its records where those are all
    that is read: committing (past ``offset``), pacing (a batch is held or
    handed out whole, by its first time: a producer's batch spans its linger
    time). ``count``: its records from ``start`` on (fewer after compaction,
    or none). ``key`` is None: the decoder gives the records' keys."""

    __slots__ = ("data", "start", "offset", "timestamp", "count")
    key = None

    def __init__(self, data: bytes, start: int, offset: int, timestamp: int, count: int) -> None:
        self.data, self.start, self.offset, self.timestamp = data, start, offset, timestamp
        self.count = count

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return RecordBatch, (self.data, self.start, self.offset, self.timestamp, self.count)


def record_count(items: list[Any]) -> int:
    """Records among ``items`` (a :class:`RecordBatch` counts its records)."""
    return sum(item.count if type(item) is RecordBatch else 1 for item in items)


def unpacked(batch: RecordBatch) -> list[Any]:
    """The records of ``batch`` handed out (aiokafka's C records)."""
    records = list(DefaultRecordBatch(batch.data))
    if records and records[0].offset < batch.start:
        records = [r for r in records if r.offset >= batch.start]
    return records


def take_whole_batches(consumer: AIOKafkaConsumer, whole: Collection[str] = ()) -> bool:
    """Make a started ``consumer``'s ``getmany`` hand out C records, and the
    record batches of topics ``whole`` as :class:`RecordBatch` (see the module
    doc); False, with nothing changed, if its fetcher is not as expected."""
    fetcher = getattr(consumer, "_fetcher", None)
    results = getattr(fetcher, "_records", None)
    if (
        FetchResult is None
        or type(results) is not collections.OrderedDict
        or not all(hasattr(FetchResult, name) for name in _RESULT_METHODS)
        or not all(hasattr(PartitionRecords, name) for name in ("_unpack_records", "__next__"))
        or not hasattr(_fetcher_module, "MemoryRecords")
    ):
        log.info("aiokafka's fetcher is not the expected one: records taken one by one")
        return False
    if whole and _fetcher_module.MemoryRecords is not _KeptBytes:
        _KeptBytes.made_by = _fetcher_module.MemoryRecords
        _fetcher_module.MemoryRecords = _KeptBytes
    fetcher._records = _WholeBatchResults(results, frozenset(whole))  # type: ignore[union-attr]
    return True


class _KeptBytes:
    """aiokafka's ``MemoryRecords`` (which keeps its bytes out of reach), with
    the bytes kept in ``data``."""

    __slots__ = ("data", "_records")
    made_by: Any = None  # aiokafka's class

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._records = self.made_by(data)

    def size_in_bytes(self) -> int:
        return self._records.size_in_bytes()  # type: ignore[no-any-return]

    def has_next(self) -> bool:
        return self._records.has_next()  # type: ignore[no-any-return]

    def next_batch(self) -> Any:
        return self._records.next_batch()


class _WholeBatchResults(collections.OrderedDict):  # type: ignore[type-arg]
    """The fetcher's results by partition; a fetch result stored here takes its
    records a record batch at a time (:class:`_Taker`)."""

    def __init__(self, results: Any, whole: frozenset[str]) -> None:
        self.whole = whole  # (before the results already fetched are stored)
        super().__init__(results)

    def __setitem__(self, tp: Any, result: Any) -> None:
        if type(result) is FetchResult and _usable(result):
            result.getall = _Taker(result, whole=tp.topic in self.whole)
        super().__setitem__(tp, result)


def _usable(result: Any) -> bool:
    part = getattr(result, "_partition_records", None)
    return all(hasattr(result, name) for name in _RESULT) and all(
        hasattr(part, name) for name in _PARTS
    )


class _Taker:
    """``getall`` of one fetch result: its record batches unpacked one at a time,
    as records are asked for (at most ``max_records`` at a time), so that a
    fetch of megabytes is not made into records all at once; or, for a topic
    taken ``whole``, handed out as they are, as many as hold ``max_records``
    records (and one more)."""

    __slots__ = ("result", "rest", "at", "end", "fallback", "broken", "whole", "data", "pos")

    def __init__(self, result: Any, whole: bool = False) -> None:
        self.result = result
        self.rest: list[Any] = []  # the records of the batch being handed out
        self.at = 0  # ... from this index on
        self.end = result._partition_records.next_fetch_offset  # after the last batch unpacked
        self.fallback: bool | None = None  # aiokafka's own getall (aborted transactions)
        self.broken = False  # a batch failed its CRC check
        # whole batches: the fetched bytes, and where the next batch starts in them
        self.data: bytes | None = getattr(result._partition_records._records, "data", None)
        self.whole = whole and type(self.data) is bytes
        self.pos = 0

    def __call__(self, max_records: int | None = None) -> list[Any]:
        result = self.result
        tp = result._topic_partition
        part = result._partition_records
        if not result.check_assignment(tp) or not result.has_more():
            if part is not None:  # dropped (partition paused or moved): its bytes go now
                self.rest = []
                _release(result, part)
            return []
        if self.fallback is None:  # read_committed with aborts: aiokafka's way
            self.fallback = bool(part._aborted_transactions)
        if self.fallback:
            return FetchResult.getall(result, max_records)  # type: ignore[no-any-return]
        if self.broken:  # refetched from the last record handed out
            _release(result, part)
            return []
        room = max_records if max_records is not None else sys.maxsize
        out: list[Any] = []
        records = 0  # in the batches handed out whole
        while len(out) < room and records < room:
            if self.at < len(self.rest):
                taken = self.rest[self.at : self.at + room - len(out)]
                self.at += len(taken)
                out += taken
                if self.whole:
                    records += taken[0].count
            elif not self._unpack_next(part, tp):  # every record handed out
                part.next_fetch_offset = self.end
                result._update_position()
                _release(result, part)
                return out
        part.next_fetch_offset = out[-1].offset + 1
        result._update_position()
        return out

    def _unpack_next(self, part: Any, tp: Any) -> bool:
        """The records of the next batch with records into ``rest`` (aiokafka's
        ``PartitionRecords._unpack_records``, a batch at a time); False at the end."""
        batches = part._records
        while batches.has_next():
            batch = batches.next_batch()
            if part._check_crcs and not batch.validate_crc():
                self.broken = True
                raise CorruptRecordException(f"Invalid CRC - {tp}")
            self.whole = self.whole and getattr(batch, "magic", None) == 2  # (else records)
            if self.whole:
                records = self._whole(batch)
            else:
                records = [] if batch.is_control_batch else list(batch)
            if records and records[0].offset < self.end:  # fetched from its middle
                records = [r for r in records if r.offset >= self.end]
            self.end = batch.next_offset
            if records:
                self.rest, self.at = records, 0
                return True
        return False

    def _whole(self, batch: Any) -> list[Any]:
        """The next batch (at byte ``pos`` of the fetch: aiokafka reads them in
        order) as one :class:`RecordBatch`, none for a control batch or one
        whose records were all handed out before."""
        at, data = self.pos, self.data
        assert data is not None
        self.pos = at + _BATCH_HEAD + int.from_bytes(data[at + 8 : at + 12], "big")
        if batch.is_control_batch or batch.next_offset <= self.end:
            return []
        stamp = batch.max_timestamp if batch.timestamp_type == 1 else batch.first_timestamp
        count = int.from_bytes(data[at + 57 : at + 61], "big")  # the batch's records
        count -= max(0, self.end - batch.base_offset)  # (not those handed out before)
        last = batch.next_offset - 1
        return [RecordBatch(data[at : self.pos], self.end, last, stamp, max(count, 0))]


_BATCH_HEAD = 12  # bytes of a record batch before its length counts: offset, length


def _release(result: Any, part: Any) -> None:
    """Done with a fetch result: drop its records and the reference cycles that
    would keep its fetched bytes (megabytes) alive until the cyclic GC runs,
    which the worker runs rarely: aiokafka's record generator, never started
    here, holds its ``PartitionRecords``, and the result holds its taker."""
    result._partition_records = None
    part._records_iterator = None
    del result.getall
