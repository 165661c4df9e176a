"""Schema drift: a share of at least ``schema_min_share`` of a window's events
lacks a judged feature or carries a value of the wrong type in it (critical),
or carries a feature the baseline does not know (warning); and one alert
(warning, feature ``__overflow__``) while feature names past the caps
(``max_tracked_features`` per model and window, ``MAX_BATCH_FEATURES`` per batch)
arrive: the names are not tracked, only counted."""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding


class Schema:
    name = "schema"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        n = window.window.events
        threshold = window.settings.schema_min_share
        for f in window.features:
            missing, wrong = f.counts.missing / n, f.counts.wrong_type / n
            problem, share = ("missing", missing) if missing >= wrong else ("type", wrong)
            key = ("schema", f.name, "schema")
            if window.matters(key, share, threshold):
                message = messages.schema(f.name, problem, share, n)
                yield window.finding(key, share, threshold, "critical", message)
        for name, present in window.new_features.items():
            key = ("schema", name, "schema")
            if window.matters(key, present / n, threshold):
                message = messages.schema(name, "new", present / n, n)
                yield window.finding(key, present / n, threshold, "warning", message)
        # names past the caps share one episode: one alert, however many names
        key = ("schema", messages.OVERFLOW_FEATURE, "schema")
        if window.matters(key, window.overflow, 0.5):
            cap = window.settings.max_tracked_features
            message = messages.feature_overflow(window.overflow, cap, n)
            yield window.finding(key, float(window.overflow), 0.5, "warning", message)
