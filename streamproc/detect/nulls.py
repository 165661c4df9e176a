"""Null rate: a feature's share of null values rose above its baseline's
(a one-sided binomial test with an effect-size floor, see :func:`rate_threshold`)."""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.policy import Finding
from streamproc.detect.quality import rate_threshold
from streamproc.detect.window import ClosedWindow


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
            key = ("feature", f.name, "null_rate")
            if window.matters(key, ratio, threshold):
                message = messages.null_rate(f.name, ratio, baseline, threshold, n)
                yield window.finding(key, ratio, threshold, "warning", message, baseline=baseline)
