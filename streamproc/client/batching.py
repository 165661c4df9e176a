"""Events into Kafka records: by count, by size and by time (pure, the clock is a parameter).

A record's value is one event's JSON, or a JSON array of events
(docs/contract.md, "Topics"): :class:`RecordBatcher` closes a record when it
holds ``max_events`` events, when one more event would pass ``max_bytes``,
or ``linger`` seconds after its first event.

>>> batcher = RecordBatcher(max_events=2, max_bytes=1000, linger=0.05)
>>> batcher.add(b'{"a":1}', now=0.0)
[]
>>> batcher.add(b'{"a":2}', now=0.01)
[(b'[{"a":1},{"a":2}]', 2)]
>>> batcher.add(b'{"a":3}', now=0.02), batcher.due(now=0.05), batcher.due(now=0.08)
([], [], [(b'{"a":3}', 1)])
"""

from __future__ import annotations

from streamproc.events.limits import MAX_ARRAY_EVENTS, MAX_RECORD_BYTES

__all__ = ["RecordBatcher", "Record", "record_value"]

#: A record's value and the number of events in it.
Record = tuple[bytes, int]


def record_value(payloads: list[bytes]) -> bytes:
    """One payload as it is, more as a JSON array.

    >>> record_value([b'1']), record_value([b'1', b'2'])
    (b'1', b'[1,2]')
    """
    if len(payloads) == 1:
        return payloads[0]
    return b"[" + b",".join(payloads) + b"]"


class RecordBatcher:
    """Collects event payloads (JSON bytes) into records.

    State is bounded: at most ``max_events`` payloads of at most ``max_bytes``
    in all are held; every call returns the records it closed.
    """

    __slots__ = ("max_events", "max_bytes", "linger", "_payloads", "_bytes", "_opened")

    def __init__(
        self, *, max_events: int = 500, max_bytes: int = 900_000, linger: float = 0.05
    ) -> None:
        if not 1 <= max_events <= MAX_ARRAY_EVENTS:
            raise ValueError(f"max_events must be 1 to {MAX_ARRAY_EVENTS}, got {max_events}")
        if not 16 <= max_bytes <= MAX_RECORD_BYTES:
            raise ValueError(f"max_bytes must be 16 to {MAX_RECORD_BYTES}, got {max_bytes}")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.linger = linger
        self._payloads: list[bytes] = []
        self._bytes = 1  # the closing bracket
        self._opened = 0.0

    def __len__(self) -> int:
        """Events held, not yet in a closed record."""
        return len(self._payloads)

    def add(self, payload: bytes, now: float) -> list[Record]:
        """Add one event's JSON; return the records this closed (zero, one or two)."""
        closed: list[Record] = []
        if self._payloads and self._bytes + len(payload) + 1 > self.max_bytes:
            closed.append(self._close())
        if not self._payloads:
            self._opened = now
        self._payloads.append(payload)
        self._bytes += len(payload) + 1  # the comma or the opening bracket
        if len(self._payloads) >= self.max_events or self._bytes > self.max_bytes:
            closed.append(self._close())
        return closed

    def due(self, now: float) -> list[Record]:
        """The open record if it is ``linger`` seconds old, else nothing."""
        if self._payloads and now - self._opened >= self.linger:
            return [self._close()]
        return []

    def drain(self) -> list[Record]:
        """The open record whatever its age (flush, close)."""
        return [self._close()] if self._payloads else []

    def _close(self) -> Record:
        payloads, self._payloads, self._bytes = self._payloads, [], 1
        return record_value(payloads), len(payloads)
