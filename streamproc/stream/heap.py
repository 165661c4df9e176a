"""Hand the C heap's free pages back to the OS now and then.

glibc's ``malloc`` keeps memory freed inside its heap resident: a worker's
batches need their most memory while they are decoded and judged, and less
between them (and a backlog needs more than a caught-up stream), so its RSS
climbs to the peaks' high-water mark plus the fragmentation between them,
and stays there. Measured on the live fuzz (``loadtest/fuzz_long.py --live
100000``): RSS 272 MB after 100,000 records, of which 116 MB was free heap
(``mallinfo2``); ``malloc_trim(0)`` gave it back (RSS 171 MB). The worker
calls :func:`trim_heap` every :data:`TRIM_EVERY_S` seconds (a trim takes a
few milliseconds).

>>> trim_heap() in (True, False)  # False where the C library has no malloc_trim
True
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

TRIM_EVERY_S = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim`` (glibc), or None (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _malloc_trim()


def trim_heap() -> bool:
    """Give the heap's free pages back to the OS; False if this C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
