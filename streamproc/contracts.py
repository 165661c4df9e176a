"""The public shapes: inference events, labels, alerts; decoding and validation.

Everything here is pure (no I/O). Decoding is batch-first: a Kafka record holds
one event or a JSON array of events, and :func:`decode_record` turns its bytes
into plain dicts plus a :class:`Rejection` for every element that breaks the
contract. :class:`EventColumns` then turns the valid events of one model into
columns (numpy arrays and lists) for the detectors.

>>> good, bad = decode_record(b'[{"model_id": "m", "features": {"x": 1.5}}, {"features": {}}]')
>>> [e["model_id"] for e in good], [r.reason for r in bad]
(['m'], ['missing_model_id'])
>>> cols = EventColumns.from_events("m", good, default_timestamp=10.0)
>>> cols.size, cols.features["x"], cols.timestamps.tolist()
(1, [1.5], [10.0])
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import itemgetter
from typing import Annotated, Any, Final, Union

import msgspec
import numpy as np
import orjson

__all__ = [
    "MISSING",
    "Rejection",
    "decode_record",
    "validate_event",
    "validate_label",
    "EventColumns",
    "columns_by_model",
    "DecodedRecords",
    "decode_records",
    "share_strings",
    "column_values",
    "Alert",
    "alert_id",
    "format_alert",
]

MODEL_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _Missing:
    """Marks a feature that is absent from an event (as opposed to null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"  # unpickles as the module's singleton (``is MISSING`` holds)


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record (or one element of an array record) was not processed.

    ``reason`` is a short code from a fixed set (a bounded metric label);
    ``detail`` is the one-line, human-readable reason that names the field.
    ``index`` is the element's position in an array record, else ``None``.
    """

    reason: str
    detail: str
    index: int | None = None


_NUMBER = (int, float)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def validate_event(obj: Any) -> Rejection | None:
    """Check one decoded inference event against the v1 contract.

    Returns ``None`` when the event is valid, else the first broken rule.

    >>> print(validate_event({"model_id": "m", "features": {"x": [1]}}).detail)
    features.x: must be a number, string, boolean or null, got array
    >>> validate_event({"model_id": "m", "features": {"x": None}}) is None
    True
    """
    if type(obj) is not dict:
        return Rejection("not_an_object", f"event: must be a JSON object, got {_type_name(obj)}")
    model_id = obj.get("model_id")
    if model_id is None:
        return Rejection("missing_model_id", "model_id: required field is missing")
    if type(model_id) is not str or not MODEL_ID_PATTERN.fullmatch(model_id):
        return Rejection("bad_model_id", "model_id: must be 1 to 128 characters of [A-Za-z0-9._:-]")
    features = obj.get("features")
    if features is None:
        return Rejection("missing_features", "features: required field is missing")
    if type(features) is not dict:
        return Rejection("bad_features", f"features: must be an object, got {_type_name(features)}")
    for name, value in features.items():
        if type(value) in (dict, list):
            return Rejection(
                "bad_feature_value",
                f"features.{name}: must be a number, string, boolean or null, "
                f"got {_type_name(value)}",
            )
    prediction = obj.get("prediction")
    if prediction is not None and type(prediction) not in (int, float, str, bool):
        if type(prediction) is not dict:
            return Rejection(
                "bad_prediction",
                f"prediction: must be a number, string or object, got {_type_name(prediction)}",
            )
        score = prediction.get("score")
        if score is not None and (type(score) not in _NUMBER):
            return Rejection("bad_prediction", "prediction.score: must be a number")
        label = prediction.get("label")
        if label is not None and type(label) not in (str, int, float, bool):
            return Rejection("bad_prediction", "prediction.label: must be a string or number")
    latency = obj.get("latency_ms")
    if latency is not None and (type(latency) not in _NUMBER or latency < 0):
        return Rejection("bad_latency", "latency_ms: must be a number >= 0")
    error = obj.get("error")
    if error is not None and type(error) is not str:
        return Rejection("bad_error", f"error: must be a string or null, got {_type_name(error)}")
    version = obj.get("model_version")
    if version is not None and type(version) is not str:
        return Rejection("bad_model_version", "model_version: must be a string")
    timestamp = obj.get("timestamp")
    if timestamp is not None and parse_timestamp(timestamp) is None:
        return Rejection("bad_timestamp", "timestamp: must be epoch seconds or an RFC 3339 string")
    return None


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from a number or an RFC 3339 string; ``None`` if neither.

    >>> parse_timestamp("2026-11-22T00:00:00Z")
    1795305600.0
    """
    if type(value) in _NUMBER:
        return float(value)
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.timestamp()
    return None


def decode_record(value: bytes | None) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Decode one Kafka record value: a JSON event or a JSON array of events.

    Returns the valid events and a rejection for each invalid one (for an
    array, ``Rejection.index`` says which element).
    """
    if value is None:
        return [], [Rejection("bad_json", "value: record has no value (tombstone)")]
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection("bad_json", f"value: not valid JSON ({exc})")]
    if type(obj) is dict:
        problem = validate_event(obj)
        return ([obj], []) if problem is None else ([], [problem])
    if type(obj) is not list:
        return [], [
            Rejection("not_an_object", f"value: must be an object or array, got {_type_name(obj)}")
        ]
    good: list[dict[str, Any]] = []
    bad: list[Rejection] = []
    for index, item in enumerate(obj):
        problem = validate_event(item)
        if problem is None:
            good.append(item)
        else:
            bad.append(Rejection(problem.reason, f"[{index}] {problem.detail}", index))
    return good, bad


def validate_label(obj: Any) -> Rejection | None:
    """Check one label event (``model_id``, ``event_id``, ``label``).

    >>> validate_label({"model_id": "m", "event_id": "e1", "label": "fraud"}) is None
    True
    >>> validate_label({"model_id": "m", "label": 1}).detail
    'event_id: required string field is missing'
    """
    if type(obj) is not dict:
        return Rejection("not_an_object", f"label: must be a JSON object, got {_type_name(obj)}")
    model_id = obj.get("model_id")
    if type(model_id) is not str or not MODEL_ID_PATTERN.fullmatch(model_id):
        return Rejection("bad_model_id", "model_id: must be 1 to 128 characters of [A-Za-z0-9._:-]")
    if type(obj.get("event_id")) is not str:
        return Rejection("missing_event_id", "event_id: required string field is missing")
    if type(obj.get("label")) not in (str, int, float):
        return Rejection("bad_label", "label: must be a string or a number")
    return None


def _prediction_parts(prediction: Any) -> tuple[float, str | None]:
    """(score, label) of a prediction; NaN / None where absent."""
    kind = type(prediction)
    if kind is float or kind is int:
        return float(prediction), None
    if kind is str:
        return np.nan, prediction
    if kind is bool:
        return np.nan, "true" if prediction else "false"
    if kind is dict:
        score = prediction.get("score")
        label = prediction.get("label")
        return (
            np.nan if score is None else float(score),
            None if label is None else _category(label),
        )
    return np.nan, None


def _category(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


@dataclass(slots=True)
class EventColumns:
    """The valid events of one model in columnar form.

    ``features`` maps each feature name seen in the batch to its column: one
    raw value per event (number, string, bool, ``None`` for null,
    :data:`MISSING` when the event lacks the feature). A column that holds
    only floats and nulls may instead be a float64 array (NaN for null), and
    one of only integers an int64 array: :func:`decode_records` builds them so
    that the numbers leave Python objects early. :func:`column_values` gives
    the raw values of either form. Numeric arrays use NaN for "absent".
    """

    model_id: str
    model_version: str
    timestamps: np.ndarray
    features: dict[str, list[Any]]
    prediction_scores: np.ndarray
    prediction_labels: list[str | None]
    latency_ms: np.ndarray
    errors: np.ndarray
    event_ids: list[str | None] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_events(
        cls, model_id: str, events: list[dict[str, Any]], *, default_timestamp: float | list[float]
    ) -> EventColumns:
        """Columns from already validated events of one model.

        ``default_timestamp`` (one value, or one per event) stands in for
        events without a ``timestamp``: the Kafka record time.
        """
        n = len(events)
        defaults = (
            default_timestamp if isinstance(default_timestamp, list) else [default_timestamp] * n
        )
        timestamps = np.fromiter(
            (
                defaults[i]
                if (ts := e.get("timestamp")) is None
                else (ts if type(ts) is not str else parse_timestamp(ts))
                for i, e in enumerate(events)
            ),
            dtype=np.float64,
            count=n,
        )
        rows = [e["features"] for e in events]
        names: set[str] = set().union(*rows) if rows else set()
        features = {name: [row.get(name, MISSING) for row in rows] for name in names}
        parts = [_prediction_parts(e.get("prediction")) for e in events]
        latency = np.fromiter(
            (np.nan if (v := e.get("latency_ms")) is None else v for e in events),
            dtype=np.float64,
            count=n,
        )
        errors = np.fromiter((e.get("error") is not None for e in events), dtype=bool, count=n)
        version = (events[-1].get("model_version") or "unknown") if events else "unknown"
        return cls(
            model_id=model_id,
            model_version=version,
            timestamps=timestamps,
            features=features,
            prediction_scores=np.fromiter((p[0] for p in parts), dtype=np.float64, count=n),
            prediction_labels=[p[1] for p in parts],
            latency_ms=latency,
            errors=errors,
            event_ids=[e.get("event_id") for e in events],
        )

    @classmethod
    def concat(cls, batches: Sequence[EventColumns]) -> EventColumns:
        """One batch from several batches of the same model, in order.

        >>> a = EventColumns.from_events("m", [{"model_id": "m", "features": {"x": 1.5}}],
        ...                              default_timestamp=1.0)
        >>> b = EventColumns.from_events("m", [{"model_id": "m", "features": {"y": "u"}}],
        ...                              default_timestamp=2.0)
        >>> c = EventColumns.concat([a, b])
        >>> c.features["x"], c.features["y"], c.timestamps.tolist()
        ([1.5, MISSING], [MISSING, 'u'], [1.0, 2.0])
        """
        if len(batches) == 1:
            return batches[0]
        names = dict.fromkeys(chain.from_iterable(b.features for b in batches))
        features: dict[str, Any] = {}
        for name in names:
            parts: list[Any] = [b.features.get(name) for b in batches]
            if all(type(p) is np.ndarray for p in parts) and len({p.dtype for p in parts}) == 1:
                features[name] = np.concatenate(parts)
            else:
                column: list[Any] = []
                for b, p in zip(batches, parts, strict=True):
                    column += [MISSING] * b.size if p is None else column_values(p)
                features[name] = column
        return cls(
            model_id=batches[-1].model_id,
            model_version=batches[-1].model_version,
            timestamps=np.concatenate([b.timestamps for b in batches]),
            features=features,
            prediction_scores=np.concatenate([b.prediction_scores for b in batches]),
            prediction_labels=list(chain.from_iterable(b.prediction_labels for b in batches)),
            latency_ms=np.concatenate([b.latency_ms for b in batches]),
            errors=np.concatenate([b.errors for b in batches]),
            event_ids=list(chain.from_iterable(b.event_ids for b in batches)),
        )

    def slice(self, start: int, stop: int) -> EventColumns:
        """The events ``start:stop`` of this batch, as a new batch."""
        return EventColumns(
            model_id=self.model_id,
            model_version=self.model_version,
            timestamps=self.timestamps[start:stop],
            features={k: v[start:stop] for k, v in self.features.items()},
            prediction_scores=self.prediction_scores[start:stop],
            prediction_labels=self.prediction_labels[start:stop],
            latency_ms=self.latency_ms[start:stop],
            errors=self.errors[start:stop],
            event_ids=self.event_ids[start:stop],
        )


def columns_by_model(
    events: list[dict[str, Any]], *, default_timestamp: float | list[float]
) -> list[EventColumns]:
    """Group valid events by ``model_id`` (keeping their order) into columns.

    >>> [c.model_id for c in columns_by_model(
    ...     [{"model_id": "a", "features": {}}, {"model_id": "b", "features": {}}],
    ...     default_timestamp=0.0)]
    ['a', 'b']
    """
    defaults = (
        default_timestamp
        if isinstance(default_timestamp, list)
        else [default_timestamp] * len(events)
    )
    groups: dict[str, tuple[list[dict[str, Any]], list[float]]] = {}
    for event, ts in zip(events, defaults, strict=True):
        group = groups.get(event["model_id"])
        if group is None:
            group = groups[event["model_id"]] = ([], [])
        group[0].append(event)
        group[1].append(ts)
    return [
        EventColumns.from_events(model_id, group, default_timestamp=ts)
        for model_id, (group, ts) in groups.items()
    ]


def column_values(column: Any) -> list[Any]:
    """The raw values of a feature column, whichever form it has.

    >>> column_values(np.array([1.5, np.nan])), column_values(["a", None])
    ([1.5, None], ['a', None])
    """
    if type(column) is np.ndarray:
        values = column.tolist()
        if column.dtype.kind == "f":
            return [None if v != v else v for v in values]
        return values
    return column if type(column) is list else list(column)


# -- the fast path: decode, validate and columnarise in bulk --------------------
#
# ``decode_record`` + ``validate_event`` + ``EventColumns.from_events`` walk every
# event and every feature in Python: ~14 us an event of 20 features. The fast
# path below decodes a small chunk of records (a few hundred events, so the
# decoded objects are still in the CPU cache when they are columnarised), then
# checks the chunk with C-level passes (``map(dict.get, ...)``, ``set(map(type,
# ...))``, ``itemgetter`` + ``zip``) instead of per-event Python. If every check
# passes, every event of the chunk is valid by exactly the rules of
# ``validate_event``; if any fails, the chunk goes through the reference path
# (``decode_record``), which finds and explains the bad events. Either way the
# detectors see the same events.

_NONE = type(None)


class _Split:
    """The features of a chunk's events differ: columns are made model by model."""

    __slots__ = ()


_SPLIT: Final = _Split()
_FEATURE_TYPES: Final[frozenset[type]] = frozenset({float, int, str, bool, _NONE})
_FEATURE_TYPES_OR_MISSING: Final[frozenset[type]] = _FEATURE_TYPES | {_Missing}
_NUMBER_OR_NONE: Final = frozenset({float, int, _NONE})
_STR_OR_NONE: Final = frozenset({str, _NONE})
_LABEL_TYPES: Final = frozenset({str, int, float, bool, _NONE})
_FLOATS = (frozenset({float}), frozenset({float, _NONE}))
_INTS = frozenset({int})
_DICTS = frozenset({dict})
_STRS = frozenset({str})
_get = dict.get
_valid_model_ids: set[str] = set()
_VALID_MODEL_IDS_MAX = 100_000


def _fields(events: list[dict[str, Any]], name: str) -> list[Any]:
    return list(map(_get, events, repeat(name)))


def _kinds(values: Any) -> frozenset[type]:
    return frozenset(map(type, values))


def _model_ids_valid(model_ids: list[Any]) -> bool:
    if _kinds(model_ids) != _STRS:
        return False
    for model_id in set(model_ids):
        if model_id not in _valid_model_ids:
            if not MODEL_ID_PATTERN.fullmatch(model_id):
                return False
            if len(_valid_model_ids) >= _VALID_MODEL_IDS_MAX:
                _valid_model_ids.clear()
            _valid_model_ids.add(model_id)
    return True


def _feature_columns(
    rows: list[dict[str, Any]], split: bool = False
) -> tuple[dict[str, Any], bool] | None | _Split:
    """Columns of the features of ``rows``, and whether all rows have the same keys.

    None if a value breaks the contract. Features whose values are all floats
    become one float64 matrix in a single C call, then one array each. With
    ``split`` (the rows are of several models), rows with different keys give
    :data:`_SPLIT`: their columns are made model by model.
    """
    first = rows[0]
    width = len(first)
    raw: dict[str, Any] = {}
    if width and set(map(len, rows)) == {width}:
        names = tuple(first)
        floats = tuple(name for name, value in first.items() if type(value) is float)
        if len(floats) > 1:
            try:
                tuples = list(map(itemgetter(*floats), rows))
            except KeyError:
                tuples = None
            if tuples is not None and _kinds(chain.from_iterable(tuples)) == _FLOATS[0]:
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
            typed = _typed({name: raw[name] for name in names}, _FEATURE_TYPES)
            return None if typed is None else (typed, True)
    if split:
        return _SPLIT
    names = tuple(dict.fromkeys(chain.from_iterable(rows)))
    raw = {name: [row.get(name, MISSING) for row in rows] for name in names}
    typed = _typed(raw, _FEATURE_TYPES_OR_MISSING)
    return None if typed is None else (typed, False)


def _typed(raw: dict[str, Any], allowed: frozenset[type]) -> dict[str, Any] | None:
    features: dict[str, Any] = {}
    for name, column in raw.items():
        if type(column) is np.ndarray:
            features[name] = column
            continue
        kinds = _kinds(column)
        if not kinds <= allowed:
            return None
        if kinds in _FLOATS:
            features[name] = np.array(column, dtype=np.float64)
        elif kinds == _INTS:
            try:
                features[name] = np.array(column, dtype=np.int64)
            except OverflowError:
                features[name] = list(column)
        else:
            features[name] = list(column)
    return features


def _prediction_columns(predictions: list[Any]) -> tuple[np.ndarray, list[Any]] | None:
    n = len(predictions)
    kinds = _kinds(predictions)
    if kinds == _DICTS:
        scores = _fields(predictions, "score")
        labels = _fields(predictions, "label")
        if not _kinds(scores) <= _NUMBER_OR_NONE:
            return None
        label_kinds = _kinds(labels)
        if not label_kinds <= _STR_OR_NONE:
            if not label_kinds <= _LABEL_TYPES:
                return None
            labels = [None if v is None else _category(v) for v in labels]
        return np.array(scores, dtype=np.float64), labels
    if kinds <= _NUMBER_OR_NONE:
        return np.array(predictions, dtype=np.float64), [None] * n
    if kinds <= _STR_OR_NONE:
        return np.full(n, np.nan), predictions
    return None


def _fast_columns(
    model_id: str, events: list[dict[str, Any]], defaults: list[float], split: bool = False
) -> tuple[EventColumns, list[Any], bool] | None | _Split:
    """Columns of events if all are valid, else None (no side effects).

    Also returns each event's ``model_version`` and whether all events have
    the same feature names (see :func:`_feature_columns` for ``split``).
    """
    rows = _fields(events, "features")
    if _kinds(rows) != _DICTS:
        return None
    typed = _feature_columns(rows, split)
    if typed is None or isinstance(typed, _Split):
        return typed
    prediction = _prediction_columns(_fields(events, "prediction"))
    if prediction is None:
        return None
    latency = _fields(events, "latency_ms")
    if not _kinds(latency) <= _NUMBER_OR_NONE:
        return None
    latency_ms = np.array(latency, dtype=np.float64)
    if (latency_ms < 0).any():
        return None
    errors = _fields(events, "error")
    if not _kinds(errors) <= _STR_OR_NONE:
        return None
    versions = _fields(events, "model_version")
    if not _kinds(versions) <= _STR_OR_NONE:
        return None
    stamps = _fields(events, "timestamp")
    kinds = _kinds(stamps)
    if not kinds <= _NUMBER_OR_NONE:
        return None  # RFC 3339 strings (or invalid values): the reference path
    columns = _checked_columns(
        model_id,
        stamps,
        defaults,
        versions,
        typed[0],
        *prediction,
        latency_ms,
        errors,
        _fields(events, "event_id"),
    )
    return columns, versions, typed[1]


def _checked_columns(
    model_id: str,
    stamps: list[Any],
    defaults: list[float],
    versions: list[Any],
    features: dict[str, Any],
    scores: np.ndarray,
    labels: list[Any],
    latency_ms: np.ndarray,
    errors: list[Any],
    event_ids: list[Any],
) -> EventColumns:
    """The columns of events whose fields the fast paths have checked; a null
    timestamp takes its record's time from ``defaults``."""
    if None in stamps:
        stamps = [d if t is None else t for t, d in zip(stamps, defaults, strict=True)]
    return EventColumns(
        model_id=model_id,
        model_version=versions[-1] or "unknown",
        timestamps=np.array(stamps, dtype=np.float64),
        features=features,
        prediction_scores=scores,
        prediction_labels=labels,
        latency_ms=latency_ms,
        errors=np.fromiter(
            map(operator.is_not, errors, repeat(None)), dtype=bool, count=len(errors)
        ),
        event_ids=event_ids,
    )


@dataclass(slots=True)
class _Piece:
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


def _by_model(
    model_ids: list[str],
    events: list[Any],
    defaults: list[float],
    columns_of: Callable[..., Any],
) -> list[EventColumns | _Piece] | None:
    """Columns of a chunk via ``columns_of`` (``None`` unless all events are valid).

    One :class:`_Piece` when the events share their feature names (split by
    model later, once per batch), else one :class:`EventColumns` per model.
    """
    first = model_ids[0]
    several = model_ids.count(first) != len(model_ids)
    whole = columns_of(first, events, defaults, several)
    if whole is None:
        return None
    if whole is not _SPLIT:
        columns, versions, _ = whole
        return [_Piece(model_ids, versions, columns)] if several else [columns]
    groups: dict[str, list[int]] = {}
    for i, model_id in enumerate(model_ids):
        groups.setdefault(model_id, []).append(i)
    out: list[EventColumns | _Piece] = []
    for model_id, index in groups.items():
        if len(index) == 1:
            picked, stamps = [events[index[0]]], [defaults[index[0]]]
        else:
            pick = itemgetter(*index)
            picked, stamps = list(pick(events)), list(pick(defaults))
        part = columns_of(model_id, picked, stamps)
        if part is None:
            return None
        out.append(part[0])
    return out


def _fast_chunk(events: list[Any], defaults: list[float]) -> list[EventColumns | _Piece] | None:
    """Columns of a chunk of decoded events, or None unless all are valid.

    One :class:`_Piece` when the events share their feature names (split by
    model later, once per batch), else one :class:`EventColumns` per model.
    """
    if not events:
        return []
    if _kinds(events) != _DICTS:
        return None
    model_ids = _fields(events, "model_id")
    if not _model_ids_valid(model_ids):
        return None
    return _by_model(model_ids, events, defaults, _fast_columns)


def _split(pieces: list[_Piece]) -> list[EventColumns]:
    """Per-model columns of consecutive pieces with the same feature names."""
    columns = EventColumns.concat([p.columns for p in pieces])
    model_ids = list(chain.from_iterable(p.model_ids for p in pieces))
    versions = list(chain.from_iterable(p.versions for p in pieces))
    models = list(dict.fromkeys(model_ids))
    code = {m: i for i, m in enumerate(models)}
    codes = np.fromiter(map(code.__getitem__, model_ids), dtype=np.intp, count=len(model_ids))
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(models))).tolist()
    pick = itemgetter(*order.tolist())

    def arrange(column: Any) -> Any:
        return column[order] if type(column) is np.ndarray else pick(column)

    features = {name: arrange(c) for name, c in columns.features.items()}
    timestamps, scores = columns.timestamps[order], columns.prediction_scores[order]
    latency, errors = columns.latency_ms[order], columns.errors[order]
    labels, event_ids = pick(columns.prediction_labels), pick(columns.event_ids)
    versions = list(pick(versions))
    out = []
    start = 0
    for model_id, end in zip(models, ends, strict=True):

        def cut(column: Any, start: int = start, end: int = end) -> Any:
            return column[start:end] if type(column) is np.ndarray else list(column[start:end])

        out.append(
            EventColumns(
                model_id=model_id,
                model_version=versions[end - 1] or "unknown",
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


# -- the fastest path: typed decoding with msgspec ------------------------------
#
# msgspec decodes a record straight into the structs below and checks the types
# of the known fields in C while it parses (~0.5 us an event faster than
# ``orjson.loads`` to dicts here, and the type passes over the top-level fields
# are then unnecessary). It accepts a subset of what ``validate_event`` accepts,
# with the same values: unknown fields are refused (msgspec would skip them
# without checking their numbers or UTF-8, which orjson rejects), integers must
# fit an int64 (beyond it orjson gives a float and msgspec an int), and
# timestamps must be numbers. Whatever it refuses, the chunk is decoded again
# by the orjson path above, and from there by the reference path: the checks
# and the explanations of bad events are unchanged.

_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Num = Union[_Int, float]  # noqa: UP007 (msgspec needs typing unions on 3.11)


class _Prediction(msgspec.Struct, forbid_unknown_fields=True):
    score: Union[_Num, None] = None  # noqa: UP007
    label: Union[str, _Int, float, bool, None] = None  # noqa: UP007


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    model_id: str
    features: dict[str, Union[str, bool, _Int, float, None]]  # noqa: UP007
    model_version: Union[str, None] = None  # noqa: UP007
    event_id: Union[str, _Int, float, bool, None] = None  # noqa: UP007
    timestamp: Union[_Num, None] = None  # noqa: UP007
    prediction: Union[bool, _Int, float, str, _Prediction, None] = None  # noqa: UP007
    latency_ms: Union[_Num, None] = None  # noqa: UP007
    error: Union[str, None] = None  # noqa: UP007


_decode_typed = msgspec.json.Decoder(Union[_Event, list[_Event]]).decode  # noqa: UP007
_TYPED_ERRORS = (msgspec.DecodeError, ValueError, TypeError)
_PREDICTIONS = frozenset({_Prediction})
_attr = operator.attrgetter
_model_id_of, _features_of, _version_of = (
    _attr("model_id"),
    _attr("features"),
    _attr("model_version"),
)
_stamp_of, _prediction_of, _latency_of = (
    _attr("timestamp"),
    _attr("prediction"),
    _attr("latency_ms"),
)
_error_of, _event_id_of = _attr("error"), _attr("event_id")
_score_of, _label_of = _attr("score"), _attr("label")


def _typed_columns(
    model_id: str,
    events: list[Any],
    defaults: list[float],
    split: bool = False,
    feature_columns: Callable[..., tuple[dict[str, Any], bool] | None | _Split] = _feature_columns,
) -> tuple[EventColumns, list[Any], bool] | None | _Split:
    """:func:`_fast_columns` of typed events (their field types are checked).

    ``feature_columns`` makes the feature columns of the events' ``features``
    (dicts, or the structs of :func:`_schema_decoder`).
    """
    n = len(events)
    latency_ms = np.array(list(map(_latency_of, events)), dtype=np.float64)
    if (latency_ms < 0).any():  # checked first: the cheapest way to fail
        return None
    predictions = list(map(_prediction_of, events))
    kinds = _kinds(predictions)
    if kinds == _PREDICTIONS:
        scores = np.array(list(map(_score_of, predictions)), dtype=np.float64)
        labels = list(map(_label_of, predictions))
        if not _kinds(labels) <= _STR_OR_NONE:
            labels = [None if v is None else _category(v) for v in labels]
    elif kinds <= _NUMBER_OR_NONE:
        scores, labels = np.array(predictions, dtype=np.float64), [None] * n
    elif kinds <= _STR_OR_NONE:
        scores, labels = np.full(n, np.nan), predictions
    else:
        return None
    typed = feature_columns(list(map(_features_of, events)), split)
    if typed is None or isinstance(typed, _Split):
        return typed
    errors = list(map(_error_of, events))
    versions = list(map(_version_of, events))
    columns = _checked_columns(
        model_id,
        list(map(_stamp_of, events)),
        defaults,
        versions,
        typed[0],
        scores,
        labels,
        latency_ms,
        errors,
        list(map(_event_id_of, events)),
    )
    return columns, versions, typed[1]


def _typed_chunk(
    events: list[Any],
    defaults: list[float],
    columns_of: Callable[[str, list[Any], list[float]], Any] = _typed_columns,
) -> list[EventColumns | _Piece] | None:
    """:func:`_fast_chunk` of typed events."""
    if not events:
        return []
    model_ids = list(map(_model_id_of, events))
    if not _model_ids_valid(model_ids):
        return None
    return _by_model(model_ids, events, defaults, columns_of)


# -- faster still: typed decoding specialised to a set of feature names ----------
#
# msgspec decodes ``features`` into a struct whose fields are exactly the
# feature names of a chunk's first event (about 1 us an event faster than into
# a dict: no key strings, no hashing). A feature whose first value is a float
# accepts only floats and nulls (``_FloatOrNull``: msgspec would turn an
# integer into a float, so integers are refused); every other feature has the
# value type of ``_Event.features``. Such a decoder accepts a subset of what
# ``_decode_typed`` accepts, with the same values (a duplicate key keeps its
# last value, as in a dict), and the columns come out as ``_feature_columns``
# makes them: float-first features are float64 arrays (NaN for null), without
# checking each value's type; string- or boolean-first ones are lists (their
# values are of several kinds or strings); the others are typed as in
# ``_typed``. Columns keep the key order of the chunk's first event, read from
# its dict, as the dict path does. Whatever a decoder refuses takes the paths
# above.

_FeatureValue = Union[str, bool, _Int, float, None]  # noqa: UP007
_NoInt = Annotated[int, msgspec.Meta(ge=1, le=0)]  # refuses every integer
_FloatOrNull = Union[float, None, _NoInt]  # noqa: UP007
_Schema = tuple[tuple[str, ...], str]  # feature names; "f", "t" or "g" each (see below)
_SCHEMA_CHUNKS = 4  # a chunk of structs may be larger than one of dicts (~7 % faster)


def _schema_of(features: dict[str, Any]) -> _Schema:
    """The feature names of an event and the kind of each first value: "f" a float,
    "t" a string or boolean, "g" anything else."""
    kinds = "".join(
        "f" if (kind := type(v)) is float else "t" if kind is str or kind is bool else "g"
        for v in features.values()
    )
    return tuple(features), kinds


@functools.lru_cache(maxsize=64)  # ~0.3 ms to make one; 13 KB for 20 features, 100 KB for 200
def _schema_decoder(schema: _Schema) -> tuple[Callable[[Any], Any], Callable[..., Any]]:
    """A decoder of events with exactly the features of ``schema``, and its columns function."""
    names, kinds = schema
    fields = [f"f{i}" for i in range(len(names))]
    features = msgspec.defstruct(
        "_Features",
        [
            (f, _FloatOrNull if kind == "f" else _FeatureValue)
            for f, kind in zip(fields, kinds, strict=True)
        ],
        forbid_unknown_fields=True,
        rename=dict(zip(fields, names, strict=True)),
    )
    event = msgspec.defstruct(
        "_SchemaEvent",
        [
            (f.name, features, f.default) if f.name == "features" else (f.name, f.type, f.default)
            for f in msgspec.structs.fields(_Event)
        ],
        forbid_unknown_fields=True,
    )
    decode = msgspec.json.Decoder(Union[event, list[event]]).decode  # type: ignore[valid-type]  # noqa: UP007
    floats = [i for i, kind in enumerate(kinds) if kind == "f"]
    rest = [i for i, kind in enumerate(kinds) if kind != "f"]
    get_floats = _attr(*(fields[i] for i in floats)) if floats else None
    get_rest = _attr(*(fields[i] for i in rest)) if rest else None

    def feature_columns(rows: list[Any], split: bool = False) -> tuple[dict[str, Any], bool] | None:
        """:func:`_feature_columns` of feature structs (every row has all the names)."""
        columns: list[Any] = [None] * len(names)
        if get_floats is not None:
            k = len(floats)
            try:  # floats only: no list of tuples
                matrix = np.fromiter(
                    chain.from_iterable(map(get_floats, rows)) if k > 1 else map(get_floats, rows),
                    dtype=np.float64,
                    count=k * len(rows),
                )
            except TypeError:  # nulls: None becomes NaN
                matrix = np.array(list(map(get_floats, rows)), dtype=np.float64)
            if k > 1:
                for i, row in zip(floats, matrix.reshape(-1, k).T.copy(), strict=True):
                    columns[i] = row
            else:
                columns[floats[0]] = matrix
        if get_rest is not None:
            values = list(map(get_rest, rows))
            per_name = zip(*values, strict=True) if len(rest) > 1 else (values,)
            for i, column in zip(rest, per_name, strict=True):
                if kinds[i] == "t":
                    columns[i] = list(column)
                else:
                    typed = _typed({"": column}, _FEATURE_TYPES)
                    if typed is None:
                        return None
                    columns[i] = typed[""]
        return dict(zip(names, columns, strict=True)), True

    def columns_of(
        model_id: str, events: list[Any], defaults: list[float], split: bool = False
    ) -> Any:
        return _typed_columns(model_id, events, defaults, split, feature_columns)

    return decode, columns_of


def _schema_chunk(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    i: int,
    chunk_events: int,
    rejections: list[tuple[int, Rejection]],
) -> tuple[list[EventColumns | _Piece] | None, int, bool]:
    """Decode the records from ``i`` on with a schema decoder (for the features of
    the first event), up to about ``chunk_events`` events or a record it refuses.

    Returns their columns (None if it decoded none), the index of the record
    after them, and whether it stopped at a refused record. If an event fails
    the checks of :func:`_typed_chunk`, each quarter of the chunk is checked
    alone, and one that fails is explained by :func:`_orjson_chunk` (which
    adds the rejections), as the dict paths would do.
    """
    try:
        head = _decode_typed(values[i])  # type: ignore[arg-type]
    except _TYPED_ERRORS:
        return None, i, False
    first = head[0] if type(head) is list and head else head
    if type(first) is not _Event or not first.features:
        return None, i, False
    per_record = max(len(head) if type(head) is list else 1, 1)
    stop = min(len(values), i + max(1, -(-chunk_events // per_record)))
    decode, columns_of = _schema_decoder(_schema_of(first.features))
    records: list[Any] = []
    refused = False
    try:
        records.extend(map(decode, values[i:stop]))  # keeps what it decoded on an error
    except _TYPED_ERRORS:
        if not records:
            return None, i, True
        stop = i + len(records)
        refused = True
    stamps = default_timestamps[i:stop]
    chunk = _typed_chunk(*_flat(records, stamps), columns_of)
    if chunk is not None:
        return chunk, stop, refused
    parts: list[EventColumns | _Piece] = []
    step = max(1, -(-chunk_events // (4 * per_record)))
    for k in range(0, len(records), step):
        block = records[k : k + step]
        part = _typed_chunk(*_flat(block, stamps[k : k + step]), columns_of)
        if part is None:
            events = sum(len(r) if type(r) is list else 1 for r in block)
            part, end = _orjson_chunk(values, default_timestamps, i + k, events, rejections)
            if end != i + k + len(block):  # orjson split the records otherwise: stop here
                return parts + part, end, False
        parts += part
    return parts, stop, refused


def _flat(records: list[Any], stamps: Sequence[float]) -> tuple[list[Any], list[float]]:
    """The events of decoded records and the default timestamp of each."""
    if not any(type(r) is list for r in records):
        return records, list(stamps)
    events: list[Any] = []
    defaults: list[float] = []
    for record, stamp in zip(records, stamps, strict=True):
        if type(record) is list:
            events += record
            defaults += [stamp] * len(record)
        else:
            events.append(record)
            defaults.append(stamp)
    return events, defaults


@dataclass(slots=True)
class DecodedRecords:
    """What :func:`decode_records` made of a list of record values.

    ``columns``: one :class:`EventColumns` per model, in order of first
    appearance; ``rejections``: (index of the record, why) for every record or
    array element that breaks the contract; ``events``: valid events.
    """

    columns: list[EventColumns]
    rejections: list[tuple[int, Rejection]]
    events: int


def share_strings(decoded: DecodedRecords) -> None:
    """Make equal strings of each model's text columns one object (in place).

    For sending decoded batches to another process: pickle then sends each
    distinct string of a model once and the receiver unpickles references (4x
    less time for the text columns); only columns of
    strings, nulls and absences are touched (equal numbers of different types,
    such as 1 and True, must stay apart).
    """
    for columns in decoded.columns:
        shared: dict[Any, Any] = {}
        intern = shared.setdefault
        for name, column in columns.features.items():
            if type(column) is list and frozenset(map(type, column)) <= _TEXT_TYPES:
                columns.features[name] = list(map(intern, column, column))
        labels = columns.prediction_labels
        if frozenset(map(type, labels)) <= _TEXT_TYPES:
            columns.prediction_labels = list(map(intern, labels, labels))


_TEXT_TYPES = frozenset({str, type(None), type(MISSING)})


def decode_records(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    *,
    chunk_events: int = 256,
) -> DecodedRecords:
    """Decode, validate and columnarise many record values at once.

    The same events, columns and rejections as :func:`decode_record` per
    record followed by :func:`columns_by_model`, several times faster (see the
    comment above). ``default_timestamps`` holds one Kafka record time per value.

    >>> out = decode_records([b'{"model_id": "m", "features": {"x": 1.5}}', b'{"features": {}}',
    ...                       b'[{"model_id": "m", "features": {"x": null}}]'], [1.0, 2.0, 3.0])
    >>> [(c.model_id, column_values(c.features["x"])) for c in out.columns], out.events
    ([('m', [1.5, None])], 2)
    >>> out.rejections[0][0], out.rejections[0][1].reason
    (1, 'missing_model_id')
    """
    parts: dict[str, list[EventColumns]] = {}
    rejections: list[tuple[int, Rejection]] = []
    pieces: list[_Piece] = []

    def add(columns: EventColumns) -> None:
        group = parts.get(columns.model_id)
        if group is None:
            parts[columns.model_id] = [columns]
        else:
            group.append(columns)

    def flush() -> None:
        if pieces:
            for columns in _split(pieces):
                add(columns)
            pieces.clear()

    # A schema decoder takes the next records, unless the last two schema
    # chunks stopped short (schemas mixed: a chunk of the dict paths). Where a
    # schema decoder cannot start after a long run of one schema (at an odd
    # record), the dict paths take only ``few`` events.
    total = len(values)
    few = max(1, chunk_events // 4)
    i = 0
    last = few  # records in the last schema chunk
    mixed = False
    while i < total:
        start = i
        chunk = None
        if not mixed:
            chunk, i, refused = _schema_chunk(
                values, default_timestamps, i, _SCHEMA_CHUNKS * chunk_events, rejections
            )
            if chunk is not None:
                mixed = refused and i - start < few and last < few
                last = i - start
        if chunk is None:
            size = few if last >= few else chunk_events
            chunk, i = _typed_records(values, default_timestamps, start, size)
            if chunk is None:  # the orjson path, then the reference path, explain why
                chunk, i = _orjson_chunk(values, default_timestamps, start, size, rejections)
            mixed = False
            last = 0
        for part in chunk:
            if type(part) is _Piece:
                if pieces and part.signature != pieces[0].signature:
                    flush()
                pieces.append(part)
            else:
                flush()
                add(part)  # type: ignore[arg-type]
    flush()
    columns = [EventColumns.concat(group) for group in parts.values()]
    return DecodedRecords(columns, rejections, sum(c.size for c in columns))


def _typed_records(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    i: int,
    chunk_events: int,
) -> tuple[list[EventColumns | _Piece] | None, int]:
    """Columns of the next chunk of records from ``i`` by ``_decode_typed``, and the
    index of the record after the chunk; None if a record is refused."""
    total = len(values)
    events: list[Any] = []
    defaults: list[float] = []
    while i < total and len(events) < chunk_events:
        value = values[i]
        i += 1
        try:
            obj = _decode_typed(value)  # type: ignore[arg-type]
        except _TYPED_ERRORS:
            return None, i
        if type(obj) is list:
            events += obj
            defaults += [default_timestamps[i - 1]] * len(obj)
        else:
            events.append(obj)
            defaults.append(default_timestamps[i - 1])
    return _typed_chunk(events, defaults), i


def _orjson_chunk(
    values: Sequence[bytes | None],
    default_timestamps: Sequence[float],
    i: int,
    chunk_events: int,
    rejections: list[tuple[int, Rejection]],
) -> tuple[list[EventColumns | _Piece], int]:
    """Columns of the next chunk of records from ``i`` (orjson, then the reference
    path if needed), and the index of the record after the chunk."""
    loads = orjson.loads
    total = len(values)
    start = i
    events: list[Any] = []
    defaults: list[float] = []
    ok = True
    while i < total and len(events) < chunk_events:
        value = values[i]
        i += 1
        try:
            obj = loads(value)  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, TypeError):
            ok = False
            break
        if type(obj) is dict:
            events.append(obj)
            defaults.append(default_timestamps[i - 1])
        elif type(obj) is list:
            events += obj
            defaults += [default_timestamps[i - 1]] * len(obj)
        else:
            ok = False
            break
    chunk = _fast_chunk(events, defaults) if ok else None
    if chunk is None:  # the reference path finds and explains the bad events
        good: list[dict[str, Any]] = []
        stamps: list[float] = []
        for k in range(start, i):
            valid, bad = decode_record(values[k])
            good += valid
            stamps += [default_timestamps[k]] * len(valid)
            rejections += [(k, r) for r in bad]
        # The valid rest usually passes the fast checks (a chunk with one bad
        # event among 256 is otherwise columnarised event by event).
        chunk = _fast_chunk(good, stamps) if good else []
        if chunk is None:
            chunk = list(columns_by_model(good, default_timestamp=stamps))
    return chunk, i


def alert_id(model_id: str, signal: str, feature: str | None, detector: str, episode: str) -> str:
    """A stable alert id: the same model, signal, feature, detector and episode
    always give the same id (so a replay after a crash creates no new alert).

    >>> alert_id("m", "feature", "x", "psi", "1000") == alert_id("m", "feature", "x", "psi", "1000")
    True
    """
    key = "\x1f".join((model_id, signal, feature or "", detector, episode))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Alert:
    """Alert event v1 (see CONTRACT.md)."""

    alert_id: str
    status: str
    severity: str
    model_id: str
    model_version: str
    signal: str
    feature: str | None
    detector: str
    value: float
    threshold: float
    window_start: float
    window_end: float
    window_events: int
    detected_at: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "status": self.status,
            "severity": self.severity,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "signal": self.signal,
            "feature": self.feature,
            "detector": self.detector,
            "value": round(self.value, 6),
            "threshold": round(self.threshold, 6),
            "window": {
                "start": self.window_start,
                "end": self.window_end,
                "events": self.window_events,
            },
            "detected_at": self.detected_at,
            "message": self.message,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        window = data.get("window") or {}
        return cls(
            alert_id=data["alert_id"],
            status=data["status"],
            severity=data["severity"],
            model_id=data["model_id"],
            model_version=data.get("model_version", "unknown"),
            signal=data["signal"],
            feature=data.get("feature"),
            detector=data["detector"],
            value=float(data["value"]),
            threshold=float(data["threshold"]),
            window_start=float(window.get("start", 0.0)),
            window_end=float(window.get("end", 0.0)),
            window_events=int(window.get("events", 0)),
            detected_at=float(data.get("detected_at", 0.0)),
            message=data.get("message", ""),
        )


def format_alert(alert: Alert) -> str:
    """One line for a person.

    >>> a = Alert("id", "firing", "warning", "m", "v1", "feature", "x", "psi", 0.3, 0.1,
    ...           0.0, 60.0, 1000, 1795305600.0, "PSI of feature 'x' is 0.30")
    >>> format_alert(a)
    "2026-11-22 00:00:00Z  FIRING    warning   m  feature/x  psi  PSI of feature 'x' is 0.30"
    """
    when = datetime.fromtimestamp(alert.detected_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    what = f"{alert.signal}/{alert.feature}" if alert.feature else alert.signal
    return (
        f"{when}Z  {alert.status.upper():<8}  {alert.severity:<8}  {alert.model_id}  "
        f"{what}  {alert.detector}  {alert.message}"
    )
