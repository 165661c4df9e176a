"""The label-free performance estimate (confidence-based, as NannyML's CBPE).

A classifier's score, calibrated on the labelled reference
(:class:`ScoreCalibration`: a monotone map from score bins to P(correct)),
says how likely each prediction is to be right; a window's expected accuracy
(and, for a binary model, its expected confusion matrix) is the mean of
those probabilities (:func:`estimate_metrics`), before any label arrives.
It assumes calibrated scores on the reference and no concept drift: it sees
a covariate shift that moves scores into less certain regions, never a
change of what the right answer is (docs/detection.md, "Model performance").

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> scores = rng.random(4000)
>>> positive = scores >= 0.5
>>> outcome = rng.random(4000) < scores  # truth == positive class
>>> cal = ScoreCalibration.fit(scores, positive, outcome, binary=True, window_events=500)
>>> round(cal.expected, 2)
0.74
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from streamproc.detect.quality import _inv_cdf

CALIBRATION_BINS = 20
MIN_BIN = 100  # reference labels per calibration bin at least (fewer bins for a small reference)
MIN_WINDOWS = 20  # reference windows needed for a dispersion factor
GATE_Z = 4.0


def is_positive(labels: list[Any], scores: np.ndarray, positive: str | None) -> np.ndarray:
    """Which predictions are of the positive class: by their class, else by score >= 0.5."""
    n = len(scores)
    if positive is None:
        return np.zeros(n, bool)
    mask = np.fromiter(map(operator.eq, labels, repeat(positive)), dtype=bool, count=n)
    if None in set(labels):
        missing = np.fromiter(map(operator.is_, labels, repeat(None)), dtype=bool, count=n)
        mask |= missing & (scores >= 0.5)
    return mask


def _pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators: the increasing fit of ``y`` (a few bins)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, bins]
    for value, weight in zip(y.tolist(), w.tolist(), strict=True):
        blocks.append([value * weight, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, v, k = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += v
            blocks[-1][2] += k
    return np.concatenate([np.full(int(k), s / v) for s, v, k in blocks])


@dataclass(frozen=True, slots=True)
class ScoreCalibration:
    """Calibrated P(correct) per score bin, learned on the labelled reference.

    ``table[1][b]`` is P(positive | score in bin b) for a binary model (the
    probability that a positive prediction is right), ``table[0][b]`` the
    probability that a prediction in bin ``b`` is right otherwise (binary:
    ``1 - P(positive)``; multiclass: P(correct | confidence)). ``expected``
    and ``event_sd``: the mean and sd over the reference's predictions of
    their P(correct); ``dispersion``: how much more the reference's own
    windows of ``window_events`` vary than independent draws would (>= 1,
    gated as in :mod:`.calibrate`).
    """

    edges: tuple[float, ...]
    table: tuple[tuple[float, ...], tuple[float, ...]]
    binary: bool
    expected: float
    event_sd: float
    dispersion: float = 1.0
    windows: int = 0
    labels: int = 10**9  # reference predictions the band's centre was measured on
    _edges: np.ndarray = field(init=False, compare=False, repr=False)
    _table: np.ndarray = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_edges", np.asarray(self.edges, dtype=np.float64))
        object.__setattr__(self, "_table", np.asarray(self.table, dtype=np.float64))

    def p_correct(self, scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
        """P(correct) of each prediction (finite ``scores`` only)."""
        bins = self._edges.searchsorted(scores, side="right")
        return self._table[positive.astype(np.intp), bins]

    def sums(self, scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
        """What a window adds up: [scored predictions, sum of P(correct),
        predicted positives, sum of P(correct) over them]."""
        finite = ~np.isnan(scores)
        if not finite.all():
            scores, positive = scores[finite], positive[finite]
        p = self.p_correct(scores, positive)
        return np.array(
            [len(scores), p.sum(), np.count_nonzero(positive), p[positive].sum()], np.float64
        )

    def threshold(self, *, window: int, alpha: float, min_decrease: float) -> float:
        """The estimated accuracy below which a window of ``window`` predictions breaches."""
        z = _inv_cdf(1.0 - alpha)
        noise = z * self.event_sd * math.sqrt(self.dispersion / max(window, 1) + 1 / self.labels)
        return max(0.0, self.expected - max(min_decrease, noise))

    @classmethod
    def fit(
        cls,
        scores: np.ndarray,
        positive: np.ndarray,
        outcome: np.ndarray,
        *,
        binary: bool,
        window_events: int,
    ) -> ScoreCalibration | None:
        """From reference predictions with a score: ``outcome`` is truth == positive
        (binary) or prediction == truth (multiclass). None with too few."""
        n = len(scores)
        if n < 2 * MIN_BIN // 2:
            return None
        bins = max(2, min(CALIBRATION_BINS, n // MIN_BIN))
        edges = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]))
        codes = edges.searchsorted(scores, side="right")
        k = len(edges) + 1
        counts = np.bincount(codes, minlength=k).astype(np.float64)
        hits = np.bincount(codes, weights=outcome.astype(np.float64), minlength=k)
        # half a success and half a failure per bin: no bin says 0 or 1 for sure
        rate = _pav((hits + 0.5) / (counts + 1.0), counts + 1.0)
        if binary:
            table = (1.0 - rate, rate)
        else:
            table = (rate, rate)
        calibration = cls(
            tuple(edges.tolist()),
            (tuple(table[0].tolist()), tuple(table[1].tolist())),
            binary,
            0.0,
            0.0,
        )
        p = calibration.p_correct(scores, positive if binary else np.zeros(n, bool))
        expected, sd = float(p.mean()), float(p.std())
        windows = n // window_events
        dispersion = 1.0
        if windows >= MIN_WINDOWS and sd > 0:
            means = p[: windows * window_events].reshape(windows, window_events).mean(axis=1)
            ratio = float(means.var(ddof=1) / (sd**2 / window_events))
            if ratio > 1.0 + GATE_Z * math.sqrt(2.0 / (windows - 1)):
                dispersion = ratio
        return cls(
            calibration.edges, calibration.table, binary, expected, sd, dispersion, windows, n
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": [round(e, 6) for e in self.edges],
            "negative": [round(v, 6) for v in self.table[0]],
            "positive": [round(v, 6) for v in self.table[1]],
            "binary": self.binary,
            "expected": self.expected,
            "event_sd": self.event_sd,
            "dispersion": self.dispersion,
            "windows": self.windows,
            "labels": self.labels,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreCalibration:
        edges = tuple(float(e) for e in data["edges"])
        negative = tuple(float(v) for v in data["negative"])
        positive = tuple(float(v) for v in data["positive"])
        if not len(negative) == len(positive) == len(edges) + 1:
            raise ValueError("calibration: need len(edges) + 1 values per row")
        return cls(
            edges,
            (negative, positive),
            bool(data.get("binary", False)),
            float(data["expected"]),
            float(data["event_sd"]),
            float(data.get("dispersion", 1.0)),
            int(data.get("windows", 0)),
            int(data.get("labels", 10**9)),
        )


def estimate_metrics(sums: np.ndarray, binary: bool) -> dict[str, float]:
    """The label-free estimate of a window from its :meth:`ScoreCalibration.sums`:
    ``accuracy``, and for a binary model the expected confusion matrix
    (``tp``, ``fp``, ``tn``, ``fn`` as shares of the window) and ``precision``,
    ``recall``."""
    n, correct, n_pos, correct_pos = sums.tolist()
    if n <= 0:
        return {}
    out = {"accuracy": correct / n}
    if binary:
        tp, fp = correct_pos, n_pos - correct_pos
        tn = correct - correct_pos
        fn = (n - n_pos) - tn
        out |= {"tp": tp / n, "fp": fp / n, "tn": tn / n, "fn": fn / n}
        if n_pos > 0:
            out["precision"] = tp / n_pos
        if tp + fn > 0:
            out["recall"] = tp / (tp + fn)
    return out


def prediction_sums(
    calibration: ScoreCalibration,
    positive: str | None,
    scores: np.ndarray,
    labels: Sequence[Any],
) -> np.ndarray:
    """:meth:`ScoreCalibration.sums` of a chunk of ordinary (unlabelled) events."""
    if calibration.binary:
        is_pos = is_positive(list(labels), scores, positive)
    else:
        is_pos = np.zeros(len(scores), bool)
    return calibration.sums(scores, is_pos)
