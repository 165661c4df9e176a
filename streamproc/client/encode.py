"""What the SDK sends: one queued call made into contract JSON, or the reason it cannot be.

Pure: no I/O, no clock. :func:`encode_event` and :func:`encode_label` turn
what :meth:`streamproc.client.Reporter.record` and ``label`` queued into the
bytes of one inference event or label event (docs/contract.md), validated by
the worker's own reference code (:mod:`streamproc.events.validate`), so what
the SDK sends is never a dead letter. Before validating they make the
values a model server has at hand fit the contract:

- numpy scalars (``np.float32``, ``np.int64``, ``np.str_``, ``np.bool_``)
  become Python numbers, strings and booleans;
- a non-finite number (NaN, infinity) of a feature, the latency or the score
  is sent as ``null``, the contract's missing value (counted ``non_finite``);
- an exception as ``error`` is sent as ``"TypeName: message"``.

Anything else the contract refuses is a :class:`Rejection`: the worker's
reasons (``bad_feature_value``, ``bad_prediction``, ...) and the SDK's own
``non_string_key``, ``unserializable`` and ``record_too_large`` (an event of more than
:data:`MAX_EVENT_BYTES` of JSON).

>>> call = (1.5, "e1", {"x": float("nan")}, 0.9, None, None)
>>> payload, problem, non_finite = encode_event("m", "v1", call)
>>> payload[-55:], problem, non_finite
(b'"timestamp":1.5,"features":{"x":null},"prediction":0.9}', None, 1)
>>> encode_event("m", "v1", (1.5, "e1", {1: 2.0}, None, None, None))[1].reason
'non_string_key'
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from streamproc.events.limits import MAX_FEATURES, MAX_NAME_CHARS, MAX_STRING_CHARS
from streamproc.events.shapes import Rejection
from streamproc.events.validate import validate_event, validate_label

__all__ = ["EventCall", "LabelCall", "encode_event", "encode_label", "Encoded"]

#: What ``record()`` queues: (timestamp, event_id, features, prediction, latency_ms, error).
EventCall = tuple[float, str, Any, Any, Any, Any]
#: What ``label()`` queues: (timestamp, event_id, label).
LabelCall = tuple[float, str, Any]
#: The JSON bytes (or ``None``), the rejection (or ``None``), non-finite numbers sent as null.
Encoded = tuple[bytes | None, Rejection | None, int]

_PLAIN = (int, float, str, bool, type(None))
_CONTAINERS = (dict, list, tuple, set, frozenset)
#: The largest event the SDK sends: a record of one, with its key and Kafka's
#: overhead, stays well under the contract's 1 MiB and the producer's default
#: ``max_request_size`` (1 MiB), so a send never fails for its size.
MAX_EVENT_BYTES = 900_000


class _NotScalar(Exception):
    """A value that is not one JSON scalar."""


def _scalar(value: Any) -> Any:
    """``value`` as a plain JSON scalar (numpy scalars unwrapped), or :class:`_NotScalar`."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, _CONTAINERS):
        raise _NotScalar(type(value).__name__)
    if isinstance(value, str):  # np.str_ and other str subclasses
        return str(value)
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():  # a numpy scalar
        value = item()
        if type(value) in _PLAIN:
            return value
    elif isinstance(value, bool):
        return bool(value)
    elif isinstance(value, int):
        return int(value)
    elif isinstance(value, float):
        return float(value)
    raise _NotScalar(type(value).__name__)


def _finite(value: Any) -> tuple[Any, int]:
    """(``value``, 0), or (``None``, 1) for a NaN or an infinity."""
    if type(value) is float and not math.isfinite(value):
        return None, 1
    return value, 0


_FAST = frozenset((int, str, bool, type(None)))


def _plain(features: dict[Any, Any]) -> bool:
    """True when ``features`` needs no change and is valid as it is: string keys
    and plain finite values, within the contract's limits (a false answer only
    means the slow path: cleaning, then the reference validation)."""
    if len(features) > MAX_FEATURES:
        return False
    for name, value in features.items():
        if type(name) is not str or len(name) > MAX_NAME_CHARS:
            return False
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # NaN or an infinity
                return False
        elif kind is str:
            if len(value) > MAX_STRING_CHARS:
                return False
        elif kind not in _FAST:
            return False
    return True


def _features(features: Any) -> tuple[dict[str, Any] | Rejection, int]:
    if type(features) is dict and _plain(features):
        return features, 0  # the common case: record() already made it a copy
    if not isinstance(features, dict):
        kind = type(features).__name__
        return Rejection(
            "bad_features", f"features: must be a dict of name to value, got {kind}"
        ), 0
    clean: dict[str, Any] = {}
    non_finite = 0
    for name, value in features.items():
        if type(name) is not str:
            if not isinstance(name, str):
                return Rejection(
                    "non_string_key",
                    f"features: key {name!r} is a {type(name).__name__}, not a string",
                ), 0
            name = str(name)
        try:
            value = _scalar(value)
        except _NotScalar as exc:
            reason = (
                "bad_feature_value"
                if isinstance(value, _CONTAINERS) or hasattr(value, "shape")
                else "unserializable"
            )
            return Rejection(
                reason,
                f"features.{name[:40]}: must be a number, string, boolean or null, got {exc}",
            ), 0
        value, bad = _finite(value)
        non_finite += bad
        clean[name] = value
    return clean, non_finite


def _prediction(prediction: Any) -> tuple[Any, int]:
    if type(prediction) is dict and len(prediction) == 2:  # the common {label, score}
        label, score = prediction.get("label"), prediction.get("score")
        if type(label) is str and type(score) is float and score - score == 0.0:
            return {"label": label, "score": score}, 0
    if isinstance(prediction, dict):
        clean: dict[str, Any] = {}
        non_finite = 0
        for key in ("label", "score"):
            if key in prediction:
                value, bad = _finite(_scalar(prediction[key]))
                clean[key] = value
                non_finite += bad
        return clean, non_finite
    return _finite(_scalar(prediction))


def _error_text(error: Any) -> Any:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"[:1024]
    return error


def encode_event(model_id: str, model_version: str, call: EventCall) -> Encoded:
    """The JSON of the inference event of one ``record()`` call (optional fields
    that are ``None`` are left out)."""
    timestamp, event_id, features, prediction, latency_ms, error = call
    features_valid = type(features) is dict and _plain(features)
    if features_valid:
        clean, non_finite = features, 0  # the common case: record() already made it a copy
    else:
        clean, non_finite = _features(features)
        if isinstance(clean, Rejection):
            return None, clean, 0
    event: dict[str, Any] = {
        "model_id": model_id,
        "model_version": model_version,
        "event_id": event_id,
        "timestamp": timestamp,
        "features": clean,
    }
    if prediction is not None:
        try:
            event["prediction"], bad = _prediction(prediction)
        except _NotScalar as exc:
            detail = f"prediction: must be a number, string or object of label and score, got {exc}"
            return None, Rejection("bad_prediction", detail), 0
        non_finite += bad
    if latency_ms is not None:
        try:
            event["latency_ms"], bad = _finite(_scalar(latency_ms))
        except _NotScalar as exc:
            return (
                None,
                Rejection("bad_latency", f"latency_ms: must be a number >= 0, got {exc}"),
                0,
            )
        non_finite += bad
    if error is not None:
        event["error"] = _error_text(error)
    problem = validate_event(event)
    if problem is not None:
        return None, problem, 0
    return _dump(event, non_finite)


def encode_label(model_id: str, call: LabelCall) -> Encoded:
    """The JSON of the label event of one ``label()`` call.

    >>> encode_label("m", (2.0, "e1", "fraud"))[0]
    b'{"model_id":"m","event_id":"e1","label":"fraud","timestamp":2.0}'
    >>> encode_label("m", (2.0, "e1", float("nan")))[1].reason
    'bad_label'
    """
    timestamp, event_id, label = call
    try:
        label = _scalar(label)
    except _NotScalar as exc:
        return None, Rejection("bad_label", f"label: must be a string or a number, got {exc}"), 0
    if type(label) is float and not math.isfinite(label):
        return None, Rejection("bad_label", "label: must be a finite number"), 0
    event = {"model_id": model_id, "event_id": event_id, "label": label, "timestamp": timestamp}
    problem = validate_label(event)
    if problem is not None:
        return None, problem, 0
    return _dump(event, 0)


def _dump(event: dict[str, Any], non_finite: int) -> Encoded:
    try:
        payload = orjson.dumps(event)
    except (orjson.JSONEncodeError, TypeError) as exc:
        return None, Rejection("unserializable", f"event: cannot be written as JSON ({exc})"), 0
    if len(payload) > MAX_EVENT_BYTES:
        return (
            None,
            Rejection(
                "record_too_large",
                f"event: {len(payload)} bytes of JSON, more than the SDK's limit "
                f"of {MAX_EVENT_BYTES}",
            ),
            0,
        )
    return payload, None, non_finite
