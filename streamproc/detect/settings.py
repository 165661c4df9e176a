"""Detector settings: one dataclass, defaults that mean something, per-model overrides.

>>> s = Settings()
>>> s.window_events, s.for_model("m", {"m": {"window_events": 2000}}).window_events
(500, 2000)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from streamproc.detect.fields import check_fields

# The smallest (largest) value each setting takes; every count is at least 1.
_MINIMUM = {
    "window_events": 1,
    "min_window_events": 1,
    "baseline_events": 1,
    "numeric_bins": 2,
    "max_categories": 1,
    "min_category_share": 0,
    "false_alarm_events": 1,
    "psi_min": 0,
    "psi_critical": 0,
    "resolve_windows": 1,
    "null_rate_min_increase": 0,
    "error_rate_min_increase": 0,
    "schema_min_share": 0,
    "adwin_block": 1,
    "adwin_clock": 1,
    "adwin_min_shift": 0,
    "adwin_quiet_windows": 1,
    "max_tracked_features": 1,
    "performance_window": 1,
    "performance_min_decrease": 0,
    "mae_min_increase": 0,
    "performance_reference_labels": 1,
}
_MAXIMUM = {
    "min_category_share": 1,
    "schema_min_share": 1,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """How the detectors judge one model. All windows count events of one model.

    Windows and baselines
        window_events: events per tumbling judgement window (default 500; the
            PSI threshold grows as the window shrinks, so small windows stay
            safe and catch large changes sooner; measured in docs/detection.md).
        min_window_events: a window that closes early (see ``window_seconds``)
            is judged only if it holds at least this many events (default 200).
        window_seconds: a window also closes once it spans this much event
            time, so a quiet model is still judged (default 60 s).
        baseline_events: when no baseline is published for a model, the first
            this many events are learned as its baseline (default 2000).
        numeric_bins: quantile bins per numeric feature (default 10).
        max_categories: categories kept per categorical feature; the rest share
            one bin (default 20). A category below ``min_category_share`` of
            the baseline also goes to the rest bin (default 0.01).

    False alarms
        false_alarm_events: the false-alarm budget: expected number of events
            of one model between two false alarms of any of its detectors
            (default 10,000,000). Every threshold follows from it: half the
            budget goes to the window tests (PSI, null rate, error rate), split
            evenly over the tests of a window (Bonferroni; per-test alpha =
            window / (2 * false_alarm_events * tests), see
            :mod:`streamproc.detect.psi`), half to the ADWIN streams (see
            ``adwin_delta``). The mapping is documented in docs/detection.md.
        psi_min: PSI below this is never reported, however significant (an
            effect-size floor; default 0.1, the usual "watch" level).
        psi_critical: PSI at or above this is severity ``critical`` (0.25).
        resolve_ratio: a level alert resolves once its statistic falls below
            ``resolve_ratio`` times its firing threshold (hysteresis; 0.5).
        resolve_windows: consecutive clean windows needed to resolve (2).
        null_rate_min_increase: smallest rise of a feature's null ratio over
            its baseline that is reported (default 0.1).
        error_rate_min_increase: likewise for the inference error rate (0.05).
        schema_min_share: share of a window's events that must lack a known
            feature, carry an unknown one, or carry a value of the wrong type
            before a schema alert fires (default 0.05).

    ADWIN
        adwin_delta: ADWIN's confidence (river's ``delta``). Default ``None``:
            derived from ``false_alarm_events`` by
            :func:`streamproc.detect.adwin.adwin_delta` (about 1e-6 for 20
            numeric features); a number here overrides the budget.
        adwin_block: ADWIN is fed the standardized sum of each block of this
            many values, not every value (default 25): 25x fewer updates.
        adwin_clock: ADWIN checks for change every this many blocks (8).
        adwin_min_shift: a change ADWIN finds is reported only if the mean
            moved by at least this many standard deviations (default 0.2): an
            effect-size floor, as ``psi_min`` is for PSI (a slow creep of a
            few hundredths of an sd over days is not worth an alert).
        adwin_quiet_windows: an ADWIN alert resolves after this many windows
            with no new change (default 10, i.e. 5,000 events at the default
            window, as 5 windows of 1,000 were before the window shrank).

    Performance (ground truth, see docs/detection.md "Model performance")
        performance_window: labelled predictions per tumbling performance
            window, in label-match order (default 1000: at the default
            budget a 500-label window cannot see an accuracy drop of 0.05
            from 0.94, 1000 can).
        performance_share: the share of ``false_alarm_events`` the realized
            performance detectors get (default 0.2), counted in labelled
            predictions, half to the window test and half to ADWIN; the event
            detectors keep the rest when the baseline has a performance
            reference (else their budget is unchanged).
        performance_min_decrease: smallest drop of (realized or estimated)
            accuracy below the reference's that is reported (default 0.02).
        mae_min_increase: smallest rise of the MAE over the reference's,
            relative to it, that is reported (default 0.1, i.e. 10 %).
        performance_reference_labels: without a performance reference in the
            baseline, the first this many labelled predictions are learned as
            the reference (default 2000).

    Bounds
        max_tracked_features: features tracked per model; further ones only
            raise a schema alert (default 200; ``max_features`` before, still
            accepted in TOML with a deprecation warning).
    """

    window_events: int = 500
    min_window_events: int = 200
    window_seconds: float = 60.0
    baseline_events: int = 2000
    numeric_bins: int = 10
    max_categories: int = 20
    min_category_share: float = 0.01
    false_alarm_events: float = 10_000_000
    psi_min: float = 0.1
    psi_critical: float = 0.25
    resolve_ratio: float = 0.5
    resolve_windows: int = 2
    null_rate_min_increase: float = 0.1
    error_rate_min_increase: float = 0.05
    schema_min_share: float = 0.05
    adwin_delta: float | None = None
    adwin_block: int = 25
    adwin_clock: int = 8
    adwin_min_shift: float = 0.2
    adwin_quiet_windows: int = 10
    max_tracked_features: int = 200
    performance_window: int = 1000
    performance_share: float = 0.2
    performance_min_decrease: float = 0.02
    mae_min_increase: float = 0.1
    performance_reference_labels: int = 2000

    def __post_init__(self) -> None:
        check_fields(self, minimum=_MINIMUM, maximum=_MAXIMUM)
        if self.min_window_events < 1 or self.window_events < self.min_window_events:
            raise ValueError(
                f"min_window_events ({self.min_window_events}) must be at most "
                f"window_events ({self.window_events})"
            )
        if self.window_seconds <= 0:
            raise ValueError(f"window_seconds: must be more than 0, got {self.window_seconds!r}")
        if not 0 < self.resolve_ratio <= 1:
            raise ValueError(f"resolve_ratio: must be in (0, 1], got {self.resolve_ratio!r}")
        if not 0 < self.performance_share < 1:
            raise ValueError(
                f"performance_share: must be in (0, 1), got {self.performance_share!r}"
            )
        if self.adwin_delta is not None and not 0 < self.adwin_delta < 1:
            raise ValueError(f"adwin_delta: must be in (0, 1), got {self.adwin_delta!r}")
        if self.false_alarm_events <= self.window_events:
            raise ValueError(
                f"false_alarm_events ({self.false_alarm_events:g}) must exceed "
                f"window_events ({self.window_events})"
            )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed; unknown names raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown detector setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def for_model(self, model_id: str, overrides: dict[str, dict[str, Any]]) -> Settings:
        """These settings with the overrides given for ``model_id`` applied."""
        changes = overrides.get(model_id)
        return self.replace(**changes) if changes else self
