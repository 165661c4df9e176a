"""Bulk checks and columns of a chunk of decoded events (private to the decode tiers).

``decode_record`` + ``validate_event`` + ``EventColumns.from_events`` walk every
event and every feature in Python: ~14 us an event of 20 features. The tiers
decode a small chunk of records (a few hundred events, so the decoded objects
are still in the CPU cache when they are columnarised), then check the chunk
here with C-level passes (``map(getter, ...)``, ``set(map(type, ...))``,
``itemgetter`` + ``zip``) instead of per-event Python. If every check passes,
every event of the chunk is valid by exactly the rules of ``validate_event``;
if any fails, the chunk is None and a slower tier, in the end the reference
path (``decode_record``), finds and explains the bad events. Either way the
detectors see the same events.

The events are dicts (orjson) or msgspec structs: a :class:`Reader` says how to
read a field of many of them; everything else is one implementation.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, Final

import msgspec
import numpy as np

from streamproc.decode.floats import float_array
from streamproc.events.columns import EventColumns
from streamproc.events.limits import MAX_FEATURES, MAX_NAME_CHARS, MAX_STRING_CHARS
from streamproc.events.shapes import MISSING, MODEL_ID_PATTERN, category

_NONE = type(None)


class _Split:
    """The features of a chunk's events differ: columns are made model by model."""

    __slots__ = ()


SPLIT: Final = _Split()
FEATURE_TYPES: Final[frozenset[type]] = frozenset({float, int, str, bool, _NONE})
_FEATURE_TYPES_OR_MISSING: Final[frozenset[type]] = FEATURE_TYPES | {type(MISSING)}
_NUMBER_OR_NONE: Final = frozenset({float, int, _NONE})
_STR_OR_NONE: Final = frozenset({str, _NONE})
_LABEL_TYPES: Final = frozenset({str, int, float, bool, _NONE})
_FLOATS = (frozenset({float}), frozenset({float, _NONE}))
_INTS = frozenset({int})
DICT_KINDS: Final = frozenset({dict})
SPARSE_NAMES: Final = 24  # more names than this in a chunk, most in few rows: sparse
_STRS = frozenset({str})
_NONES = frozenset({_NONE})

_EVENT_FIELDS = (
    "features",
    "prediction",
    "latency_ms",
    "error",
    "model_version",
    "timestamp",
    "event_id",
)
# (columns, each event's model_version, whether all events have the same feature names)
Columns = tuple[EventColumns, list[Any], bool]
FeatureColumns = Callable[[list[Any], bool], "tuple[dict[str, Any], bool] | None | _Split"]


def kinds(values: Any) -> frozenset[type]:
    """The set of the exact types of ``values``."""
    return frozenset(map(type, values))


class ModelIdCache:
    """Model ids already found valid (a regex match per distinct id is costly),
    forgotten all at once when ``limit`` of them are known.

    >>> cache = ModelIdCache()
    >>> cache.all_valid(["a", "b", "a"]), cache.all_valid(["a", "bad id"]), cache.all_valid([1])
    (True, False, False)
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._valid: set[str] = set()

    def all_valid(self, model_ids: list[Any]) -> bool:
        try:  # the distinct ids, then their types: one pass over the ids, not two
            distinct = set(model_ids)
        except TypeError:  # an unhashable id (a list or an object): not a string
            return False
        if kinds(distinct) != _STRS:
            return False
        valid = self._valid
        for model_id in distinct:
            if model_id not in valid:
                if not MODEL_ID_PATTERN.fullmatch(model_id):
                    return False
                if len(valid) >= self.limit:
                    valid.clear()
                valid.add(model_id)
        return True


MODEL_IDS: Final = ModelIdCache()  # shared by the tiers of this process


def too_long(column: Any) -> bool:
    """Whether a string of ``column`` is past
    :data:`~streamproc.events.limits.MAX_STRING_CHARS`."""
    try:  # all strings: one C-level pass
        return max(map(len, column), default=0) > MAX_STRING_CHARS
    except TypeError:  # numbers, booleans, nulls too
        return max((len(v) for v in column if type(v) is str), default=0) > MAX_STRING_CHARS


def bad_names(names: Any) -> bool:
    """Whether a feature name is past :data:`~streamproc.events.limits.MAX_NAME_CHARS`."""
    return max(map(len, names), default=0) > MAX_NAME_CHARS


def typed_features(raw: dict[str, Any], allowed: frozenset[type]) -> dict[str, Any] | None:
    """Feature columns from raw columns (None if a value's type is not ``allowed``):
    floats and nulls become float64 arrays, integers int64 arrays, the rest lists."""
    features: dict[str, Any] = {}
    for name, column in raw.items():
        if type(column) is np.ndarray:
            features[name] = column
            continue
        types = kinds(column)
        if not types <= allowed:
            return None
        if str in types and too_long(column):
            return None
        if types in _FLOATS:
            features[name] = np.array(column, dtype=np.float64)
        elif types == _INTS:
            try:
                features[name] = np.array(column, dtype=np.int64)
            except OverflowError:
                features[name] = list(column)
        else:
            features[name] = list(column)
    return features


def dict_feature_columns(
    rows: list[Any], split: bool = False
) -> tuple[dict[str, Any], bool] | None | _Split:
    """Columns of the feature dicts ``rows``, and whether all rows have the same keys.

    None if a value breaks the contract. Features whose values are all floats
    become one float64 matrix in a single C call, then one array each. With
    ``split`` (the rows are of several models), rows with different keys give
    :data:`SPLIT`: their columns are made model by model.
    """
    if kinds(rows) != DICT_KINDS:
        return None
    first = rows[0]
    width = len(first)
    raw: dict[str, Any] = {}
    if width and set(map(len, rows)) == {width}:
        if width > MAX_FEATURES or bad_names(first):
            return None  # past a limit: the reference path says which
        names = tuple(first)
        floats = tuple(name for name, value in first.items() if type(value) is float)
        if len(floats) > 1:
            try:
                tuples = list(map(itemgetter(*floats), rows))
            except KeyError:
                tuples = None
            if tuples is not None and kinds(chain.from_iterable(tuples)) == _FLOATS[0]:
                matrix = np.array(tuples, dtype=np.float64).T.copy()
                raw = dict(zip(floats, matrix, strict=True))
        rest = tuple(name for name in names if name not in raw)
        try:
            values = list(map(itemgetter(*rest), rows)) if rest else None
        except KeyError:
            pass
        else:  # every row has exactly the keys of the first
            if values is not None:
                columns = zip(*values, strict=True) if len(rest) > 1 else (values,)
                raw.update(zip(rest, columns, strict=True))
            typed = typed_features({name: raw[name] for name in names}, FEATURE_TYPES)
            return None if typed is None else (typed, True)
    if split:
        return SPLIT
    if max(map(len, rows)) > MAX_FEATURES:
        return None
    present = Counter(chain.from_iterable(rows))  # names in order of first appearance
    if bad_names(present):
        return None
    n = len(rows)
    if len(present) > SPARSE_NAMES and len(present) * n > 2 * sum(present.values()):
        return _sparse_feature_columns(rows, present)
    raw = {name: [row.get(name, MISSING) for row in rows] for name in present}
    typed = typed_features(raw, _FEATURE_TYPES_OR_MISSING)
    return None if typed is None else (typed, False)


def _sparse_feature_columns(
    rows: list[dict[str, Any]], present: Counter[str]
) -> tuple[dict[str, Any], bool] | None:
    """:func:`dict_feature_columns` of rows with many names each in few rows (a
    producer putting ids into feature names). The names every row has are
    columnarised in bulk as when all rows have the same names; the others in
    one pass over what each row has beyond those. The same columns: a name
    in every row as :func:`typed_features` makes it, the others lists with
    :data:`MISSING`."""
    n = len(rows)
    dense = [name for name, count in present.items() if count == n]
    raw: dict[str, Any] = {}
    if dense:
        first = rows[0]
        floats = tuple(name for name in dense if type(first[name]) is float)
        if len(floats) > 1:
            tuples = list(map(itemgetter(*floats), rows))
            if kinds(chain.from_iterable(tuples)) == _FLOATS[0]:
                matrix = np.array(tuples, dtype=np.float64).T.copy()
                raw = dict(zip(floats, matrix, strict=True))
        rest = [name for name in dense if name not in raw]
        if rest:
            values = list(map(itemgetter(*rest), rows))
            columns = zip(*values, strict=True) if len(rest) > 1 else (values,)
            raw.update(zip(rest, columns, strict=True))
    typed = typed_features(raw, FEATURE_TYPES) if raw else {}
    if typed is None:
        return None
    sparse = {name: [MISSING] * n for name, count in present.items() if count < n}
    seen: list[Any] = []
    known = set(dense)
    for i, row in enumerate(rows):
        for name in row.keys() - known:
            value = row[name]
            sparse[name][i] = value
            seen.append(value)
    types = kinds(seen)
    if not types <= FEATURE_TYPES or (str in types and too_long(seen)):
        return None
    return {name: typed[name] if name in typed else sparse[name] for name in present}, False


@functools.cache
def _attribute(name: str) -> Callable[[Any], Any]:
    return operator.attrgetter(name)


def _dict_fields(items: Sequence[Any], name: str) -> list[Any]:
    return list(map(dict.get, items, repeat(name)))


def _struct_fields(items: Sequence[Any], name: str) -> list[Any]:
    return list(map(_attribute(name), items))


def _dict_table(items: list[Any], names: tuple[str, ...]) -> list[Sequence[Any]]:
    return [_dict_fields(items, name) for name in names]


def _struct_table(items: list[Any], names: tuple[str, ...]) -> list[Sequence[Any]]:
    """The fields ``names`` of structs, each a tuple: every struct becomes a tuple
    and one ``zip`` turns them into columns, all in C (0.15 us an event for the
    8 fields of an event, where a ``map`` of an ``attrgetter`` per field took
    0.34 us). Structs of several types are read field by field."""
    if not items or len(kinds(items)) != 1:
        return [_struct_fields(items, name) for name in names]
    order = type(items[0]).__struct_fields__
    columns = list(zip(*map(msgspec.structs.astuple, items), strict=True))
    return [columns[order.index(name)] for name in names]


@dataclass(frozen=True, slots=True)
class Reader:
    """How to read the fields of many decoded events of one kind.

    ``fields(items, name)``: the field ``name`` of each item (None if absent);
    ``prediction``: the type of an object prediction; ``untyped``: the events
    themselves may be anything (decoded JSON), so they must be checked to be
    objects; ``feature_columns``: columns of the events' ``features``;
    ``table(items, names)``: the fields ``names`` at once (lists or tuples).
    """

    fields: Callable[[Sequence[Any], str], list[Any]]
    prediction: type
    untyped: bool
    feature_columns: FeatureColumns = dict_feature_columns
    table: Callable[[list[Any], tuple[str, ...]], list[Sequence[Any]]] = _dict_table


DICTS: Final = Reader(_dict_fields, dict, True)


def _prediction_columns(
    predictions: Sequence[Any], read: Reader
) -> tuple[np.ndarray, list[Any]] | None:
    """Scores and labels of the predictions (None if one breaks the contract)."""
    n = len(predictions)
    types = kinds(predictions)
    if types == {read.prediction}:
        scores = read.fields(predictions, "score")
        labels = read.fields(predictions, "label")
        if not kinds(scores) <= _NUMBER_OR_NONE:
            return None
        label_kinds = kinds(labels)
        if not label_kinds <= _STR_OR_NONE:
            if not label_kinds <= _LABEL_TYPES:
                return None
            labels = [None if v is None else category(v) for v in labels]
        return float_array(scores), labels
    if types <= _NUMBER_OR_NONE:
        return float_array(predictions), [None] * n
    if types <= _STR_OR_NONE:
        return np.full(n, np.nan), list(predictions)
    return None


def _errors(errors: Sequence[Any], error_kinds: frozenset[type]) -> np.ndarray:
    """Whether each event has an error (not null); no pass over the values when
    the kinds say all or none (the usual case)."""
    if error_kinds == _NONES:
        return np.zeros(len(errors), dtype=bool)
    if _NONE not in error_kinds:
        return np.ones(len(errors), dtype=bool)
    return np.fromiter(map(operator.is_not, errors, repeat(None)), dtype=bool, count=len(errors))


def event_columns(
    model_id: str, events: list[Any], defaults: list[float], split: bool, read: Reader
) -> Columns | None | _Split:
    """Columns of events if all are valid, else None (no side effects).

    Also returns each event's ``model_version`` and whether all events have
    the same feature names (see :func:`dict_feature_columns` for ``split``).
    A null timestamp takes its record's time from ``defaults``.
    """
    features, predictions, latency, errors, versions, stamps, event_ids = read.table(
        events, _EVENT_FIELDS
    )
    typed = read.feature_columns(features, split)  # type: ignore[arg-type]
    if typed is None or isinstance(typed, _Split):
        return typed
    prediction = _prediction_columns(predictions, read)
    if prediction is None:
        return None
    if not kinds(latency) <= _NUMBER_OR_NONE:
        return None
    latency_ms = float_array(latency)
    if (latency_ms < 0).any():
        return None
    error_kinds = kinds(errors)
    if not error_kinds <= _STR_OR_NONE:
        return None
    if not kinds(versions) <= _STR_OR_NONE:
        return None
    stamp_kinds = kinds(stamps)
    if not stamp_kinds <= _NUMBER_OR_NONE:
        return None  # RFC 3339 strings (or invalid values): the reference path
    if _NONE in stamp_kinds:
        stamps = [d if t is None else t for t, d in zip(stamps, defaults, strict=True)]
    columns = EventColumns(
        model_id=model_id,
        model_version=versions[-1] or "unknown",
        timestamps=float_array(stamps),
        features=typed[0],
        prediction_scores=prediction[0],
        prediction_labels=prediction[1],
        latency_ms=latency_ms,
        errors=_errors(errors, error_kinds),
        event_ids=list(event_ids),
    )
    return columns, list(versions), typed[1]
