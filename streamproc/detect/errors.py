"""Error rate: the share of events whose inference failed rose above the
baseline's (the same test as :mod:`.nulls`)."""

from __future__ import annotations

from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding
from streamproc.detect.quality import rate_threshold


class ErrorRate:
    name = "error_rate"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        n = window.window.events
        baseline, rate = window.error_rate, window.errors / n
        threshold = rate_threshold(
            baseline_rate=baseline,
            window=n,
            alpha=window.alpha,
            min_increase=window.settings.error_rate_min_increase,
            dispersion=window.error_dispersion,
        )
        key = ("errors", None, "error_rate")
        if window.matters(key, rate, threshold):
            message = messages.error_rate(rate, baseline, threshold, n)
            yield window.finding(key, rate, threshold, "critical", message, baseline=baseline)
