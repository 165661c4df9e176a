"""The cyclic garbage collector in a streaming process: paused around
allocation-heavy work, and tuned once a worker has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC inside the block (restored as it was on leaving).

    Decoding and judging make many short-lived containers and no reference
    cycles: the GC would only rescan them (~7 % of the time).

    >>> with no_gc():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


YOUNG_GC_ALLOCATIONS = 50_000  # a worker's first GC threshold (Python's default: 700)


def settle_gc(young: int = YOUNG_GC_ALLOCATIONS) -> None:
    """Tune the GC for a worker that has started: what exists now (Faust,
    aiokafka, the baselines) lives as long as the process, so it is frozen
    out of the full collections, which would walk it again and again while
    batches churn objects; and young collections wait ``young`` allocations.
    The consumer makes an object per record (events and labels), held until
    its batch is judged: with Python's 700, each was scanned two or three
    times before it was freed (~6 % of a worker's time with a label per
    event, py-spy). Objects in cycles wait up to ``young`` allocations to be
    freed."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, *gc.get_threshold()[1:])
