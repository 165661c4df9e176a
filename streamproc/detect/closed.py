"""A closed window: what every window detector reads (and the metrics report).

:class:`~streamproc.detect.window.WindowCounts` makes one :class:`ClosedWindow`
when a window closes: per judged feature its profile, counts and statistics
(:class:`JudgedFeature`), the new features, errors, the prediction's PSI and
integrity counts, the false-alarm share of each test; a detector
(:mod:`.detector`) makes its findings from it, and :meth:`ClosedWindow.report`
keeps what the metrics show (:class:`WindowReport`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.estimate import estimate_metrics
from streamproc.detect.policy import Finding, Key, Window
from streamproc.detect.prediction import PredictionCounts
from streamproc.detect.profiles import Profile
from streamproc.detect.settings import Settings


@dataclass(slots=True)
class FeatureCounts:
    """What a window counted of one judged feature: its bin counts (baseline
    bins), nulls, events without it, values of the wrong type."""

    counts: np.ndarray
    nulls: int = 0
    missing: int = 0
    wrong_type: int = 0


@dataclass(slots=True)
class FeatureStats:
    """What the last judged window said about one feature (for metrics)."""

    psi: float  # NaN: too few values for a PSI (e.g. the feature was absent)
    psi_threshold: float
    null_ratio: float
    present: int = -1  # events of the window that carried the feature (-1: not counted)


@dataclass(slots=True)
class WindowReport:
    """Statistics of the last judged window of a model."""

    window: Window
    features: dict[str, FeatureStats]
    prediction_psi: float | None
    estimate: dict[str, float] | None = None  # label-free performance estimate (.performance)


@dataclass(frozen=True, slots=True)
class JudgedFeature:
    """One judged feature of a closed window: its profile, counts and statistics."""

    name: str
    profile: Profile
    counts: FeatureCounts
    stats: FeatureStats
    null_rate: float = 0.0  # the baseline's null rate for this window (its phases' mix)
    null_dispersion: float = 1.0  # the null-rate test's variance factor (.calibrate)


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """Everything a detector reads about one closed window (see :mod:`.detector`)."""

    window: Window
    settings: Settings
    baseline: Baseline
    alpha: float  # the false-alarm probability of each test of this window
    features: list[JudgedFeature]  # in the baseline's order
    new_features: dict[str, int]  # events carrying each feature unknown to the baseline
    errors: int
    prediction_psi: float | None  # None: the baseline has no prediction
    prediction_threshold: float
    is_open: Callable[[Key], bool]  # whether a key has an open alert episode
    predictions: PredictionCounts  # the prediction integrity counts (see .prediction)
    error_rate: float = 0.0  # the baseline's error rate for this window (its phases' mix)
    error_dispersion: float = 1.0
    estimate: np.ndarray | None = None  # ScoreCalibration.sums (label-free performance estimate)
    overflow: int = 0  # feature names past the caps (not tracked), see WindowCounts.add
    prediction_counts: np.ndarray | None = None  # the prediction's bin counts (its PSI's)
    new_samples: dict[str, list[Any]] | None = None  # first values of new features (.rename)

    def matters(self, key: Key, value: float, threshold: float) -> bool:
        """Whether a finding can change the alert state: it breaches, or its key
        has an open episode (:meth:`AlertPolicy.observe` ignores the rest)."""
        return value > threshold or self.is_open(key)

    def finding(
        self,
        key: Key,
        value: float,
        threshold: float,
        severity: str,
        message: str,
        *,
        baseline: float = 0.0,
        details: dict[str, Any] | None = None,
    ) -> Finding:
        """A level finding: it resolves once ``value`` is back below ``baseline``
        plus ``resolve_ratio`` of the way to ``threshold``, for ``resolve_windows``."""
        s = self.settings
        resolve_below = baseline + s.resolve_ratio * (threshold - baseline)
        return Finding.of(
            key,
            value,
            threshold,
            resolve_below,
            severity=severity,
            message=message,
            resolve_after=s.resolve_windows,
            details=details,
        )

    def in_order(self, findings: list[Finding]) -> list[Finding]:
        """``findings`` in the order alerts are emitted: by subject (the judged
        features in the baseline's order, the new features, the prediction,
        the errors, anything else), and for one subject in detector order."""
        if len(findings) < 2:
            return findings
        position = {f.name: i for i, f in enumerate(self.features)}
        for name in self.new_features:
            position.setdefault(name, len(position))
        after = {"prediction": len(position), "errors": len(position) + 1}
        last = len(position) + 2

        def rank(f: Finding) -> int:
            if f.feature is not None and f.feature in position:
                return position[f.feature]
            return after.get(f.signal, last)

        return sorted(findings, key=rank)

    def report(self) -> WindowReport:
        estimate = None
        performance = self.baseline.performance
        if self.estimate is not None and performance is not None and performance.calibration:
            estimate = estimate_metrics(self.estimate, performance.calibration.binary)
        return WindowReport(
            self.window, {f.name: f.stats for f in self.features}, self.prediction_psi, estimate
        )
