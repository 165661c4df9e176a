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

>>> rows = [{"x": 1.5, "f_1": 1.0}, {"x": 2.5, "f_2": "a"}, {"x": 3.5}]
>>> from streamproc.events.columns import column_values
>>> [{k: column_values(v) for k, v in f.items()} for f in features_by_model(rows, ["a", "b", "a"])]
[{'x': [1.5, 3.5], 'f_1': [1.0, MISSING]}, {'x': [2.5], 'f_2': ['a']}]
"""

from __future__ import annotations

from collections import Counter
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
from streamproc.events.limits import MAX_FEATURES
from streamproc.events.shapes import MISSING

_FLOAT = frozenset({float})
_INT = frozenset({int})
_NUMBERS_OR_NONE = frozenset({float, int, type(None)})


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
    for start, end in zip(bounds, bounds[1:]):  # noqa: B905 (one shorter)
        features = _model_features(grouped[start:end], whole, start, known, width, seen)
        if features is None:
            return None
        out.append(features)
    types = kinds(seen)
    if not types <= FEATURE_TYPES or (str in types and too_long(seen)):
        return None
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
) -> dict[str, Any] | None:
    """The columns of one model's ``rows`` (from ``start`` in the grouped rows),
    in order of first appearance: the first row's names, then the others."""
    n = len(rows)
    order = dict.fromkeys(rows[0])
    others: dict[str, Any] = {}
    again: set[str] = set()  # names in more than one row
    for i, row in enumerate(rows):
        if len(row) > width:  # names beyond the common ones
            extra: Any = row.keys() - known
            if len(extra) > 1:
                extra = [name for name in row if name in extra]  # in the row's order
            for name in extra:
                column = others.get(name)
                if column is None:
                    column = others[name] = [MISSING] * n
                    order[name] = None
                else:
                    again.add(name)
                value = column[i] = row[name]
                seen.append(value)
    if bad_names(order):
        return None
    features: dict[str, Any] = {}
    end = start + n
    for name in order:
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
