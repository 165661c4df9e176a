"""What ``streamproc replay`` tells at the end: per model its events, whether
its baseline was given or learned, per feature or signal the detectors that
fired (and at which input line), and what is still firing.

>>> from streamproc.events.alerts import Alert
>>> s = ReplaySummary()
>>> s.count("m", 1000)
>>> s.add(Alert("i", "firing", "critical", "m", "v", "feature", "age", "psi", 0.4, 0.1,
...             0.0, 1.0, 500, 1.0, "PSI", {"input_line": 812}))
>>> learned = {"m": "learned from its first 500 events"}
>>> print("\\n".join(s.lines(learned, {"m": [("feature", "age", "psi")]})))
model m: 1000 events, baseline learned from its first 500 events; 1 firing, 0 resolved
  feature 'age': psi fired at line 812 (still firing)
  still firing at the end: feature 'age' (psi)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from streamproc.detect.policy import Key
from streamproc.events.alerts import Alert


@dataclass(slots=True)
class _Fired:
    """The alerts of one (signal, feature, detector) in a replay."""

    episodes: int = 0
    first_line: int | None = None
    first_time: float = 0.0
    resolved: int = 0


@dataclass(slots=True)
class _Model:
    events: int = 0
    fired: dict[Key, _Fired] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)


class ReplaySummary:
    """Counts of a replay per model (bounded: one record per alert key)."""

    def __init__(self) -> None:
        self.models: dict[str, _Model] = {}

    def count(self, model_id: str, events: int) -> None:
        """``events`` valid events of ``model_id`` were read."""
        self.models.setdefault(model_id, _Model()).events += events

    def add(self, alert: Alert) -> None:
        model = self.models.setdefault(alert.model_id, _Model())
        model.statuses[alert.status] += 1
        key = (alert.signal, alert.feature, alert.detector)
        fired = model.fired.setdefault(key, _Fired())
        if alert.status == "resolved":
            fired.resolved += 1
            return
        fired.episodes += 1
        if fired.episodes == 1:
            line = (alert.details or {}).get("input_line")
            fired.first_line = line if isinstance(line, int) else None
            fired.first_time = alert.window_end

    def lines(
        self, baselines: Mapping[str, str], firing: Mapping[str, Collection[Key]]
    ) -> list[str]:
        """The summary: ``baselines`` says per model where its baseline came
        from; ``firing`` per model the keys still open at the end."""
        out = []
        for model_id in self.models:
            baseline = baselines.get(model_id, "none")
            out += self.model_lines(model_id, baseline, firing.get(model_id, ()))
        return out

    def model_lines(self, model_id: str, baseline: str, firing: Collection[Key]) -> list[str]:
        model = self.models.get(model_id) or _Model()
        s = model.statuses
        out = [
            f"model {model_id}: {model.events} events, baseline {baseline}; "
            f"{s['firing']} firing, {s['resolved']} resolved"
        ]
        subjects: dict[tuple[str, str | None], list[str]] = {}
        for (signal, feature, detector), fired in model.fired.items():
            if not fired.episodes:
                continue
            where = (
                f"line {fired.first_line}"
                if fired.first_line is not None
                else f"event time {fired.first_time:.3f}"
            )
            text = f"{detector} fired at {where}"
            if fired.episodes > 1:
                text += f" ({fired.episodes} episodes)"
            if (signal, feature, detector) in firing:
                text += " (still firing)"
            elif fired.resolved:
                text += " (resolved)"
            subjects.setdefault((signal, feature), []).append(text)
        for (signal, feature), texts in subjects.items():
            out.append(f"  {_subject(signal, feature)}: {', '.join(texts)}")
        still: dict[tuple[str, str | None], list[str]] = {}
        for signal, feature, detector in firing:
            still.setdefault((signal, feature), []).append(detector)
        if still:
            names = ", ".join(
                f"{_subject(signal, feature)} ({', '.join(detectors)})"
                for (signal, feature), detectors in still.items()
            )
            out.append(f"  still firing at the end: {names}")
        elif model.fired:
            out.append("  nothing still firing at the end")
        return out


def _subject(signal: str, feature: str | None) -> str:
    if feature is not None and signal in ("feature", "schema"):
        prefix = "feature" if signal == "feature" else "schema of feature"
        return f"{prefix} '{feature}'"
    return signal
