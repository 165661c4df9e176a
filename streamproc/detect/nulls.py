"""Null rate: a feature's share of null values, or the share of events whose
prediction is null or missing, rose above its baseline's (a one-sided binomial
test with an effect-size floor, see :func:`rate_threshold`).

A null prediction is one that lacks a part the baseline's predictions have
(see :mod:`.prediction`): no prediction, ``null``, or an object whose score
or label is null. Feature null rates are warnings, the prediction's critical.
"""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding, Key
from streamproc.detect.quality import rate_threshold


class NullRate:
    name = "null_rate"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        n, alpha = window.window.events, window.alpha
        min_increase = window.settings.null_rate_min_increase
        for f in window.features:
            ratio, baseline = f.stats.null_ratio, f.null_rate
            threshold = rate_threshold(
                baseline_rate=baseline,
                window=n,
                alpha=alpha,
                min_increase=min_increase,
                dispersion=f.null_dispersion,
            )
            key: Key = ("feature", f.name, "null_rate")
            if window.matters(key, ratio, threshold):
                message = messages.null_rate(f.name, ratio, baseline, threshold, n)
                yield window.finding(key, ratio, threshold, "warning", message, baseline=baseline)
        p = window.predictions
        if not (p.has_score or p.has_label) or p.events == 0:
            return  # the baseline has no prediction to miss
        ratio, baseline = p.nulls / p.events, window.baseline.prediction_null_rate
        threshold = rate_threshold(
            baseline_rate=baseline, window=p.events, alpha=alpha, min_increase=min_increase
        )
        key = ("prediction", None, "null_rate")
        if window.matters(key, ratio, threshold):
            message = messages.prediction_null_rate(ratio, baseline, threshold, p.events)
            yield window.finding(key, ratio, threshold, "critical", message, baseline=baseline)
