"""Detectors on model performance: realized (on labelled predictions) and estimated.

**Realized** (:class:`RealizedPerformance`, fed by
:meth:`~streamproc.detect.monitor.ModelMonitor.update_labels`): labelled
predictions are counted in tumbling windows of ``performance_window`` labels,
in the order the labels were matched (:class:`.performance.PerformanceCounts`).
At each window's close:

- ``accuracy`` (classification): the rate test of :mod:`.quality` on the
  error rate against the reference's, floor ``performance_min_decrease``;
  the alert's ``value`` is the window's accuracy and its ``threshold`` the
  accuracy *below which* it fires (1 minus the error-rate threshold);
- ``mae`` (regression): a one-sided z test of the window's mean absolute
  error against the reference's, with the reference's spread of absolute
  errors, floor ``mae_min_increase`` x the reference MAE; fires *above*.

Continuously, ADWIN (:class:`~.adwin.BlockAdwin`) on the per-label error
stream: ``error_rate_adwin`` on the 0/1 errors (classification),
``abs_error_adwin`` on absolute errors (regression), standardized by the
reference; reported only for a rise of at least the same floors.

The realized detectors share ``performance_share`` of the model's budget,
counted in labelled predictions: ``F_p = false_alarm_events /
performance_share``, half to the window test (``alpha = W / (2 F_p)``), half to
ADWIN (:func:`~.adwin.adwin_delta` over one stream).

Without a performance reference in the baseline, the first
``performance_reference_labels`` labelled predictions are learned as the
reference (no calibration: the label-free estimate needs a fitted baseline).

**Estimated** (:class:`EstimatedAccuracy`, a window detector of
:data:`~.detector.WINDOW_DETECTORS`): each ordinary event window sums the
calibrated P(correct) of its predictions (:meth:`.ScoreCalibration.sums`,
counted by :class:`~.window.WindowCounts`); the estimate is that sum over the
scored predictions, judged against the reference band
``expected - max(performance_min_decrease, z(1 - alpha) sd sqrt(c / n))``
(``sd``, ``c`` from the labelled reference, see :mod:`.performance`); one more
test in the window's Bonferroni split.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from streamproc.detect import messages
from streamproc.detect.adwin import BlockAdwin, adwin_delta
from streamproc.detect.closed import ClosedWindow
from streamproc.detect.performance import (
    PerformanceCounts,
    PerformanceReference,
    class_codes,
    labelled_rows,
)
from streamproc.detect.policy import Finding, Key, Window
from streamproc.detect.quality import _inv_cdf, rate_threshold
from streamproc.detect.settings import Settings
from streamproc.events.labels import LabelledPredictions

SIGNAL = "performance"
ACCURACY: Key = (SIGNAL, None, "accuracy")
MAE: Key = (SIGNAL, None, "mae")
ERROR_ADWIN: Key = (SIGNAL, None, "error_rate_adwin")
ABS_ADWIN: Key = (SIGNAL, None, "abs_error_adwin")
ESTIMATED: Key = (SIGNAL, None, "estimated_accuracy")

Judged = tuple[Finding, Window]


def performance_budget(settings: Settings) -> float:
    """The realized detectors' budget in labelled predictions."""
    return settings.false_alarm_events / settings.performance_share


class RealizedPerformance:
    """The realized-performance detectors of one model. Memory: the window's
    counts (a few numbers per class), one ADWIN, and until a reference exists
    at most ``performance_reference_labels`` buffered labelled predictions."""

    __slots__ = ("settings", "reference", "counts", "adwin", "delta", "latest", "_learning")

    def __init__(self, reference: PerformanceReference | None, settings: Settings) -> None:
        self.settings = settings
        self.reference: PerformanceReference | None = None
        self.counts: PerformanceCounts | None = None
        self.adwin: BlockAdwin | None = None
        self.latest: dict[str, float] = {}  # the metrics of the last closed window
        self._learning: list[LabelledPredictions] = []
        s = settings
        self.delta = adwin_delta(
            false_alarm_events=2 * performance_budget(s),
            streams=1,
            block=s.adwin_block,
            clock=s.adwin_clock,
        )
        if reference is not None:
            self._start(reference)

    def _start(self, reference: PerformanceReference) -> None:
        s = self.settings
        self.reference = reference
        self.counts = PerformanceCounts(reference)
        if reference.kind == "regression":
            center, scale, clip = reference.mae, reference.abs_error_sd, 5.0
        else:  # a 0/1 stream is bounded: no clipping of a rare error
            p = reference.error_rate
            center, scale = p, math.sqrt(max(p * (1.0 - p), 1e-4))
            clip = max(5.0, 1.0 / scale)
        self.adwin = BlockAdwin(
            clip=clip,
            block=s.adwin_block,
            delta=self.delta,
            clock=s.adwin_clock,
            center=center,
            scale=scale if scale > 0 else 1.0,
        )

    def _learn(self, batch: LabelledPredictions) -> LabelledPredictions:
        need = self.settings.performance_reference_labels - sum(b.size for b in self._learning)
        self._learning.append(batch.slice(0, need) if batch.size > need else batch)
        if batch.size < need:
            return batch.slice(0, 0)
        learned = self._learning
        self._learning = []
        reference = PerformanceReference.fit(
            np.concatenate([b.scores for b in learned]),
            [p for b in learned for p in b.predicted],
            [t for b in learned for t in b.truth],
            np.concatenate([b.truth_values for b in learned]),
            source="learned",
            calibrate=False,
        )
        if reference is not None:
            self._start(reference)
        return batch.slice(need, batch.size)

    def update(self, batch: LabelledPredictions, firing: Callable[[Key], bool]) -> list[Judged]:
        """Count a batch; the findings of the ADWIN and of each window it closes."""
        if self.reference is None:
            batch = self._learn(batch)
            if self.reference is None or batch.size == 0:
                return []
        counts, adwin, ref = self.counts, self.adwin, self.reference
        assert counts is not None and adwin is not None and ref is not None
        window = self.settings.performance_window
        out: list[Judged] = []
        start = 0
        while start < batch.size:
            stop = min(batch.size, start + window - counts.labels)
            chunk = batch.slice(start, stop) if (start, stop) != (0, batch.size) else batch
            codes = class_codes(chunk, ref) if ref.kind == "classification" else None
            errors = labelled_rows(chunk, ref, codes)
            counts.add(chunk, errors, codes)
            for change in adwin.update(errors)[-1:]:
                finding = self._adwin_finding(change.mean_before, change.mean_after, change)
                if finding is not None:
                    out.append((finding, Window(counts.start, counts.end, counts.labels)))
            if counts.labels >= window:
                out += self._close(counts, firing)
                counts = self.counts
                assert counts is not None
            start = stop
        return out

    def _adwin_finding(self, before: float, after: float, change: object) -> Finding | None:
        ref = self.reference
        assert ref is not None
        s = self.settings
        if ref.kind == "regression":
            key, metric, floor = ABS_ADWIN, "absolute error", s.mae_min_increase * ref.mae
        else:
            key, metric, floor = ERROR_ADWIN, "error rate", s.performance_min_decrease
        if after - before < floor:
            return None  # a fall of the error, or a rise too small to matter
        message = messages.performance_adwin(metric, before, after, change.values_seen)  # type: ignore[attr-defined]
        return Finding.of(
            key,
            after,
            before + floor,
            -math.inf,
            severity="warning",
            message=message,
            resolve_after=self.settings.adwin_quiet_windows,
        )

    def _close(self, counts: PerformanceCounts, firing: Callable[[Key], bool]) -> list[Judged]:
        ref = self.reference
        assert ref is not None
        s = self.settings
        self.counts = PerformanceCounts(ref)
        self.latest = counts.metrics()
        n = counts.counted
        span = Window(counts.start, counts.end, counts.labels)
        out: list[Judged] = []
        if n == 0:
            return out
        alpha = n / (2 * performance_budget(s))
        m = max(ref.labels, 1)  # the reference's own noise, as PSI's 1/n + 1/m
        if ref.kind == "regression":
            value = counts.errors / n
            noise = _inv_cdf(1.0 - alpha) * ref.abs_error_sd * math.sqrt(1 / n + 1 / m)
            threshold = ref.mae + max(s.mae_min_increase * ref.mae, noise)
            resolve = ref.mae + s.resolve_ratio * (threshold - ref.mae)
            message = messages.mae(value, ref.mae, threshold, n)
            finding = Finding.of(
                MAE,
                value,
                threshold,
                resolve,
                severity="critical",
                message=message,
                resolve_after=s.resolve_windows,
            )
        else:
            rate_limit = rate_threshold(
                baseline_rate=ref.error_rate,
                window=1.0 / (1 / n + 1 / m),  # type: ignore[arg-type]
                alpha=alpha,
                min_increase=s.performance_min_decrease,
            )
            value, threshold = 1.0 - counts.error_rate(), 1.0 - rate_limit
            resolve = ref.accuracy - s.resolve_ratio * (ref.accuracy - threshold)
            message = messages.accuracy(value, ref.accuracy, threshold, n)
            finding = Finding.of(
                ACCURACY,
                value,
                threshold,
                resolve,
                severity="critical",
                message=message,
                resolve_after=s.resolve_windows,
                below=True,
            )
        out.append((finding, span))
        key, metric = ERROR_ADWIN, "error rate"
        if ref.kind == "regression":
            key, metric = ABS_ADWIN, "absolute error"
        if firing(key):  # a quiet window for the ADWIN alert (resolves after adwin_quiet_windows)
            quiet = Finding.of(
                key,
                0.0,
                self.delta,
                self.delta,
                severity="warning",
                message=messages.performance_adwin_quiet(metric, s.adwin_quiet_windows),
                resolve_after=s.adwin_quiet_windows,
            )
            out.append((quiet, span))
        return out


class EstimatedAccuracy:
    """The label-free accuracy estimate of an event window left the reference band."""

    name = "estimated_accuracy"

    def judge(self, window: ClosedWindow) -> Iterator[Finding]:
        sums = window.estimate
        performance = window.baseline.performance
        if sums is None or performance is None or performance.calibration is None:
            return
        calibration = performance.calibration
        s = window.settings
        n = int(sums[0])
        if n < s.min_window_events // 2:
            return
        value = float(sums[1]) / n
        threshold = calibration.threshold(
            window=n, alpha=window.alpha, min_decrease=s.performance_min_decrease
        )
        if value < threshold or window.is_open(ESTIMATED):
            expected = calibration.expected
            yield Finding.of(
                ESTIMATED,
                value,
                threshold,
                expected - s.resolve_ratio * (expected - threshold),
                severity="warning",
                message=messages.estimated_accuracy(value, expected, threshold, n),
                resolve_after=s.resolve_windows,
                below=True,
            )
