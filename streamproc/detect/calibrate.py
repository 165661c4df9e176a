"""Dispersion: thresholds that respect the reference's own variability.

The PSI threshold assumes that, with no drift, ``s = PSI n m / (n + m)`` is
chi-squared with ``k - 1`` degrees of freedom: windows are independent draws
from the baseline. Real traffic is autocorrelated (bursts, slow cycles), so
windows of the reference differ from each other by more than that. At fit
time the reference is cut into windows of ``window_events`` and each is judged
exactly as a live window would be (against the mixture of its phases), but
*out of sample*: against the reference minus the counts of the window's own
day (phased baselines) or its own window (unphased and learned baselines).
The dispersion factor ``c`` of a feature compares the ``s_i`` with their
chi-squared law (:func:`dispersion_factor`); the live threshold is then
``max(psi_min, c x chi2 bound)``. The null- and error-rate tests get the same
treatment (their binomial variance times ``c``).

A significance gate keeps ``c = 1`` unless the windows are clearly more
variable than chance (and with fewer than ``MIN_WINDOWS`` windows), so an
i.i.d. reference changes nothing.

>>> rng = np.random.default_rng(0)
>>> dispersion_factor(rng.chisquare(9, 500), 9)
1.0
>>> round(dispersion_factor(3 * rng.chisquare(9, 500), 9), 1)
3.1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from streamproc.detect.cycle import (
    DAY,
    LATENCY,
    PREDICTION,
    PhaseProfile,
    event_codes,
    mix,
    phase_of,
    proportions,
)
from streamproc.detect.psi import SMOOTHING, chi2_quantile, psi_rows

if TYPE_CHECKING:
    from streamproc.detect.baseline import Baseline
    from streamproc.events.columns import EventColumns

VERSION = 1
MIN_WINDOWS = 20  # fewer reference windows: no calibration (c = 1)
GATE_Z = 4.0  # the mean of s must exceed its chi-squared mean by this many standard errors
QUANTILE = 0.9  # and c is the larger of the mean ratio and this quantile's ratio
_CHI2_90_DF1 = 2.705543  # chi2_quantile's approximation is rough for df = 1


@dataclass(frozen=True, slots=True)
class Dispersion:
    """Dispersion factors of a baseline (1 where absent) and the windows they came from."""

    psi: dict[str, float] = field(default_factory=dict)
    null_rate: dict[str, float] = field(default_factory=dict)
    prediction: float = 1.0
    error_rate: float = 1.0
    adwin: dict[str, float] = field(default_factory=dict)  # by moments name (see .cycle)
    windows: int = 0
    window_events: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "windows": self.windows,
            "window_events": self.window_events,
            "psi": {k: round(v, 4) for k, v in self.psi.items() if v > 1.0},
            "null_rate": {k: round(v, 4) for k, v in self.null_rate.items() if v > 1.0},
            "prediction": round(self.prediction, 4),
            "error_rate": round(self.error_rate, 4),
            "adwin": {k: round(v, 4) for k, v in self.adwin.items() if v > 1.0},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Dispersion:
        if not data:
            return cls()
        if int(data.get("version", VERSION)) != VERSION:
            raise ValueError(f"calibration version must be {VERSION}")
        return cls(
            psi={str(k): max(1.0, float(v)) for k, v in data.get("psi", {}).items()},
            null_rate={str(k): max(1.0, float(v)) for k, v in data.get("null_rate", {}).items()},
            prediction=max(1.0, float(data.get("prediction", 1.0))),
            error_rate=max(1.0, float(data.get("error_rate", 1.0))),
            adwin={str(k): max(1.0, float(v)) for k, v in data.get("adwin", {}).items()},
            windows=int(data.get("windows", 0)),
            window_events=int(data.get("window_events", 0)),
        )


def dispersion_factor(s: np.ndarray, df: int) -> float:
    """``c >= 1`` from scaled statistics ``s`` that are chi-squared(``df``) without
    over-dispersion: 1 unless their mean is significantly above ``df``; else the
    larger of the mean ratio and the ratio of the upper ``QUANTILE``."""
    s = s[np.isfinite(s)]
    if len(s) < MIN_WINDOWS or df < 1:
        return 1.0
    ratio = float(s.mean()) / df
    if ratio <= 1.0 + GATE_Z * math.sqrt(2.0 / (len(s) * df)):
        return 1.0
    reference = _CHI2_90_DF1 if df == 1 else chi2_quantile(QUANTILE, df)
    return float(max(1.0, ratio, float(np.quantile(s, QUANTILE)) / reference))


def psi_statistics(
    counts: np.ndarray, events: np.ndarray, group: np.ndarray, min_values: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled PSI ``s_i`` and null z-scores squared of each window, out of sample.

    ``counts`` is ``[windows, phases, bins + 1]`` (last column nulls), ``events``
    ``[windows, phases]``; a window is judged against the sum of all windows
    minus those of its ``group``. Windows with fewer than ``min_values`` values
    give NaN.
    """
    k = counts.shape[2] - 1
    total = counts.sum(axis=0)
    by_group = np.zeros((int(group.max()) + 1, *counts.shape[1:]), dtype=np.int64)
    np.add.at(by_group, group, counts)
    rest = total[None] - by_group[group]  # [windows, phases, bins + 1]
    n_events = events.sum(axis=1)
    w = events / np.maximum(n_events, 1)[:, None]
    q, m = proportions(rest[..., :k])
    expected, m_eff = mix(q, m, w)
    observed = counts[..., :k].sum(axis=1)
    n = observed.sum(axis=1).astype(np.float64)
    smoothed = (expected * m_eff[:, None] + SMOOTHING) / (m_eff + SMOOTHING * k)[:, None]
    psi, _ = psi_rows(smoothed, observed)
    # the smoothing alone gives a window exactly like the reference a PSI > 0 (bins
    # empty in the reference: half a count of n vs of m); additive, so not dispersion
    bias, _ = psi_rows(smoothed, expected * n[:, None])
    s = np.where(n >= min_values, (psi - bias) * n * m_eff / (n + m_eff), np.nan)
    # null rate: nulls / (values + nulls) per phase, mixed by the window's events
    present = rest.sum(axis=2).astype(np.float64)
    pooled = rest[..., k].sum(axis=1) / np.maximum(present.sum(axis=1), 1.0)
    rate = np.where(present > 0, rest[..., k] / np.maximum(present, 1.0), pooled[:, None])
    p0 = (w * rate).sum(axis=1)
    _, m_rate = mix(rate[..., None], present, w)
    nulls = counts[..., k].sum(axis=1)
    return s, binomial_z2(nulls, n_events, p0, m_rate)


def binomial_z2(
    x: np.ndarray, n: np.ndarray, p0: np.ndarray, m: np.ndarray | float = np.inf
) -> np.ndarray:
    """``(x/n - p0)^2 / (p0 (1 - p0) (1/n + 1/m))``: a window's rate against a
    reference rate estimated from ``m`` events (NaN where ``p0`` is 0 or 1)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        var = p0 * (1.0 - p0) * (1.0 / np.maximum(n, 1) + 1.0 / m)
        return np.where(
            var > 0, (x / np.maximum(n, 1) - p0) ** 2 / np.where(var > 0, var, 1.0), np.nan
        )


def error_statistics(errors: np.ndarray, events: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Error z-scores squared of each window (``[windows, phases]`` inputs), out of sample."""
    both = np.stack([errors, events], axis=2)
    by_group = np.zeros((int(group.max()) + 1, *both.shape[1:]), dtype=np.float64)
    np.add.at(by_group, group, both)
    rest = both.sum(axis=0)[None] - by_group[group]
    pooled = rest[..., 0].sum(axis=1) / np.maximum(rest[..., 1].sum(axis=1), 1.0)
    rate = np.where(rest[..., 1] > 0, rest[..., 0] / np.maximum(rest[..., 1], 1.0), pooled[:, None])
    n = events.sum(axis=1)
    w = events / np.maximum(n, 1)[:, None]
    p0 = (w * rate).sum(axis=1)
    _, m = mix(rate[..., None], rest[..., 1], w)
    return binomial_z2(errors.sum(axis=1), n, p0, m)


def calibrate_windows(
    tables: dict[str, np.ndarray],
    bins: dict[str, int],
    events: np.ndarray,
    errors: np.ndarray,
    group: np.ndarray,
    window_events: int,
) -> Dispersion:
    """:class:`Dispersion` from per-window phase counts (``tables[name]``:
    ``[windows, phases, bins + 1]``; ``"prediction"`` for the prediction)."""
    psi: dict[str, float] = {}
    nulls: dict[str, float] = {}
    windows = len(events)
    if windows < MIN_WINDOWS:
        return Dispersion(windows=windows, window_events=window_events)
    prediction = 1.0
    for name, counts in tables.items():
        s, z2 = psi_statistics(counts, events, group, window_events // 2)
        c = dispersion_factor(s, bins[name] - 1)
        if name == "prediction":
            prediction = c
            continue
        if c > 1.0:
            psi[name] = c
        if (c_null := dispersion_factor(z2, 1)) > 1.0:
            nulls[name] = c_null
    return Dispersion(
        psi=psi,
        null_rate=nulls,
        prediction=prediction,
        error_rate=dispersion_factor(error_statistics(errors, events, group), 1),
        windows=windows,
        window_events=window_events,
    )


def mean_dispersion(z: np.ndarray, window_events: int) -> float:
    """``c`` of a standardized stream (time order, NaN skipped) for ADWIN: how much
    more its means over ``window_events`` values vary than independent values'."""
    z = z[~np.isnan(z)]
    windows = len(z) // window_events
    if windows < MIN_WINDOWS:
        return 1.0
    var = float(z.var())
    if var <= 0:
        return 1.0
    means = z[: windows * window_events].reshape(windows, window_events).mean(axis=1)
    return dispersion_factor(window_events * (means - z.mean()) ** 2 / var, 1)


def adwin_dispersion(
    columns: EventColumns, baseline: Baseline, phases: PhaseProfile | None, window_events: int
) -> dict[str, float]:
    """:func:`mean_dispersion` of each ADWIN stream as ADWIN sees it (standardized
    by its phase, clipped at 5 sd), by its moments name."""
    from streamproc.detect.columns import numeric_view
    from streamproc.detect.profiles import NumericProfile  # a cycle at import time

    order = np.argsort(columns.timestamps, kind="stable")
    phase = phase_of(columns.timestamps[order], phases.period if phases else 1)
    streams: list[tuple[str, np.ndarray, float, float]] = [
        (name, numeric_view(col).numbers, p.mean, p.std)  # type: ignore[misc]
        for name, p in baseline.features.items()
        if isinstance(p, NumericProfile) and (col := columns.features.get(name)) is not None
    ]
    score = baseline.prediction_score
    if score is not None:
        streams.append((PREDICTION, columns.prediction_scores, score.mean, score.std))
    latency = columns.latency_ms.astype(np.float64)
    measured = latency[~np.isnan(latency)]
    if measured.size:
        streams.append((LATENCY, latency, float(measured.mean()), float(measured.std())))
    out = {}
    for name, values, mean, sd in streams:
        centre: np.ndarray | float = mean
        scale: np.ndarray | float = sd if sd > 0 else 1.0
        if phases is not None:
            by_phase = phases.standardizer(name, mean, sd)
            centre, scale = by_phase[0][phase], by_phase[1][phase]
        z = np.clip((values[order] - centre) / scale, -5.0, 5.0)
        if (c := mean_dispersion(z, window_events)) > 1.0:
            out[name] = c
    return out


def calibrate_reference(
    columns: EventColumns, baseline: Baseline, period: int, window_events: int
) -> Dispersion:
    """Cut the time-ordered reference into windows and calibrate (see the module)."""
    order = np.argsort(columns.timestamps, kind="stable")
    ts = columns.timestamps[order]
    windows = len(ts) // window_events
    if windows < MIN_WINDOWS:
        return Dispersion(windows=windows, window_events=window_events)
    size = windows * window_events
    order, ts = order[:size], ts[:size]
    window = np.arange(size) // window_events
    phase = phase_of(ts, period)
    cells = windows * period
    if period > 1:  # leave out the window's day
        middle = ts[window_events // 2 :: window_events]
        group = ((middle - ts[0]) // DAY).astype(np.intp)
    else:  # leave out the window itself
        group = np.arange(windows)
    slot = window * period + phase
    events = np.bincount(slot, minlength=cells).reshape(windows, period)
    errors = np.bincount(slot, weights=columns.errors[order], minlength=cells)
    tables, bins = {}, {}
    profiles: list[tuple[str, Any, Any]] = [
        (name, p, columns.features.get(name)) for name, p in baseline.features.items()
    ]
    prediction = baseline.prediction_score or baseline.prediction_label
    if prediction is not None:
        raw = (
            columns.prediction_scores
            if baseline.prediction_score is not None
            else columns.prediction_labels
        )
        profiles.append(("prediction", prediction, raw))
    for name, profile, column in profiles:
        if column is None:
            continue
        codes, _ = event_codes(profile, column)
        k = profile.bins
        flat = np.bincount(slot * (k + 2) + codes[order], minlength=cells * (k + 2))
        tables[name] = flat.reshape(windows, period, k + 2)[..., : k + 1]
        bins[name] = k
    return calibrate_windows(
        tables, bins, events, errors.reshape(windows, period), group, window_events
    )
