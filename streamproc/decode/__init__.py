"""Decoding batches of Kafka record values: one entry point, :func:`decode_batch`.

Decoding, validation and columns per model in bulk; the tiers (:mod:`.schema`,
:mod:`.typed`, :mod:`.orjson_tier`, scheduled by :mod:`.batch`) are private.
:mod:`.pool` runs it in child processes (:mod:`.ipc` ships the batches).

>>> out = decode_batch([b'{"model_id": "m", "features": {"x": 1.5}}'], [0.0])
>>> [c.model_id for c in out.columns], out.events
(['m'], 1)
"""

from __future__ import annotations

from collections.abc import Sequence

from streamproc.decode.batch import DecodedRecords, decode_chunks
from streamproc.decode.nogc import no_gc
from streamproc.decode.sparse_ship import Ranges

__all__ = ["DecodedRecords", "decode_batch"]


def decode_batch(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    *,
    chunk_events: int = 256,
    ranges: list[Ranges] | None = None,
    event_ids: bool = True,
) -> DecodedRecords:
    """Decode, validate and columnarise many record values at once.

    The same events, columns and rejections as
    :func:`~streamproc.events.validate.decode_record` per record followed by
    :func:`~streamproc.events.columns.columns_by_model`, several times faster.
    ``default_timestamps`` holds one Kafka record time per value (for events
    without a ``timestamp``); ``chunk_events`` is the size of a chunk of the
    tiers (see :mod:`streamproc.decode.batch`). A ``ranges`` list gets where each
    model's rare-name columns may hold values, for shipping them
    (:mod:`streamproc.decode.sparse_ship`). The cyclic GC is paused meanwhile
    (:func:`~streamproc.decode.nogc.no_gc`). ``event_ids=False``: the columns
    have no event ids (the detectors do not read them).

    >>> from streamproc.events.columns import column_values
    >>> out = decode_batch([b'{"model_id": "m", "features": {"x": 1.5}}', b'{"features": {}}',
    ...                     b'[{"model_id": "m", "features": {"x": null}}]'], [1.0, 2.0, 3.0])
    >>> [(c.model_id, column_values(c.features["x"])) for c in out.columns], out.events
    ([('m', [1.5, None])], 2)
    >>> out.rejections[0][0], out.rejections[0][1].reason
    (1, 'missing_model_id')
    """
    with no_gc():
        return decode_chunks(
            values, default_timestamps, chunk_events, ranges=ranges, event_ids=event_ids
        )
