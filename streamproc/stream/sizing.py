"""How many records the worker's poller takes for a batch of about ``max_batch`` events.

Records may carry arrays of events, so a batch is counted in events, not
records (which could be millions of events). Label records are not counted
in a batch (a poll's all go with its last batch,
:func:`~streamproc.stream.batch.batches`), but a poll takes room for them, up
to as many again as the events' records. Both shares are smoothed over the
batches.

>>> size = BatchSize(max_batch=5000)
>>> size.records(), size.event_records()
(5000, 5000)
>>> size.judged(events=50_000, records=500)  # 100 events a record
>>> size.event_records()
240
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition


def records_per_event_record(
    polled: Mapping[TopicPartition, Sequence[Any]], labels: str | None
) -> float | None:
    """All records of a poll per record of events, from 1 (no labels) to 2 (at
    least as many label records as event records; more are not counted), or
    None for an empty poll.

    >>> e, l = TopicPartition("events", 0), TopicPartition("labels", 0)
    >>> [records_per_event_record(p, "labels") for p in ({e: [1, 2], l: [3]}, {l: [1]}, {})]
    [1.5, 2.0, None]
    """
    taken = sum(map(len, polled.values()))
    if not taken:
        return None
    label_records = sum(len(part) for tp, part in polled.items() if tp.topic == labels)
    return taken / max(taken - label_records, taken / 2)


def smoothed(average: float, value: float) -> float:
    """The next value of an exponential moving average (0.2 on the new value).

    >>> round(smoothed(1.0, 2.0), 6)
    1.2
    """
    return 0.8 * average + 0.2 * value


class BatchSize:
    """The records a batch takes, from the smoothed events per record, and a
    poll's, from the records (labels included) per event record."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self.events_per_record = 1.0
        self.records_per_event_record = 1.0  # 1 to 2

    def event_records(self) -> int:
        """Records of events a batch takes (about ``max_batch`` events)."""
        return max(1, min(self.max_batch, int(self.max_batch / self.events_per_record)))

    def records(self) -> int:
        """Records a poll takes per batch: its events' and their share of labels."""
        return int(self.event_records() * self.records_per_event_record)

    def polled(self, polled: Mapping[TopicPartition, Sequence[Any]], labels: str | None) -> None:
        """Note a poll's share of label records (``labels``: the labels topic)."""
        ratio = records_per_event_record(polled, labels)
        if ratio is not None:
            self.records_per_event_record = smoothed(self.records_per_event_record, ratio)

    def judged(self, events: int, records: int) -> None:
        """Note a judged batch's events per record of events."""
        if events and records:
            self.events_per_record = smoothed(self.events_per_record, max(1.0, events / records))
