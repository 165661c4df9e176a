"""Alert policy: turns per-window findings into alert episodes.

Each (signal, feature, detector) of a model is one alert key with a small
state machine. A finding *breaches* when its value exceeds its threshold and
is *clean* when the value is below ``resolve_below`` (hysteresis: the band
between the two changes nothing). An episode fires on the first breach and
resolves after ``resolve_after`` consecutive clean windows: one ``firing`` and
one ``resolved`` alert per episode, never a repeat while it lasts. The
episode's id is derived from the event time of the window that started it, so
replaying the same events gives the same ``alert_id``; :meth:`AlertPolicy.restore`
re-opens episodes from published alerts, so a restarted worker (or the next
owner of a model) neither fires an open episode again nor loses its resolve.

>>> import dataclasses
>>> policy = AlertPolicy("m")
>>> window = Window(start=0.0, end=60.0, events=1000)
>>> f = Finding("feature", "x", "psi", value=0.4, threshold=0.2, resolve_below=0.1,
...             severity="warning", message="PSI of feature 'x' is 0.4")
>>> [a.status for a in policy.observe(f, window, model_version="v1", now=61.0)]
['firing']
>>> policy.observe(f, window, model_version="v1", now=62.0)  # still drifted: no repeat
[]
>>> calm = dataclasses.replace(f, value=0.01)
>>> policy.observe(calm, window, model_version="v1", now=63.0)
[]
>>> [a.status for a in policy.observe(calm, window, model_version="v1", now=64.0)]
['resolved']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from streamproc.detect import messages
from streamproc.events.alerts import Alert, alert_id

Key: TypeAlias = tuple[str, str | None, str]  # (signal, feature, detector): one alert key


@dataclass(frozen=True, slots=True)
class Window:
    """The events a finding is about: event-time span and count."""

    start: float
    end: float
    events: int


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's verdict on one window of one model."""

    signal: str
    feature: str | None
    detector: str
    value: float
    threshold: float
    resolve_below: float
    severity: str
    message: str
    resolve_after: int = 2
    below: bool = False  # a level where lower is worse (accuracy): breaches below threshold
    details: dict[str, Any] | None = None  # what moved (the alert's ``details``)

    @classmethod
    def of(
        cls,
        key: Key,
        value: float,
        threshold: float,
        resolve_below: float,
        *,
        severity: str,
        message: str,
        resolve_after: int,
        below: bool = False,
        details: dict[str, Any] | None = None,
    ) -> Finding:
        """The finding of ``key`` = (signal, feature, detector); ``below``: it
        breaches when ``value`` is below ``threshold`` and is clean above
        ``resolve_below`` (the resolve level)."""
        signal, feature, detector = key
        return cls(
            signal,
            feature,
            detector,
            value,
            threshold,
            resolve_below,
            severity,
            message,
            resolve_after,
            below,
            details,
        )

    @property
    def key(self) -> Key:
        return (self.signal, self.feature, self.detector)

    @property
    def breached(self) -> bool:
        if self.below:
            return self.value < self.threshold
        return self.value > self.threshold

    @property
    def clean(self) -> bool:
        if self.below:
            return self.value > self.resolve_below
        return self.value < self.resolve_below


@dataclass(slots=True)
class _Episode:
    alert_id: str
    severity: str
    clean_windows: int = 0
    since: float = 0.0  # event time (end) of the window that opened it


class AlertPolicy:
    """Alert episodes of one model. Memory: one small record per firing key."""

    __slots__ = ("model_id", "_open")

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self._open: dict[Key, _Episode] = {}

    @property
    def firing(self) -> dict[Key, str]:
        """Open episodes: key -> severity."""
        return {key: ep.severity for key, ep in self._open.items()}

    @property
    def open_since(self) -> dict[Key, float]:
        """Open episodes: key -> event time (window end) at which each fired."""
        return {key: ep.since for key, ep in self._open.items()}

    def is_open(self, key: Key) -> bool:
        """Whether ``key`` has an open episode (else only a breach changes anything)."""
        return key in self._open

    def restore(self, alert: Alert) -> None:
        """Replay a published alert of this model: a ``firing`` one re-opens its
        episode, a ``resolved`` one closes it.

        >>> policy = AlertPolicy("m")
        >>> window = Window(0.0, 60.0, 1000)
        >>> f = Finding("feature", "x", "psi", 0.4, 0.2, 0.1, "warning", "PSI 0.4")
        >>> fired = policy.observe(f, window, model_version="v", now=0.0)
        >>> again = AlertPolicy("m")
        >>> again.restore(fired[0])
        >>> again.observe(f, window, model_version="v", now=1.0)  # still open: no repeat
        []
        """
        key = (alert.signal, alert.feature, alert.detector)
        if alert.status == "firing":
            self._open.setdefault(
                key, _Episode(alert.alert_id, alert.severity, since=alert.window_end)
            )
        elif key in self._open and self._open[key].alert_id == alert.alert_id:
            del self._open[key]

    def observe(
        self, finding: Finding, window: Window, *, model_version: str, now: float
    ) -> list[Alert]:
        """Feed one finding; return the alert it causes, if any (0 or 1)."""
        episode = self._open.get(finding.key)
        if episode is None:
            if not finding.breached:
                return []
            episode = _Episode(
                alert_id(
                    self.model_id,
                    finding.signal,
                    finding.feature,
                    finding.detector,
                    f"{window.end:.3f}",
                ),
                finding.severity,
                since=window.end,
            )
            self._open[finding.key] = episode
            return [self._alert("firing", finding, episode, window, model_version, now)]
        if finding.clean:
            episode.clean_windows += 1
            if episode.clean_windows >= finding.resolve_after:
                del self._open[finding.key]
                return [self._alert("resolved", finding, episode, window, model_version, now)]
        elif finding.breached:
            episode.clean_windows = 0
        return []

    def _alert(
        self,
        status: str,
        finding: Finding,
        episode: _Episode,
        window: Window,
        model_version: str,
        now: float,
    ) -> Alert:
        return Alert(
            alert_id=episode.alert_id,
            status=status,
            severity=episode.severity,
            model_id=self.model_id,
            model_version=model_version,
            signal=finding.signal,
            feature=finding.feature,
            detector=finding.detector,
            value=finding.value,
            threshold=finding.threshold,
            window_start=window.start,
            window_end=window.end,
            window_events=window.events,
            detected_at=now,
            message=finding.message if status == "firing" else messages.resolved(finding.message),
            details=finding.details,
        )
