"""Time-ordered event ids: UUID version 7 (RFC 9562), as text.

Python 3.11 has no ``uuid.uuid7``; this is the small generator the SDK uses
when the caller gives no ``event_id``. The first 48 bits are the Unix time in
milliseconds, the next 12 a counter within the millisecond (started at a
random value up to 2047, so an id generator makes up to 2048 ids a
millisecond before it borrows the next one), then 62 random bits. Ids of one
generator are strictly increasing, as text too (fixed-width lower-case hex).

>>> generator = Uuid7Generator(clock_ns=lambda: 1_700_000_000_123_456_789)
>>> first, second = generator(), generator()
>>> first < second, first[14], len(first)
(True, '7', 36)
>>> import uuid; uuid.UUID(first).version
7
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

__all__ = ["Uuid7Generator", "uuid7", "uuid7_time"]

_COUNTER_LIMIT = 1 << 12
_SEED_LIMIT = 1 << 11


class Uuid7Generator:
    """A thread-safe source of strictly increasing UUIDv7 strings.

    ``clock_ns`` (default :func:`time.time_ns`) and ``randbits`` (default
    :func:`random.getrandbits`, not cryptographic: ids need to be unique, not
    secret) are parameters so tests can pin them.
    """

    __slots__ = ("_clock_ns", "_randbits", "_lock", "_last_ms", "_counter")

    def __init__(
        self,
        clock_ns: Callable[[], int] = time.time_ns,
        randbits: Callable[[int], int] = random.getrandbits,
    ) -> None:
        self._clock_ns = clock_ns
        self._randbits = randbits
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> str:
        ms = self._clock_ns() // 1_000_000
        with self._lock:
            if ms > self._last_ms:
                self._last_ms = ms
                self._counter = self._randbits(11)
            else:  # same millisecond, or the clock went back: count on
                self._counter += 1
                if self._counter >= _COUNTER_LIMIT:  # borrow the next millisecond
                    self._last_ms += 1
                    self._counter = self._randbits(11)
            ms, counter = self._last_ms, self._counter
        tail = 0x8000_0000_0000_0000 | self._randbits(62)  # variant 0b10, 62 random bits
        return "%08x-%04x-%04x-%04x-%012x" % (  # noqa: UP031 - the fastest of the forms tried
            ms >> 16 & 0xFFFF_FFFF,
            ms & 0xFFFF,
            0x7000 | counter,
            tail >> 48,
            tail & 0xFFFF_FFFF_FFFF,
        )


def uuid7_time(event_id: str) -> float:
    """The Unix time (seconds, millisecond precision) in a UUIDv7 string.

    >>> uuid7_time(Uuid7Generator(clock_ns=lambda: 1_700_000_000_123_000_000)())
    1700000000.123
    """
    return int(event_id[:8] + event_id[9:13], 16) / 1000


#: The process-wide generator the SDK uses.
uuid7 = Uuid7Generator()
