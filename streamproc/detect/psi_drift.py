"""PSI drift: the distribution of a feature, or of the prediction, moved away
from the baseline's (the PSI and its threshold come from the window, see
:class:`~streamproc.detect.window.PsiPlan`; this detector only judges them).

Severity is ``critical`` from ``psi_critical`` (or the threshold, if higher) on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding, Key


class PsiDrift:
    name = "psi"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        for f in window.features:
            value, threshold = f.stats.psi, f.stats.psi_threshold
            key: Key = ("feature", f.name, "psi")
            if not math.isnan(value) and window.matters(key, value, threshold):
                yield _finding(window, key, messages.feature(f.name), value, threshold)
        psi, threshold = window.prediction_psi, window.prediction_threshold
        key = ("prediction", None, "psi")
        if psi is not None and not math.isnan(psi) and window.matters(key, psi, threshold):
            yield _finding(window, key, messages.PREDICTION, psi, threshold)


def _finding(
    window: ClosedWindow, key: Key, subject: str, value: float, threshold: float
) -> Finding:
    critical = value >= max(window.settings.psi_critical, threshold)
    message = messages.psi(subject, value, threshold, window.window.events)
    return window.finding(key, value, threshold, "critical" if critical else "warning", message)
