"""Schema drift: a share of at least ``schema_min_share`` of a window's events
lacks a judged feature or carries a value of the wrong type in it (critical),
or carries a feature the baseline does not know (warning); and one alert
(warning, feature ``__overflow__``) while feature names past the caps
(``max_features`` per model and window, ``MAX_BATCH_FEATURES`` per batch)
arrive: the names are not tracked, only counted.

``details`` say the expected and seen types (:func:`.moved.schema_details`);
a missing and a new feature of a similar profile in the same window (a likely
rename, :mod:`.rename`) link to each other: ``likely_renamed_to`` on the
missing one's alert, ``likely_renamed_from`` on the new one's.
"""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages, moved
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding
from streamproc.detect.rename import likely_renames


class Schema:
    name = "schema"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        n = window.window.events
        threshold = window.settings.schema_min_share
        renamed = _renames(window, threshold)
        renamed_from = {new: old for old, new in renamed.items()}
        for f in window.features:
            missing, wrong = f.counts.missing / n, f.counts.wrong_type / n
            problem, share = ("missing", missing) if missing >= wrong else ("type", wrong)
            key = ("schema", f.name, "schema")
            if window.matters(key, share, threshold):
                count = f.counts.missing if problem == "missing" else f.counts.wrong_type
                details = moved.schema_details(problem, f.profile, n, count)
                message = messages.schema(
                    f.name, problem, share, n, details["expected"], details["seen"]
                )
                if problem == "missing" and f.name in renamed:
                    details["likely_renamed_to"] = renamed[f.name]
                    message = messages.likely_rename(f.name, renamed[f.name], share, n)
                yield window.finding(key, share, threshold, "critical", message, details=details)
        samples = window.new_samples or {}
        for name, present in window.new_features.items():
            key = ("schema", name, "schema")
            if window.matters(key, present / n, threshold):
                message = messages.schema(name, "new", present / n, n)
                details = moved.schema_details("new", None, n, present, _kind(samples.get(name)))
                if name in renamed_from:
                    details["likely_renamed_from"] = renamed_from[name]
                yield window.finding(
                    key, present / n, threshold, "warning", message, details=details
                )
        # names past the caps share one episode: one alert, however many names
        key = ("schema", messages.OVERFLOW_FEATURE, "schema")
        if window.matters(key, window.overflow, 0.5):
            cap = window.settings.max_features
            message = messages.feature_overflow(window.overflow, cap, n)
            yield window.finding(key, float(window.overflow), 0.5, "warning", message)


def _renames(window: ClosedWindow, threshold: float) -> dict[str, str]:
    n = window.window.events
    missing = {
        f.name: f.counts.missing / n for f in window.features if f.counts.missing / n > threshold
    }
    present = {name: c / n for name, c in window.new_features.items() if c / n > threshold}
    if not missing or not present or not window.new_samples:
        return {}
    profiles = {f.name: f.profile for f in window.features if f.name in missing}
    return likely_renames(
        profiles, missing, present, window.new_samples, max_psi=window.settings.psi_critical
    )


def _kind(sample: list[object] | None) -> str:
    """The value type of a new feature, from its sample."""
    if not sample:
        return "present"
    numbers = sum(1 for v in sample if isinstance(v, int | float) and not isinstance(v, bool))
    return "number" if numbers * 2 > len(sample) else "string or boolean"
