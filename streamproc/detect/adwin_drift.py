"""ADWIN drift: a change in the mean of a numeric feature, the prediction score
or the latency, found by one :class:`~streamproc.detect.adwin.BlockAdwin` per
stream, fed every chunk of events (not judged per window).

An ADWIN alert fires on a change and resolves after ``adwin_quiet_windows``
windows without one. Its false-alarm budget is the half of the model's the
window tests do not use (see :func:`~streamproc.detect.adwin.adwin_delta`).

With a phased baseline (:mod:`.cycle`) each value is standardized by the mean
and sd of its own phase of the clock before it is fed (one gather per chunk),
so a daily cycle of the level is not a change; values of a phase not yet
learned (:mod:`.learn`) are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streamproc.detect import messages, moved
from streamproc.detect.adwin import BlockAdwin, adwin_delta, update_rows
from streamproc.detect.baseline import Baseline
from streamproc.detect.columns import numeric_view
from streamproc.detect.cycle import LATENCY, PREDICTION, PhaseProfile, phase_of
from streamproc.detect.moments import usable
from streamproc.detect.policy import Finding, Key
from streamproc.detect.profiles import NumericProfile, Profile
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns

Stream = tuple[str, str | None]  # (signal, feature)
_MOMENTS = {"prediction": PREDICTION, "latency": LATENCY}  # their names in a PhaseProfile


class AdwinStreams:
    """The ADWINs of one model: a numeric judged feature, the prediction score
    (if the baseline has one) and the latency each. A stream the previous
    baseline had too keeps its ADWIN."""

    __slots__ = (
        "baseline",
        "settings",
        "delta",
        "detectors",
        "phased",
        "_tables",
        "_frozen",
        "_block",
    )

    def __init__(
        self,
        baseline: Baseline,
        settings: Settings,
        previous: dict[Stream, BlockAdwin] | None = None,
    ) -> None:
        s = settings
        tracked = list(baseline.features.items())[: s.max_tracked_features]
        streams: list[Stream] = [
            ("feature", name) for name, p in tracked if isinstance(p, NumericProfile)
        ]
        if baseline.prediction_score is not None:
            streams.append(("prediction", None))
        streams.append(("latency", None))
        delta = s.adwin_delta
        if delta is None:
            budget = s.false_alarm_events  # less the performance detectors' share:
            if baseline.performance is not None:  # see .performance_drift
                budget /= 1.0 - s.performance_share
            delta = adwin_delta(
                false_alarm_events=2 * budget,
                streams=len(streams),
                block=s.adwin_block,
                clock=s.adwin_clock,
            )
        self.baseline = baseline
        self.settings = settings
        self.delta = delta
        self.phased = baseline.phases is not None
        self._tables: dict[Stream, tuple[np.ndarray, np.ndarray]] = {}
        self._frozen: np.ndarray | None = None
        self._block: tuple[dict[str, int], np.ndarray, np.ndarray] | None = None
        previous = previous or {}
        self.detectors = {key: previous.get(key) or self._new(key) for key in streams}
        if baseline.phases is not None:
            self.set_phases(baseline.phases)

    def set_phases(self, phases: PhaseProfile) -> None:
        """Standardize each stream by its phase's moments (see the module)."""
        if not self.phased:  # a learned baseline's first phases: nothing was fed yet
            self.phased = True
            self.detectors = {key: self._new(key) for key in self.detectors}
        tables = {}
        for key in self.detectors:
            signal, feature = key
            profile = self._profile(key)
            mean, sd = (
                (profile.mean, profile.std) if isinstance(profile, NumericProfile) else (0.0, 1.0)
            )
            name = feature if signal == "feature" else _MOMENTS[signal]
            if signal == "latency" or not isinstance(profile, NumericProfile):
                stats = phases.moments.get(name)  # type: ignore[arg-type]
                if stats is not None and stats[:, 0].sum() > 0:
                    n = stats[:, 0]
                    mean = float((n * stats[:, 1]).sum() / n.sum())
                    sd = float(
                        np.sqrt(
                            (n * (stats[:, 2] ** 2 + (stats[:, 1] - mean) ** 2)).sum() / n.sum()
                        )
                    )
            centre, scale = phases.standardizer(name, mean, sd)  # type: ignore[arg-type]
            c = self.baseline.calibration.adwin.get(name, 1.0)  # type: ignore[arg-type]
            tables[key] = (centre, scale * np.sqrt(c))
        self._tables = tables
        self._frozen = None if phases.frozen.all() else phases.frozen.copy()
        self._block = None

    def _standardize_block(
        self, matrix: np.ndarray, rows: dict[str, int], phase: np.ndarray
    ) -> np.ndarray:
        """The numeric block standardized by phase: one gather (or, for a chunk
        within one phase, one broadcast) for all its rows."""
        block = self._block
        if block is None or block[0] is not rows:
            order = sorted(rows, key=rows.__getitem__)
            tables = [self._tables.get(("feature", name)) for name in order]
            period = len(next(iter(self._tables.values()))[0])
            ones = (np.zeros(period), np.ones(period))
            centre = np.stack([(t or ones)[0] for t in tables])
            scale = np.stack([(t or ones)[1] for t in tables])
            block = self._block = (rows, centre, scale)
        _, centre, scale = block
        first = int(phase[0])
        if (phase == first).all():
            with np.errstate(over="ignore"):  # a value near 1e308: inf, clipped by the ADWIN
                z = (matrix - centre[:, first : first + 1]) / scale[:, first : first + 1]
            if self._frozen is not None and not self._frozen[first]:
                z[:] = np.nan
            return z
        with np.errstate(over="ignore"):
            z = (matrix - centre[:, phase]) / scale[:, phase]
        if self._frozen is not None:
            z[:, ~self._frozen[phase]] = np.nan
        return z

    def _standardize(self, key: Stream, numbers: np.ndarray, phase: np.ndarray) -> np.ndarray:
        centre, scale = self._tables[key]
        with np.errstate(over="ignore"):
            z = (numbers - centre[phase]) / scale[phase]
        if self._frozen is not None:
            z[~self._frozen[phase]] = np.nan
        return z

    def _profile(self, key: Stream) -> Profile | None:
        signal, feature = key
        if signal == "feature":
            return self.baseline.features[feature]  # type: ignore[index]
        return self.baseline.prediction_score if signal == "prediction" else None

    def _new(self, key: Stream) -> BlockAdwin:
        """An ADWIN for one stream, standardized by the baseline where it has one."""
        s = self.settings
        profile = self._profile(key)
        if self.phased:
            center, scale = 0.0, 1.0  # fed values standardized by their phase
        elif isinstance(profile, NumericProfile) and profile.count > 1:
            name = key[1] if key[0] == "feature" else PREDICTION
            c = self.baseline.calibration.adwin.get(name, 1.0)  # type: ignore[arg-type]
            center, scale = profile.mean, profile.std * math.sqrt(c)
        else:
            center, scale = None, 1.0  # learned from the stream's first values
        return BlockAdwin(
            block=s.adwin_block, delta=self.delta, clock=s.adwin_clock, center=center, scale=scale
        )

    def feed(
        self, chunk: EventColumns, matrix: np.ndarray | None, rows: dict[str, int]
    ) -> list[Finding]:
        """Feed a chunk (``matrix``: its stacked numeric block, a row per name in
        ``rows``, or None); a finding per stream that changed."""
        rows = rows if matrix is not None else {}
        raw_matrix = matrix
        phase = None
        if self._tables:
            phase = phase_of(chunk.timestamps, len(next(iter(self._tables.values()))[0]))
            if matrix is not None and rows:
                matrix = self._standardize_block(matrix, rows, phase)
        fed: list[Stream] = []
        detectors: list[BlockAdwin] = []
        values: list[np.ndarray] = []
        for key, detector in self.detectors.items():
            signal, feature = key
            if signal == "feature":
                row = rows.get(feature)  # type: ignore[arg-type]
                if row is not None:
                    numbers = matrix[row]  # type: ignore[index]
                    if phase is not None:  # standardized with the block
                        fed.append(key)
                        detectors.append(detector)
                        values.append(numbers)
                        continue
                else:
                    column = chunk.features.get(feature)  # type: ignore[arg-type]
                    if column is None:
                        continue
                    numbers = numeric_view(column).numbers  # type: ignore[assignment]
            elif signal == "prediction":
                numbers = chunk.prediction_scores
            else:
                numbers = chunk.latency_ms
            if phase is not None:
                numbers = self._standardize(key, numbers.astype(np.float64), phase)
            fed.append(key)
            detectors.append(detector)
            values.append(numbers)
        findings: list[Finding] = []
        for key, changes in zip(fed, update_rows(detectors, values), strict=True):
            if not changes:
                continue
            change = changes[-1]
            profile = self._profile(key)
            scale = profile.std if isinstance(profile, NumericProfile) and profile.std > 0 else 0.0
            before, after = change.mean_before, change.mean_after
            value = abs(after - before) / scale if scale else abs(after - before)
            if self.phased:  # fed in sd of the phase
                value = abs(after - before)
                scale = 1.0
            if scale and value < self.settings.adwin_min_shift:
                continue  # significant, but too small to matter (see Settings)
            before, after = self._means(key, change, chunk, raw_matrix, rows, phase)
            if not scale and not math.isnan(after):  # no sd: the shift in the stream's unit
                value = abs(after - before)
            unit = _unit(key)
            message = messages.adwin_change(
                _subject(key),
                before,
                after,
                value,
                " sd" if scale else (f" {unit}" if unit == "ms" else ""),
                change.values_seen,
                unit=unit if unit == "ms" else "",
            )
            # value and threshold in one unit: the shift in sd against the
            # effect-size floor, or (no sd to scale by) in the stream's unit against 0
            threshold = self._threshold(key)
            details = moved.adwin_details(before, after, unit, change.values_seen)
            findings.append(self._finding((*key, "adwin"), value, message, threshold, details))
        return findings

    def _means(
        self,
        key: Stream,
        change: Any,
        chunk: EventColumns,
        matrix: np.ndarray | None,
        rows: dict[str, int],
        phase: np.ndarray | None,
    ) -> tuple[float, float]:
        """The means before and after a change in the stream's own unit: before,
        ADWIN's (unstandardized by the phase of the chunk's last event); after,
        the mean of the chunk's latest ``clock`` blocks of raw values (ADWIN's
        own is of clipped standardized values, so it understates a big jump)."""
        signal, feature = key
        if signal == "feature":
            row = rows.get(feature)  # type: ignore[arg-type]
            if row is not None and matrix is not None:
                raw = matrix[row]
            else:
                raw = numeric_view(chunk.features[feature]).numbers  # type: ignore[index]
        else:
            raw = chunk.prediction_scores if signal == "prediction" else chunk.latency_ms
        tail = np.asarray(raw[-self.settings.adwin_block * self.settings.adwin_clock :], float)
        tail = tail[usable(tail)]  # NaN and magnitudes past MOMENT_LIMIT left out
        after = float(tail.mean()) if tail.size else math.nan
        before = change.mean_before
        if phase is not None and key in self._tables:
            centre, scale = self._tables[key]
            last = int(phase[-1])
            before = float(centre[last] + scale[last] * before)
        return before, after

    def quiet(self, firing: dict[Key, str]) -> list[Finding]:
        """At the end of a window: "no change" for each firing ADWIN alert (it
        resolves after ``adwin_quiet_windows`` of them)."""
        windows = self.settings.adwin_quiet_windows
        findings = []
        for signal, feature, detector in firing:
            if detector == "adwin":
                # names a feature by its name, not its signal, unlike _subject:
                # they differ only for a feature named "" (kept byte-identical)
                subject = messages.feature(feature) if feature else signal
                message = messages.adwin_quiet(subject, windows)
                key = (signal, feature, detector)
                findings.append(
                    self._finding(key, 0.0, message, self._threshold((signal, feature)))
                )
        return findings

    def _threshold(self, key: Stream) -> float:
        """A stream's ``threshold``: ``adwin_min_shift`` (sd) where its shifts
        are measured in sd (a phased baseline, or a profile with an sd), else
        0 (its unit)."""
        profile = self._profile(key) if key in self.detectors else None
        scaled = self.phased or (isinstance(profile, NumericProfile) and profile.std > 0)
        return self.settings.adwin_min_shift if scaled else 0.0

    def _finding(
        self,
        key: Key,
        value: float,
        message: str,
        threshold: float,
        details: dict[str, Any] | None = None,
    ) -> Finding:
        """A change (``value`` the shift, above ``threshold``) or a quiet window
        (value 0: clean, below ``delta``)."""
        quiet = self.settings.adwin_quiet_windows
        return Finding.of(
            key,
            value,
            threshold,
            self.delta,
            severity="warning",
            message=message,
            resolve_after=quiet,
            details=details,
        )


def _unit(key: Stream) -> str:
    """The unit of a stream's means in an ADWIN alert: latency in ``ms``, the
    prediction a ``score``, a feature its own (``value``)."""
    signal, _ = key
    if signal == "latency":
        return "ms"
    return "score" if signal == "prediction" else "value"


def _subject(key: Stream) -> str:
    signal, feature = key
    return messages.feature(feature) if signal == "feature" else signal  # type: ignore[arg-type]
