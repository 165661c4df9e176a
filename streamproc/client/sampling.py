"""Which events a sampled reporter keeps: a pure function of the event id.

The decision hashes the ``event_id`` (CRC-32), so it needs no state: the
label of an event goes exactly where its event went, in this process or in
another one that labels with the same ``sample_rate`` (a label of an event
that was not sent is not sent either, and is counted as ``unsampled``).

>>> kept("any-id", 1.0), kept("any-id", 0.0)
(True, False)
>>> ids = [f"e{i}" for i in range(10_000)]
>>> 0.23 < sum(kept(i, 0.25) for i in ids) / len(ids) < 0.27
True
"""

from __future__ import annotations

from zlib import crc32

__all__ = ["kept"]

_SCALE = float(1 << 32)


def kept(event_id: str, sample_rate: float) -> bool:
    """True when the event of ``event_id`` is in the sample of ``sample_rate`` (0 to 1)."""
    if sample_rate >= 1.0:
        return True
    return crc32(event_id.encode()) / _SCALE < sample_rate
