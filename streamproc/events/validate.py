"""The reference path: decode and validate one record, event by event.

:func:`decode_record` is the definition of what is valid and of the DLQ texts;
the fast decoders of :mod:`streamproc.decode` must give exactly what it gives.

>>> good, bad = decode_record(b'[{"model_id": "m", "features": {"x": 1.5}}, {"features": {}}]')
>>> [e["model_id"] for e in good], [r.reason for r in bad]
(['m'], ['missing_model_id'])
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from streamproc.events.limits import (
    MAX_ARRAY_EVENTS,
    MAX_FEATURES,
    MAX_NAME_CHARS,
    MAX_RECORD_BYTES,
    MAX_STRING_CHARS,
)
from streamproc.events.shapes import MODEL_ID_PATTERN, Rejection, type_name

__all__ = [
    "validate_event",
    "validate_label",
    "decode_label_record",
    "parse_timestamp",
    "decode_record",
    "validate_record",
]

_NUMBER = (int, float)


def validate_event(obj: Any) -> Rejection | None:
    """Check one decoded inference event against the v1 contract.

    Returns ``None`` when the event is valid, else the first broken rule.

    >>> print(validate_event({"model_id": "m", "features": {"x": [1]}}).detail)
    features.x: must be a number, string, boolean or null, got array
    >>> validate_event({"model_id": "m", "features": {"x": None}}) is None
    True
    """
    if type(obj) is not dict:
        return Rejection("not_an_object", f"event: must be a JSON object, got {type_name(obj)}")
    model_id = obj.get("model_id")
    if model_id is None:
        return Rejection("missing_model_id", "model_id: required field is missing")
    if type(model_id) is not str or not MODEL_ID_PATTERN.fullmatch(model_id):
        return Rejection("bad_model_id", "model_id: must be 1 to 128 characters of [A-Za-z0-9._:-]")
    features = obj.get("features")
    if features is None:
        return Rejection("missing_features", "features: required field is missing")
    if type(features) is not dict:
        return Rejection("bad_features", f"features: must be an object, got {type_name(features)}")
    if len(features) > MAX_FEATURES:
        return Rejection(
            "too_many_features",
            f"features: {len(features)} features, more than the limit of {MAX_FEATURES}",
        )
    for name, value in features.items():
        if len(name) > MAX_NAME_CHARS:
            return Rejection(
                "feature_name_too_long",
                f"features.{name[:40]}...: name longer than {MAX_NAME_CHARS} characters",
            )
        if type(value) in (dict, list):
            return Rejection(
                "bad_feature_value",
                f"features.{name}: must be a number, string, boolean or null, "
                f"got {type_name(value)}",
            )
        if type(value) is str and len(value) > MAX_STRING_CHARS:
            return Rejection(
                "feature_value_too_long",
                f"features.{name}: string longer than {MAX_STRING_CHARS} characters",
            )
    prediction = obj.get("prediction")
    if prediction is not None and type(prediction) not in (int, float, str, bool):
        if type(prediction) is not dict:
            return Rejection(
                "bad_prediction",
                f"prediction: must be a number, string or object, got {type_name(prediction)}",
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
        return Rejection("bad_error", f"error: must be a string or null, got {type_name(error)}")
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

    >>> decode_record(None)[1][0].detail
    'value: record has no value (tombstone)'
    """
    if value is None:
        return [], [Rejection("bad_json", "value: record has no value (tombstone)")]
    if len(value) > MAX_RECORD_BYTES:
        return [], [
            Rejection(
                "record_too_large",
                f"value: {len(value)} bytes, more than the limit of {MAX_RECORD_BYTES}",
            )
        ]
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection("bad_json", f"value: not valid JSON ({exc})")]
    return validate_record(obj)


def validate_record(obj: Any) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """:func:`decode_record` of a record value already decoded from JSON.

    >>> validate_record(42)[1][0].detail
    'value: must be an object or array, got number'
    """
    if type(obj) is dict:
        problem = validate_event(obj)
        return ([obj], []) if problem is None else ([], [problem])
    if type(obj) is not list:
        return [], [
            Rejection("not_an_object", f"value: must be an object or array, got {type_name(obj)}")
        ]
    if len(obj) > MAX_ARRAY_EVENTS:
        return [], [
            Rejection(
                "too_many_events",
                f"value: array of {len(obj)} events, more than the limit of {MAX_ARRAY_EVENTS}",
            )
        ]
    return _elements(obj, validate_event)


def validate_label(obj: Any) -> Rejection | None:
    """Check one label event (``model_id``, ``event_id``, ``label``, optional ``timestamp``).

    >>> validate_label({"model_id": "m", "event_id": "e1", "label": "fraud"}) is None
    True
    >>> validate_label({"model_id": "m", "label": 1}).detail
    'event_id: required string field is missing'
    """
    if type(obj) is not dict:
        return Rejection("not_an_object", f"label: must be a JSON object, got {type_name(obj)}")
    model_id = obj.get("model_id")
    if type(model_id) is not str or not MODEL_ID_PATTERN.fullmatch(model_id):
        return Rejection("bad_model_id", "model_id: must be 1 to 128 characters of [A-Za-z0-9._:-]")
    if type(obj.get("event_id")) is not str:
        return Rejection("missing_event_id", "event_id: required string field is missing")
    if type(obj.get("label")) not in (str, int, float):
        return Rejection("bad_label", "label: must be a string or a number")
    timestamp = obj.get("timestamp")
    if timestamp is not None and parse_timestamp(timestamp) is None:
        return Rejection("bad_timestamp", "timestamp: must be epoch seconds or an RFC 3339 string")
    return None


def decode_label_record(value: bytes | None) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Decode one record of the labels topic: a label event or a JSON array of them.

    The reference path for labels, as :func:`decode_record` is for events: the
    valid label events, and a rejection for each invalid one (for an array,
    ``Rejection.index`` says which element and the detail starts with it).

    >>> good, bad = decode_label_record(b'[{"model_id": "m", "event_id": "e", "label": 1}, 5]')
    >>> len(good), bad[0].detail
    (1, '[1] label: must be a JSON object, got number')
    """
    if value is None:
        return [], [Rejection("bad_json", "value: record has no value (tombstone)")]
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection("bad_json", f"value: not valid JSON ({exc})")]
    if type(obj) is not list:
        problem = validate_label(obj)
        return ([obj], []) if problem is None else ([], [problem])
    return _elements(obj, validate_label)


def _elements(
    items: list[Any], validate: Callable[[Any], Rejection | None]
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """The valid elements of an array record, and a rejection naming each bad one."""
    good: list[dict[str, Any]] = []
    bad: list[Rejection] = []
    for index, item in enumerate(items):
        problem = validate(item)
        if problem is None:
            good.append(item)
        else:
            bad.append(Rejection(problem.reason, f"[{index}] {problem.detail}", index))
    return good, bad
