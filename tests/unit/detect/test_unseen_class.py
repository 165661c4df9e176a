from __future__ import annotations

from streamproc.detect.unseen_class import UnseenClass
from tests.unit.detect.prediction_helpers import both, closed, events, fit, score


def judge(baseline, window):
    return list(UnseenClass().judge(closed(baseline, window)))


def test_a_share_of_new_classes_is_a_warning():
    baseline = fit(2000, lambda i: "abc"[i % 3])
    (finding,) = judge(baseline, events(500, lambda i: "z" if i % 10 < 3 else "a"))
    assert (finding.key, finding.severity, finding.value) == (
        ("prediction", None, "unseen_class"),
        "warning",
        0.3,
    )
    assert 0.05 <= finding.threshold < 0.1
    assert finding.message.startswith("classes not in the baseline are 30% of the last 500")


def test_few_new_classes_known_classes_or_no_classes_give_nothing():
    baseline = fit(2000, lambda i: "abc"[i % 3])
    assert judge(baseline, events(500, lambda i: "z" if i % 50 == 0 else "b")) == []
    assert judge(baseline, events(500, lambda i: "cab"[i % 3])) == []
    assert judge(fit(2000, score), events(500, lambda i: "z")) == []


def test_labels_next_to_scores_are_judged_too():
    (finding,) = judge(fit(2000, both), events(500, lambda i: {"score": 0.5, "label": "new"}))
    assert finding.value == 1.0
