"""Phases of the clock: what is normal at each hour of the day (and weekday/weekend).

Real traffic cycles: what is normal at 03:00 is not what is normal at 15:00.
A :class:`PhaseProfile` stores, per *phase* (hour of day UTC, 24 phases; or
weekday/weekend x hour, 48 phases), integer counts over the baseline's own
global bins (the last column counts nulls), the events and errors, and the
mean and sd of each numeric stream. A window is then judged against the
*mixture* of the phases it covers, weighted by its own events per phase:
``expected_j = sum_p w_p q_pj``, with the effective reference size
``m_eff = 1 / sum_p (w_p^2 / m_p)`` (:func:`mix`).

>>> ts = np.array([0.0, 3599.0, 3600.0, 2 * 86400.0 + 7200.0])  # 1970-01-01 was a Thursday
>>> phase_of(ts, 24).tolist(), phase_of(ts, 48).tolist(), phase_of(ts, 1).tolist()
([0, 0, 1, 2], [0, 0, 1, 26], [0, 0, 0, 0])
>>> phase_of(np.array([1e308, -1e308]), 48).tolist()  # 9999-12-31 a Friday, 0001-01-01 a Monday
[23, 0]
>>> period_for_span(3600.0), period_for_span(2 * 86400.0), period_for_span(6 * 86400.0)
(1, 24, 48)
>>> q = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # one feature, two phases, two bins
>>> expected, m_eff = mix(q, np.array([[100.0, 100.0]]), np.array([0.5, 0.5]))
>>> expected.tolist(), m_eff.tolist()
([[0.5, 0.5]], [200.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from streamproc.detect.columns import categorical_view, numeric_view
from streamproc.detect.moments import usable
from streamproc.detect.psi import SMOOTHING
from streamproc.events.shapes import MISSING

if TYPE_CHECKING:
    from streamproc.detect.baseline import Baseline
    from streamproc.detect.profiles import Profile
    from streamproc.events.columns import EventColumns

HOUR = 3600.0
DAY = 86_400.0
PREDICTION, LATENCY = "$prediction", "$latency"  # moments of the prediction score, latency
SD_FLOOR = 0.05  # a phase's sd is at least this share of the global sd (``hour`` is constant)
MIN_PHASE_VALUES = 30  # fewer reference values in a phase: its moments are the global ones
# A timestamp before year 1 or after year 9999 (the contract accepts any epoch
# seconds, up to 1e308) takes the phase of the nearer bound; NaN that of 0.
EARLIEST, LATEST = -62_135_596_800.0, 253_402_300_799.0  # 0001-01-01, 9999-12-31T23:59:59Z


def period_for_span(span: float) -> int:
    """Phases for a reference spanning ``span`` seconds: 1 (< 2 days), 24 (hour of
    day), 48 (weekday/weekend x hour: from 6 days on, when every one of the 48
    phases occurs in the reference at least once)."""
    if span >= 6 * DAY:
        return 48
    return 24 if span >= 2 * DAY else 1


def phase_of(timestamps: np.ndarray, period: int) -> np.ndarray:
    """The phase of each timestamp: UTC hour (24), + 24 on Saturday and Sunday (48).
    Timestamps outside [``EARLIEST``, ``LATEST``] take the phase of the bound.

    A chunk within one hour (the usual case) costs two reductions; the last
    answer is kept, as the window, the ADWINs and the learner ask for the same
    chunk's phases in turn.
    """
    cached = _LAST[0]
    if cached is not None and cached[0] is timestamps and cached[1] == period:
        return cached[2]
    n = len(timestamps)
    if period == 1 or n == 0:
        phase = np.zeros(n, dtype=np.intp)
    else:
        ts = np.asarray(timestamps, dtype=np.float64)
        lo, hi = float(ts.min()), float(ts.max())
        if not (EARLIEST <= lo and hi <= LATEST):  # also NaN: see EARLIEST
            ts = np.clip(np.nan_to_num(ts, nan=0.0), EARLIEST, LATEST)
            lo, hi = float(ts.min()), float(ts.max())
        lo, hi = lo // HOUR, hi // HOUR
        if lo == hi:
            phase = np.full(n, _phase_of_hour(int(lo), period), dtype=np.intp)
        else:
            hours = (ts // HOUR).astype(np.int64)
            phase = hours % 24
            if period == 48:
                weekday = (hours // 24 + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
                phase += 24 * (weekday >= 5)
            phase = phase.astype(np.intp)
    _LAST[0] = (timestamps, period, phase)
    return phase


_LAST: list[tuple[np.ndarray, int, np.ndarray] | None] = [None]


def _phase_of_hour(hours: int, period: int) -> int:
    phase = hours % 24
    if period == 48 and (hours // 24 + 3) % 7 >= 5:
        phase += 24
    return phase


def phase_events(timestamps: np.ndarray, period: int) -> np.ndarray:
    """Events per phase: one vectorised bincount."""
    return np.bincount(phase_of(timestamps, period), minlength=period)


def event_codes(profile: Profile, column: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Per event the profile's bin, ``bins`` for null, ``bins + 1`` for absent or
    wrong-typed; and the numbers (numeric profiles), NaN where there is none."""
    k = profile.bins
    if profile.kind == "numeric":
        if type(column) is np.ndarray:
            numbers = column.astype(np.float64)
            null = np.isnan(numbers)
        else:
            numbers = numeric_view(column).numbers  # type: ignore[assignment]
            null = np.fromiter((v is None for v in column), bool, count=len(column))
        codes = profile.edge_array.searchsorted(numbers, side="right")  # type: ignore[union-attr]
        codes[np.isnan(numbers)] = k + 1
        codes[null] = k
        return codes, numbers
    labels = categorical_view(column).labels or []
    index = profile._index  # type: ignore[union-attr]
    codes = np.fromiter(map(index.get, labels, repeat(k - 1)), np.intp, count=len(labels))
    codes[np.fromiter((v is MISSING for v in labels), bool, count=len(labels))] = k + 1
    return codes, None


def moments(phase: np.ndarray, numbers: np.ndarray, period: int) -> np.ndarray:
    """Per phase (count, mean, sd) of the non-NaN ``numbers`` of magnitude at most
    :data:`~.moments.MOMENT_LIMIT`: shape ``(period, 3)``."""
    ok = usable(numbers)
    ph, x = phase[ok], numbers[ok]
    n = np.bincount(ph, minlength=period).astype(np.float64)
    s1 = np.bincount(ph, weights=x, minlength=period)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s1 / np.maximum(n, 1), 0.0)
        s2 = np.bincount(ph, weights=(x - mean[ph]) ** 2, minlength=period)
        sd = np.sqrt(np.where(n > 0, s2 / np.maximum(n, 1), 0.0))
    return np.stack([n, mean, sd], axis=1)


def mix(q: np.ndarray, m: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mixture of phase proportions ``q`` (``[..., P, k]``) with weights ``w``
    (``[..., P]``, summing to 1) and the effective reference size from the phase
    sizes ``m`` (``[..., P]``, > 0 where ``w`` > 0)."""
    expected = np.einsum("...p,...pk->...k", np.broadcast_to(w, q.shape[:-1]), q)
    with np.errstate(divide="ignore"):
        inverse = np.where(m > 0, 1.0 / np.maximum(m, 1e-300), 0.0)
    return expected, 1.0 / np.maximum((w * w * inverse).sum(axis=-1), 1e-300)


def proportions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Phase proportions and sizes from counts ``[..., P, k]`` (no null column); a
    phase without values takes the pooled proportions and size of all phases."""
    m = counts.sum(axis=-1).astype(np.float64)
    pooled = counts.sum(axis=-2).astype(np.float64)
    total = pooled.sum(axis=-1, keepdims=True)
    pooled_q = pooled / np.maximum(total, 1.0)
    q = counts / np.maximum(m, 1.0)[..., None]
    empty = m == 0
    q = np.where(empty[..., None], pooled_q[..., None, :], q)
    return q, np.where(empty, total, m)


@dataclass(frozen=True, slots=True)
class PhaseProfile:
    """Per-phase counts of a baseline (see the module). ``counts[name]`` has shape
    ``(period, bins + 1)``, the last column nulls; ``moments[name]`` shape
    ``(period, 3)``: values, mean, sd (numeric features, :data:`PREDICTION`, :data:`LATENCY`)."""

    period: int
    events: np.ndarray
    errors: np.ndarray
    counts: dict[str, np.ndarray]
    moments: dict[str, np.ndarray]
    prediction: np.ndarray | None = None
    frozen: np.ndarray = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.frozen is None:
            object.__setattr__(self, "frozen", np.ones(self.period, dtype=bool))

    @classmethod
    def fit(cls, columns: EventColumns, baseline: Baseline, period: int) -> PhaseProfile:
        """Count reference events per phase over ``baseline``'s global bins."""
        phase = phase_of(columns.timestamps, period)
        counts, stats = {}, {}
        for name, profile in baseline.features.items():
            column = columns.features.get(name)
            if column is None:
                continue
            codes, numbers = event_codes(profile, column)
            counts[name] = _table(phase, codes, profile.bins, period)
            if numbers is not None:
                stats[name] = moments(phase, numbers, period)
        prediction = None
        if baseline.prediction_score is not None:
            codes, numbers = event_codes(baseline.prediction_score, columns.prediction_scores)
            prediction = _table(phase, codes, baseline.prediction_score.bins, period)
            stats[PREDICTION] = moments(phase, columns.prediction_scores, period)
        elif baseline.prediction_label is not None:
            codes, _ = event_codes(baseline.prediction_label, columns.prediction_labels)
            prediction = _table(phase, codes, baseline.prediction_label.bins, period)
        stats[LATENCY] = moments(phase, columns.latency_ms.astype(np.float64), period)
        return cls(
            period=period,
            events=np.bincount(phase, minlength=period),
            errors=np.bincount(phase, weights=columns.errors, minlength=period).astype(np.int64),
            counts=counts,
            moments=stats,
            prediction=prediction,
        )

    def standardizer(self, name: str, mean: float, sd: float) -> tuple[np.ndarray, np.ndarray]:
        """Per phase (centre, scale) of a numeric stream for ADWIN: its phase moments
        where the phase has enough values (scale floored at ``SD_FLOOR`` x the
        global sd), else the global ``mean`` and ``sd``."""
        stats = self.moments.get(name)
        sd = sd if sd > 0 else 1.0
        if stats is None:
            return np.full(self.period, mean), np.full(self.period, sd)
        enough = stats[:, 0] >= MIN_PHASE_VALUES
        centre = np.where(enough, stats[:, 1], mean)
        scale = np.where(enough, np.maximum(stats[:, 2], SD_FLOOR * sd), sd)
        return centre, scale

    def to_dict(self) -> dict[str, Any]:
        def rounded(a: np.ndarray) -> list[float]:
            return [float(f"{v:.6g}") for v in a.tolist()]

        return {
            "period": self.period,
            "events": self.events.tolist(),
            "errors": self.errors.tolist(),
            "counts": {k: v.tolist() for k, v in self.counts.items()},
            "moments": {
                k: [v[:, 0].astype(int).tolist(), rounded(v[:, 1]), rounded(v[:, 2])]
                for k, v in self.moments.items()
            },
            "prediction": None if self.prediction is None else self.prediction.tolist(),
            **({} if self.frozen.all() else {"frozen": self.frozen.astype(int).tolist()}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseProfile:
        period = int(data["period"])
        if period not in (24, 48):
            raise ValueError(f"period must be 24 or 48, got {period}")

        def table(rows: Any) -> np.ndarray:
            a = np.asarray(rows, dtype=np.int64)
            if a.ndim != 2 or a.shape[0] != period:
                raise ValueError(f"phase counts need {period} rows")
            return a

        events = np.asarray(data["events"], dtype=np.int64)
        if events.shape != (period,):
            raise ValueError(f"events need {period} entries")
        stats = {k: np.asarray(v, dtype=np.float64).T for k, v in data.get("moments", {}).items()}
        if any(v.shape != (period, 3) for v in stats.values()):
            raise ValueError("moments need 3 lists of one entry per phase")
        prediction = data.get("prediction")
        return cls(
            period=period,
            events=events,
            errors=np.asarray(data.get("errors", [0] * period), dtype=np.int64),
            counts={k: table(v) for k, v in data.get("counts", {}).items()},
            moments=stats,
            prediction=None if prediction is None else table(prediction),
            frozen=np.asarray(data.get("frozen", [1] * period), dtype=bool),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhaseProfile) and self.to_dict() == other.to_dict()


def _table(phase: np.ndarray, codes: np.ndarray, bins: int, period: int) -> np.ndarray:
    """Counts ``(period, bins + 1)``: bins then nulls (absent values dropped)."""
    flat = np.bincount(phase * (bins + 2) + codes, minlength=period * (bins + 2))
    return flat.reshape(period, bins + 2)[:, : bins + 1].astype(np.int64)


class PhaseMixer:
    """What a window reads from a :class:`PhaseProfile`: per group of profiles
    (``rows``, as :class:`~.window.PsiPlan` stacks them) the phase proportions
    ``[F, P, k]`` and sizes ``[F, P]``; per profile the phase null rates; the
    phase error rates. ``names[i]`` is the feature of profile ``i`` (None: the
    prediction). Built once per baseline (and per newly frozen learned phase)."""

    __slots__ = ("period", "frozen", "groups", "null_rates", "error_rates", "_single")

    def __init__(
        self,
        phases: PhaseProfile,
        baseline: Baseline,
        profiles: tuple[Profile, ...],
        names: tuple[str | None, ...],
        rows: tuple[tuple[int, ...], ...],
    ) -> None:
        period = phases.period
        self.period = period
        self.frozen = phases.frozen.copy()
        tables, null_rates = [], []
        for name, profile in zip(names, profiles, strict=True):
            table = phases.prediction if name is None else phases.counts.get(name)
            k = profile.bins
            if table is None or table.shape[1] != k + 1:
                props = np.asarray(profile.proportions) * max(profile.count, 1)
                table = np.zeros((period, k + 1))
                table[:] = np.append(props, profile.null_rate * max(profile.count, 1))
            tables.append(table)
            present = table.sum(axis=1)
            learned = (present > 0) & self.frozen  # else: the provisional baseline's
            null_rates.append(
                np.where(learned, table[:, k] / np.maximum(present, 1), profile.null_rate)
            )
        self._single: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.groups = []
        for group in rows:
            q, m = proportions(np.stack([tables[i][:, :-1] for i in group]).astype(np.float64))
            self.groups.append((q, m))
        self.null_rates = np.stack(null_rates) if null_rates else np.zeros((0, period))
        events = phases.events
        self.error_rates = np.where(
            (events > 0) & self.frozen, phases.errors / np.maximum(events, 1), baseline.error_rate
        )

    def judged(self, events: np.ndarray) -> bool:
        """Whether a window with ``events`` per phase covers frozen phases only."""
        return bool(self.frozen[events > 0].all())

    def expected(self, weights: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per group the smoothed mixture ``[F, k]`` and the effective sizes ``[F]``."""
        covered = np.flatnonzero(weights)
        if len(covered) == 1:  # a window within one phase: kept once per phase
            phase = int(covered[0])
            single = self._single.get(phase)
            if single is None:
                single = self._single[phase] = self._expected(np.eye(self.period)[phase])
            return single
        return self._expected(weights)

    def _expected(self, weights: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for q, m in self.groups:
            expected, m_eff = mix(q, m, weights)
            k = q.shape[-1]
            smooth = (expected * m_eff[:, None] + SMOOTHING) / (m_eff + SMOOTHING * k)[:, None]
            out.append((smooth, m_eff))
        return out
