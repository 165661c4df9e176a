"""Realized and estimated model performance: the reference, the window counts, the metrics.

Ground truth arrives late, as label events; the label join hands each model's
matched pairs to :meth:`~streamproc.detect.monitor.Monitor.process_labels` as
:class:`~streamproc.events.labels.LabelledPredictions`. This module holds the
pure, vectorised parts (no Python loop per labelled prediction):

- :class:`PerformanceReference`: what the reference says the performance is
  (``baseline.v1``'s ``performance`` field, versioned): classification: the
  classes, the error rate, the Brier score, the positive class of a binary
  model; regression: MAE, RMSE, mean error, the spread and deciles of the
  absolute error; and for a classifier with scores a :class:`ScoreCalibration`
  for the label-free estimate.
- :class:`PerformanceCounts`: one window of labelled predictions, counted per
  batch with numpy (errors, per-class counts for a bounded set of classes,
  Brier, absolute and squared errors); :meth:`PerformanceCounts.metrics`.
- :class:`ScoreCalibration`: a monotone (isotonic, over score bins) map from
  the score to P(positive) (binary) or P(correct) (multiclass: the score is
  the confidence of the predicted class), the lookup table the window
  accounting sums per chunk (:meth:`ScoreCalibration.sums`), and the band the
  ``estimated_accuracy`` detector judges against.

**Which class is positive** (binary models, where the score is P(positive)):
the predicted class whose reference predictions have the higher mean score;
with no predicted classes, the minority class of the reference truth. The
reference stores it (``performance.positive``); a prediction without a class
counts as positive when its score is at least 0.5.

>>> rng = np.random.default_rng(0)
>>> scores = rng.random(4000)
>>> truth = np.where(rng.random(4000) < scores, "yes", "no").tolist()
>>> predicted = np.where(scores >= 0.5, "yes", "no").tolist()
>>> ref = PerformanceReference.fit(scores, predicted, truth, np.full(4000, np.nan),
...                                window_events=500)
>>> ref.kind, ref.positive, round(1 - ref.error_rate, 2), round(ref.calibration.expected, 2)
('classification', 'yes', 0.74, 0.74)
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from streamproc.detect.estimate import ScoreCalibration, is_positive
from streamproc.events.labels import LabelledPredictions

VERSION = 1
OTHER = "__other__"  # the class every class beyond the reference's kept ones is folded into
MAX_CLASSES = 20


@dataclass(frozen=True, slots=True)
class PerformanceReference:
    """The reference performance of a model (see the module doc)."""

    kind: str  # "classification" or "regression"
    labels: int  # labelled reference predictions it was fitted on
    classes: tuple[str, ...] = ()
    positive: str | None = None
    error_rate: float = 0.0
    brier: float | None = None
    mae: float = 0.0
    rmse: float = 0.0
    mean_error: float = 0.0
    abs_error_sd: float = 0.0
    abs_error_deciles: tuple[float, ...] = ()
    calibration: ScoreCalibration | None = None
    source: str = "fit"  # or "learned" (from the first labelled predictions)

    @property
    def accuracy(self) -> float:
        return 1.0 - self.error_rate

    @property
    def class_index(self) -> dict[str | None, int]:
        """Each class's index in ``classes``."""
        return {c: i for i, c in enumerate(self.classes)}

    @classmethod
    def fit(
        cls,
        scores: np.ndarray,
        predicted: list[Any],
        truth: list[Any],
        truth_values: np.ndarray,
        *,
        window_events: int = 500,
        max_classes: int = MAX_CLASSES,
        source: str = "fit",
        calibrate: bool = True,
    ) -> PerformanceReference | None:
        """From labelled reference predictions (rows without a label are skipped).

        Regression when every label is a number and no prediction has a class;
        else classification. None when nothing is labelled.
        """
        scores = np.asarray(scores, dtype=np.float64)
        values = np.asarray(truth_values, dtype=np.float64)
        has_class = predicted.count(None) < len(predicted)
        numeric = ~np.isnan(values)
        if not has_class and numeric.any():
            rows = numeric & ~np.isnan(scores)
            if not rows.any():
                return None
            err = scores[rows] - values[rows]
            absolute = np.abs(err)
            return cls(
                "regression",
                int(rows.sum()),
                mae=float(absolute.mean()),
                rmse=float(np.sqrt((err**2).mean())),
                mean_error=float(err.mean()),
                abs_error_sd=float(absolute.std()),
                abs_error_deciles=tuple(
                    float(q) for q in np.quantile(absolute, np.linspace(0.1, 0.9, 9))
                ),
                source=source,
            )
        labelled = np.fromiter(map(operator.is_not, truth, repeat(None)), bool, len(truth))
        if not labelled.any():
            return None
        index = np.flatnonzero(labelled)
        truth = [truth[i] for i in index.tolist()]
        predicted = [predicted[i] for i in index.tolist()] if has_class else [None] * len(index)
        scores = scores[index] if len(scores) else np.full(len(index), np.nan)
        n = len(truth)
        tally = Counter(truth) + Counter(p for p in predicted if p is not None)
        classes = tuple(sorted(c for c, _ in tally.most_common(max_classes)))
        binary = len(tally) == 2
        positive = None
        if binary:
            positive = _positive_class(scores, predicted, truth)
        correct = np.fromiter(map(operator.eq, predicted, truth), bool, n)
        if not has_class and binary:  # scores only: the class is score >= 0.5
            correct = (scores >= 0.5) == np.fromiter(
                map(operator.eq, truth, repeat(positive)), bool, n
            )
        scored = ~np.isnan(scores)
        brier = None
        calibration = None
        if scored.any():
            if binary:
                outcome = np.fromiter(map(operator.eq, truth, repeat(positive)), bool, n)
            else:
                outcome = correct
            brier = float(((scores[scored] - outcome[scored]) ** 2).mean())
            if calibrate:
                is_pos = is_positive(predicted, scores, positive) if binary else np.zeros(n, bool)
                calibration = ScoreCalibration.fit(
                    scores[scored],
                    is_pos[scored],
                    outcome[scored],
                    binary=binary,
                    window_events=window_events,
                )
        return cls(
            "classification",
            n,
            classes=classes,
            positive=positive,
            error_rate=float(1.0 - correct.mean()),
            brier=brier,
            calibration=calibration,
            source=source,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": VERSION, "kind": self.kind, "labels": self.labels}
        if self.kind == "classification":
            out |= {
                "classes": list(self.classes),
                "positive": self.positive,
                "error_rate": self.error_rate,
                "brier": self.brier,
                "calibration": self.calibration.to_dict() if self.calibration else None,
            }
        else:
            out |= {
                "mae": self.mae,
                "rmse": self.rmse,
                "mean_error": self.mean_error,
                "abs_error_sd": self.abs_error_sd,
                "abs_error_deciles": list(self.abs_error_deciles),
            }
        return out | {"source": self.source}

    @classmethod
    def from_dict(cls, data: Any) -> PerformanceReference | None:
        if data is None:
            return None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError(f"must be an object with version {VERSION}")
        kind = data.get("kind")
        if kind not in ("classification", "regression"):
            raise ValueError(f"kind must be 'classification' or 'regression', got {kind!r}")
        calibration = data.get("calibration")
        brier = data.get("brier")
        return cls(
            kind,
            int(data.get("labels", 0)),
            classes=tuple(str(c) for c in data.get("classes", [])),
            positive=data.get("positive"),
            error_rate=float(data.get("error_rate", 0.0)),
            brier=None if brier is None else float(brier),
            mae=float(data.get("mae", 0.0)),
            rmse=float(data.get("rmse", 0.0)),
            mean_error=float(data.get("mean_error", 0.0)),
            abs_error_sd=float(data.get("abs_error_sd", 0.0)),
            abs_error_deciles=tuple(float(q) for q in data.get("abs_error_deciles", [])),
            calibration=ScoreCalibration.from_dict(calibration) if calibration else None,
            source=str(data.get("source", "fit")),
        )


def _positive_class(scores: np.ndarray, predicted: list[Any], truth: list[Any]) -> str:
    """The positive class of a binary model (see the module doc)."""
    classes = sorted(set(truth) | {p for p in predicted if p is not None})
    scored = ~np.isnan(scores)
    means = []
    for c in classes:
        mask = np.fromiter(map(operator.eq, predicted, repeat(c)), bool, len(predicted)) & scored
        means.append(float(scores[mask].mean()) if mask.any() else -math.inf)
    if max(means) > -math.inf and len(set(means)) > 1:
        return classes[int(np.argmax(means))]
    counts = Counter(truth)
    return min(classes, key=lambda c: (counts.get(c, 0), c))


def labelled_rows(
    batch: LabelledPredictions,
    reference: PerformanceReference,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The per-row error stream of a batch: 0/1 errors (classification) or
    absolute errors (regression; NaN where the prediction has no score).
    ``codes``: the batch's :func:`class_codes`, if made already."""
    if reference.kind == "regression":
        return np.abs(batch.scores - batch.truth_values)
    n = batch.size
    truth, predicted = codes if codes is not None else class_codes(batch, reference)
    if reference.positive is not None and batch.predicted.count(None) == n:
        truth_pos = _is_positive(truth, batch, reference)
        return ((batch.scores >= 0.5) != truth_pos).astype(np.float64)
    k = len(reference.classes)
    correct = (truth == predicted) & (truth < k)
    both_other = np.flatnonzero((truth == k) & (predicted == k)).tolist()
    if both_other:  # neither a reference class (or no class): compare the names
        correct[both_other] = [batch.predicted[i] == batch.truth[i] for i in both_other]
    return (~correct).astype(np.float64)


def class_codes(
    batch: LabelledPredictions, reference: PerformanceReference
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's true and predicted class as its index in the reference's
    classes (``len(classes)``: another class, or none).

    >>> ref = PerformanceReference("classification", 100, classes=("no", "yes"))
    >>> batch = LabelledPredictions(model_id="m", event_ids=["a", "b", "c"],
    ...     timestamps=np.zeros(3), label_times=np.zeros(3), scores=np.full(3, np.nan),
    ...     predicted=["yes", "no", None], truth=["yes", "maybe", "no"],
    ...     truth_values=np.full(3, np.nan))
    >>> [c.tolist() for c in class_codes(batch, ref)]
    [[1, 2, 0], [1, 0, 2]]
    """
    index = reference.class_index
    k, n = len(reference.classes), batch.size
    return (
        np.fromiter(map(index.get, batch.truth, repeat(k)), np.intp, n),
        np.fromiter(map(index.get, batch.predicted, repeat(k)), np.intp, n),
    )


def _is_positive(truth: np.ndarray, batch: LabelledPredictions, ref: PerformanceReference) -> Any:
    """Whether each row's true class is the positive one (``truth``: its codes)."""
    code = ref.class_index.get(ref.positive)
    if code is None:  # (a reference whose positive class is not among its classes)
        return np.fromiter(map(operator.eq, batch.truth, repeat(ref.positive)), bool, len(truth))
    return truth == code


@dataclass(slots=True)
class PerformanceCounts:
    """One window of labelled predictions of a model, counted per batch.

    Classification: errors, and per class (the reference's, the rest folded
    into ``__other__``) true positives, predictions and truths; the Brier
    score where a score is present. Regression: sums of error, absolute and
    squared error. All sums, so a window's counts do not depend on how its
    labels came in batches.
    """

    reference: PerformanceReference
    labels: int = 0
    start: float = math.inf
    end: float = -math.inf
    errors: float = 0.0  # classification: wrong predictions; regression: sum |error|
    error_sum: float = 0.0  # regression: sum of error
    squares: float = 0.0  # regression: sum of squared error
    brier_sum: float = 0.0
    brier_n: int = 0
    counted: int = 0  # rows counted in errors (regression: with a score)
    tp: np.ndarray | None = None
    pred: np.ndarray | None = None
    true: np.ndarray | None = None

    def __post_init__(self) -> None:
        k = len(self.reference.classes)
        if self.reference.kind == "classification":
            self.tp = np.zeros(k + 1, np.int64)
            self.pred = np.zeros(k + 1, np.int64)
            self.true = np.zeros(k + 1, np.int64)

    def add(
        self,
        batch: LabelledPredictions,
        errors: np.ndarray,
        codes: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Count a batch; ``errors`` is its :func:`labelled_rows`, ``codes`` its
        :func:`class_codes` (made here if not given)."""
        n = batch.size
        if n == 0:
            return
        ref = self.reference
        self.labels += n
        self.start = min(self.start, float(batch.label_times.min()))
        self.end = max(self.end, float(batch.label_times.max()))
        if ref.kind == "regression":
            finite = ~np.isnan(errors)
            signed = (batch.scores - batch.truth_values)[finite]
            self.counted += int(finite.sum())
            self.errors += float(errors[finite].sum())
            self.error_sum += float(signed.sum())
            self.squares += float((signed**2).sum())
            return
        self.counted += n
        self.errors += float(errors.sum())
        k = len(ref.classes)
        truth, pred = codes if codes is not None else class_codes(batch, ref)
        assert self.tp is not None and self.pred is not None and self.true is not None
        self.true += np.bincount(truth, minlength=k + 1)
        self.pred += np.bincount(pred, minlength=k + 1)
        self.tp += np.bincount(truth[errors == 0], minlength=k + 1)
        scores = batch.scores
        scored = ~np.isnan(scores)
        if scored.any():
            if ref.positive is not None:
                y = _is_positive(truth, batch, ref)
            else:
                y = errors == 0
            self.brier_sum += float(((scores[scored] - y[scored]) ** 2).sum())
            self.brier_n += int(scored.sum())

    def error_rate(self) -> float:
        return self.errors / self.counted if self.counted else math.nan

    def metrics(self) -> dict[str, float]:
        """The window's metrics by name (see docs/contract.md): classification
        ``accuracy``, ``brier``, ``precision:<class>``, ``recall:<class>``;
        regression ``mae``, ``rmse``, ``mean_error``."""
        n = self.counted
        if not n:
            return {}
        if self.reference.kind == "regression":
            return {
                "mae": self.errors / n,
                "rmse": math.sqrt(self.squares / n),
                "mean_error": self.error_sum / n,
            }
        out = {"accuracy": 1.0 - self.errors / n}
        if self.brier_n:
            out["brier"] = self.brier_sum / self.brier_n
        assert self.tp is not None and self.pred is not None and self.true is not None
        names = [*self.reference.classes, OTHER]
        for i, name in enumerate(names):
            if self.pred[i]:
                out[f"precision:{name}"] = float(self.tp[i] / self.pred[i])
            if self.true[i]:
                out[f"recall:{name}"] = float(self.tp[i] / self.true[i])
        return out
