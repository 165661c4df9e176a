"""A join's two sides judged in step when a worker catches up (no I/O).

A worker that has fallen behind (after an outage, a restart, in a new group)
reads its events and labels topics at once, at about the same number of
records a second, so the two topics cover the backlog's time at different
speeds:

- **labels ahead of their events**: sparse labels (a label for 1 event in
  10) cover the time ten times faster than the events and wait as early
  labels; past ``max_early_labels`` for a model they are lost (``unknown_id``);
- **events ahead of their labels**: a partition with few events a second
  brings days of event time in one poll, and its predictions pass
  ``label_ttl_seconds`` (expired) before the labels polled after them are
  judged.

:class:`JoinPacing` holds back, per partition number (the topics are
co-partitioned: a model's events and labels are in partitions of the same
number), the records of each side that run ahead of the other side, by
Kafka record time, and hands them out in order once the other side reaches
them: the way Kafka Streams orders the records of a join by timestamp.

- label records more than ``label_slack_ms`` past the newest event handed out
  are held while the events partition has records waiting (the worker's
  slack is a second: a label comes after its prediction, so it then finds
  the prediction pending instead of waiting as an early label);
- event records more than ``event_slack_ms`` past the oldest label not judged
  yet are held while the labels partition has records waiting. With
  ``label_ttl_seconds / 2``, labels produced up to half the TTL after their
  prediction find it pending; later ones may find it expired, as before.

Each side runs at most its slack ahead of the other. A poll's events are
judged before its labels, so events go out only up to the oldest label not
judged yet (plus the slack), and labels up to the next event held: when both
sides have records held after one poll, the next one hands out events (its
oldest label in hand is then past the events held), so the worker never
waits more than one poll for itself; a side with nothing in hand is fetched.
The worker pauses a partition while it has records held, so each holds at
most the records of one poll (not committed: a restart reads them again).
A worker that is caught up (nothing waiting) judges every record at once.
Records held that do not move for ``max_hold_s`` (skewed producer clocks, a
stuck partition) are read without holding for ``read_s``.

>>> from types import SimpleNamespace as R
>>> pacing = JoinPacing(label_slack_ms=1000, event_slack_ms=50_000)
>>> labels = [R(timestamp=t) for t in (5_000, 6_000, 9_000)]
>>> events, out = pacing.take({0: [R(timestamp=5_000)]}, {0: labels},
...                           events_waiting={0: True}, labels_waiting={0: True}, now=0.0)
>>> [r.timestamp for r in out[0]], pacing.holding_labels
([5000, 6000], {0})
>>> pacing.take({0: [R(timestamp=8_500)]}, {}, events_waiting={0: True},
...             labels_waiting={0: True}, now=1.0)[1][0][0].timestamp
9000
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

__all__ = ["JoinPacing"]

_TIMESTAMP = attrgetter("timestamp")  # of a record (ms; CreateTime need not grow)


class _Side:
    """One side's records held, by partition, and its newest record handed out."""

    def __init__(self) -> None:
        self.newest: dict[int, float] = {}  # partition -> newest record time handed out
        self.held: dict[int, list[Any]] = {}  # partition -> records held, in order
        self.since: dict[int, float] = {}  # partition -> when its held records last moved

    def in_hand(self, partition: int, new: Sequence[Any]) -> list[Any]:
        """A partition's records held and ``new`` ones, in order (taken out of
        the held ones; :meth:`keep` holds what is not handed out)."""
        held = self.held.pop(partition, None)
        return [*held, *new] if held else list(new)

    def keep(self, partition: int, records: list[Any], cut: int, now: float) -> list[Any]:
        """Hand out ``records[:cut]``, hold the rest."""
        out = records if cut == len(records) else records[:cut]
        if out:
            stamp = max(map(_TIMESTAMP, out))
            self.newest[partition] = max(stamp, self.newest.get(partition, -math.inf))
        if cut < len(records):
            self.held[partition] = records[cut:]
            if cut or partition not in self.since:
                self.since[partition] = now  # moved (or first held)
        else:
            self.since.pop(partition, None)
        return out

    def stuck(self, partition: int, now: float, max_hold_s: float) -> bool:
        return now - self.since.get(partition, now) >= max_hold_s

    def forget(self, partitions: set[int]) -> None:
        for state in (self.newest, self.held, self.since):
            for partition in partitions & state.keys():
                del state[partition]


class JoinPacing:
    """Event and label records held back while they run ahead of the other
    side (see the module doc). Times are Kafka record times in ms; ``now`` is
    monotonic seconds."""

    def __init__(
        self,
        label_slack_ms: float,
        event_slack_ms: float,
        max_hold_s: float = 30.0,
        read_s: float = 3.0,
        unknown_wait_s: float = 5.0,
    ) -> None:
        self.label_slack_ms = label_slack_ms
        self.event_slack_ms = event_slack_ms
        self.max_hold_s = max_hold_s
        self.read_s = read_s
        self.unknown_wait_s = unknown_wait_s
        self._events = _Side()
        self._labels = _Side()
        self._reading_until: dict[int, float] = {}  # partition -> read without holding until
        self._seen: dict[int, float] = {}  # partition -> when its first records came

    @property
    def holding_events(self) -> set[int]:
        """The events partitions with records held (to pause)."""
        return set(self._events.held)

    @property
    def holding_labels(self) -> set[int]:
        """The labels partitions with records held (to pause)."""
        return set(self._labels.held)

    def take(
        self,
        events: Mapping[int, Sequence[Any]],
        labels: Mapping[int, Sequence[Any]],
        *,
        events_waiting: Mapping[int, bool | None],
        labels_waiting: Mapping[int, bool | None],
        now: float,
    ) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
        """The event and label records to judge now, by partition, oldest
        first: those held and the poll's new ones, each side up to the other
        side's reach. ``*_waiting``: whether a partition has records not
        polled yet; None: not known yet (not fetched). Labels are held for
        events not known yet; events for labels not known yet only for
        ``unknown_wait_s`` after their partition's first records (a labels
        partition that cannot be fetched must not hold its events)."""
        out_events: dict[int, list[Any]] = {}
        out_labels: dict[int, list[Any]] = {}
        ev_side, lb_side = self._events, self._labels
        for partition in ev_side.held.keys() | lb_side.held.keys() | events.keys() | labels.keys():
            ev = ev_side.in_hand(partition, events.get(partition, ()))
            lb = lb_side.in_hand(partition, labels.get(partition, ()))
            first_seen = self._seen.setdefault(partition, now)
            reading = self._reading(partition, now)
            # a poll's events are judged before its labels: events go out up to
            # the oldest label not judged yet (plus the slack) ...
            cut = len(ev)
            if not reading:
                labels_unknown = now - first_seen < self.unknown_wait_s
                waiting = _waiting(labels_waiting.get(partition, False), labels_unknown)
                cut = _cut(ev, self._labels_front(partition, lb, waiting) + self.event_slack_ms)
            if ev:
                out_events[partition] = ev_side.keep(partition, ev, cut, now)
            # ... labels up to the newest event handed out (plus the slack), or
            # up to the next event held: no prediction comes before it
            if not lb:
                continue
            limit = math.inf
            if not reading and (cut < len(ev) or events_waiting.get(partition, False) is not False):
                limit = ev_side.newest.get(partition, -math.inf) + self.label_slack_ms
                if cut < len(ev):
                    limit = max(limit, ev[cut].timestamp)
            out_labels[partition] = lb_side.keep(partition, lb, _cut(lb, limit), now)
        return _non_empty(out_events), _non_empty(out_labels)

    def _labels_front(self, partition: int, lb: list[Any], waiting: bool) -> float:
        """The time of the oldest label not judged yet: the first in hand, else
        the newest handed out while more wait (infinite when none wait)."""
        if lb:
            return float(lb[0].timestamp)
        if waiting:
            return self._labels.newest.get(partition, -math.inf)
        return math.inf

    def _reading(self, partition: int, now: float) -> bool:
        """Whether a partition is read without holding now: for ``read_s``
        after its held records of either side did not move for ``max_hold_s``."""
        if now < self._reading_until.get(partition, -math.inf):
            return True
        if self._events.stuck(partition, now, self.max_hold_s) or self._labels.stuck(
            partition, now, self.max_hold_s
        ):
            self._reading_until[partition] = now + self.read_s
            return True
        return False

    def forget(self, partitions: set[int]) -> None:
        """Partitions this worker no longer has: their held records are dropped
        (not committed, they are read again by whoever gets the partition)."""
        self._events.forget(partitions)
        self._labels.forget(partitions)
        for state in (self._reading_until, self._seen):
            for partition in partitions & state.keys():
                del state[partition]


def _cut(records: list[Any], limit: float) -> int:
    """How many of ``records`` (in order) come before the first past ``limit``."""
    if not records or records[-1].timestamp <= limit:
        return len(records)
    return next(k for k, record in enumerate(records) if record.timestamp > limit)


def _waiting(waiting: bool | None, unknown: bool) -> bool:
    """Whether a side counts as waiting: known, or not known yet (``unknown``)."""
    return unknown if waiting is None else waiting


def _non_empty(out: dict[int, list[Any]]) -> dict[int, list[Any]]:
    return {partition: records for partition, records in out.items() if records}
