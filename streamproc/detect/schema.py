"""Schema drift: a share of at least ``schema_min_share`` of a window's events
lacks a judged feature or carries a value of the wrong type in it (critical),
or carries a feature the baseline does not know (warning)."""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.policy import Finding
from streamproc.detect.window import ClosedWindow


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
