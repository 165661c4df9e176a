"""Checkpoints of one model's detector state: the payload of ``monitor.state``, no I/O.

A checkpoint is everything a model has learned and counted that is not in
another topic: its open window's counts, its ADWINs, the events buffered to
learn a baseline, the cycle phases being learned, its realized-performance
windows, its alert episodes, and its side of the label join (pending
predictions, early labels, recently seen ids). It records the offsets it
covers: ``events_offset`` and ``labels_offset`` are the next offsets of the
model's partition of the events and labels topics, so the state holds exactly
the model's records before them (see :mod:`streamproc.stream.checkpoints`).

The payload is a msgpack map (:class:`Checkpoint`, versioned by ``version``)
whose ``monitor`` and ``join`` fields are the detector objects pickled
(protocol 5: numpy arrays as raw bytes; river's ADWIN with its internals).
The monitor is compressed with zlib (level 1: count tables are mostly zeros;
250 KB of state for 20 features become about 17 KB, for 0.7 ms). The join is
not: its pending predictions are ids, times and scores, which zlib shrinks
by only ~40 % at ~40 MB/s here (100 ms for 75,000 pending predictions, every
``checkpoint_seconds``); packed (``ModelJoin.__getstate__``), they pickle at
about 60 bytes each (36-character ids) in ~16 ms.
They are read back by :func:`thaw`, an unpickler that builds only the pure
detection classes (``streamproc.detect``, ``.events``, ``.labels``, river's
drift detectors) and a few numpy and standard containers; anything else in a
payload is refused. A payload written by another ``version`` or another
release of streamproc is not restored (the model starts over, as without
checkpoints).

>>> from streamproc.detect.monitor import ModelMonitor
>>> from streamproc.detect.settings import Settings
>>> model = ModelMonitor("m", Settings())
>>> data = encode(snapshot("m", 3, 120, 0, monitor=model, join=None, now=0.0))
>>> back = decode(data)
>>> back.model_id, back.partition, back.events_offset, type(thaw(back.monitor)).__name__
('m', 3, 120, 'ModelMonitor')
"""

from __future__ import annotations

import io
import pickle
import zlib
from typing import Any

import msgspec

from streamproc import __version__

CHECKPOINT_VERSION = 3  # 2: the join packed and uncompressed; 3: EventColumns.folded

# Modules whose classes a checkpoint may contain: the pure detection core
# (no I/O by the project's rule) and river's drift detectors.
_CLASS_MODULES = ("streamproc.detect.", "streamproc.events.", "streamproc.labels.", "river.drift.")
_NAMES = {
    ("river._river_rust.drift", "AdaptiveWindowing"),
    ("collections", "deque"),
    ("collections", "Counter"),
    ("collections", "OrderedDict"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("builtins", "bytearray"),
}


def _enum_member(owner: Any, name: str) -> Any:
    """``getattr`` as pickle spells an enum member, for enums of the allowed
    modules only (any other attribute could be a callable with effects)."""
    import enum

    if isinstance(owner, type) and issubclass(owner, enum.Enum) and name in owner.__members__:
        return owner[name]
    raise CheckpointError(f"a checkpoint may not look up {owner!r}.{name}")


class CheckpointError(ValueError):
    """A ``monitor.state`` record that cannot be restored (the reason is the message)."""


class Checkpoint(msgspec.Struct, frozen=True):
    """One model's state and the offsets it covers (see the module doc)."""

    version: int
    release: str  # streamproc's version that wrote it
    model_id: str
    partition: int  # of the events (and labels) topic
    events_offset: int  # the state holds the model's events before this offset
    labels_offset: int  # ... and its labels before this one (0: none read)
    written_at: float  # seconds since the epoch
    monitor: bytes | None  # the pickled ModelMonitor (None: no events yet)
    join: bytes | None  # the pickled ModelJoin (None: no labels join)
    events_topic: str = ""  # the offsets are of this topic's partition ...
    group_id: str = ""  # ... as judged by the workers of this consumer group


_PICKLE = pickle.PROTO  # the first byte of a pickle of protocol 2 and later
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Checkpoint)


def freeze(obj: Any, *, compress: bool = True) -> bytes:
    """``obj`` pickled for a checkpoint (numpy arrays as raw bytes), compressed
    unless ``compress`` is False (:func:`thaw` reads both)."""
    data = pickle.dumps(obj, protocol=5)
    return zlib.compress(data, 1) if compress else data


class _DetectorUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _enum_member
        if (module, name) in _NAMES:
            return super().find_class(module, name)
        if module.startswith(_CLASS_MODULES) or module == "streamproc.events.shapes":
            found = super().find_class(module, name)
            if isinstance(found, type) or (module, name) == ("streamproc.events.shapes", "MISSING"):
                return found
        raise CheckpointError(f"a checkpoint may not contain {module}.{name}")


def thaw(data: bytes) -> Any:
    """What :func:`freeze` made ``data`` of; only detection classes are built.

    >>> thaw(freeze({"a": [1, 2]})), thaw(freeze({"a": 1}, compress=False))
    ({'a': [1, 2]}, {'a': 1})
    >>> thaw(zlib.compress(pickle.dumps(print)))
    Traceback (most recent call last):
    ...
    streamproc.stream.checkpoint.CheckpointError: a checkpoint may not contain builtins.print
    """
    try:
        if data[:1] != _PICKLE:  # compressed (a zlib stream starts with 0x78)
            data = zlib.decompress(data)
        return _DetectorUnpickler(io.BytesIO(data)).load()
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage is one reason
        raise CheckpointError(f"unreadable state: {type(exc).__name__}: {exc}") from None


def snapshot(
    model_id: str,
    partition: int,
    events_offset: int,
    labels_offset: int,
    *,
    monitor: Any,
    join: Any,
    now: float,
    events_topic: str = "",
    group_id: str = "",
) -> Checkpoint:
    """The checkpoint of a model's ``monitor`` (ModelMonitor) and ``join`` (ModelJoin)."""
    return Checkpoint(
        version=CHECKPOINT_VERSION,
        release=__version__,
        model_id=model_id,
        partition=partition,
        events_offset=events_offset,
        labels_offset=labels_offset,
        written_at=now,
        monitor=None if monitor is None else freeze(monitor),
        join=None if join is None else freeze(join, compress=False),
        events_topic=events_topic,
        group_id=group_id,
    )


def encode(checkpoint: Checkpoint) -> bytes:
    return _encoder.encode(checkpoint)


def decode(data: bytes) -> Checkpoint:
    """The checkpoint in a record value; :class:`CheckpointError` if it is not
    one this release restores."""
    try:
        checkpoint = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CheckpointError(f"not a checkpoint: {exc}") from None
    if checkpoint.version != CHECKPOINT_VERSION or checkpoint.release != __version__:
        raise CheckpointError(
            f"checkpoint version {checkpoint.version} of streamproc {checkpoint.release}; "
            f"this is version {CHECKPOINT_VERSION} of streamproc {__version__}"
        )
    return checkpoint
