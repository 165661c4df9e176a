"""Time-ordered event ids: UUID version 7 (RFC 9562), as text.

Python 3.11 has no ``uuid.uuid7``; this is the small generator the SDK uses
when the caller gives no ``event_id``. Layout (RFC 9562, section 6.2,
method 2: a counter after the time): 48 bits of Unix time in milliseconds,
the version (7), 42 bits of a counter that starts at a random value below
2**40 and grows by one per id, the variant, and 32 random bits. The time is
the wall clock at the generator's creation advanced by the monotonic clock,
so it never goes back; with the counter, ids of one generator are strictly
increasing, as text too (fixed-width lower-case hex). No lock: the counter
is one ``itertools.count`` (atomic under the GIL).

>>> generator = Uuid7Generator(clock_ns=lambda: 1_700_000_000_123_456_789)
>>> first, second = generator(), generator()
>>> first < second, first[14], len(first), uuid7_time(first)
(True, '7', 36, 1700000000.123)
>>> import uuid; uuid.UUID(first).version
7
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable

__all__ = ["Uuid7Generator", "uuid7", "uuid7_time", "monotonic_wall_ns"]


def monotonic_wall_ns() -> Callable[[], int]:
    """A clock of Unix nanoseconds that never goes back: the wall clock now,
    advanced by :func:`time.monotonic_ns` from now on."""
    offset = time.time_ns() - time.monotonic_ns()
    monotonic_ns = time.monotonic_ns
    return lambda: offset + monotonic_ns()


class Uuid7Generator:
    """A thread-safe source of strictly increasing UUIDv7 strings.

    ``clock_ns`` (default :func:`monotonic_wall_ns`) and ``randbits``
    (default :func:`random.getrandbits`, not cryptographic: ids need to be
    unique, not secret) are parameters so tests can pin them.

    Cost: the first 20 characters (time, version, the counter's top 26 bits,
    variant) change at most once a millisecond or once every 65,536 ids, so
    they are made then and kept (one ``(key, text)`` tuple, replaced whole:
    threads never see a half-updated pair); each id makes only its last 12
    characters. Hex digits come from ``int.to_bytes().hex()``, not ``%x``
    formatting: cheaper warm, and much cheaper on the first call after the
    thread slept (cold caches), which is what sets the SDK's p99.
    """

    __slots__ = ("_now_ns", "_offset_ns", "_randbits", "_next", "_head")

    def __init__(
        self,
        clock_ns: Callable[[], int] | None = None,
        randbits: Callable[[int], int] = random.getrandbits,
    ) -> None:
        if clock_ns is None:  # monotonic_wall_ns without its extra Python call
            self._now_ns: Callable[[], int] = time.monotonic_ns
            self._offset_ns = time.time_ns() - time.monotonic_ns()
        else:
            self._now_ns, self._offset_ns = clock_ns, 0
        self._randbits = randbits
        self._next = itertools.count(randbits(40)).__next__
        self._head: tuple[int, str] = (-1, "")

    def __call__(self) -> str:
        ms = (self._offset_ns + self._now_ns()) // 1_000_000
        count = self._next() & 0x3FF_FFFF_FFFF  # 42 bits
        key = ms << 26 | count >> 16
        head = self._head
        if head[0] != key:
            text = (
                (
                    (ms & 0xFFFF_FFFF_FFFF) << 32
                    | (0x7000 | count >> 30) << 16
                    | 0x8000
                    | (count >> 16) & 0x3FFF
                )
                .to_bytes(10, "big")
                .hex()
            )
            head = self._head = (key, f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:]}-")
        return head[1] + ((count & 0xFFFF) << 32 | self._randbits(32)).to_bytes(6, "big").hex()


def uuid7_time(event_id: str) -> float:
    """The Unix time (seconds, millisecond precision) in a UUIDv7 string.

    >>> uuid7_time("018bcfe5-683b-7000-8000-000000000000")
    1700000000.059
    """
    return int(event_id[:8] + event_id[9:13], 16) / 1000


#: The process-wide generator the SDK uses.
uuid7 = Uuid7Generator()
