"""Seeded, time-ordered, production-shaped inference traffic with daily and weekly cycles.

The i.i.d. streams of ``loadtest/streams.py`` never change with the clock;
real traffic does. A :class:`CyclicStream` is ``days`` days (default 14) of
one model's events in event time, from a Monday 00:00 UTC on, about 40,000
events a weekday (36,000 a weekend day):

- volume follows the time of day (peak 15:00, trough 03:00 on weekdays;
  later and flatter on weekends), drawn per minute (Poisson); a few minutes a
  day are bursts at 5x volume (a producer retrying: same process, not drift);
- 22 features: ``hour`` (the clock hour) and ``is_weekend`` (the calendar),
  cyclic numerics (``basket_amount``: a daily sinusoid times log-normal
  noise, higher on weekends; ``session_minutes``), cyclic category mixes
  (``country`` follows the time zones, ``device`` office hours vs evenings),
  stationary heavy-tailed numerics (log-normal, Pareto), Poisson counts,
  categories with rare values, booleans, a 60-category feature, nulls at a
  baseline rate in several features, and an integer written now and then
  where ``basket_amount`` is usually a float (a producer quirk, not drift);
- a prediction score that depends on ``basket_amount``, ``is_new_user``,
  ``ext_risk_score`` and ``device`` (so it cycles too), a heavy-tailed latency
  that follows the load, and 0.4 % errors.

Every day is drawn from its own generator, ``default_rng([seed, day])``, so
the first days of a 14-day stream equal a 4-day stream of the same seed, and a
stream can start at any day (``first_day``). A :class:`Drift` changes one
target from event time ``change_at`` on and nothing else.

    >>> s = CyclicStream(days=1, seed=1, events_per_day=2000)
    >>> s.size > 1500, s.events(0, 1)[0]["features"]["hour"]
    (True, 0)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamproc.events.columns import EventColumns
from streamproc.events.shapes import MISSING

DAY = 86_400.0
START = 1_704_067_200.0  # 2024-01-01 00:00 UTC, a Monday
EVENTS_PER_DAY = 40_000
WEEKEND_VOLUME = 0.9  # a weekend day has 90 % of a weekday's events
BURSTS_PER_DAY = 2.0  # mean number of one-minute bursts at 5x volume
BURST_FACTOR = 5
INT_QUIRK = 0.005  # share of basket_amount values written as integers
ERROR_RATE = 0.004

# basket_amount = level(hour, weekend) * lognormal(0, AMOUNT_SIGMA)
AMOUNT_SIGMA = 0.5
AMOUNT_LN_MEAN = math.exp(AMOUNT_SIGMA**2 / 2)
AMOUNT_LN_SD = math.sqrt((math.exp(AMOUNT_SIGMA**2) - 1) * math.exp(AMOUNT_SIGMA**2))

COUNTRIES = ("DE", "FR", "GB", "ES", "IT", "US", "BR", "IN", "JP", "AU", "NZ", "ZA")
# (UTC offset in hours, share within traffic at equal activity)
_COUNTRY_TZ = np.array([1, 1, 0, 1, 1, -5, -3, 5.5, 9, 10, 12, 2], dtype=np.float64)
_COUNTRY_W = np.array([0.15, 0.10, 0.10, 0.075, 0.075, 0.24, 0.06, 0.10, 0.06, 0.03, 0.004, 0.006])
DEVICES = ("mobile", "desktop", "tablet", "tv")
PAYMENTS = ("card", "paypal", "apple_pay", "bank_transfer", "giftcard", "klarna", "crypto")
PAYMENT_P = np.array([0.58, 0.25, 0.10, 0.04, 0.02, 0.008, 0.002])
BROWSERS = ("chrome", "safari", "firefox", "edge", "opera", "other")
BROWSER_P = np.array([0.62, 0.25, 0.07, 0.05, 0.008, 0.002])
EMAILS = ("gmail", "outlook", "yahoo", "icloud", "corporate", "other")
EMAIL_P = np.array([0.45, 0.15, 0.10, 0.10, 0.15, 0.05])
SHIPPING = ("standard", "express", "same_day")
SHIPPING_P = np.array([0.70, 0.25, 0.05])
MERCHANTS = tuple(f"m{i:02d}" for i in range(60))
_m = 1.0 / np.arange(1, 61) ** 0.8
MERCHANT_P = _m / _m.sum()

#: feature name -> kind ("float", "int", "cat", "bool")
FEATURES: dict[str, str] = {
    "hour": "int",
    "is_weekend": "bool",
    "basket_amount": "float",
    "session_minutes": "float",
    "country": "cat",
    "device": "cat",
    "account_age_days": "float",
    "income": "float",
    "num_items": "int",
    "page_views": "int",
    "prev_orders": "int",
    "payment_method": "cat",
    "browser": "cat",
    "is_new_user": "bool",
    "has_coupon": "bool",
    "merchant_category": "cat",
    "discount_pct": "float",
    "ext_risk_score": "float",
    "distance_km": "float",
    "customer_age": "int",
    "email_domain": "cat",
    "shipping_speed": "cat",
    "minutes_since_last_visit": "float",
}
CATEGORIES: dict[str, tuple[str, ...]] = {
    "country": COUNTRIES,
    "device": DEVICES,
    "payment_method": PAYMENTS,
    "browser": BROWSERS,
    "merchant_category": MERCHANTS,
    "email_domain": EMAILS,
    "shipping_speed": SHIPPING,
}
#: baseline null rates (not drift)
NULL_RATES = {
    "account_age_days": 0.005,
    "income": 0.03,
    "browser": 0.01,
    "has_coupon": 0.002,
    "distance_km": 0.02,
    "customer_age": 0.05,
    "email_domain": 0.01,
}
NEW_CATEGORY = "XX"


def volume_shape(hour: np.ndarray, weekend: bool) -> np.ndarray:
    """Relative event rate at (fractional) UTC hour: weekday peak 15:00, trough 03:00."""
    if weekend:
        return 1.0 + 0.6 * np.sin(2 * np.pi * (hour - 11.0) / 24)
    return 1.0 + 0.8 * np.sin(2 * np.pi * (hour - 9.0) / 24)


def amount_level(hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Median-ish level of basket_amount by hour (peak 16:00) and weekend (+15 %)."""
    return (45.0 + 20.0 * np.sin(2 * np.pi * (hour - 10.0) / 24)) * np.where(weekend, 1.15, 1.0)


def amount_phase_mean_sd(hour: np.ndarray, weekend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of basket_amount within its phase (hour of day, weekend)."""
    level = amount_level(hour, weekend)
    return level * AMOUNT_LN_MEAN, level * AMOUNT_LN_SD


@dataclass(frozen=True)
class Drift:
    """A change of one target from event time ``change_at`` on.

    kinds: ``shift`` (mean + ``size`` sd of the feature within its phase),
    ``new_category`` (a share ``size`` of the never-seen category ``XX``),
    ``nulls`` (a share ``size`` of nulls), ``null_predictions`` (every score
    null), ``rename`` (the feature arrives under ``new_name``), ``type``
    (numbers become strings), ``latency`` (latency times ``size``),
    ``errors`` (a share ``size`` of failed inferences).
    """

    name: str
    kind: str
    target: str  # a feature, "prediction", "latency" or "errors"
    size: float = 0.0
    new_name: str = ""

    @property
    def watched(self) -> frozenset[str]:
        """What an alert must be about to count as detecting this drift."""
        if self.kind == "rename":
            return frozenset({self.target, self.new_name})
        return frozenset({self.target})


DRIFTS = (
    Drift("shift 0.5 sd", "shift", "basket_amount", 0.5),
    Drift("new category 15%", "new_category", "country", 0.15),
    Drift("null flood 30%", "nulls", "distance_km", 0.30),
    Drift("null predictions", "null_predictions", "prediction", 1.0),
    Drift("renamed feature", "rename", "device", new_name="device_type"),
    Drift("type change", "type", "num_items"),
    Drift("latency x3", "latency", "latency", 3.0),
    Drift("errors 20%", "errors", "errors", 0.20),
)
DRIFT_BY_NAME = {d.name: d for d in DRIFTS}


def _choice(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One index per row of ``p`` (rows are probability vectors), vectorised."""
    cum = np.cumsum(p, axis=1)
    u = rng.random(len(p)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), p.shape[1] - 1)


def _nulls(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


@dataclass
class _Day:
    """One day's columns (numbers: float arrays, NaN = null; categories: int codes, -1 = null)."""

    timestamps: np.ndarray
    num: dict[str, np.ndarray]
    cat: dict[str, np.ndarray]
    scores: np.ndarray
    latency: np.ndarray
    errors: np.ndarray


def _draw_day(seed: int, day: int, events_per_day: int, start: float) -> _Day:
    rng = np.random.default_rng([seed, day])
    weekend = day % 7 >= 5
    minutes = np.arange(1440)
    shape = volume_shape((minutes + 0.5) / 60.0, weekend)
    total = events_per_day * (WEEKEND_VOLUME if weekend else 1.0)
    counts = rng.poisson(total * shape / shape.sum())
    for m in rng.choice(1440, size=rng.poisson(BURSTS_PER_DAY), replace=False):
        counts[m] *= BURST_FACTOR
    n = int(counts.sum())
    minute_of = np.repeat(minutes, counts)
    ts = np.sort(start + day * DAY + 60.0 * (minute_of + rng.random(n)))
    hour = (ts - start - day * DAY) / 3600.0
    wk = np.full(n, weekend)
    num: dict[str, np.ndarray] = {}
    cat: dict[str, np.ndarray] = {}

    num["hour"] = np.floor(hour)
    cat["is_weekend"] = np.full(n, int(weekend))
    level = amount_level(hour, wk)
    num["basket_amount"] = np.round(level * rng.lognormal(0.0, AMOUNT_SIGMA, n), 2)
    mu = 1.6 + 0.4 * np.sin(2 * np.pi * (hour - 14.0) / 24) + (0.2 if weekend else 0.0)
    num["session_minutes"] = rng.lognormal(mu, 0.7)
    # country mix: each country's activity follows its local hour
    local = (hour[:, None] + _COUNTRY_TZ[None, :]) % 24
    activity = 1.0 + 0.85 * np.sin(2 * np.pi * (local - 9.0) / 24)
    cat["country"] = _choice(rng, activity * _COUNTRY_W[None, :])
    # device: desktops in European office hours on weekdays, mobiles in the evening
    office = np.zeros(n) if weekend else np.exp(-((((hour + 1) - 13.0) / 3.5) ** 2))
    evening = np.exp(-(((((hour + 1) % 24) - 21.0) / 3.0) ** 2))
    p_dev = np.stack(
        [
            0.55 + 0.15 * evening,
            0.20 + 0.30 * office,
            np.full(n, 0.10),
            0.01 + 0.04 * evening,
        ],
        axis=1,
    )
    cat["device"] = _choice(rng, p_dev)
    num["account_age_days"] = np.round(rng.lognormal(5.0, 1.2, n), 1)
    num["income"] = np.round((rng.pareto(2.5, n) + 1.0) * 20_000.0, 0)
    num["num_items"] = rng.poisson(2.5, n) + 1.0
    num["page_views"] = rng.poisson(6.0, n).astype(np.float64)
    num["prev_orders"] = rng.poisson(1.2, n).astype(np.float64)
    cat["payment_method"] = rng.choice(len(PAYMENTS), n, p=PAYMENT_P)
    cat["browser"] = rng.choice(len(BROWSERS), n, p=BROWSER_P)
    cat["is_new_user"] = (rng.random(n) < 0.15).astype(np.int64)
    cat["has_coupon"] = (rng.random(n) < 0.30).astype(np.int64)
    cat["merchant_category"] = rng.choice(60, n, p=MERCHANT_P)
    num["discount_pct"] = np.round(rng.uniform(0.0, 30.0, n), 1)
    num["ext_risk_score"] = rng.beta(2.0, 5.0, n)
    num["distance_km"] = rng.lognormal(2.0, 1.0, n)
    num["customer_age"] = np.clip(np.round(rng.normal(38.0, 12.0, n)), 18, 90)
    cat["email_domain"] = rng.choice(len(EMAILS), n, p=EMAIL_P)
    cat["shipping_speed"] = rng.choice(len(SHIPPING), n, p=SHIPPING_P)
    num["minutes_since_last_visit"] = rng.exponential(600.0, n)
    for name, rate in NULL_RATES.items():
        mask = _nulls(rng, n, rate)
        if name in num:
            num[name][mask] = np.nan
        else:
            cat[name][mask] = -1
    # prediction: depends on a few features, so it cycles with basket_amount and device
    logit = (
        -2.0
        + 0.9 * (np.log(num["basket_amount"]) - math.log(45.0)) / AMOUNT_SIGMA
        + 1.2 * cat["is_new_user"]
        + 2.5 * (num["ext_risk_score"] - 2 / 7)
        + 0.3 * (cat["device"] == 0)
        + rng.normal(0.0, 0.8, n)
    )
    scores = 1.0 / (1.0 + np.exp(-logit))
    load = volume_shape(hour, weekend)
    latency = rng.lognormal(math.log(25.0) + 0.35 * load, 0.35)
    tail = rng.random(n) < 0.01
    latency[tail] *= 1.0 + rng.pareto(1.5, int(tail.sum()))
    errors = rng.random(n) < ERROR_RATE
    return _Day(ts, num, cat, scores, latency, errors)


def _apply_drift(d: _Day, drift: Drift, change_at: float, seed: int, day: int) -> _Day:
    after = d.timestamps >= change_at
    if not after.any():
        return d
    rng = np.random.default_rng([seed, day, 7_919])
    n = len(after)
    t = drift.target
    if drift.kind == "shift":
        hour = (d.timestamps - START - day * DAY) / 3600.0 % 24
        _, sd = amount_phase_mean_sd(hour, np.full(n, day % 7 >= 5))
        d.num[t] = np.where(after, d.num[t] + drift.size * sd, d.num[t])
    elif drift.kind == "new_category":
        d.cat[t] = np.where(after & (rng.random(n) < drift.size), len(CATEGORIES[t]), d.cat[t])
    elif drift.kind == "nulls":
        hit = after & (rng.random(n) < drift.size)
        if t in d.num:
            d.num[t] = np.where(hit, np.nan, d.num[t])
        else:
            d.cat[t] = np.where(hit, -1, d.cat[t])
    elif drift.kind == "null_predictions":
        d.scores = np.where(after, np.nan, d.scores)
    elif drift.kind == "latency":
        d.latency = np.where(after, d.latency * drift.size, d.latency)
    elif drift.kind == "errors":
        d.errors = d.errors | (after & (rng.random(n) < drift.size))
    elif drift.kind not in ("rename", "type"):  # these two change only the output form
        raise ValueError(drift.kind)
    return d


class CyclicStream:
    """``days`` days of one model's events from ``first_day`` on (see the module doc).

    Indices are positions in this stream (0 = the first event of ``first_day``).
    """

    def __init__(
        self,
        days: int = 14,
        seed: int = 0,
        *,
        first_day: int = 0,
        drift: Drift | None = None,
        change_at: float | None = None,
        events_per_day: int = EVENTS_PER_DAY,
        start: float = START,
        model_id: str = "shop",
    ) -> None:
        if drift is not None and change_at is None:
            raise ValueError("a drift needs change_at")
        self.days, self.seed, self.first_day = days, seed, first_day
        self.drift, self.change_at = drift, change_at
        self.start, self.model_id = start, model_id
        parts = []
        for day in range(first_day, first_day + days):
            part = _draw_day(seed, day, events_per_day, start)
            if drift is not None:
                part = _apply_drift(part, drift, change_at, seed, day)  # type: ignore[arg-type]
            parts.append(part)
        self.timestamps = np.concatenate([p.timestamps for p in parts])
        self.num = {k: np.concatenate([p.num[k] for p in parts]) for k in parts[0].num}
        self.cat = {k: np.concatenate([p.cat[k] for p in parts]) for k in parts[0].cat}
        self.scores = np.concatenate([p.scores for p in parts])
        self.latency = np.concatenate([p.latency for p in parts])
        self.errors = np.concatenate([p.errors for p in parts])
        # the producer quirk: now and then an integer where a float is usual
        quirk_rng = np.random.default_rng([seed, first_day, 31])
        self.int_quirk = quirk_rng.random(self.size) < INT_QUIRK
        self.num["basket_amount"] = np.where(
            self.int_quirk, np.round(self.num["basket_amount"]), self.num["basket_amount"]
        )
        self._change = (
            int(np.searchsorted(self.timestamps, change_at)) if change_at is not None else None
        )

    @property
    def size(self) -> int:
        return len(self.timestamps)

    @property
    def change(self) -> int | None:
        """Index of the first event at or after ``change_at`` (None without drift)."""
        return self._change

    def index_at(self, t: float) -> int:
        """Index of the first event at or after event time ``t``."""
        return int(np.searchsorted(self.timestamps, t))

    def hours(self) -> np.ndarray:
        """Fractional UTC hour of day of every event."""
        return (self.timestamps - self.start) % DAY / 3600.0

    # -- raw values ------------------------------------------------------------

    def feature_values(self, name: str, start: int, stop: int) -> list[Any]:
        """Raw values of one feature as a producer would send them (None = null)."""
        kind = FEATURES[name]
        if kind in ("float", "int"):
            arr = self.num[name][start:stop]
            if kind == "int":
                out: list[Any] = [None if v != v else int(v) for v in arr.tolist()]
            else:
                out = [None if v != v else v for v in arr.tolist()]
                if name == "basket_amount":
                    for i in np.flatnonzero(self.int_quirk[start:stop]).tolist():
                        if out[i] is not None:
                            out[i] = int(out[i])
            if self.drift is not None and self.drift.kind == "type" and self.drift.target == name:
                first = max(0, self._change - start)  # type: ignore[operator]
                out[first:] = [None if v is None else str(v) for v in out[first:]]
            return out
        codes = self.cat[name][start:stop]
        if kind == "bool":
            lookup = np.array([False, True, None], dtype=object)
        else:
            lookup = np.array([*CATEGORIES[name], NEW_CATEGORY, None], dtype=object)
        return lookup[codes].tolist()

    def _renamed(self) -> tuple[str, str] | None:
        if self.drift is not None and self.drift.kind == "rename":
            return self.drift.target, self.drift.new_name
        return None

    # -- outputs ---------------------------------------------------------------

    def columns(self, start: int, stop: int) -> EventColumns:
        """Events ``start:stop`` as :class:`streamproc.events.columns.EventColumns`."""
        n = stop - start
        features = {name: self.feature_values(name, start, stop) for name in FEATURES}
        renamed = self._renamed()
        if renamed is not None:
            old, new = renamed
            cut = min(n, max(0, self._change - start))  # type: ignore[operator]
            values = features[old]
            features[old] = values[:cut] + [MISSING] * (n - cut)
            if cut < n:
                features[new] = [MISSING] * cut + values[cut:]
        errors = self.errors[start:stop]
        return EventColumns(
            model_id=self.model_id,
            model_version="v1",
            timestamps=self.timestamps[start:stop].copy(),
            features=features,
            prediction_scores=self.scores[start:stop].copy(),
            prediction_labels=[None] * n,
            latency_ms=self.latency[start:stop].copy(),
            errors=errors.copy(),
            event_ids=[None] * n,
        )

    def events(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Events ``start:stop`` as inference-event v1 dicts (``docs/contract.md``)."""
        stop = self.size if stop is None else stop
        names = list(FEATURES)
        values = [self.feature_values(name, start, stop) for name in names]
        renamed = self._renamed()
        out = []
        for i in range(stop - start):
            j = start + i
            features = {name: col[i] for name, col in zip(names, values, strict=True)}
            if renamed is not None and j >= self._change:  # type: ignore[operator]
                features[renamed[1]] = features.pop(renamed[0])
            score = self.scores[j]
            out.append(
                {
                    "model_id": self.model_id,
                    "model_version": "v1",
                    "event_id": f"{self.model_id}-{self.first_day}-{j}",
                    "timestamp": round(float(self.timestamps[j]), 3),
                    "features": features,
                    "prediction": {"score": None if score != score else round(float(score), 6)},
                    "latency_ms": round(float(self.latency[j]), 3),
                    "error": "timeout" if self.errors[j] else None,
                }
            )
        return out

    def write_jsonl(self, path: str | Path, *, chunk: int = 20_000) -> int:
        """Write every event as one JSON line (for ``streamproc replay``); return the count."""
        with open(path, "w") as f:
            for s in range(0, self.size, chunk):
                for e in self.events(s, min(self.size, s + chunk)):
                    f.write(json.dumps(e, separators=(",", ":")))
                    f.write("\n")
        return self.size


def write_jsonl_models(path: str | Path, streams: list[CyclicStream]) -> int:
    """Several models' streams merged in event-time order into one JSON-lines file."""
    ts = np.concatenate([s.timestamps for s in streams])
    which = np.concatenate([np.full(s.size, k) for k, s in enumerate(streams)])
    pos = np.concatenate([np.arange(s.size) for s in streams])
    order = np.argsort(ts, kind="stable")
    cache: dict[int, tuple[int, list[dict[str, Any]]]] = {}
    with open(path, "w") as f:
        for k, p in zip(which[order].tolist(), pos[order].tolist(), strict=True):
            base, block = cache.get(k, (-1, []))
            if not (0 <= p - base < len(block)):
                stop = min(streams[k].size, p + 20_000)
                cache[k] = (base, block) = (p, streams[k].events(p, stop))
            f.write(json.dumps(block[p - base], separators=(",", ":")))
            f.write("\n")
    return len(ts)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="write cyclic traffic as JSON lines")
    parser.add_argument("path")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", type=int, default=1)
    parser.add_argument("--drift", choices=sorted(DRIFT_BY_NAME), default=None)
    parser.add_argument("--change-hours", type=float, default=None, help="hours after start")
    args = parser.parse_args(argv)
    drift = DRIFT_BY_NAME[args.drift] if args.drift else None
    change_at = START + 3600.0 * (args.change_hours or 0.0) if drift else None
    streams = [
        CyclicStream(
            args.days, args.seed + k, drift=drift, change_at=change_at, model_id=f"shop-{k}"
        )
        for k in range(args.models)
    ]
    n = write_jsonl_models(args.path, streams)
    print(f"wrote {n} events to {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
