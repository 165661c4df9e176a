from __future__ import annotations

from streamproc.detect.prediction_kind import PredictionKind
from tests.unit.detect.prediction_helpers import both, closed, events, fit, score


def judge(baseline, window):
    return list(PredictionKind().judge(closed(baseline, window)))


def test_classes_instead_of_scores_are_critical():
    (finding,) = judge(fit(2000, score), events(500, lambda i: "ok"))
    assert (finding.key, finding.severity, finding.value, finding.threshold) == (
        ("prediction", None, "kind"),
        "critical",
        1.0,
        0.05,
    )
    assert (
        finding.message
        == "the prediction is a class instead of a score in 100% of the last 500 events"
    )


def test_scores_instead_of_classes_and_a_share_of_them():
    baseline = fit(2000, lambda i: "ab"[i % 2])
    (finding,) = judge(baseline, events(500, lambda i: {"score": 0.3} if i % 5 == 0 else "a"))
    assert finding.value == 0.2 and "a score instead of a class" in finding.message
    assert judge(baseline, events(500, lambda i: "ab"[i % 2])) == []


def test_a_baseline_with_scores_and_classes_has_no_other_kind():
    assert judge(fit(2000, both), events(500, lambda i: "ok")) == []  # a null score: nulls.py
