from __future__ import annotations

from streamproc.detect.prediction_stuck import PredictionStuck
from streamproc.detect.settings import Settings
from tests.unit.detect.prediction_helpers import both, closed, events, fit, score


def judge(baseline, window, **kw):
    return list(PredictionStuck().judge(closed(baseline, window, **kw)))


def test_a_constant_score_is_stuck_whatever_the_chunks():
    baseline = fit(2000, both)
    for chunk in (1, 37, 500):
        (finding,) = judge(
            baseline, events(500, lambda i: {"score": 0.5, "label": "ok"}), chunk=chunk
        )
        assert (finding.key, finding.severity, finding.value) == (
            ("prediction", None, "stuck"),
            "critical",
            1.0,
        )
        assert finding.value > finding.threshold == 1 - 1 / 500
        assert "stuck at 0.5 in 100% of the last 500 predictions" in finding.message


def test_varying_or_almost_constant_scores_are_not_stuck():
    baseline = fit(2000, score)
    assert judge(baseline, events(500, score, seed=4)) == []
    assert judge(baseline, events(500, lambda i: 0.5 if i else 0.7)) == []


def test_a_constant_class_is_stuck_when_the_baseline_makes_it_implausible():
    balanced = fit(2000, lambda i: "ab"[i % 2])
    (finding,) = judge(balanced, events(500, lambda i: "a"))
    assert finding.value == 1.0 and "'a'" in finding.message
    # 'ok' is 99 % of the baseline: 500 'ok' in a row happen (0.99 ** 500 = 0.7 %)
    skewed = fit(2000, lambda i: "fraud" if i % 100 == 0 else "ok")
    assert judge(skewed, events(500, lambda i: "ok")) == []
    # ... but 500 'fraud' do not
    assert len(judge(skewed, events(500, lambda i: "fraud"))) == 1


def test_a_constant_baseline_or_too_few_predictions_are_not_judged():
    assert judge(fit(2000, lambda i: 0.5), events(500, lambda i: 0.5)) == []
    few = events(500, lambda i: 0.5 if i < 50 else None)
    assert judge(fit(2000, score), few, settings=Settings()) == []
