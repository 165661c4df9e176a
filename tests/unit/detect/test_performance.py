"""Performance accounting, the reference, the score calibration, baseline JSON."""

import math

import numpy as np
import orjson
import pytest

from streamproc.detect.baseline import Baseline
from streamproc.detect.estimate import ScoreCalibration, estimate_metrics, prediction_sums
from streamproc.detect.performance import (
    PerformanceCounts,
    PerformanceReference,
    labelled_rows,
)
from streamproc.events.labels import LabelledPredictions
from streamproc.simulate import synthetic_columns


def labelled(predicted, truth, scores=None, values=None):
    n = len(truth)
    return LabelledPredictions(
        model_id="m",
        event_ids=[str(i) for i in range(n)],
        timestamps=np.arange(n, dtype=float),
        label_times=np.arange(n, dtype=float) + 60,
        scores=np.full(n, np.nan) if scores is None else np.asarray(scores, float),
        predicted=list(predicted),
        truth=list(truth),
        truth_values=np.full(n, np.nan) if values is None else np.asarray(values, float),
    )


def test_classification_metrics_per_class_with_the_rest_folded():
    ref = PerformanceReference("classification", 10, classes=("a", "b"))
    batch = labelled(["a", "a", "b", "c", "b"], ["a", "b", "b", "c", "d"])
    counts = PerformanceCounts(ref)
    counts.add(batch, labelled_rows(batch, ref))
    m = counts.metrics()
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision:a"] == 0.5 and m["recall:a"] == 1.0
    assert m["precision:b"] == 0.5 and m["recall:b"] == 0.5
    # "c" and "d" are both __other__: c->c right, b->d wrong (predicted b)
    assert m["precision:__other__"] == 1.0 and m["recall:__other__"] == 0.5
    assert "brier" not in m


@pytest.mark.parametrize("positive", [None, "b", "z"])
def test_errors_and_brier_from_class_codes_match_the_names(positive):
    # the codes path against the plain comparison of names, with classes the
    # reference lacks, predictions without a class, and a positive class that
    # is not among the reference's (a hand-written baseline)
    rng = np.random.default_rng(3)
    names = ["a", "b", "c", "d", None]
    predicted = [names[i] for i in rng.integers(0, 5, 400)]
    truth = [names[i] for i in rng.integers(0, 4, 400)]
    scores = rng.random(400)
    ref = PerformanceReference("classification", 10, classes=("a", "b"), positive=positive)
    batch = labelled(predicted, truth, scores=scores)
    expected = np.array([p != t for p, t in zip(predicted, truth, strict=True)], float)
    assert labelled_rows(batch, ref).tolist() == expected.tolist()
    counts = PerformanceCounts(ref)
    counts.add(batch, labelled_rows(batch, ref))
    y = np.array([t == positive for t in truth]) if positive else expected == 0
    assert counts.brier_sum == pytest.approx(float(((scores - y) ** 2).sum()))
    if positive is not None:  # scores only: the class is score >= 0.5
        only_scores = labelled([None] * 400, truth, scores=scores)
        wrong = (scores >= 0.5) != np.array([t == positive for t in truth])
        assert labelled_rows(only_scores, ref).tolist() == wrong.astype(float).tolist()


def test_counts_do_not_depend_on_batching():
    _, lab = synthetic_columns(3000, np.random.default_rng(1))
    ref = PerformanceReference.fit(lab.scores, lab.predicted, lab.truth, lab.truth_values)
    whole, parts = PerformanceCounts(ref), PerformanceCounts(ref)
    whole.add(lab, labelled_rows(lab, ref))
    for s in range(0, 3000, 7):
        part = lab.slice(s, s + 7)
        parts.add(part, labelled_rows(part, ref))
    a, b = whole.metrics(), parts.metrics()
    assert a.keys() == b.keys() and all(math.isclose(a[k], b[k]) for k in a)


def test_regression_metrics_and_reference():
    rng = np.random.default_rng(0)
    truth = rng.normal(10, 2, 5000)
    pred = truth + rng.normal(0.5, 1.0, 5000)
    ref = PerformanceReference.fit(pred, [None] * 5000, [None] * 5000, truth)
    assert ref.kind == "regression"
    assert ref.mae == pytest.approx(np.abs(pred - truth).mean())
    assert ref.mean_error == pytest.approx(0.5, abs=0.05)
    assert ref.rmse == pytest.approx(math.sqrt(1 + 0.25), abs=0.05)
    assert len(ref.abs_error_deciles) == 9
    batch = labelled([None] * 4, [None] * 4, scores=[1.0, 2.0, np.nan, 4.0], values=[1, 1, 1, 1])
    counts = PerformanceCounts(ref)
    counts.add(batch, labelled_rows(batch, ref))
    m = counts.metrics()
    assert m["mae"] == pytest.approx(4 / 3) and m["mean_error"] == pytest.approx(4 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(10 / 3))


def test_positive_class_is_the_high_score_class_and_brier():
    _, lab = synthetic_columns(20_000, np.random.default_rng(2))
    ref = PerformanceReference.fit(lab.scores, lab.predicted, lab.truth, lab.truth_values)
    assert ref.kind == "classification" and ref.positive == "fraud"
    assert ref.classes == ("fraud", "ok")
    assert ref.accuracy == pytest.approx(0.94, abs=0.01)
    y = np.array([t == "fraud" for t in lab.truth])
    assert ref.brier == pytest.approx(((lab.scores - y) ** 2).mean())


def test_calibration_is_monotone_and_estimates_accuracy():
    events, lab = synthetic_columns(20_000, np.random.default_rng(3))
    ref = PerformanceReference.fit(lab.scores, lab.predicted, lab.truth, lab.truth_values)
    cal = ref.calibration
    assert cal is not None and cal.binary
    assert np.all(np.diff(cal.table[1]) >= 0)  # P(positive) rises with the score
    assert cal.expected == pytest.approx(ref.accuracy, abs=0.005)
    # on fresh traffic the estimate is within noise of the realized accuracy
    events, lab = synthetic_columns(50_000, np.random.default_rng(4))
    sums = prediction_sums(cal, ref.positive, events.prediction_scores, events.prediction_labels)
    realized = np.mean([p == t for p, t in zip(lab.predicted, lab.truth, strict=True)])
    est = estimate_metrics(sums, binary=True)
    assert est["accuracy"] == pytest.approx(realized, abs=0.005)
    shares = [est[k] for k in ("tp", "fp", "tn", "fn")]
    assert sum(shares) == pytest.approx(1.0) and min(shares) >= 0
    assert est["tp"] + est["tn"] == pytest.approx(est["accuracy"])


def test_calibration_threshold_band():
    cal = ScoreCalibration((0.5,), ((0.9, 0.1), (0.1, 0.9)), True, 0.9, 0.05)
    assert cal.threshold(window=500, alpha=1e-6, min_decrease=0.005) == pytest.approx(
        0.9 - 4.753 * 0.05 / math.sqrt(500), abs=1e-3
    )
    assert cal.threshold(window=10**6, alpha=1e-6, min_decrease=0.02) == pytest.approx(0.88)


def test_multiclass_calibration_by_confidence():
    rng = np.random.default_rng(5)
    n = 10_000
    conf = rng.uniform(0.34, 1.0, n)
    truth = rng.choice(["a", "b", "c"], n).tolist()
    right = rng.random(n) < conf
    other = {"a": "b", "b": "c", "c": "a"}
    predicted = [t if r else other[t] for t, r in zip(truth, right.tolist(), strict=True)]
    ref = PerformanceReference.fit(conf, predicted, truth, np.full(n, np.nan))
    assert ref.positive is None and not ref.calibration.binary
    assert ref.calibration.expected == pytest.approx(conf.mean(), abs=0.01)


def test_baseline_json_round_trip_with_performance_and_old_baselines():
    events, lab = synthetic_columns(12_000, np.random.default_rng(6))
    baseline = Baseline.fit(events, labels=lab.truth)
    assert baseline.performance is not None and baseline.performance.calibration is not None
    data = orjson.loads(orjson.dumps(baseline.to_dict()))
    again = Baseline.from_dict(data)
    p, q = baseline.performance, again.performance
    assert q.kind == p.kind and q.positive == p.positive and q.classes == p.classes
    assert q.error_rate == p.error_rate and q.labels == p.labels
    assert np.allclose(q.calibration.table, p.calibration.table, atol=1e-6)
    assert q.calibration.expected == p.calibration.expected
    del data["performance"]  # a baseline from before issue 11
    assert Baseline.from_dict(data).performance is None
    data["performance"] = {"version": 7}
    with pytest.raises(ValueError, match="performance: must be an object with version 1"):
        Baseline.from_dict(data)


def test_baseline_fit_labels_regression_and_unlabelled():
    events, _ = synthetic_columns(1000, np.random.default_rng(7))
    events.prediction_labels = [None] * 1000
    targets = (events.prediction_scores + 0.1).tolist()
    baseline = Baseline.fit(events, labels=[*targets[:900], *[None] * 100])
    assert baseline.performance.kind == "regression"
    assert baseline.performance.labels == 900
    assert baseline.performance.mae == pytest.approx(0.1)
    assert Baseline.fit(events, labels=[None] * 1000).performance is None
    with pytest.raises(ValueError, match="one per reference event"):
        Baseline.fit(events, labels=[1.0])
