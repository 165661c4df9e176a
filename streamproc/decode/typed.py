"""The msgspec typed tier: records decoded straight into structs.

msgspec decodes a record into the structs below and checks the types of the
known fields in C while it parses (~0.5 us an event faster than
``orjson.loads`` to dicts). It accepts a subset of what ``validate_event``
accepts, with the same values: unknown fields are refused (msgspec would skip
them without checking their numbers or UTF-8, which orjson rejects), integers
must fit an int64 (beyond it orjson gives a float and msgspec an int), and
timestamps must be numbers. Whatever it refuses, the chunk is decoded again by
the orjson tier, and from there by the reference path: the checks and the
explanations of bad events are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Union

import msgspec

from streamproc.decode.columnar import Reader, _struct_fields, _struct_table
from streamproc.decode.pieces import Chunk, chunk_columns, take_records
from streamproc.events.columns import flatten

Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Num = Union[Int, float]  # noqa: UP007 (msgspec needs typing unions on 3.11)
FeatureValue = Union[str, bool, Int, float, None]  # noqa: UP007


class Prediction(msgspec.Struct, forbid_unknown_fields=True):
    score: Union[_Num, None] = None  # noqa: UP007
    label: Union[str, Int, float, bool, None] = None  # noqa: UP007


class Event(msgspec.Struct, forbid_unknown_fields=True):
    model_id: str
    features: dict[str, FeatureValue]
    model_version: Union[str, None] = None  # noqa: UP007
    event_id: Union[str, Int, float, bool, None] = None  # noqa: UP007
    timestamp: Union[_Num, None] = None  # noqa: UP007
    prediction: Union[bool, Int, float, str, Prediction, None] = None  # noqa: UP007
    latency_ms: Union[_Num, None] = None  # noqa: UP007
    error: Union[str, None] = None  # noqa: UP007


decode_typed = msgspec.json.Decoder(Union[Event, list[Event]]).decode  # noqa: UP007
TYPED_ERRORS = (msgspec.DecodeError, ValueError, TypeError)
STRUCTS = Reader(_struct_fields, Prediction, False, table=_struct_table)


def typed_chunk(
    values: Sequence[bytes | None], default_timestamps: Sequence[float], i: int, chunk_events: int
) -> tuple[Chunk | None, int]:
    """Columns of the next chunk of records from ``i``, and the index of the record
    after the chunk; None if a record is refused or an event fails a check."""
    start = i
    records, i, ok = take_records(values, i, chunk_events, decode_typed, TYPED_ERRORS, Event)
    if not ok:
        return None, i
    events: list[Any]
    events, defaults = flatten(records, default_timestamps[start:i])
    return chunk_columns(events, defaults, STRUCTS), i
