"""PSI drift: the distribution of a feature, or of the prediction, moved away
from the baseline's (the PSI and its threshold come from the window, see
:class:`~streamproc.detect.window.PsiPlan`; this detector only judges them).

Its ``details`` name the bins or categories that moved most
(:func:`~streamproc.detect.moved.top_moves`: shares of the baseline's global
profile, also under a phased baseline). Severity is ``critical`` from
``psi_critical`` (or the threshold, if higher) on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from streamproc.detect import messages, moved
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding, Key


class PsiDrift:
    name = "psi"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        for f in window.features:
            value, threshold = f.stats.psi, f.stats.psi_threshold
            key: Key = ("feature", f.name, "psi")
            if not math.isnan(value) and window.matters(key, value, threshold):
                details = moved.psi_details(f.profile, f.counts.counts)
                yield _finding(window, key, messages.feature(f.name), value, threshold, details)
        psi, threshold = window.prediction_psi, window.prediction_threshold
        key = ("prediction", None, "psi")
        if psi is not None and not math.isnan(psi) and window.matters(key, psi, threshold):
            b = window.baseline
            profile = b.prediction_score if b.prediction_score is not None else b.prediction_label
            counts = window.prediction_counts
            found = None
            if profile is not None and counts is not None:
                found = moved.psi_details(profile, counts)
            yield _finding(window, key, messages.PREDICTION, psi, threshold, found)


def _finding(
    window: ClosedWindow,
    key: Key,
    subject: str,
    value: float,
    threshold: float,
    details: dict[str, Any] | None,
) -> Finding:
    critical = value >= max(window.settings.psi_critical, threshold)
    top = details["moved"] if details else None
    message = messages.psi(subject, value, threshold, window.window.events, top)
    severity = "critical" if critical else "warning"
    return window.finding(key, value, threshold, severity, message, details=details)
