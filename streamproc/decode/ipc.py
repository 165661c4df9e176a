"""Shipping batches and decoded batches between processes.

Messages (megabytes each) travel in memory files (Linux memfd) whose
descriptors are passed over the pipe: sending never waits for the other side
to read, so a child can have its next batch queued while it decodes, and its
reply waits for the worker without holding the child up. Elsewhere the bytes
go through the pipe itself, and a child gets a batch only when idle.

>>> import pickle
>>> unpack_batch(pickle.loads(pack_batch([b"ab", None, b"c"], [1.0, 2.0, 3.0])))
([b'ab', None, b'c'], [1.0, 2.0, 3.0])
"""

from __future__ import annotations

import os
import pickle
from collections import defaultdict
from collections.abc import Sequence
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from streamproc.decode.batch import DecodedRecords
from streamproc.events.shapes import MISSING

__all__ = [
    "share_strings",
    "pack_coded",
    "CodedList",
    "pack_batch",
    "packed_batch",
    "unpack_batch",
    "send",
    "send_pickled",
    "pickled_memfd",
    "receive",
    "MEMFD",
]


def share_strings(decoded: DecodedRecords) -> None:
    """Give each text column of each model its codes into its distinct values
    (``EventColumns.coded``, in place), so that the receiver counts labels
    without hashing them again, and :func:`pack_coded` ships the column as
    those codes.

    Only columns of strings, nulls and absences are coded (equal numbers of
    different types, such as 1 and True, must stay apart), and not those that
    look like a name flood's (absent at the start, the middle and the end: see
    :func:`_looks_absent`). Values and types are unchanged.
    """
    for columns in decoded.columns:
        for name, column in columns.features.items():
            if type(column) is not list or _looks_absent(column):
                continue  # a name flood's column: few strings to share, skip the scan
            if frozenset(map(type, column)) <= _TEXT_TYPES:
                columns.coded[name] = text_codes(column)


class CodedList:
    """A text column as codes into its distinct values: pickles as the codes (an
    array, which the column's ``coded`` entry shares) and each distinct value
    once, and unpickles as the plain list (:func:`decoded_list`).

    >>> column = ["a", None, "a", MISSING]
    >>> pickle.loads(pickle.dumps(CodedList(*text_codes(column)))) == column
    True
    """

    __slots__ = ("codes", "values")

    def __init__(self, codes: np.ndarray, values: list[Any]) -> None:
        self.codes = codes
        self.values = values

    def __reduce__(self) -> tuple[Any, ...]:
        return decoded_list, (self.codes, self.values)


def decoded_list(codes: np.ndarray, values: list[Any]) -> list[Any]:
    """The column that ``codes`` into ``values`` stand for (equal values are one object).

    >>> decoded_list(np.array([1, 0, 1], dtype=np.int32), ["a", None])
    [None, 'a', None]
    """
    table = np.empty(len(values), dtype=object)
    table[:] = values
    return table[codes].tolist()  # type: ignore[no-any-return]


def pack_coded(decoded: DecodedRecords) -> None:
    """Replace (in place) each coded text column (see :func:`share_strings`), and
    the prediction labels if all are strings or nulls, by a :class:`CodedList`:
    only for pickling the batch, which then unpickles as it was.

    Pickling a list writes a reference per value even when the values are
    shared, and making them shared took a pass too; the codes are already
    made (the detectors read them) and pickle as one array: ~0.1 us an event
    less for the child, and the receiver rebuilds the lists in the time it
    took to unpickle them. Run after
    :func:`~streamproc.decode.sparse_ship.pack_sparse`, which needs plain lists.
    """
    for columns in decoded.columns:
        features = columns.features
        for name, (codes, values) in columns.coded.items():
            if type(features[name]) is list:
                features[name] = CodedList(codes, values)  # type: ignore[assignment]
        labels = columns.prediction_labels
        if frozenset(map(type, labels)) <= _TEXT_TYPES:
            columns.prediction_labels = CodedList(*text_codes(labels))  # type: ignore[assignment]


_TEXT_TYPES = frozenset({str, type(None), type(MISSING)})


def _looks_absent(column: list[Any]) -> bool:
    """Whether the first, middle and last entries are absences (O(1)): a rare
    name's column (a name flood gives thousands), whose type scan would cost
    more than sharing its few strings saves.

    >>> _looks_absent([MISSING, "a", MISSING, MISSING]), _looks_absent(["a", MISSING, MISSING])
    (True, False)
    """
    return not column or (
        column[0] is MISSING and column[len(column) // 2] is MISSING and column[-1] is MISSING
    )


def text_codes(column: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """A column of hashable values as codes into its distinct values (first seen first).

    >>> codes, values = text_codes(["a", None, "b", "a"])
    >>> codes.tolist(), values
    ([0, 1, 2, 0], ['a', None, 'b'])
    """
    position: defaultdict[Any, int] = defaultdict()
    position.default_factory = position.__len__  # a new value's code: the next one
    codes = np.fromiter(map(position.__getitem__, column), dtype=np.int32, count=len(column))
    return codes, list(position)


def _memfd_works() -> bool:
    try:
        os.close(os.memfd_create("streamproc-probe", os.MFD_CLOEXEC))
    except (AttributeError, OSError):  # not Linux, or forbidden (seccomp)
        return False
    return True


MEMFD = _memfd_works()


def send(conn: Connection, message: bytes, memfd: bool) -> None:
    """Send one message: in a memory file if ``memfd``, else through the pipe."""
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


def send_pickled(conn: Connection, message: Any, memfd: bool) -> None:
    """``send(conn, pickle.dumps(message), memfd)``, but pickled straight into
    the memory file: no bytes object of the whole message is built (and grown,
    and copied) on the way, which halves the sender's cost for a batch of
    megabytes.

    >>> import multiprocessing
    >>> a, b = multiprocessing.Pipe()
    >>> send_pickled(a, ("job", [b"x"]), MEMFD)
    >>> pickle.loads(receive(b, MEMFD))
    ('job', [b'x'])
    """
    if not memfd:
        conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        return
    fd = pickled_memfd(message)
    try:
        reduction.send_handle(conn, fd, 0)
    finally:
        os.close(fd)


def pickled_memfd(message: Any) -> int:
    """A new memory file holding ``message`` pickled: its descriptor, for the
    caller to close."""
    fd = os.memfd_create("streamproc-batch", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as f:
            pickle.dump(message, f, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        os.close(fd)
        raise
    return fd


def receive(conn: Connection, memfd: bool) -> bytes:
    """Receive one message sent by :func:`send`."""
    if not memfd:
        return conn.recv_bytes()
    with open(reduction.recv_handle(conn), "rb") as f:
        f.seek(0)  # the sender's writes moved the offset both descriptors share
        return f.read()


def pack_batch(values: Sequence[bytes | None], timestamps: Sequence[float]) -> bytes:
    """One buffer for a batch: the values joined, their lengths (-1: None), the times.

    A single large bytes object pickles as one copy, where a list of thousands
    of small ones costs a pickle opcode and an object each.
    """
    return pickle.dumps(packed_batch(values, timestamps), protocol=pickle.HIGHEST_PROTOCOL)


def packed_batch(
    values: Sequence[bytes | None], timestamps: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, bytes]:
    """What :func:`pack_batch` pickles (to pickle with more, e.g. a poll's labels)."""
    try:
        data = b"".join(values)  # type: ignore[arg-type]
        lengths = np.fromiter(map(len, values), np.int64, len(values))  # type: ignore[arg-type]
    except TypeError:  # null values (tombstones)
        data = b"".join(v for v in values if v is not None)
        lengths = np.array([-1 if v is None else len(v) for v in values], np.int64)
    times = np.asarray(timestamps, np.float64)
    return lengths, times, data


def unpack_batch(
    packed: tuple[np.ndarray, np.ndarray, bytes],
) -> tuple[list[bytes | None], list[float]]:
    """The values and times packed by :func:`pack_batch` (once unpickled)."""
    lengths, times, data = packed
    ends = np.cumsum(np.maximum(lengths, 0)).tolist()
    values: list[bytes | None] = [
        data[start:end] for start, end in zip([0, *ends], ends, strict=False)
    ]
    if (lengths < 0).any():
        for i in np.flatnonzero(lengths < 0).tolist():
            values[i] = None
    return values, times.tolist()
