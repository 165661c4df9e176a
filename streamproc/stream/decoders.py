"""Decoding record values in child processes, beside the worker's own process.

Decoding JSON is about half of a worker's CPU time (docs/performance.md). A
worker's own process has to do the Kafka client work and the detectors, which
keep per-model state and cannot be split; decoding is stateless, so
:class:`DecoderPool` hands it to ``processes`` child processes while the worker
goes on with the previous batch. With ``processes=0`` it decodes in the
caller's process, exactly as before.

>>> import asyncio
>>> async def demo() -> list[str]:
...     with DecoderPool(0) as pool:
...         decoded = await pool.decode([b'{"model_id": "m", "features": {"x": 1}}'], [0.0])
...     return [c.model_id for c in decoded.columns]
>>> asyncio.run(demo())
['m']
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any

from streamproc.contracts import DecodedRecords, decode_records

log = logging.getLogger(__name__)


def decode_values(values: Sequence[bytes | None], timestamps: Sequence[float]) -> DecodedRecords:
    """:func:`~streamproc.contracts.decode_records` with the cyclic GC paused.

    Decoding makes many short-lived containers and no reference cycles: the GC
    would only rescan them (~7 % of the time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return decode_records(values, timestamps)
    finally:
        if enabled:
            gc.enable()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)  # the worker is gone (even SIGKILLed): nobody needs this child


def _child_init(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker, which stops us
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class DecoderPool:
    """``processes`` child processes decoding batches of record values.

    :meth:`decode` gives the same :class:`~streamproc.contracts.DecodedRecords`
    as :func:`decode_values`. If a child dies (killed, out of memory), its
    batches are decoded in this process and the pool is started again: no batch
    is lost to the pool.
    """

    def __init__(self, processes: int) -> None:
        if processes < 0:
            raise ValueError(f"decoder processes must be >= 0, not {processes}")
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> DecoderPool:
        if self.processes and self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_init,
                initargs=(os.getpid(),),
            )
        return self

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> DecoderPool:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def decode(
        self, values: Sequence[bytes | None], timestamps: Sequence[float]
    ) -> Coroutine[Any, Any, DecodedRecords]:
        """Start decoding now (in a child process, or here if the pool has none);
        await the returned coroutine for the result, or ``close()`` it to drop it."""
        pool = self._pool
        if pool is None:
            return _ready(decode_values(values, timestamps))
        try:
            future = asyncio.wrap_future(pool.submit(decode_values, values, timestamps))
        except BrokenProcessPool:
            self._restart(pool)
            return _ready(decode_values(values, timestamps))
        return self._result(pool, future, values, timestamps)

    async def _result(
        self,
        pool: ProcessPoolExecutor,
        future: asyncio.Future[DecodedRecords],
        values: Sequence[bytes | None],
        timestamps: Sequence[float],
    ) -> DecodedRecords:
        try:
            return await future
        except BrokenProcessPool:
            self._restart(pool)
            return decode_values(values, timestamps)

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if self._pool is broken:  # once per broken pool, not once per batch it had
            log.error("a decoder process died; its batches are decoded here; restarting the pool")
            self.close()
            self.start()


async def _ready(decoded: DecodedRecords) -> DecodedRecords:
    return decoded
