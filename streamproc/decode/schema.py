"""The msgspec schema tier: typed decoding specialised to a set of feature names.

msgspec decodes ``features`` into a struct whose fields are exactly the
feature names of a chunk's first event (about 1 us an event faster than into
a dict: no key strings, no hashing). A feature whose first value is a float
accepts only floats and nulls (``_FloatOrNull``: msgspec would turn an
integer into a float, so integers are refused); every other feature has the
value type of ``Event.features``. Such a decoder accepts a subset of what
the typed tier accepts, with the same values (a duplicate key keeps its last
value, as in a dict), and the columns come out as ``dict_feature_columns``
makes them: float-first features are float64 arrays (NaN for null), without
checking each value's type; string- or boolean-first ones are lists (their
values are of several kinds or strings); the others are typed as in
``typed_features``. Columns keep the key order of the chunk's first event,
read from its dict, as the dict path does. Whatever a decoder refuses takes
the other tiers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Annotated, Any, Union

import msgspec

from streamproc.decode.columnar import FEATURE_TYPES, bad_names, too_long, typed_features
from streamproc.decode.floats import float_matrix
from streamproc.decode.orjson_tier import orjson_chunk
from streamproc.decode.pieces import Chunk, chunk_columns
from streamproc.decode.typed import STRUCTS, TYPED_ERRORS, Event, FeatureValue, decode_typed
from streamproc.events.columns import flatten
from streamproc.events.limits import MAX_ARRAY_EVENTS, MAX_FEATURES, MAX_RECORD_BYTES
from streamproc.events.shapes import Rejection

_NoInt = Annotated[int, msgspec.Meta(ge=1, le=0)]  # refuses every integer
_FloatOrNull = Union[float, None, _NoInt]  # noqa: UP007
Schema = tuple[tuple[str, ...], str]  # feature names; "f", "t" or "g" each (see below)


def schema_of(features: dict[str, Any]) -> Schema:
    """The feature names of an event and the kind of each first value: "f" a float,
    "t" a string or boolean, "g" anything else.

    >>> schema_of({"x": 1.5, "c": "DE", "n": 3})
    (('x', 'c', 'n'), 'ftg')
    """
    kinds = "".join(
        "f" if (kind := type(v)) is float else "t" if kind is str or kind is bool else "g"
        for v in features.values()
    )
    return tuple(features), kinds


class SeenSchemas:
    """The schemas met so far, so that a decoder (~0.3 ms to make) is made only
    for a schema met twice: under a name flood every event's schema is new.
    Forgotten all at once when ``limit`` of them are known.

    >>> seen = SeenSchemas()
    >>> seen.again(((("x",), "f"))), seen.again(((("x",), "f")))
    (False, True)
    """

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._seen: set[Schema] = set()

    def again(self, schema: Schema) -> bool:
        """Whether ``schema`` was met before (and remember it)."""
        seen = self._seen
        if schema in seen:
            return True
        if len(seen) >= self.limit:
            seen.clear()
        seen.add(schema)
        return False


SCHEMAS_SEEN = SeenSchemas()  # shared by the schema chunks of this process


@functools.lru_cache(maxsize=64)  # ~0.3 ms to make one; 13 KB for 20 features, 100 KB for 200
def schema_decoder(schema: Schema) -> tuple[Callable[[Any], Any], Any]:
    """A decoder of events with exactly the features of ``schema``, and the
    :class:`~streamproc.decode.columnar.Reader` of what it decodes."""
    names, kinds = schema
    fields = [f"f{i}" for i in range(len(names))]
    features = msgspec.defstruct(
        "_Features",
        [
            (f, _FloatOrNull if kind == "f" else FeatureValue)
            for f, kind in zip(fields, kinds, strict=True)
        ],
        forbid_unknown_fields=True,
        rename=dict(zip(fields, names, strict=True)),
    )
    event = msgspec.defstruct(
        "_SchemaEvent",
        [
            (f.name, features, f.default) if f.name == "features" else (f.name, f.type, f.default)
            for f in msgspec.structs.fields(Event)
        ],
        forbid_unknown_fields=True,
    )
    decode = msgspec.json.Decoder(Union[event, list[event]]).decode  # type: ignore[valid-type]  # noqa: UP007
    astuple = msgspec.structs.astuple
    floats = [i for i, kind in enumerate(kinds) if kind == "f"]

    def feature_columns(rows: list[Any], split: bool = False) -> tuple[dict[str, Any], bool] | None:
        """``dict_feature_columns`` of feature structs (every row has all the names).

        Each row becomes a tuple and one ``zip`` turns the rows into one tuple
        per feature, all in C; the float features' tuples become one float64
        matrix through ``struct`` (:mod:`.floats`). 0.4 us an
        event of 16 floats and 4 strings, where one ``attrgetter`` pass for
        the floats (``np.fromiter`` into a matrix, transposed) and one for
        the rest took 1.6 us.
        """
        per_name = list(zip(*map(astuple, rows), strict=True))
        columns: list[Any] = per_name
        if floats:
            matrix = float_matrix([per_name[i] for i in floats])
            for i, row in zip(floats, matrix, strict=True):
                columns[i] = row
        for i, kind in enumerate(kinds):
            if kind == "t":
                if too_long(per_name[i]):
                    return None
                columns[i] = list(per_name[i])
            elif kind == "g":
                typed = typed_features({"": per_name[i]}, FEATURE_TYPES)
                if typed is None:
                    return None
                columns[i] = typed[""]
        return dict(zip(names, columns, strict=True)), True

    return decode, replace(STRUCTS, feature_columns=feature_columns)


def schema_chunk(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    i: int,
    chunk_events: int,
    rejections: list[tuple[int, Rejection]],
    bulk: bool = True,
) -> tuple[Chunk | None, int, bool]:
    """Decode the records from ``i`` on with a schema decoder (for the features of
    the first event), up to about ``chunk_events`` events or a record it refuses.

    Returns their columns (None if it decoded none), the index of the record
    after them, and whether it stopped at a refused record. If an event fails
    the checks of :func:`~streamproc.decode.pieces.chunk_columns`, each quarter
    of the chunk is checked alone, and one that fails is explained by
    :func:`~streamproc.decode.orjson_tier.orjson_chunk` (which adds the
    rejections), as the other tiers would do.
    """
    value = values[i]
    if value is None or len(value) > MAX_RECORD_BYTES:
        return None, i, False
    try:
        head = decode_typed(value)
    except TYPED_ERRORS:
        return None, i, False
    first = head[0] if type(head) is list and head else head
    if type(first) is not Event or not first.features:
        return None, i, False
    if len(first.features) > MAX_FEATURES or bad_names(first.features):
        return None, i, False  # past a limit: the reference path says which
    per_record = max(len(head) if type(head) is list else 1, 1)
    stop = min(len(values), i + max(1, -(-chunk_events // per_record)))
    schema = schema_of(first.features)
    if not SCHEMAS_SEEN.again(schema):
        return None, i, False  # maybe a name flood: every event has a name of its own
    try:
        decode, reader = schema_decoder(schema)
    except ValueError:  # a name msgspec cannot rename to (quotes, backslash, control characters)
        return None, i, False
    records: list[Any] = []
    refused = False
    try:  # one C-level pass (a list comprehension costs ~0.15 us an event)
        sizes = list(map(len, values[i:stop]))  # type: ignore[arg-type]
    except TypeError:  # a null value (a tombstone)
        sizes = [MAX_RECORD_BYTES + 1 if v is None else len(v) for v in values[i:stop]]
    if max(sizes) > MAX_RECORD_BYTES:  # decode up to the first record past the limit
        stop = i + next(k for k, size in enumerate(sizes) if size > MAX_RECORD_BYTES)
        refused = True
    try:
        records.extend(map(decode, values[i:stop]))  # keeps what it decoded on an error
    except TYPED_ERRORS:
        if not records:
            return None, i, True
        stop = i + len(records)
        refused = True
    long = (
        [k for k, r in enumerate(records) if type(r) is list and len(r) > MAX_ARRAY_EVENTS]
        if list in set(map(type, records))  # a C-level pass: arrays are rare
        else None
    )
    if long:
        records = records[: long[0]]
        stop = i + len(records)
        refused = True
    if not records:
        return None, i, True
    stamps = default_timestamps[i:stop]
    chunk = chunk_columns(*flatten(records, stamps), reader)
    if chunk is not None:
        return chunk, stop, refused
    parts: Chunk = []
    step = max(1, -(-chunk_events // (4 * per_record)))
    for k in range(0, len(records), step):
        block = records[k : k + step]
        part = chunk_columns(*flatten(block, stamps[k : k + step]), reader)
        if part is None:
            events = sum(len(r) if type(r) is list else 1 for r in block)
            part, end = orjson_chunk(values, default_timestamps, i + k, events, rejections, bulk)
            if end != i + k + len(block):  # orjson split the records otherwise: stop here
                return parts + part, end, False
        parts += part
    return parts, stop, refused
