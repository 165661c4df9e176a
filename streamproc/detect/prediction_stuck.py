"""Stuck prediction: every prediction of a window is the same value (score or
class) while the baseline's vary (a score with sd > 0, or more than one class).

``value`` is the share of the window's predictions equal to its first one,
``threshold`` just under 1 (``1 - 1/predictions``): it breaches only when all
are equal. A run of one value is judged only if the baseline makes it
implausible: the share ``q`` of the baseline's bin (score bin or class) the
value falls in must give ``q ** predictions < alpha``, so a window of only
``ok`` from a classifier that says ``ok`` 99 % of the time is no alarm. At
least ``min_window_events / 2`` predictions are needed (as for PSI).
Critical.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from streamproc.detect import messages
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding
from streamproc.detect.prediction import bin_share
from streamproc.detect.profiles import CategoricalProfile, NumericProfile


class PredictionStuck:
    name = "stuck"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        p, b = window.predictions, window.baseline
        score, label = b.prediction_score, b.prediction_label
        too_few = max(2, window.settings.min_window_events // 2)
        key = ("prediction", None, "stuck")
        # the score if the baseline's varies, else the class
        value: float | str | None
        if score is not None and score.std > 0 and p.scores >= too_few:
            count, same, value = p.scores, p.same_score, p.first_score
            profile: NumericProfile | CategoricalProfile = score
            shown = f"{value:.6g}"
        elif label is not None and _classes(label) > 1 and p.labels >= too_few:
            count, same, value, profile = p.labels, p.same_label, p.first_label, label
            shown = f"'{value}'"
        else:
            return
        share = same / count
        threshold = 1.0 - 1.0 / count
        if share > threshold and not _implausible(bin_share(profile, value), count, window.alpha):
            threshold = 1.0  # a run the baseline explains: in the band, changes nothing
        if window.matters(key, share, threshold):
            message = messages.prediction_stuck(shown, share, count)
            yield window.finding(key, share, threshold, "critical", message)


def _classes(label: CategoricalProfile) -> int:
    return len(label.categories) + (label.rest > 0) + (label.unseen > 0)


def _implausible(q: float, count: int, alpha: float) -> bool:
    """Whether ``count`` draws all in a bin of share ``q`` are rarer than ``alpha``."""
    return q <= 0.0 or count * math.log(q) < math.log(alpha)
