"""The chunk scheduler: which tier decodes which records of a batch.

A batch is decoded chunk by chunk, each chunk by the fastest tier that takes
it; every tier gives exactly the events, columns and rejections of the
reference path (:func:`~streamproc.events.validate.decode_record` per record,
then :func:`~streamproc.events.columns.columns_by_model`):

1. the **schema** tier (:mod:`.schema`): msgspec structs specialised to the
   feature names of the chunk's first event; up to ``4 * chunk_events``
   events, stopping short at the first record it refuses;
2. the **typed** tier (:mod:`.typed`): msgspec structs with a dict of
   features; ``chunk_events`` events at a time;
3. the **orjson** tier (:mod:`.orjson_tier`): dicts, and for a chunk with a
   bad event the reference path, which explains every bad event.

The heuristic (state: ``last``, ``mixed``, ``few = chunk_events // 4``):

* ``last`` is the number of records the last schema chunk took (0 after a
  chunk of the other tiers). A schema chunk that stops short at a refused
  record is normal once (an odd record in a long run of one schema);
* ``mixed``: if a schema chunk stopped short after fewer than ``few`` records
  *and* the one before it was short too, the schemas are mixed (records of
  several feature sets interleaved): the next chunk skips the schema tier;
* when the schema tier cannot start, the typed tier (then the orjson tier)
  takes only ``few`` events if the last schema chunk was long (the odd
  record is probably alone: the schema tier tries again soon), else a full
  ``chunk_events``, or ``SCHEMA_CHUNKS`` times that after a typed chunk that
  took all its records (a run of mixed names, e.g. a name flood: fewer,
  larger chunks; a refused record sends at most one such chunk to the
  orjson tier).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamproc.decode.fold import fold_singletons
from streamproc.decode.orjson_tier import orjson_chunk
from streamproc.decode.pieces import Chunk, Piece, split
from streamproc.decode.schema import schema_chunk
from streamproc.decode.sparse import BATCH_NAMES, BatchNames
from streamproc.decode.sparse_ship import Ranges, shipped_column, value_ranges
from streamproc.decode.typed import typed_chunk
from streamproc.events.columns import EventColumns
from streamproc.events.shapes import Rejection

SCHEMA_CHUNKS = 4  # a chunk of structs may be larger than one of dicts (~7 % faster)


@dataclass(slots=True)
class DecodedRecords:
    """What :func:`~streamproc.decode.decode_batch` made of a list of record values.

    ``columns``: one :class:`EventColumns` per model, in order of first
    appearance; ``rejections``: (index of the record, why) for every record or
    array element that breaks the contract; ``events``: valid events.
    """

    columns: list[EventColumns]
    rejections: list[tuple[int, Rejection]]
    events: int


def decode_chunks(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    chunk_events: int = 256,
    bulk: bool = True,
    ranges: list[Ranges] | None = None,
    event_ids: bool = True,
) -> DecodedRecords:
    """``decode_batch``; ``bulk=False`` turns off the orjson tier's bulk checks
    (for measuring them: the result is the same); a ``ranges`` list gets the
    :func:`~.sparse_ship.value_ranges` of each model's columns; with
    ``event_ids=False`` the columns have no event ids (dropped chunk by chunk,
    so that they are not concatenated and split by model for nothing)."""
    names = BatchNames()
    token = BATCH_NAMES.set(names)
    try:
        return _decode_chunks(
            values, default_timestamps, chunk_events, bulk, ranges, event_ids, names
        )
    finally:
        BATCH_NAMES.reset(token)


def _decode_chunks(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    chunk_events: int,
    bulk: bool,
    ranges: list[Ranges] | None,
    event_ids: bool,
    names: BatchNames,
) -> DecodedRecords:
    """:func:`decode_chunks`, the names of each model's chunks noted in ``names``."""
    parts: dict[str, list[EventColumns]] = {}
    rejections: list[tuple[int, Rejection]] = []
    pieces: list[Piece] = []

    def add(columns: EventColumns) -> None:
        names.add(columns)
        group = parts.get(columns.model_id)
        if group is None:
            parts[columns.model_id] = [columns]
        else:
            group.append(columns)

    def flush() -> None:
        if pieces:
            for columns in split(pieces):
                add(columns)
            pieces.clear()

    total = len(values)
    few = max(1, chunk_events // 4)
    i = 0
    last = few  # records in the last schema chunk
    mixed = False
    typed_run = False  # the last chunk was the typed tier's, and it took it whole
    while i < total:
        start = i
        chunk: Chunk | None = None
        if not mixed:
            chunk, i, refused = schema_chunk(
                values, default_timestamps, i, SCHEMA_CHUNKS * chunk_events, rejections, bulk
            )
            if chunk is not None:
                mixed = refused and i - start < few and last < few
                last = i - start
        if chunk is None:
            size = few if last >= few else chunk_events * (SCHEMA_CHUNKS if typed_run else 1)
            chunk, i = typed_chunk(values, default_timestamps, start, size)
            typed_run = chunk is not None
            if chunk is None:  # the orjson tier, then the reference path, explain why
                chunk, i = orjson_chunk(values, default_timestamps, start, size, rejections, bulk)
            mixed = False
            last = 0
        for part in chunk:
            if not event_ids:
                (part.columns if type(part) is Piece else part).event_ids = []  # type: ignore[union-attr]
            if type(part) is Piece:
                if pieces and part.signature != pieces[0].signature:
                    flush()
                pieces.append(part)
            else:
                flush()
                add(part)  # type: ignore[arg-type]
    flush()
    # shipped (``ranges`` wanted): a name flood's columns made sparse at once
    sparse = shipped_column if ranges is not None else None
    # rare names given no column while decoding (before folding takes more out)
    dropped = [names.overflow(model_id, group) for model_id, group in parts.items()]
    folded = [fold_singletons(group) for group in parts.values()]  # a name flood's, mostly
    columns = [EventColumns.concat(group, sparse=sparse) for group in parts.values()]
    for model, model_dropped, (model_folded, past_cap) in zip(
        columns, dropped, folded, strict=True
    ):
        model.overflow += model_dropped + past_cap
        model.folded = model_folded
    if ranges is not None:
        ranges += map(value_ranges, parts.values(), columns)
    return DecodedRecords(columns, rejections, sum(c.size for c in columns))
