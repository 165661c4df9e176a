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

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

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

    ``features`` maps each feature name seen in the batch to one raw value per
    event (number, string, bool, ``None`` for null, :data:`MISSING` when the
    event lacks the feature). Numeric arrays use NaN for "absent".
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
