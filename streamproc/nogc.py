"""Pause the cyclic garbage collector around allocation-heavy, cycle-free work.

Temporary home: the lead moves :func:`no_gc` to ``streamproc/decode/nogc.py``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """Run the ``with`` block with the cyclic GC off, then turn it back on.

    Decoding and judging a batch make many short-lived containers and no
    reference cycles: reference counting frees them all, and the cyclic GC
    would only rescan them, again and again, at hundreds of thousands of
    events a second.

    >>> with no_gc():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
