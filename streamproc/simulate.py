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


# Ground truth for the synthetic fraud model (issue 11). The model's logit is
# 1.2 z_amount + 0.3 z_age - 1.5; the truth is "fraud" when that logit plus
# N(0, TRUTH_NOISE) noise is positive, so P(fraud | score) rises with the score
# (the score is informative but not calibrated) and the model is right on
# about 94 % of the reference traffic. A concept drift flips a share of the
# truths (P(y | x) changes, the inputs do not); a covariate shift of
# ``amount`` by +1.25 sd moves the traffic towards the decision boundary,
# where the model is less sure and wrong more often (accuracy ~0.885).
TRUTH_NOISE = 0.47
REFERENCE_ACCURACY = 0.94  # about: measured 0.94 on 10 M events (loadtest/performance.py)
UNCERTAIN_SHIFT = 1.25  # sd of amount that lowers accuracy to ~0.885


def flip_for(accuracy: float, reference: float = REFERENCE_ACCURACY) -> float:
    """The share of truths to flip to bring accuracy from ``reference`` to ``accuracy``.

    >>> round(flip_for(0.91), 4)
    0.0341
    """
    return max(0.0, (reference - accuracy) / (2 * reference - 1))


def _logit(z_amount: np.ndarray, z_age: np.ndarray) -> np.ndarray:
    return 1.2 * z_amount + 0.3 * z_age - 1.5


def synthetic_predictions(
    size: int,
    rng: np.random.Generator,
    *,
    amount_shift: float = 0.0,
    flip: float = 0.0,
) -> dict[str, Any]:
    """``size`` predictions of the synthetic model with their truths, vectorised
    (for benchmarks and tests): ``amount``, ``age``, ``scores`` (arrays),
    ``predicted``, ``truth`` (lists of "fraud"/"ok")."""
    z_amount = rng.normal(size=size) + amount_shift
    z_age = rng.normal(size=size)
    logit = _logit(z_amount, z_age)
    scores = 1.0 / (1.0 + np.exp(-logit))
    fraud = logit + TRUTH_NOISE * rng.normal(size=size) > 0
    if flip:
        fraud ^= rng.random(size) < flip
    names = np.array(["ok", "fraud"], dtype=object)
    return {
        "amount": 120.0 + 40.0 * z_amount,
        "age": 41.0 + 12.0 * z_age,
        "scores": scores,
        "predicted": names[(scores > 0.5).astype(np.intp)].tolist(),
        "truth": names[fraud.astype(np.intp)].tolist(),
    }


def _event_index(event: dict[str, Any], position: int) -> int:
    tail = str(event.get("event_id", "")).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else position


def labels_for(
    events: list[dict[str, Any]],
    *,
    delay_seconds: float = 60.0,
    delay_jitter: float = 0.0,
    concept_drift_at: int | None = None,
    flip: float = 0.1,
    labelled: float = 1.0,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Label events (``docs/contract.md``, "Label event v1") for events of
    :func:`generate`: the truth rule above, each label ``delay_seconds`` (plus
    an exponential jitter of mean ``delay_jitter``) after its event. From event
    index ``concept_drift_at`` on (the number in ``event_id``), a share
    ``flip`` of the truths is flipped (0.1: accuracy 0.94 -> ~0.85).
    ``labelled``: the share of events that get a label. In event order.

    >>> events = next(generate(Scenario(), events=5, batch=5))
    >>> [sorted(x) for x in labels_for(events, delay_seconds=30.0)][:1]
    [['event_id', 'label', 'model_id', 'timestamp']]
    """
    rng = np.random.default_rng(seed)
    n = len(events)
    if n == 0:
        return []
    z = {}
    for name, (mean, sd) in NORMAL_FEATURES.items():
        values = [e["features"].get(name) for e in events]
        z[name] = np.array([mean if v is None else v for v in values], np.float64)
        z[name] = (z[name] - mean) / sd
    fraud = _logit(z["amount"], z["age"]) + TRUTH_NOISE * rng.normal(size=n) > 0
    flips = rng.random(n) < flip
    keep = rng.random(n) < labelled
    jitter = rng.exponential(delay_jitter, n) if delay_jitter > 0 else np.zeros(n)
    delays = (delay_seconds + jitter).tolist()
    out = []
    for i, event in enumerate(events):
        if not keep[i]:
            continue
        truth = bool(fraud[i])
        if concept_drift_at is not None and _event_index(event, i) >= concept_drift_at:
            truth ^= bool(flips[i])
        out.append(
            {
                "model_id": event["model_id"],
                "event_id": event["event_id"],
                "label": "fraud" if truth else "ok",
                "timestamp": float(event["timestamp"]) + delays[i],
            }
        )
    return out


def synthetic_columns(
    size: int,
    rng: np.random.Generator,
    *,
    first: int = 0,
    amount_shift: float = 0.0,
    flip: float = 0.0,
    label_delay: float = 0.0,
    model_id: str = "fraud-detector",
    start_time: float = 1_763_766_000.0,
    rate: float = 1000.0,
) -> tuple[Any, Any]:
    """Events ``first .. first + size`` of the synthetic model as columns (the
    ``amount`` and ``age`` features, score and class, no dicts: for benchmarks
    of millions of events) and the same predictions labelled, each label
    ``label_delay`` seconds after its event: ``(EventColumns, LabelledPredictions)``.

    >>> events, labelled = synthetic_columns(3, np.random.default_rng(0), label_delay=60.0)
    >>> events.size, labelled.label_delays().tolist()
    (3, [60.0, 60.0, 60.0])
    """
    from streamproc.events.columns import EventColumns
    from streamproc.events.labels import LabelledPredictions

    p = synthetic_predictions(size, rng, amount_shift=amount_shift, flip=flip)
    timestamps = start_time + np.arange(first, first + size) / rate
    ids: list[str | None] = [f"{model_id}-{i}" for i in range(first, first + size)]
    events = EventColumns(
        model_id=model_id,
        model_version="v1",
        timestamps=timestamps,
        features={"amount": p["amount"], "age": p["age"]},
        prediction_scores=p["scores"],
        prediction_labels=p["predicted"],
        latency_ms=np.full(size, 10.0),
        errors=np.zeros(size, bool),
        event_ids=ids,
    )
    labelled = LabelledPredictions(
        model_id=model_id,
        event_ids=ids,  # type: ignore[arg-type]
        timestamps=timestamps,
        label_times=timestamps + label_delay,
        scores=p["scores"],
        predicted=p["predicted"],
        truth=p["truth"],
        truth_values=np.full(size, np.nan),
    )
    return events, labelled
