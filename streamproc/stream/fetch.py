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
aiokafka, but none of that fetch's records is lost: the position stays at the
fetch's start (aiokafka moves it past the records before the bad batch, which
it never handed out).
A fetch that carries aborted transactions (``read_committed``) is taken by
aiokafka's own ``getall``. If this aiokafka's fetcher is not the one this was
written for (its private attributes differ), nothing is replaced:
:func:`take_whole_batches` returns False and ``getmany`` is unchanged.

``tests/integration/test_fetch.py`` checks it against ``getmany`` on a real
broker: the same records at the same offsets, the same positions.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CorruptRecordException

log = logging.getLogger(__name__)

__all__ = ["take_whole_batches"]

try:
    from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
except ImportError:  # another aiokafka layout: getmany as it is
    FetchResult = PartitionRecords = None  # type: ignore[assignment,misc]

# What this module reads and writes of aiokafka's (checked before replacing anything).
_RESULT = ("_topic_partition", "_partition_records", "check_assignment", "has_more")
_RESULT_METHODS = ("_update_position", "getall")
_PARTS = ("_records", "_aborted_transactions", "_check_crcs", "next_fetch_offset")


def take_whole_batches(consumer: AIOKafkaConsumer) -> bool:
    """Make a started ``consumer``'s ``getmany`` hand out C records (see the
    module doc); False, with nothing changed, if its fetcher is not as expected."""
    fetcher = getattr(consumer, "_fetcher", None)
    results = getattr(fetcher, "_records", None)
    if (
        FetchResult is None
        or type(results) is not collections.OrderedDict
        or not all(hasattr(FetchResult, name) for name in _RESULT_METHODS)
        or not all(hasattr(PartitionRecords, name) for name in ("_unpack_records", "__next__"))
    ):
        log.info("aiokafka's fetcher is not the expected one: records taken one by one")
        return False
    fetcher._records = _WholeBatchResults(results)  # type: ignore[union-attr]
    return True


class _WholeBatchResults(collections.OrderedDict):  # type: ignore[type-arg]
    """The fetcher's results by partition; a fetch result stored here takes its
    records whole (:func:`_take`)."""

    def __setitem__(self, tp: Any, result: Any) -> None:
        if type(result) is FetchResult and _usable(result):
            result.getall = _Taker(result)
        super().__setitem__(tp, result)


def _usable(result: Any) -> bool:
    part = getattr(result, "_partition_records", None)
    return all(hasattr(result, name) for name in _RESULT) and all(
        hasattr(part, name) for name in _PARTS
    )


class _Taker:
    """``getall`` of one fetch result: its records unpacked at the first call,
    handed out in order, ``max_records`` at most at a time."""

    __slots__ = ("result", "records", "taken", "end")

    def __init__(self, result: Any) -> None:
        self.result = result
        self.records: list[Any] | None = None
        self.taken = 0
        self.end = 0  # the position after the last batch

    def __call__(self, max_records: int | None = None) -> list[Any]:
        result = self.result
        tp = result._topic_partition
        if not result.check_assignment(tp) or not result.has_more():
            return []
        part = result._partition_records
        if self.records is None:
            if part._aborted_transactions:  # read_committed with aborts: aiokafka's way
                return FetchResult.getall(result, max_records)  # type: ignore[no-any-return]
            try:
                self.records, self.end = _unpack(part, tp)
            except CorruptRecordException:  # none handed out; refetched from the same place
                self.records, self.end = [], part.next_fetch_offset
                raise
        records, start = self.records, self.taken
        left = len(records) - start
        if max_records is None or left <= max_records:
            part.next_fetch_offset = self.end
            result._update_position()
            result._partition_records = None
            self.records = None
            return records[start:] if start else records
        out = records[start : start + max_records]
        self.taken = start + max_records
        part.next_fetch_offset = out[-1].offset + 1
        result._update_position()
        return out


def _unpack(part: Any, tp: Any) -> tuple[list[Any], int]:
    """All records of a fetch from its fetch offset on, and the position after
    them (aiokafka's ``PartitionRecords._unpack_records``, a batch at a time)."""
    batches = part._records
    offset = part.next_fetch_offset
    records: list[Any] = []
    while batches.has_next():
        batch = batches.next_batch()
        if part._check_crcs and not batch.validate_crc():
            raise CorruptRecordException(f"Invalid CRC - {tp}")
        if not batch.is_control_batch:
            taken = list(batch)
            if taken and taken[0].offset < offset:  # a batch fetched from its middle
                taken = [r for r in taken if r.offset >= offset]
            records += taken
        offset = batch.next_offset
    return records, offset
