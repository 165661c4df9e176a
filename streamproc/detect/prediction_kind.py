"""Prediction kind: the prediction changed kind, score <-> class: the baseline's
predictions have only a score and the window's events only a label, or the
reverse. ``value`` is the share of the window's events whose prediction is of
the other kind, ``threshold`` ``schema_min_share`` (as a schema change).
Critical. A baseline with both parts has no other kind: a part missing is a
null prediction (:mod:`.nulls`).
"""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding


class PredictionKind:
    name = "kind"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        p = window.predictions
        if p.has_score == p.has_label or p.events == 0:
            return
        share, threshold = p.other_kind / p.events, window.settings.schema_min_share
        key = ("prediction", None, "kind")
        if window.matters(key, share, threshold):
            expected, seen = ("score", "class") if p.has_score else ("class", "score")
            message = messages.prediction_kind(expected, seen, share, p.events)
            yield window.finding(key, share, threshold, "critical", message)
