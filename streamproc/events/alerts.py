"""The alert event (v1, see docs/contract.md) and its one-line presentation."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["Alert", "alert_id", "format_alert"]


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
    details: dict[str, Any] | None = None  # optional: what moved (docs/contract.md)

    def to_dict(self) -> dict[str, Any]:
        out = {
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
        if self.details is not None:  # additive: an alert without details is as before
            out["details"] = self.details
        return out

    def with_details(self, extra: dict[str, Any]) -> Alert:
        """This alert with ``extra`` added to its ``details``.

        >>> a = Alert("id", "firing", "warning", "m", "v", "feature", "x", "psi", 0.3, 0.1,
        ...           0.0, 60.0, 1000, 61.0, "PSI", {"moved": []})
        >>> a.with_details({"input_line": 7}).details
        {'moved': [], 'input_line': 7}
        """
        return dataclasses.replace(self, details={**(self.details or {}), **extra})

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
            details=data.get("details") if isinstance(data.get("details"), dict) else None,
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
