"""Seeded synthetic streams for the detection-quality benchmark and tests.

A model has 24 features, three of each of eight families (normal, log-normal,
Poisson counts, bimodal, uniform, bounded scores, categorical with rare
categories, categorical with 60 categories), a prediction score and a latency.
A :class:`Drift` changes one target feature (or the prediction score) from
event ``at`` on. Everything is drawn from ``numpy.random.default_rng(seed)``,
so a (drift, seed) pair always gives the same events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamproc.events.columns import EventColumns

NUMERIC_FAMILIES = ("normal", "lognormal", "poisson", "bimodal", "uniform", "score")
CATEGORICAL_FAMILIES = ("cat_rare", "cat_many")
FAMILIES = NUMERIC_FAMILIES + CATEGORICAL_FAMILIES
PER_FAMILY = 3
RATE = 1000.0  # events per second of event time: event i has timestamp i / RATE

RARE_P = np.array([0.40, 0.25, 0.15, 0.10, 0.05, 0.03, 0.012, 0.005, 0.003])
RARE_NAMES = np.array([f"r{i}" for i in range(len(RARE_P))], dtype=object)
_many = 1.0 / np.arange(1, 61) ** 0.8
MANY_P = _many / _many.sum()
MANY_NAMES = np.array([f"c{i:02d}" for i in range(60)], dtype=object)

#: mean and standard deviation of each numeric family (for shifts in sd units)
MOMENTS = {
    "normal": (50.0, 10.0),
    "lognormal": (float(np.exp(0.5)), float(np.sqrt((np.e - 1) * np.e))),
    "poisson": (3.0, float(np.sqrt(3.0))),
    "bimodal": (0.0, float(np.sqrt(4.0 + 0.49))),
    "uniform": (5.0, float(10 / np.sqrt(12))),
    "score": (2 / 7, float(np.sqrt(10 / (49 * 8)))),
}


def feature_names() -> list[str]:
    return [f"{family}_{i}" for family in FAMILIES for i in range(PER_FAMILY)]


def family_of(name: str) -> str:
    return name.rsplit("_", 1)[0]


def sample(family: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` stationary values of one family (floats, or object array of names)."""
    if family == "normal":
        return rng.normal(50.0, 10.0, size)
    if family == "lognormal":
        return rng.lognormal(0.0, 1.0, size)
    if family == "poisson":
        return rng.poisson(3.0, size).astype(np.float64)
    if family == "bimodal":
        return rng.normal(0.0, 0.7, size) + np.where(rng.random(size) < 0.5, -2.0, 2.0)
    if family == "uniform":
        return rng.uniform(0.0, 10.0, size)
    if family == "score":
        return rng.beta(2.0, 5.0, size)
    if family == "cat_rare":
        return RARE_NAMES[rng.choice(len(RARE_P), size=size, p=RARE_P)]
    if family == "cat_many":
        return MANY_NAMES[rng.choice(len(MANY_P), size=size, p=MANY_P)]
    raise ValueError(family)


def sample_scores(rng: np.random.Generator, size: int, shift: float = 0.0) -> np.ndarray:
    """Prediction scores: sigmoid of a normal logit (shift in logit sd)."""
    return 1.0 / (1.0 + np.exp(-(rng.normal(-1.0, 1.0, size) + shift)))


@dataclass(frozen=True)
class Drift:
    """One change of one stream.

    ``kind``: ``shift`` (mean + size sd), ``scale`` (sd times ``size``, same
    mean), ``gradual`` (shift rising linearly to ``size`` sd over ``length``
    events), ``new_category`` (a share ``size`` of a never-seen category),
    ``mix`` (the two most frequent categories swap shares), ``nulls`` (a share
    ``size`` of nulls), ``score`` (prediction logit + ``size`` sd), ``blip``
    (a shift of ``size`` sd that lasts ``length`` events, then goes away).
    """

    name: str
    kind: str
    size: float
    families: tuple[str, ...]
    length: int = 0


DRIFTS = (
    Drift("shift 0.25 sd", "shift", 0.25, NUMERIC_FAMILIES),
    Drift("shift 0.5 sd", "shift", 0.5, NUMERIC_FAMILIES),
    Drift("shift 1 sd", "shift", 1.0, NUMERIC_FAMILIES),
    Drift("variance x2", "scale", float(np.sqrt(2.0)), ("normal", "uniform", "bimodal")),
    Drift("gradual 1 sd / 10k", "gradual", 1.0, NUMERIC_FAMILIES, 10_000),
    Drift("gradual 1 sd / 50k", "gradual", 1.0, NUMERIC_FAMILIES, 50_000),
    Drift("new category 10%", "new_category", 0.10, CATEGORICAL_FAMILIES),
    Drift("category mix", "mix", 0.0, CATEGORICAL_FAMILIES),
    Drift("null flood 30%", "nulls", 0.30, FAMILIES),
    Drift("score shift 0.5 sd", "score", 0.5, ("prediction",)),
    Drift("blip 1 sd x 3000", "blip", 1.0, NUMERIC_FAMILIES, 3_000),
)


def apply(
    drift: Drift, family: str, values: np.ndarray, offset: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``values`` drifted; ``offset[i]`` is the event's position after the change (>= 0)."""
    out = values.copy()
    if drift.kind in ("shift", "gradual", "blip"):
        _, sd = MOMENTS[family]
        amount = np.full(len(values), drift.size)
        if drift.kind == "gradual":
            amount = drift.size * np.minimum(1.0, offset / drift.length)
        if drift.kind == "blip":
            amount = np.where(offset < drift.length, drift.size, 0.0)
        return out + amount * sd
    if drift.kind == "scale":
        mean, _ = MOMENTS[family]
        return mean + drift.size * (out - mean)
    if drift.kind == "new_category":
        out[rng.random(len(out)) < drift.size] = "NEW"
        return out
    if drift.kind == "mix":
        first, second = ("r0", "r1") if family == "cat_rare" else ("c00", "c01")
        a, b = out == first, out == second
        out[a], out[b] = second, first
        return out
    if drift.kind == "nulls":
        out = out.astype(object)
        out[rng.random(len(out)) < drift.size] = None
        return out
    raise ValueError(drift.kind)


@dataclass
class Stream:
    """All columns of one model's stream, with the change point and target."""

    features: dict[str, np.ndarray]
    scores: np.ndarray
    latency: np.ndarray
    change: int | None
    target: str | None  # a feature name, "prediction", or None (stationary)

    @property
    def size(self) -> int:
        return len(self.scores)

    def columns(self, start: int, stop: int, model_id: str = "bench") -> EventColumns:
        n = stop - start
        return EventColumns(
            model_id=model_id,
            model_version="v1",
            timestamps=np.arange(start, stop, dtype=np.float64) / RATE,
            features={k: v[start:stop].tolist() for k, v in self.features.items()},
            prediction_scores=self.scores[start:stop],
            prediction_labels=[None] * n,
            latency_ms=self.latency[start:stop],
            errors=np.zeros(n, dtype=bool),
            event_ids=[None] * n,
        )


def stationary(size: int, seed: int) -> Stream:
    rng = np.random.default_rng(seed)
    features = {name: sample(family_of(name), rng, size) for name in feature_names()}
    return Stream(features, sample_scores(rng, size), rng.lognormal(2.4, 0.3, size), None, None)


def drifted(drift: Drift, *, family: str, change: int, size: int, seed: int) -> Stream:
    """A stationary stream whose ``family``'s first feature drifts from ``change`` on."""
    stream = stationary(size, seed)
    rng = np.random.default_rng(seed + 1_000_003)
    offset = np.arange(size - change, dtype=np.float64)
    if family == "prediction":
        after = sample_scores(rng, size - change, drift.size)
        stream.scores = np.concatenate((stream.scores[:change], after))
        stream.target = "prediction"
    else:
        name = f"{family}_0"
        column = stream.features[name]
        tail = apply(drift, family, column[change:], offset, rng)
        head = column[:change].astype(tail.dtype)
        stream.features[name] = np.concatenate((head, tail))
        stream.target = name
    stream.change = change
    return stream
