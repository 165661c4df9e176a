"""The orjson tier: records decoded to dicts, checked and columnarised in bulk;
where a check fails, the reference path explains the bad events.

It takes what the msgspec tiers refuse (unknown fields, integers beyond
int64, RFC 3339 timestamps, bad records). With ``bulk=False`` the dicts skip
the bulk checks and are validated event by event at once (the same result:
``loadtest/decode_tiers.py`` measures what the bulk attempt is worth: kept,
as records with 1 % malformed ones or with unknown fields decode ~30 % faster
with it, and no input measured slower beyond noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from streamproc.decode.columnar import DICTS
from streamproc.decode.pieces import Chunk, chunk_columns, take_records
from streamproc.events.columns import columns_by_model, flatten
from streamproc.events.shapes import Rejection
from streamproc.events.validate import decode_record, validate_record

_ERRORS = (orjson.JSONDecodeError, TypeError)


def orjson_chunk(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    i: int,
    chunk_events: int,
    rejections: list[tuple[int, Rejection]],
    bulk: bool = True,
) -> tuple[Chunk, int]:
    """Columns of the next chunk of records from ``i``, and the index of the
    record after the chunk; the chunk's rejections are added to ``rejections``."""
    start = i
    records, i, ok = take_records(values, i, chunk_events, orjson.loads, _ERRORS, dict)
    if ok and bulk:
        events, defaults = flatten(records, default_timestamps[start:i])
        chunk = chunk_columns(events, defaults, DICTS)
        if chunk is not None:
            return chunk, i
    # The reference path finds and explains the bad events.
    valid: list[list[dict[str, Any]]] = []
    for k, obj in enumerate(records, start):
        good, bad = validate_record(obj)
        valid.append(good)
        rejections += [(k, r) for r in bad]
    if not ok:  # the record that stopped the chunk: not JSON, or not an object or array
        good, bad = decode_record(values[i - 1])
        valid.append(good)
        rejections += [(i - 1, r) for r in bad]
    good, stamps = flatten(valid, default_timestamps[start:i])
    if not good:
        return [], i
    # The valid rest usually passes the bulk checks (a chunk with one bad
    # event among 256 is otherwise columnarised event by event).
    chunk = chunk_columns(good, stamps, DICTS)
    if chunk is None:
        chunk = list(columns_by_model(good, default_timestamp=stamps))
    return chunk, i
