"""Labels read in step with their events when a worker catches up (no I/O).

A worker that has fallen behind (after an outage, a restart, a new group)
reads its events and labels partitions at once. A labels partition often
covers more time per record than its events partition (labels for a part of
the events, at a fraction of their rate), so its labels run ahead of their
predictions: they wait in the join as early labels, and past ``max_early``
of them a model's oldest give up (counted ``unknown_id``): labels lost.

:class:`LabelPacing` keeps each labels partition no further ahead, in Kafka
record time, than ``slack_ms`` of the newest event polled from the events
partition of the same number (the topics are co-partitioned: a model's events
and labels are in partitions of the same number), the way Kafka Streams
picks the records of a join by timestamp. Label records past that limit are
put back (the worker seeks the partition back to the first of them and
pauses it) until the events reach their time. The limit holds only while the
events partition has records waiting: a worker that is caught up takes every
label at once, so live labels are not delayed. No partition is held longer
than ``max_pause_s`` at a time (skewed producer clocks cannot starve the
labels): then it is read for ``read_s`` before it may be held again.

>>> pacing = LabelPacing(slack_ms=1000)
>>> pacing.limit(0, waiting=10, now=0.0)          # no event polled yet: hold every label
-inf
>>> pacing.events_polled({0: 5_000})
>>> pacing.limit(0, waiting=10, now=0.0)          # labels up to 1 s past the events
6000
>>> pacing.hold(0, 9_000, now=0.0)                # labels from 9 s on were put back
>>> pacing.to_pause({0: 10}, now=1.0)
{0}
>>> pacing.events_polled({0: 8_500})              # the events reached them
>>> pacing.to_pause({0: 10}, now=2.0), pacing.limit(0, waiting=0, now=2.0)
(set(), inf)
>>> pacing.hold(0, 60_000, now=3.0)               # far ahead: held 30 s, read 3 s
>>> [pacing.limit(0, waiting=10, now=t) for t in (32.9, 33.0, 35.9, 36.0)]
[9500, inf, inf, 9500]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["LabelPacing"]


class LabelPacing:
    """How far ahead of its events each labels partition may be read (see the
    module doc). Times are Kafka record times in ms; ``now`` is monotonic seconds."""

    def __init__(self, slack_ms: float = 1000.0, max_pause_s: float = 30.0, read_s: float = 3.0):
        self.slack_ms = slack_ms
        self.max_pause_s = max_pause_s
        self.read_s = read_s
        self.event_time: dict[int, float] = {}  # partition -> newest event record time polled
        self._held: dict[int, float] = {}  # partition -> time of its first label put back
        self._held_since: dict[int, float] = {}  # partition -> when labels were first put back

    def events_polled(self, newest: Mapping[int, float]) -> None:
        """Note the newest event record time of each events partition in a poll."""
        seen = self.event_time
        for partition, stamp in newest.items():
            if stamp > seen.get(partition, -math.inf):
                seen[partition] = stamp

    def limit(self, partition: int, waiting: int, now: float) -> float:
        """The newest label record time to take from ``partition`` now
        (``waiting``: records waiting in its events partition)."""
        if waiting <= 0:
            self._held_since.pop(partition, None)
            return math.inf
        since = self._held_since.get(partition)
        if since is not None and now - since >= self.max_pause_s:
            if now - since < self.max_pause_s + self.read_s:
                return math.inf  # held long enough: read for a while
            del self._held_since[partition]
        return self.event_time.get(partition, -math.inf) + self.slack_ms

    def hold(self, partition: int, stamp: float, now: float) -> None:
        """Labels of ``partition`` from the record of time ``stamp`` on were put back."""
        self._held[partition] = stamp
        self._held_since.setdefault(partition, now)

    def to_pause(self, waiting: Mapping[int, int], now: float) -> set[int]:
        """The labels partitions to keep paused: their labels put back are still
        past the limit (``waiting``: events partition -> records waiting)."""
        paused = set()
        for partition, stamp in list(self._held.items()):
            if stamp > self.limit(partition, waiting.get(partition, 0), now):
                paused.add(partition)
                continue
            del self._held[partition]
            since = self._held_since.get(partition)
            if since is not None and now - since < self.max_pause_s:  # the events reached them
                del self._held_since[partition]
        return paused

    def forget(self, partitions: set[int]) -> None:
        """Partitions this worker no longer has."""
        for seen in (self.event_time, self._held, self._held_since):
            for partition in partitions & seen.keys():
                del seen[partition]
