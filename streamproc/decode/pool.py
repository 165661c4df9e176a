"""Decoding batches of record values in child processes (the worker and replay).

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
import logging
import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from streamproc.children import die_with_parent
from streamproc.decode import decode_batch
from streamproc.decode.batch import DecodedRecords
from streamproc.decode.ipc import MEMFD as _MEMFD
from streamproc.decode.ipc import (
    pack_coded,
    packed_batch,
    receive,
    send,
    send_pickled,
    share_strings,
    unpack_batch,
)
from streamproc.decode.nogc import no_gc
from streamproc.decode.spans import FileSpan
from streamproc.decode.sparse_ship import Ranges, pack_sparse

log = logging.getLogger(__name__)

# Batches sent to the children whose replies are not read yet, at most (shared
# among them): the worker's one child works ahead while the judge runs the
# detectors; replay's two children (on two cores) would only take CPU from the
# process that has to read and judge what they send.
QUEUED = 4

Spanned = tuple[Sequence[int], DecodedRecords]  # line numbers, and what they decode to
_POLL = "poll"  # tags a job of events and labels: (_POLL, events, label values, label decoder)
LabelDecoder = Callable[[list[Any]], Any]  # of label record values, or record batches


def _child(conn: Connection, memfd: bool, event_ids: bool, parent: int | None = None) -> None:
    """A decoder process: jobs in, decoded batches out, until the worker is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker, which stops us
    die_with_parent(signal.SIGKILL, parent)  # even in the middle of a batch
    try:
        send(conn, b"ready", memfd)
    except OSError:
        return  # the worker stopped while this child was starting
    while True:
        try:
            job = pickle.loads(receive(conn, memfd))
        except (EOFError, OSError):
            return  # the worker closed the pipe, or died (even SIGKILLed)
        with no_gc():  # the batch is freed before the GC runs again: never scanned
            reply = _reply(job, event_ids)
            try:
                send_pickled(conn, reply, memfd)
            except OSError:
                return
            del job, reply


def _reply(job: Any, event_ids: bool) -> tuple[bool, Any]:
    """What a child sends back for a job: (True, its result), or (False, why not)."""
    try:
        if _is_poll(job):
            job = (_POLL, unpack_batch(job[1]), job[2], job[3])
        elif not isinstance(job, FileSpan):
            job = unpack_batch(job)
        ranges: list[Ranges] = []
        result = _run(job, event_ids, ranges)
        share_strings(_records_of(result))  # the text columns' codes
        pack_sparse(_records_of(result), ranges)  # unpickles as it was
        pack_coded(_records_of(result))  # text columns as their codes: unpickle as they were
        return True, result
    except Exception as exc:  # noqa: BLE001 - the worker decides what to do
        return False, f"{type(exc).__name__}: {exc}"


def _run(job: Any, event_ids: bool, ranges: list[Ranges] | None = None) -> Any:
    """Decode one job: a batch ``(values, timestamps)`` gives its decoded
    records; a :class:`FileSpan` gives its line numbers and their decoded
    records; ``(_POLL, events, label values, label decoder)`` gives the events'
    decoded records and what the label decoder makes of the label values."""
    if isinstance(job, FileSpan):
        numbers, lines = job.read()
        decoded = decode_batch(lines, [0.0] * len(lines), ranges=ranges, event_ids=event_ids)
        return numbers, decoded
    if _is_poll(job):
        _, events, labels, decode_labels = job
        return _run(events, event_ids, ranges), decode_labels(labels)
    values, timestamps = job
    return decode_batch(values, timestamps, ranges=ranges, event_ids=event_ids)


def _is_poll(job: Any) -> bool:
    return type(job) is tuple and type(job[0]) is str  # a batch's [0] is a list or an array


def _records_of(result: Any) -> DecodedRecords:
    """The decoded records of a job's result (see :func:`_run`)."""
    if isinstance(result, DecodedRecords):
        return result
    return result[0] if isinstance(result[0], DecodedRecords) else result[1]


@dataclass(eq=False)
class _Decoder:
    """One child process and the batch it is decoding."""

    process: BaseProcess
    conn: Connection
    ready: bool = False
    queued: deque[asyncio.Future[Any]] = field(default_factory=deque)  # in order


class DecoderPool:
    """``processes`` child processes decoding batches of record values.

    :meth:`decode` gives the same :class:`~streamproc.decode.DecodedRecords`
    as :func:`~streamproc.decode.decode_batch`. The worker's event loop talks to the children
    over pipes itself (no helper threads competing with the detectors for the
    GIL) and hands a child its next batch as soon as it is idle. If a child
    dies (killed, out of memory), its batch is decoded in the worker and a new
    child is started: no batch is lost to the pool. Children exit by
    themselves when the worker is gone. ``event_ids``: keep the columns'
    event ids (dropped by default: the detectors do not read them).
    """

    def __init__(self, processes: int, *, event_ids: bool = False) -> None:
        if processes < 0:
            raise ValueError(f"decoder processes must be >= 0, not {processes}")
        self.processes = processes
        self._decoders: list[_Decoder] = []
        self._waiting: deque[tuple[Any, asyncio.Future[Any]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._memfd = _MEMFD
        self._event_ids = event_ids

    def spawn(self) -> DecoderPool:
        """Start the child processes now, with no event loop yet: they import
        their modules (~0.4 s) while the caller starts up; :meth:`start` then
        listens to them."""
        if self.processes and not self._decoders:
            self._decoders = [self._new_decoder() for _ in range(self.processes)]
        return self

    def start(self) -> DecoderPool:
        """Start the children, or listen to those :meth:`spawn` started (call
        from the event loop that will await results)."""
        if self.processes and self._loop is None:
            self._loop = asyncio.get_running_loop()
            for decoder in self.spawn()._decoders:
                self._loop.add_reader(decoder.conn.fileno(), self._on_reply, decoder)
        return self

    def _new_decoder(self) -> _Decoder:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_child, args=(theirs, self._memfd, self._event_ids, os.getpid()), daemon=True
        )
        process.start()
        theirs.close()
        return _Decoder(process, ours)

    def _spawn(self) -> None:
        assert self._loop is not None
        decoder = self._new_decoder()
        self._decoders.append(decoder)
        self._loop.add_reader(decoder.conn.fileno(), self._on_reply, decoder)

    def close(self) -> None:
        """Stop the children; batches not decoded yet are cancelled."""
        for decoder in list(self._decoders):
            self._retire(decoder, None)
            decoder.process.join(timeout=1)
            if decoder.process.is_alive():
                decoder.process.kill()
        while self._waiting:
            self._waiting.popleft()[1].cancel()
        self._loop = None

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

        The result has no event ids unless the pool keeps them (``event_ids``).
        """
        if not self._decoders or not values:  # (an empty batch: the worker's polls of labels only)
            return _ready(_run((values, timestamps), self._event_ids))
        return self._submit(packed_batch(values, timestamps), (values, timestamps))

    def decode_poll(
        self,
        values: Sequence[bytes | None],
        timestamps: Sequence[float],
        label_values: list[Any],
        decode_labels: LabelDecoder,
    ) -> Coroutine[Any, Any, tuple[DecodedRecords, Any]]:
        """Like :meth:`decode`, for the events and the label records of one poll
        together: the events' decoded records, and ``decode_labels(label_values)``
        (a module-level function: the worker passes
        :func:`~streamproc.labels.decode.decode_label_batches` and the labels
        topic's record batches, or :func:`~streamproc.labels.decode.decode_labels_grouped`
        and record values), the same as decoding them here (which happens when
        the pool has no children)."""
        job = (_POLL, (values, timestamps), label_values, decode_labels)
        if not self._decoders or not (values or label_values):
            return _ready(_run(job, self._event_ids))
        return self._submit(poll_message(values, timestamps, label_values, decode_labels), job)

    def decode_span(self, span: FileSpan) -> Coroutine[Any, Any, Spanned]:
        """Like :meth:`decode`, for the lines of a run of a file, which the child
        reads itself: their line numbers and what they decode to."""
        if not self._decoders:
            return _ready(_run(span, self._event_ids))
        return self._submit(span, span)

    def _submit(self, message: Any, job: Any) -> Coroutine[Any, Any, Any]:
        """Queue ``message`` (pickled when a child takes it) for a child; ``job``
        is what is decoded here if the children die."""
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._waiting.append((message, future))
        self._dispatch()
        return self._result(future, job)

    def decode_spans(self, spans: Iterable[FileSpan], *, ahead: int = 3) -> Iterator[Spanned]:
        """:meth:`decode_span` of each span, in order, for a caller without an
        event loop (replay): at most ``ahead`` spans per child are in flight,
        so memory stays bounded. Starts the children on a private event loop and
        stops them at the end; the pool must not be started already.

        >>> from streamproc.decode.spans import line_spans
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "events.jsonl")
        >>> _ = open(path, "wb").write(b'{"model_id": "m", "features": {}}\\n' * 3)
        >>> [d.events for _, d in DecoderPool(0).decode_spans(line_spans(path, 2))]
        [2, 1]
        """
        loop = asyncio.new_event_loop()
        pending: deque[Coroutine[Any, Any, Spanned]] = deque()

        async def start() -> None:
            self.start()

        try:
            loop.run_until_complete(start())
            for span in spans:
                pending.append(self.decode_span(span))
                if len(pending) > ahead * max(1, self.processes):
                    yield loop.run_until_complete(pending.popleft())
            while pending:
                yield loop.run_until_complete(pending.popleft())
        finally:
            for result in pending:
                result.close()
            self.close()
            loop.close()

    async def _result(self, future: asyncio.Future[Any], job: Any) -> Any:
        try:
            return await future
        except BrokenProcessPool:
            return _run(job, self._event_ids)

    def _dispatch(self) -> None:
        """Give waiting batches to the children with the fewest batches queued."""
        while self._waiting:
            ready = [d for d in self._decoders if d.ready]
            if not ready:
                return
            decoder = min(ready, key=lambda d: len(d.queued))
            # (with memory files a child may hold several: it decodes on while the
            # parent is busy, and its replies wait in their files to be read)
            most = max(1, QUEUED // len(self._decoders)) if self._memfd else 1
            if len(decoder.queued) >= most:
                return
            message, future = self._waiting.popleft()
            if future.cancelled():
                continue
            try:
                send_pickled(decoder.conn, message, self._memfd)
            except OSError:
                self._waiting.appendleft((message, future))
                self._replace(decoder)
                return
            decoder.queued.append(future)

    def _on_reply(self, decoder: _Decoder) -> None:
        try:
            message = receive(decoder.conn, self._memfd)
        except (EOFError, OSError):
            self._replace(decoder)
            return
        if not decoder.ready:
            decoder.ready = message == b"ready"
        else:
            with no_gc():  # a batch is many containers: scanned once, after
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
        if self._loop is not None:  # (None: spawned, never started)
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


def poll_message(
    values: Sequence[bytes | None],
    timestamps: Sequence[float],
    label_values: list[Any],
    decode_labels: LabelDecoder,
) -> tuple[str, tuple[Any, ...], list[Any], LabelDecoder]:
    """What :meth:`DecoderPool.decode_poll` sends a child (pickled): the events
    packed (:func:`~streamproc.decode.ipc.packed_batch`); the label values (or
    record batches) as they are (a list of small values pickles faster than it
    packs); the label decoder (pickled by name)."""
    return (_POLL, packed_batch(values, timestamps), label_values, decode_labels)


async def _ready(result: Any) -> Any:
    return result
