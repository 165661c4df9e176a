"""Unseen classes: predicted classes the baseline never saw (its label profile's
``unseen`` bin) make up a larger share of the window's predicted labels than of
the baseline's: the rate test of :mod:`.nulls` (:func:`rate_threshold`) with
``schema_min_share`` as the effect-size floor. Judged on at least
``min_window_events / 2`` labels. Warning.
"""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding
from streamproc.detect.quality import rate_threshold


class UnseenClass:
    name = "unseen_class"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        p, profile = window.predictions, window.baseline.prediction_label
        if profile is None:
            return
        if p.labels < max(1, window.settings.min_window_events // 2):
            return
        share, baseline = p.unseen / p.labels, profile.unseen
        threshold = rate_threshold(
            baseline_rate=baseline,
            window=p.labels,
            alpha=window.alpha,
            min_increase=window.settings.schema_min_share,
        )
        key = ("prediction", None, "unseen_class")
        if window.matters(key, share, threshold):
            message = messages.unseen_class(share, baseline, threshold, p.labels)
            yield window.finding(key, share, threshold, "warning", message, baseline=baseline)
