"""Synthetic inference traffic with named drift scenarios (demo, tests, load tests).

A :class:`Scenario` describes a fraud-detection-like model: stable features of
several families, and from event ``drift_at`` on, optional drifts: a mean
shift (in standard deviations) of numeric features, a new category mix of
categorical ones, a share of nulls flooding others. The prediction score
depends on ``amount`` and ``age``, as a real model's would.

>>> events = next(generate(Scenario.demo(drift_at=0), events=3, batch=3, seed=1))
>>> sorted(events[0]["features"])
['age', 'amount', 'country', 'device', 'hour', 'income', 'is_new', 'num_items', 'tenure_days']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Numeric features: name -> (mean, sd) of the normal they are drawn from.
NORMAL_FEATURES = {"amount": (120.0, 40.0), "age": (41.0, 12.0)}
FEATURES = (
    "amount",
    "age",
    "income",
    "num_items",
    "tenure_days",
    "hour",
    "is_new",
    "country",
    "device",
)
COUNTRIES = {"DE": 0.4, "FR": 0.25, "ES": 0.15, "IT": 0.12, "NL": 0.08}
DEVICES = {"ios": 0.45, "android": 0.4, "web": 0.15}


@dataclass(frozen=True, slots=True)
class Scenario:
    """What drifts, how, and from which event on."""

    model_id: str = "fraud-detector"
    model_version: str = "2026-11-01"
    drift_at: int | None = None
    mean_shift: dict[str, float] = field(default_factory=dict)
    category_mix: dict[str, dict[str, float]] = field(default_factory=dict)
    null_flood: dict[str, float] = field(default_factory=dict)
    error_rate: float = 0.001

    @classmethod
    def demo(cls, drift_at: int | None = 20_000, **changes: Any) -> Scenario:
        """Three drifts: ``amount`` +1 sd, ``country`` mix, ``income`` 40 % nulls."""
        scenario = cls(
            drift_at=drift_at,
            mean_shift={"amount": 1.0},
            category_mix={"country": {"DE": 0.1, "FR": 0.1, "ES": 0.1, "IT": 0.1, "NL": 0.6}},
            null_flood={"income": 0.4},
        )
        return dataclasses.replace(scenario, **changes)

    @property
    def drifted_features(self) -> set[str]:
        return set(self.mean_shift) | set(self.category_mix) | set(self.null_flood)


def _choice(rng: np.random.Generator, mix: dict[str, float], size: int) -> list[str]:
    names = list(mix)
    p = np.asarray(list(mix.values()))
    return [names[i] for i in rng.choice(len(names), size=size, p=p / p.sum())]


def generate(
    scenario: Scenario,
    *,
    events: int,
    batch: int = 1000,
    seed: int = 0,
    start_time: float = 1_763_766_000.0,
    rate: float = 1000.0,
    offset: int = 0,
) -> Iterator[list[dict[str, Any]]]:
    """Yield ``events`` inference events in lists of ``batch``.

    Event ``i`` (counting from ``offset``) has timestamp ``start_time + i / rate``;
    drifts apply to events with ``i >= scenario.drift_at``.
    """
    rng = np.random.default_rng(seed)
    for first in range(offset, offset + events, batch):
        size = min(batch, offset + events - first)
        index = np.arange(first, first + size)
        drifted = (
            index >= scenario.drift_at if scenario.drift_at is not None else np.zeros(size, bool)
        )
        columns: dict[str, list[Any]] = {}
        z: dict[str, np.ndarray] = {}
        for name, (mean, sd) in NORMAL_FEATURES.items():
            z[name] = rng.normal(size=size) + drifted * scenario.mean_shift.get(name, 0.0)
            columns[name] = (mean + sd * z[name]).tolist()
        columns["income"] = rng.lognormal(10.5, 0.6, size).tolist()
        columns["num_items"] = rng.poisson(3, size).tolist()
        columns["tenure_days"] = rng.poisson(400, size).tolist()
        columns["hour"] = rng.uniform(0, 24, size).tolist()
        columns["is_new"] = (rng.random(size) < 0.2).tolist()
        for name, mix in (("country", COUNTRIES), ("device", DEVICES)):
            stable = _choice(rng, mix, size)
            if name in scenario.category_mix and drifted.any():
                shifted = _choice(rng, scenario.category_mix[name], size)
                stable = [
                    s if not d else t for s, t, d in zip(stable, shifted, drifted, strict=True)
                ]
            columns[name] = stable
        for name, share in scenario.null_flood.items():
            flood = drifted & (rng.random(size) < share)
            columns[name] = [None if f else v for v, f in zip(columns[name], flood, strict=True)]
        logit = 1.2 * z["amount"] + 0.3 * z["age"] - 1.5
        scores = (1.0 / (1.0 + np.exp(-logit))).tolist()
        latency = rng.lognormal(2.4, 0.3, size).tolist()
        failed = (rng.random(size) < scenario.error_rate).tolist()
        timestamps = (start_time + index / rate).tolist()
        names = list(columns)
        out = []
        for i in range(size):
            score = scores[i]
            out.append(
                {
                    "model_id": scenario.model_id,
                    "model_version": scenario.model_version,
                    "event_id": f"{scenario.model_id}-{first + i}",
                    "timestamp": timestamps[i],
                    "features": {n: columns[n][i] for n in names},
                    "prediction": {"label": "fraud" if score > 0.5 else "ok", "score": score},
                    "latency_ms": latency[i],
                    "error": "timeout" if failed[i] else None,
                }
            )
        yield out


#: The load-test workload: 16 numeric and 4 categorical features per event.
WIDE_NUMERIC = tuple(f"n{i:02d}" for i in range(16))
WIDE_CATEGORICAL = {
    "c00": ("DE", "FR", "ES", "IT", "NL"),
    "c01": ("ios", "android", "web"),
    "c02": ("a", "b", "c", "d", "e", "f", "g", "h"),
    "c03": ("gold", "silver", "bronze"),
}


def wide_events(
    *,
    events: int,
    models: int = 10,
    seed: int = 0,
    start_time: float = 1_763_766_000.0,
    rate: float = 50_000.0,
    drift_at: int | None = None,
    offset: int = 0,
    name_flood: bool = False,
) -> list[dict[str, Any]]:
    """``events`` load-test events spread round-robin over ``models`` models.

    ``name_flood``: each event also has a feature of its own, ``f_<hex id>``
    (a producer bug that puts an id into a feature name).

    Each has 16 numeric features (full-precision floats, as a model server
    sends them), 4 categorical ones, a prediction (label and score) and a
    latency. From event ``drift_at`` on (counting from ``offset``), ``n00``
    shifts by 3 sd and ``c00`` puts most of its mass on one category.

    >>> e = wide_events(events=2, models=2)
    >>> [x["model_id"] for x in e], len(e[0]["features"])
    (['model-000', 'model-001'], 20)
    """
    rng = np.random.default_rng(seed)
    index = np.arange(offset, offset + events)
    drifted = index >= drift_at if drift_at is not None else np.zeros(events, bool)
    numeric = rng.normal(size=(events, len(WIDE_NUMERIC)))
    numeric[:, 0] += 3.0 * drifted
    numeric = (numeric * 10.0 + 50.0).tolist()
    categorical = {}
    for name, values in WIDE_CATEGORICAL.items():
        codes = rng.integers(0, len(values), events)
        if name == "c00":
            codes = np.where(drifted & (rng.random(events) < 0.8), len(values) - 1, codes)
        categorical[name] = [values[c] for c in codes.tolist()]
    scores = rng.random(events).tolist()
    latency = rng.lognormal(2.4, 0.3, events).tolist()
    out = []
    for i in range(events):
        features: dict[str, Any] = dict(zip(WIDE_NUMERIC, numeric[i], strict=True))
        for name, column in categorical.items():
            features[name] = column[i]
        if name_flood:
            features[f"f_{(offset + i) * 2654435761 % 2**64:016x}"] = numeric[i][0]
        out.append(
            {
                "model_id": f"model-{(offset + i) % models:03d}",
                "model_version": "v1",
                "event_id": f"e{offset + i}",
                "timestamp": start_time + (offset + i) / rate,
                "features": features,
                "prediction": {"label": "yes" if scores[i] > 0.5 else "no", "score": scores[i]},
                "latency_ms": latency[i],
                "error": None,
            }
        )
    return out
