"""Labels judged in step with their events when a worker catches up (no I/O).

A worker that has fallen behind (after an outage, a restart, in a new group)
reads its events and labels topics at once, at about the same number of
records a second. Sparse labels (a label for 1 event in 10) then cover the
backlog's time ten times faster than the events, and wait as early labels;
past ``max_early_labels`` for a model they are lost (``unknown_id``).

:class:`LabelPacing` holds back, per labels partition, the label records
whose Kafka record time is more than ``slack_ms`` past the newest event polled
from the events partition of the same number (the topics are co-partitioned:
a model's events and labels are in partitions of the same number), and hands
them out, in order, once the events reach them: the way Kafka Streams orders
the records of a join by timestamp. The worker pauses a labels partition
while it has records held, so each labels partition holds at most the
records of one poll (they are not committed: a restart reads them again).
Records are held only while the events partition has records waiting
(``waiting``): a worker that is caught up judges every label at once. A
partition whose held records do not move for ``max_hold_s`` (skewed
producer clocks, a stuck events partition) is read without holding for
``read_s``.

>>> from types import SimpleNamespace as R
>>> pacing = LabelPacing(slack_ms=1000)
>>> labels = [R(timestamp=t) for t in (5_000, 6_000, 9_000)]
>>> out = pacing.take({0: 5_000}, {0: labels}, waiting={0: True}, now=0.0)
>>> [r.timestamp for r in out[0]], pacing.holding
([5000, 6000], {0})
>>> pacing.take({0: 8_500}, {}, waiting={0: True}, now=1.0)[0][0].timestamp, pacing.holding
(9000, set())
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LabelPacing"]


class LabelPacing:
    """Label records held back until their events are polled (see the module
    doc). Times are Kafka record times in ms; ``now`` is monotonic seconds."""

    def __init__(self, slack_ms: float, max_hold_s: float = 30.0, read_s: float = 3.0) -> None:
        self.slack_ms = slack_ms
        self.max_hold_s = max_hold_s
        self.read_s = read_s
        self.event_time: dict[int, float] = {}  # partition -> newest event record time polled
        self.held: dict[int, list[Any]] = {}  # partition -> label records held, in order
        self._since: dict[int, float] = {}  # partition -> when its held records last moved
        self._reading_until: dict[int, float] = {}  # partition -> read without holding until

    @property
    def holding(self) -> set[int]:
        """The labels partitions with records held (to pause)."""
        return set(self.held)

    def take(
        self,
        events: Mapping[int, float],
        labels: Mapping[int, Sequence[Any]],
        waiting: Mapping[int, bool],
        now: float,
    ) -> dict[int, list[Any]]:
        """The label records to judge now, by partition, oldest first: those held
        and the poll's new ``labels`` up to the limit. ``events``: the newest
        event record time of each events partition in the poll; ``waiting``:
        whether an events partition has records not polled yet."""
        for partition, stamp in events.items():
            if stamp > self.event_time.get(partition, -math.inf):
                self.event_time[partition] = stamp
        out: dict[int, list[Any]] = {}
        for partition in self.held.keys() | labels.keys():
            records = [*self.held.pop(partition, ()), *labels.get(partition, ())]
            cut = self._cut(partition, records, waiting.get(partition, False), now)
            if cut:
                out[partition] = records[:cut]
            if cut < len(records):
                self.held[partition] = records[cut:]
                if cut or partition not in self._since:
                    self._since[partition] = now  # moved (or first held)
            else:
                self._since.pop(partition, None)
        return out

    def _cut(self, partition: int, records: list[Any], waiting: bool, now: float) -> int:
        """How many of ``records`` (a partition's, in order) to hand out now."""
        if not waiting or now < self._reading_until.get(partition, -math.inf):
            return len(records)
        if now - self._since.get(partition, now) >= self.max_hold_s:  # stuck: read a while
            self._reading_until[partition] = now + self.read_s
            return len(records)
        limit = self.event_time.get(partition, -math.inf) + self.slack_ms
        if records[-1].timestamp <= limit:
            return len(records)
        return next(k for k, record in enumerate(records) if record.timestamp > limit)

    def forget(self, partitions: set[int]) -> None:
        """Partitions this worker no longer has: their held records are dropped
        (not committed, they are read again by whoever gets the partition)."""
        for state in (self.event_time, self.held, self._since, self._reading_until):
            for partition in partitions & state.keys():
                del state[partition]
