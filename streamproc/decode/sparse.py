"""Feature columns, model by model, of a chunk whose events differ in feature names.

The typed and orjson tiers columnarise a chunk of several models in one go
when its events share their feature names (a :class:`~.pieces.Piece`). When
they do not, most often a name flood (a producer that puts an id into a
feature name, so every event has a name of its own), each model's columns
must be made from its own events: :func:`features_by_model` gives exactly
what :func:`~.columnar.dict_feature_columns` gives for each model's rows,
but does the work once for the chunk: the names every event of the chunk
has are columnarised in bulk over the chunk's rows grouped by model, and a
model's part of such a column is a slice; each other name is looked up only
in the rows that have it, so a rare name costs what its rows cost.

A model's batch keeps columns for its first ``MAX_BATCH_FEATURES`` names
only (:meth:`EventColumns.concat <streamproc.events.columns.EventColumns.concat>`
counts the others into ``overflow``). While :func:`decode_chunks
<streamproc.decode.batch.decode_chunks>` runs, :data:`BATCH_NAMES` knows the
names of each model's earlier chunks: once they are that many, a rare name
not among them gets no column (it could not be kept), only its checks, and
is remembered so that the batch's ``overflow`` still counts it
(:meth:`BatchNames.overflow`): the same columns and counts, without
building thousands of columns that would be dropped.

>>> rows = [{"x": 1.5, "f_1": 1.0}, {"x": 2.5, "f_2": "a"}, {"x": 3.5}]
>>> from streamproc.events.columns import column_values
>>> [{k: column_values(v) for k, v in f.items()} for f in features_by_model(rows, ["a", "b", "a"])]
[{'x': [1.5, 3.5], 'f_1': [1.0, MISSING]}, {'x': [2.5], 'f_2': ['a']}]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from contextvars import ContextVar
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from streamproc.decode.columnar import (
    DICT_KINDS,
    FEATURE_TYPES,
    bad_names,
    kinds,
    too_long,
    typed_features,
)
from streamproc.events import columns as _columns_module
from streamproc.events.columns import EventColumns
from streamproc.events.limits import MAX_FEATURES
from streamproc.events.shapes import MISSING

_FLOAT = frozenset({float})
_INT = frozenset({int})
_NUMBERS_OR_NONE = frozenset({float, int, type(None)})


class BatchNames:
    """The feature names of each model's chunks of one batch so far (in order,
    until there are ``MAX_BATCH_FEATURES``), and the rare names that got no
    column because there were (:func:`features_by_model`).

    >>> names = BatchNames()
    >>> names.full("m") is None
    True
    """

    __slots__ = ("names", "dropped")

    def __init__(self) -> None:
        self.names: dict[str, dict[str, None]] = {}
        self.dropped: dict[str, set[str]] = {}

    def add(self, columns: EventColumns) -> None:
        """Note the names of a chunk's columns of one model (in batch order)."""
        names = self.names.get(columns.model_id)
        if names is None:
            self.names[columns.model_id] = dict.fromkeys(columns.features)
        elif len(names) < _columns_module.MAX_BATCH_FEATURES:
            names.update(dict.fromkeys(columns.features))

    def full(self, model_id: str) -> dict[str, None] | None:
        """The names of the model's earlier chunks if there are at least
        ``MAX_BATCH_FEATURES`` (a name not among them can get no column), else None."""
        names = self.names.get(model_id)
        if names is None or len(names) < _columns_module.MAX_BATCH_FEATURES:
            return None
        return names

    def overflow(self, model_id: str, parts: Iterable[EventColumns]) -> int:
        """The names of the model dropped without a column that no part has a
        column for (each is one more name past the cap)."""
        dropped = self.dropped.get(model_id)
        if not dropped:
            return 0
        with_column: set[str] = set()
        for part in parts:
            with_column.update(part.features)
        return len(dropped - with_column)


BATCH_NAMES: ContextVar[BatchNames | None] = ContextVar("batch_names", default=None)


def features_by_model(rows: list[Any], model_ids: list[str]) -> list[dict[str, Any]] | None:
    """The feature columns of each model's rows (models in order of first
    appearance), as :func:`~.columnar.dict_feature_columns` makes them for
    that model's rows alone; None if a row breaks the contract."""
    if kinds(rows) != DICT_KINDS or max(map(len, rows)) > MAX_FEATURES:
        return None
    groups: dict[str, list[int]] = {}
    for i, model_id in enumerate(model_ids):
        groups.setdefault(model_id, []).append(i)
    index = list(chain.from_iterable(groups.values()))
    grouped = list(itemgetter(*index)(rows)) if len(rows) > 1 else rows
    bounds = [0]
    for members in groups.values():
        bounds.append(bounds[-1] + len(members))
    common, whole = _common_columns(grouped)
    if whole is None:
        return None
    known = set(common)
    width = len(common)
    seen: list[Any] = []  # the values of the other names, checked at the end
    out = []
    batch = BATCH_NAMES.get()
    dropped: list[tuple[str, set[str]]] = []
    for model_id, start, end in zip(groups, bounds, bounds[1:]):  # noqa: B905 (one shorter)
        full = batch.full(model_id) if batch is not None else None
        drop: set[str] = set()
        features = _model_features(grouped[start:end], whole, start, known, width, seen, full, drop)
        if features is None:
            return None
        out.append(features)
        if drop:
            dropped.append((model_id, drop))
    types = kinds(seen)
    if not types <= FEATURE_TYPES or (str in types and too_long(seen)):
        return None
    if batch is not None:  # only once the chunk is valid: its columns are then kept
        for model_id, drop in dropped:
            batch.dropped.setdefault(model_id, set()).update(drop)
    return out


def _common_names(rows: list[dict[str, Any]]) -> list[str]:
    """Candidates for the names every row has, in the first row's order: those
    of the first, the second and the last row."""
    first = rows[0]
    probe = first.keys() & rows[1].keys() & rows[-1].keys() if len(rows) > 1 else first.keys()
    return [name for name in first if name in probe]


def _common_columns(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any] | None]:
    """The names every row has (in the first row's order) and their columns
    over all ``rows``: a float64 or int64 array when every value is a float
    (every one an int); a list when no value is a number or null (a model's
    part is then a list too); a list marked for :func:`typed_features` model
    by model otherwise (a model's part may be an array where the whole is not)."""
    names = _common_names(rows)
    try:
        return names, _columns(rows, names)
    except KeyError:  # a candidate is not in every row: count them
        counts = Counter(chain.from_iterable(rows))
        names = [name for name in rows[0] if counts[name] == len(rows)]
        return names, _columns(rows, names)


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any] | None:
    """:func:`_common_columns` of ``names`` (KeyError if a row lacks one)."""
    if not names:
        return {}
    out: dict[str, Any] = {}
    first = rows[0]
    floats = [name for name in names if type(first[name]) is float]
    if len(floats) > 1:  # all floats, the usual case: one matrix in one C call
        tuples = list(map(itemgetter(*floats), rows))
        if kinds(chain.from_iterable(tuples)) == _FLOAT:
            matrix = np.array(tuples, dtype=np.float64).T.copy()
            out = dict(zip(floats, matrix, strict=True))
    rest = [name for name in names if name not in out]
    if not rest:
        return out
    values = list(map(itemgetter(*rest), rows))
    columns = zip(*values, strict=True) if len(rest) > 1 else (values,)
    for name, column in zip(rest, columns, strict=True):
        types = kinds(column)
        if types == _FLOAT:
            out[name] = np.array(column, dtype=np.float64)
            continue
        if types == _INT:
            try:
                out[name] = np.array(column, dtype=np.int64)
                continue
            except OverflowError:
                pass
        elif not types & _NUMBERS_OR_NONE:
            if not types <= FEATURE_TYPES or too_long(column):
                return None
            out[name] = list(column)
            continue
        out[name] = _PerModel(column)
    return out


class _PerModel(list):  # type: ignore[type-arg]
    """A common column whose parts are typed model by model."""

    __slots__ = ()


def _model_features(
    rows: list[dict[str, Any]],
    whole: dict[str, Any],
    start: int,
    known: set[str],
    width: int,
    seen: list[Any],
    full: dict[str, None] | None = None,
    dropped: set[str] | None = None,
) -> dict[str, Any] | None:
    """The columns of one model's ``rows`` (from ``start`` in the grouped rows),
    in order of first appearance: the first row's names, then the others.
    With ``full`` (the names of the model's earlier chunks, as many as a batch
    keeps), a rare name not in it gets no column: it goes to ``dropped``."""
    n = len(rows)
    order = dict.fromkeys(rows[0])
    others: dict[str, Any] = {}
    again: set[str] = set()  # names in more than one row
    one_more = width + 1
    for i, row in enumerate(rows):
        if len(row) > width:  # names beyond the common ones (every row has those)
            extra: Any = None
            if len(row) == one_more:  # a flood's row: its own name, most often sent last
                last = next(reversed(row))
                if last not in known:
                    extra = (last,)
            if extra is None:
                extra = row.keys() - known
                if len(extra) > 1:
                    extra = [name for name in row if name in extra]  # in the row's order
            for name in extra:
                if full is not None and name not in full:  # past the cap: no column
                    assert dropped is not None
                    dropped.add(name)
                    seen.append(row[name])
                    continue
                column = others.get(name)
                if column is None:
                    column = others[name] = [MISSING] * n
                    order[name] = None
                else:
                    again.add(name)
                value = column[i] = row[name]
                seen.append(value)
    if bad_names(order) or (dropped and bad_names(dropped)):
        return None
    features: dict[str, Any] = {}
    end = start + n
    for name in order:
        if dropped and name in dropped:
            continue
        column = whole.get(name)
        if column is None:
            column = others[name]
            if n == 1 or (name in again and MISSING not in column):  # in every row
                typed = typed_features({name: column}, FEATURE_TYPES)
                if typed is None:
                    return None
                column = typed[name]
        elif type(column) is _PerModel:
            typed = typed_features({name: column[start:end]}, FEATURE_TYPES)
            if typed is None:
                return None
            column = typed[name]
        else:  # an array, or a list of no numbers
            column = column[start:end]
        features[name] = column
    return features
