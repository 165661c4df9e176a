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

import collections
import itertools
import random
import time
from collections.abc import Callable

__all__ = ["IdPool", "Uuid7Generator", "uuid7", "uuid7_time", "monotonic_wall_ns"]


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


#: Ids an :meth:`IdPool.refill` makes between two pauses (~0.25 ms of work).
CHUNK = 256

#: The process-wide generator the SDK uses.
uuid7 = Uuid7Generator()


class IdPool:
    """Ids made ahead, by another thread, so the caller's thread only takes one.

    Made cold (on the first call after the caller's thread slept or blocked),
    a UUIDv7 costs the caller ~40 us on this project's machine against ~1 us
    warm: it touches the clock, integer, bytes and string code. Taking a made
    id is one ``deque.popleft``. The SDK's sender thread calls :meth:`refill`
    at every cycle (at least every 50 ms).

    An id's time is when it was made: at most ``max_age`` seconds before it
    is handed out; older ids are never handed out (the caller passes the
    wall-clock time it read anyway for the event's timestamp). An empty or
    stale pool makes the id on the spot. Ids are unique and handed out in the
    order made; an id made on the spot while the pool is being refilled may
    come before ids from that refill, so one thread's ids increase to the
    millisecond, not strictly. When unused for ``max_age`` the pool is
    emptied and not refilled until an id is wanted again (no work when idle).

    Size: 4,096 ids (~350 KB), about 0.2 s of calls at 20,000 a second, so
    that the pool does not run dry between two of the sender's cycles (with
    1,024, 7 to 20 % of the calls of ``loadtest/sdk_bench.py`` found it
    empty and made their id, the calls that set the p99). Ids are made in
    chunks of :data:`CHUNK`, with ``pause`` between them (the sender lets go
    of the GIL there, so a caller never waits for a whole refill), and a
    renewed pool is made beside the old one, which is handed out meanwhile.

    >>> pool = IdPool(size=4)
    >>> pool.refill(time.time())
    >>> first, second = pool.take(time.time()), pool.take(time.time())
    >>> first < second, len(pool)
    (True, 2)
    """

    __slots__ = ("_make", "_ids", "size", "max_age", "fresh_until", "wanted", "_made_at", "_filled")

    def __init__(
        self, make: Callable[[], str] = uuid7, size: int = 4096, max_age: float = 1.0
    ) -> None:
        self._make = make
        self._ids: collections.deque[str] = collections.deque()
        self.size = size
        self.max_age = max_age
        #: Ids in the pool may be handed out before this wall-clock time.
        self.fresh_until = 0.0
        #: Set when an id was made on the spot: the pool is wanted again.
        self.wanted = True
        self._made_at = 0.0
        self._filled = 0  # the pool's length after the last refill

    def __len__(self) -> int:
        return len(self._ids)

    def take(self, now: float) -> str:
        """An id, for a call at wall-clock time ``now`` (any thread)."""
        if now < self.fresh_until:
            try:
                return self._ids.popleft()
            except IndexError:
                pass
        self.wanted = True
        return self._make()

    def refill(self, now: float, pause: Callable[[], None] | None = None) -> None:
        """Top the pool up to ``size`` (one thread: the one that refills),
        calling ``pause`` between chunks of :data:`CHUNK` ids.

        Renewed whole once its oldest id is half ``max_age`` old, if used.
        """
        ids = self._ids
        used = self.wanted or len(ids) < self._filled
        renew = now >= self._made_at + self.max_age / 2
        if not used:
            if renew and ids:  # idle: stop handing out and renewing
                self.fresh_until = 0.0
                ids.clear()
                self._filled = 0
            return
        if not renew and len(ids) >= self.size // 2:
            return
        self.wanted = False
        into = collections.deque() if renew else ids  # the old pool serves meanwhile
        make = self._make
        todo = self.size - len(into)
        while todo > 0:
            chunk = min(CHUNK, todo)
            into.extend([make() for _ in range(chunk)])
            todo -= chunk
            if todo and pause is not None:
                pause()
        if renew:  # ids of the old pool still taken are younger than max_age
            self._ids = into
            self._made_at = now
        self._filled = len(self._ids)
        self.fresh_until = self._made_at + self.max_age
