"""Decoding record values in child processes, beside the worker's own process.

A worker's own process has to do the Kafka client's work and run the
detectors, which keep per-model state and cannot be split; decoding, as costly
as the detectors and more (docs/performance.md), is stateless. So
:class:`DecoderPool` hands it to ``processes`` child processes while the worker
judges the previous batch. With ``processes=0`` it decodes in the caller's
process.

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
import pickle
import signal
from collections import deque
from collections.abc import Coroutine, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import reduction
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

import numpy as np

from streamproc.contracts import DecodedRecords, decode_records, share_strings

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


def _child(conn: Connection, memfd: bool) -> None:
    """A decoder process: batches in, decoded batches out, until the worker is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker, which stops us
    _send(conn, b"ready", memfd)
    while True:
        try:
            values, timestamps = _unpack_batch(_receive(conn, memfd))
        except (EOFError, OSError):
            return  # the worker closed the pipe, or died (even SIGKILLed)
        try:
            reply: tuple[bool, Any] = (True, _for_shipping(decode_values(values, timestamps)))
        except Exception as exc:  # noqa: BLE001 - the worker decides what to do
            reply = (False, f"{type(exc).__name__}: {exc}")
        try:
            _send(conn, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL), memfd)
        except OSError:
            return


def _without_event_ids(decoded: DecodedRecords) -> DecodedRecords:
    """``decoded`` without event ids: the detectors do not read them, and they
    are a tenth of what a decoded batch weighs when it is pickled."""
    for columns in decoded.columns:
        columns.event_ids = []
    return decoded


def _for_shipping(decoded: DecodedRecords) -> DecodedRecords:
    """``decoded`` made cheap to pickle: equal strings shared (pickle sends each
    once), no event ids."""
    share_strings(_without_event_ids(decoded))
    return decoded


# Messages (megabytes each) travel in memory files (Linux memfd) whose
# descriptors are passed over the pipe: sending never waits for the other side
# to read, so a child can have its next batch queued while it decodes, and its
# reply waits for the worker without holding the child up. Elsewhere the bytes
# go through the pipe itself, and a child gets a batch only when idle.
def _memfd_works() -> bool:
    try:
        os.close(os.memfd_create("streamproc-probe", os.MFD_CLOEXEC))
    except (AttributeError, OSError):  # not Linux, or forbidden (seccomp)
        return False
    return True


_MEMFD = _memfd_works()


def _send(conn: Connection, message: bytes, memfd: bool) -> None:
    if not memfd:
        conn.send_bytes(message)
        return
    fd = os.memfd_create("streamproc-batch", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as f:
            f.write(message)
        reduction.send_handle(conn, fd, 0)
    finally:
        os.close(fd)


def _receive(conn: Connection, memfd: bool) -> bytes:
    if not memfd:
        return conn.recv_bytes()
    with open(reduction.recv_handle(conn), "rb") as f:
        f.seek(0)  # the sender's writes moved the offset both descriptors share
        return f.read()


def _pack_batch(values: Sequence[bytes | None], timestamps: Sequence[float]) -> bytes:
    """One buffer for a batch: the values joined, their lengths (-1: None), the times.

    A single large bytes object pickles as one copy, where a list of thousands
    of small ones costs a pickle opcode and an object each.
    """
    try:
        data = b"".join(values)  # type: ignore[arg-type]
        lengths = np.fromiter(map(len, values), np.int64, len(values))  # type: ignore[arg-type]
    except TypeError:  # null values (tombstones)
        data = b"".join(v for v in values if v is not None)
        lengths = np.array([-1 if v is None else len(v) for v in values], np.int64)
    times = np.asarray(timestamps, np.float64)
    return pickle.dumps((lengths, times, data), protocol=pickle.HIGHEST_PROTOCOL)


def _unpack_batch(message: bytes) -> tuple[list[bytes | None], list[float]]:
    lengths, times, data = pickle.loads(message)
    ends = np.cumsum(np.maximum(lengths, 0)).tolist()
    values: list[bytes | None] = [
        data[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)
    ]
    if (lengths < 0).any():
        for i in np.flatnonzero(lengths < 0).tolist():
            values[i] = None
    return values, times.tolist()


@dataclass(eq=False)
class _Decoder:
    """One child process and the batch it is decoding."""

    process: BaseProcess
    conn: Connection
    ready: bool = False
    queued: deque[asyncio.Future[DecodedRecords]] = field(default_factory=deque)  # in order


class DecoderPool:
    """``processes`` child processes decoding batches of record values.

    :meth:`decode` gives the same :class:`~streamproc.contracts.DecodedRecords`
    as :func:`decode_values`. The worker's event loop talks to the children
    over pipes itself (no helper threads competing with the detectors for the
    GIL) and hands a child its next batch as soon as it is idle. If a child
    dies (killed, out of memory), its batch is decoded in the worker and a new
    child is started: no batch is lost to the pool. Children exit by
    themselves when the worker is gone.
    """

    def __init__(self, processes: int) -> None:
        if processes < 0:
            raise ValueError(f"decoder processes must be >= 0, not {processes}")
        self.processes = processes
        self._decoders: list[_Decoder] = []
        self._waiting: deque[tuple[bytes, asyncio.Future[DecodedRecords]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._memfd = _MEMFD

    def start(self) -> DecoderPool:
        """Start the children (call from the event loop that will await results)."""
        if self.processes and not self._decoders:
            self._loop = asyncio.get_running_loop()
            for _ in range(self.processes):
                self._spawn()
        return self

    def _spawn(self) -> None:
        assert self._loop is not None
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_child, args=(theirs, self._memfd), daemon=True)
        process.start()
        theirs.close()
        decoder = _Decoder(process, ours)
        self._decoders.append(decoder)
        self._loop.add_reader(ours.fileno(), self._on_reply, decoder)

    def close(self) -> None:
        """Stop the children; batches not decoded yet are cancelled."""
        for decoder in list(self._decoders):
            self._retire(decoder, None)
            decoder.process.join(timeout=1)
            if decoder.process.is_alive():
                decoder.process.kill()
        while self._waiting:
            self._waiting.popleft()[1].cancel()

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
        await the returned coroutine for the result, or ``close()`` it to drop it.

        The result has no event ids (see :func:`_without_event_ids`).
        """
        if not self._decoders:
            return _ready(_without_event_ids(decode_values(values, timestamps)))
        assert self._loop is not None
        future: asyncio.Future[DecodedRecords] = self._loop.create_future()
        self._waiting.append((_pack_batch(values, timestamps), future))
        self._dispatch()
        return self._result(future, values, timestamps)

    async def _result(
        self,
        future: asyncio.Future[DecodedRecords],
        values: Sequence[bytes | None],
        timestamps: Sequence[float],
    ) -> DecodedRecords:
        try:
            return await future
        except BrokenProcessPool:
            return _without_event_ids(decode_values(values, timestamps))

    def _dispatch(self) -> None:
        """Give waiting batches to the children with the fewest batches queued."""
        while self._waiting:
            ready = [d for d in self._decoders if d.ready]
            if not ready:
                return
            decoder = min(ready, key=lambda d: len(d.queued))
            if len(decoder.queued) >= (2 if self._memfd else 1):
                return
            message, future = self._waiting.popleft()
            if future.cancelled():
                continue
            try:
                _send(decoder.conn, message, self._memfd)
            except OSError:
                self._waiting.appendleft((message, future))
                self._replace(decoder)
                return
            decoder.queued.append(future)

    def _on_reply(self, decoder: _Decoder) -> None:
        try:
            message = _receive(decoder.conn, self._memfd)
        except (EOFError, OSError):
            self._replace(decoder)
            return
        if not decoder.ready:
            decoder.ready = message == b"ready"
        else:
            ok, payload = pickle.loads(message)
            future = decoder.queued.popleft()
            if not future.done():
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(RuntimeError(f"decoder process failed: {payload}"))
        self._dispatch()

    def _retire(self, decoder: _Decoder, error: Exception | None) -> None:
        """Forget a child; its batches fail with ``error`` (are cancelled if None)."""
        assert self._loop is not None
        self._loop.remove_reader(decoder.conn.fileno())
        decoder.conn.close()
        self._decoders.remove(decoder)
        for future in decoder.queued:
            if future.done():
                continue
            if error is None:
                future.cancel()
            else:
                future.set_exception(error)

    def _replace(self, decoder: _Decoder) -> None:
        decoder.process.join(timeout=1)
        log.error(
            "decoder process %s died (exit code %s); its batch is decoded here",
            decoder.process.pid,
            decoder.process.exitcode,
        )
        self._retire(decoder, BrokenProcessPool("decoder process died"))
        if decoder.ready:
            self._spawn()  # one that never got ready would only die again
        elif not self._decoders:
            log.error("no decoder process could start: decoding in the worker's process")
            while self._waiting:
                self._waiting.popleft()[1].set_exception(BrokenProcessPool("no decoder"))
        self._dispatch()


async def _ready(decoded: DecodedRecords) -> DecodedRecords:
    return decoded
