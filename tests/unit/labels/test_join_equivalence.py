"""The join gives exactly what the join before its speed-ups gave
(tests/unit/labels/reference_join.py, frozen), on a randomized stream with
redelivered predictions, events without ids, duplicate, unknown, expired,
early and numeric labels, eviction, forgotten models and small bounds."""

import random

import numpy as np
import pytest

from streamproc.events.columns import EventColumns
from streamproc.labels import JoinSettings, LabelJoin, LabelRows
from tests.unit.labels.reference_join import ReferenceJoin

SETTINGS = [
    JoinSettings(ttl_seconds=30.0, max_pending=250, early_seconds=15.0, max_early=12, recent_ids=r)
    for r in (50, 2000)  # recent ids forgotten soon, or kept through the stream
]
MODELS = ("a", "b", "r")  # "r" predicts scores only (a regression model)


def predictions(model, ids, times, rng):
    events = []
    for event_id, t in zip(ids, times, strict=True):
        prediction = rng.random() if model == "r" else {"label": rng.choice("xyz"), "score": 0.5}
        event = {"model_id": model, "features": {}, "timestamp": t, "prediction": prediction}
        if event_id is not None:
            event["event_id"] = event_id
        events.append(event)
    return EventColumns.from_events(model, events, default_timestamp=0.0)


def label_value(rng):
    return rng.choice(["x", "y", "z", "x", 1, 2.0, 2.5, "1", 0.25])


def summary(pairs):
    return [
        (
            p.model_id,
            p.event_ids,
            p.timestamps.tolist(),
            p.label_times.tolist(),
            np.nan_to_num(p.scores, nan=-1.0).tolist(),
            p.predicted,
            p.truth,
            np.nan_to_num(p.truth_values, nan=-1.0).tolist(),
        )
        for p in pairs
    ]


def stream(seed):
    """Steps: ("add", [columns]), ("match", rows), ("forget", [model])."""
    rng = random.Random(seed)
    clock = {m: 0.0 for m in MODELS}
    made: dict[str, list[str]] = {m: [] for m in MODELS}
    upcoming: dict[str, list[str]] = {m: [] for m in MODELS}
    serial = 0
    for step in range(300):
        batch = []
        for model in rng.sample(MODELS, rng.randint(1, 3)):
            ids = []
            for _ in range(rng.randint(0, 25)):
                roll = rng.random()
                if roll < 0.05:
                    ids.append(None)  # unjoinable
                elif roll < 0.1 and made[model]:
                    ids.append(rng.choice(made[model]))  # redelivered
                elif upcoming[model] and roll < 0.3:
                    ids.append(upcoming[model].pop(0))  # its label came first
                else:
                    serial += 1
                    ids.append(f"{model}{serial}")
            times = [clock[model] + rng.uniform(-3.0, 1.0) for _ in ids]
            clock[model] += rng.uniform(0.0, 4.0)
            made[model] += [i for i in ids if i is not None]
            batch.append(predictions(model, ids, times, rng))
        yield "add", batch
        model_ids, event_ids, values, times = [], [], [], []
        for _ in range(rng.randint(0, 40)):
            model = rng.choice(MODELS)
            roll = rng.random()
            if roll < 0.1:
                serial += 1
                event_id = f"{model}{serial}"
                upcoming[model].append(event_id)  # early: its prediction comes later
            elif roll < 0.15:
                event_id = f"unknown{rng.randint(0, 10**6)}"
            elif made[model]:
                recent = made[model][-60:] if roll < 0.85 else made[model]  # else maybe expired
                event_id = rng.choice(recent)  # a second label of one is a duplicate
            else:
                continue
            model_ids.append(model)
            event_ids.append(event_id)
            values.append(label_value(rng))
            times.append(clock[model] + rng.uniform(-2.0, 10.0))
        yield "match", LabelRows(model_ids, event_ids, values, np.asarray(times, float),
                                 list(range(len(event_ids))))  # fmt: skip
        if step % 97 == 96:
            yield "forget", [rng.choice(MODELS)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("settings", SETTINGS, ids=["recent-50", "recent-2000"])
@pytest.mark.parametrize("grouped", [False, True], ids=["record-order", "grouped"])
def test_the_join_matches_and_counts_as_the_reference_join(seed, settings, grouped):
    new, old = LabelJoin(settings), ReferenceJoin(settings)
    outcomes = ["matched", "duplicate", "expired", "unknown_id", "bad_value", "unjoinable",
                "predictions_expired", "predictions_evicted", "early"]  # fmt: skip
    seen = dict.fromkeys(outcomes, 0)
    for kind, what in stream(seed):
        if kind == "add":
            assert summary(new.add(what)) == summary(old.add(what))
        elif kind == "match":
            rows = what.grouped() if grouped else what
            assert summary(new.match(rows)) == summary(old.match(what))
        else:
            new.forget(what)
            old.forget(what)
        assert (new.pending, new.early) == (old.pending, old.early)
        seen["early"] = max(seen["early"], old.early)
        counts = old.take_counts()
        assert new.take_counts() == counts
        for reason in seen:
            seen[reason] += counts.get(reason, 0)
    new.flush()
    old.flush()
    assert new.take_counts() == old.take_counts()
    assert all(seen.values()), seen  # the stream exercised every outcome
