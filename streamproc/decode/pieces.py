"""Columns of a whole chunk: per model, or one :class:`Piece` for several models
that share their feature names (split by model once per batch, :func:`split`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from streamproc.decode.columnar import (
    DICT_KINDS,
    MODEL_IDS,
    SPLIT,
    Reader,
    event_columns,
    kinds,
)
from streamproc.decode.sparse import features_by_model
from streamproc.events.columns import EventColumns
from streamproc.events.limits import MAX_ARRAY_EVENTS, MAX_RECORD_BYTES

Chunk = list["EventColumns | Piece"]


@dataclass(slots=True)
class Piece:
    """Valid events of several models in one set of columns (same feature names)."""

    model_ids: list[str]
    versions: list[Any]
    columns: EventColumns

    @property
    def signature(self) -> tuple[Any, ...]:
        return tuple(
            (name, c.dtype if type(c) is np.ndarray else None)
            for name, c in self.columns.features.items()
        )


def take_records(
    values: Sequence[bytes | None],
    i: int,
    chunk_events: int,
    loads: Callable[[Any], Any],
    errors: tuple[type[Exception], ...],
    single: type,
) -> tuple[list[Any], int, bool]:
    """Decode records from ``i`` on with ``loads`` until they hold ``chunk_events``
    events (an array record counts its elements, any other record one).

    Returns the decoded records, the index after the last record read, and
    False if that last record failed (``loads`` raised one of ``errors``, or
    gave neither a list nor a ``single``, or it is past a limit of
    :mod:`streamproc.events.limits`): it is then not in the list.
    """
    total = len(values)
    records: list[Any] = []
    count = 0
    while i < total and count < chunk_events:
        value = values[i]
        i += 1
        if value is not None and len(value) > MAX_RECORD_BYTES:
            return records, i, False  # the reference path rejects it
        try:
            obj = loads(value)
        except errors:
            return records, i, False
        if type(obj) is list:
            if len(obj) > MAX_ARRAY_EVENTS:
                return records, i, False
            count += len(obj)
        elif type(obj) is single:
            count += 1
        else:
            return records, i, False
        records.append(obj)
    return records, i, True


def chunk_columns(events: list[Any], defaults: list[float], read: Reader) -> Chunk | None:
    """Columns of a chunk of decoded events, or None unless all are valid.

    One :class:`Piece` when the events share their feature names (split by
    model later, once per batch), else one :class:`EventColumns` per model.
    """
    if not events:
        return []
    if read.untyped and kinds(events) != DICT_KINDS:
        return None
    model_ids = read.fields(events, "model_id")
    if not MODEL_IDS.all_valid(model_ids):
        return None
    first = model_ids[0]
    several = model_ids.count(first) != len(model_ids)
    whole = event_columns(first, events, defaults, several, read)
    if whole is None:
        return None
    if whole is not SPLIT:
        columns, versions, _ = whole  # type: ignore[misc]
        return [Piece(model_ids, versions, columns)] if several else [columns]
    return _model_by_model(model_ids, events, defaults, read)


def _no_features(rows: list[Any], split: bool = False) -> tuple[dict[str, Any], bool]:
    return {}, True


def _model_by_model(
    model_ids: list[str], events: list[Any], defaults: list[float], read: Reader
) -> Chunk | None:
    """Columns per model of events whose feature names differ (the reader's
    features are dicts: only :func:`~.columnar.dict_feature_columns` splits).
    The other fields are checked and columnarised once for the chunk and
    split by model (the same checks: they are per event); the features by
    :func:`~.sparse.features_by_model`."""
    whole = event_columns(
        model_ids[0], events, defaults, False, replace(read, feature_columns=_no_features)
    )
    if whole is None:
        return None
    columns, versions, _ = whole  # type: ignore[misc]
    features = features_by_model(read.fields(events, "features"), model_ids)
    if features is None:
        return None
    parts = split([Piece(model_ids, versions, columns)])
    for part, columns_of_model in zip(parts, features, strict=True):
        part.features = columns_of_model
    return [*parts]


def split(pieces: list[Piece]) -> list[EventColumns]:
    """Per-model columns of consecutive pieces with the same feature names."""
    columns = EventColumns.concat([p.columns for p in pieces])
    model_ids = list(chain.from_iterable(p.model_ids for p in pieces))
    versions = list(chain.from_iterable(p.versions for p in pieces))
    models = list(dict.fromkeys(model_ids))
    code = {m: i for i, m in enumerate(models)}
    codes = np.fromiter(map(code.__getitem__, model_ids), dtype=np.intp, count=len(model_ids))
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(models))).tolist()
    positions = order.tolist()
    pick = itemgetter(*positions)

    def arrange(column: Any) -> Any:
        return column[order] if type(column) is np.ndarray else pick(column)

    features = {name: arrange(c) for name, c in columns.features.items()}
    timestamps, scores = columns.timestamps[order], columns.prediction_scores[order]
    latency, errors = columns.latency_ms[order], columns.errors[order]
    labels = pick(columns.prediction_labels)
    event_ids = pick(columns.event_ids) if columns.event_ids else ()  # (none: not kept)
    out = []
    start = 0
    for model_id, end in zip(models, ends, strict=True):

        def cut(column: Any, start: int = start, end: int = end) -> Any:
            return column[start:end] if type(column) is np.ndarray else list(column[start:end])

        out.append(
            EventColumns(
                model_id=model_id,
                model_version=versions[positions[end - 1]] or "unknown",  # its last event's
                timestamps=timestamps[start:end],
                features={name: cut(c) for name, c in features.items()},
                prediction_scores=scores[start:end],
                prediction_labels=cut(labels),
                latency_ms=latency[start:end],
                errors=errors[start:end],
                event_ids=cut(event_ids),
            )
        )
        start = end
    return out
