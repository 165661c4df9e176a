import numpy as np
import orjson
import pytest

from streamproc.detect.baseline import Baseline
from streamproc.detect.profiles import CategoricalProfile, NumericProfile
from streamproc.events.columns import EventColumns
from streamproc.simulate import Scenario, generate


def reference_columns(events=5000, seed=0):
    batch = next(generate(Scenario(), events=events, batch=events, seed=seed))
    return EventColumns.from_events("fraud-detector", batch, default_timestamp=0.0)


def test_fit_profiles_every_feature_with_the_right_kind():
    b = Baseline.fit(reference_columns())
    kinds = {name: p.kind for name, p in b.features.items()}
    assert kinds == {
        "age": "numeric",
        "amount": "numeric",
        "country": "categorical",
        "device": "categorical",
        "hour": "numeric",
        "income": "numeric",
        "is_new": "categorical",
        "num_items": "numeric",
        "tenure_days": "numeric",
    }
    amount = b.features["amount"]
    assert isinstance(amount, NumericProfile)
    assert len(amount.edges) == 9 and sum(amount.proportions) == pytest.approx(1.0)
    assert amount.mean == pytest.approx(120, abs=3) and amount.std == pytest.approx(40, rel=0.05)
    country = b.features["country"]
    assert isinstance(country, CategoricalProfile)
    assert country.categories["DE"] == pytest.approx(0.4, abs=0.03)
    assert b.prediction_score is not None and b.prediction_label is not None
    assert b.events == 5000 and b.error_rate < 0.01


def test_round_trip_through_json():
    b = Baseline.fit(reference_columns(1000))
    again = Baseline.from_dict(orjson.loads(orjson.dumps(b.to_dict())))
    assert again.to_dict() == b.to_dict()


def test_discrete_values_get_fewer_distinct_bins():
    counts = np.random.default_rng(0).poisson(1, 10_000).astype(float)
    p = NumericProfile.fit(counts, bins=10)
    assert len(p.edges) < 9 and list(p.edges) == sorted(set(p.edges))
    assert p.bin_counts(counts).sum() == 10_000


def test_high_cardinality_keeps_a_bounded_profile():
    labels = [f"user-{i}" for i in range(5000)]
    p = CategoricalProfile.fit(labels, max_categories=20)
    assert p.categories == {}  # none reaches 1 %
    assert len(p.known_rest) == 100 and p.unseen == pytest.approx(0.98)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schema": "v0"}, "schema"),
        ({"schema": "baseline.v1", "features": {}}, "model_id"),
        (
            {"schema": "baseline.v1", "model_id": "m", "features": {"x": {"kind": "weird"}}},
            "features.x",
        ),
        (
            {
                "schema": "baseline.v1",
                "model_id": "m",
                "features": {"x": {"kind": "numeric", "edges": [1, 2], "proportions": [1.0]}},
            },
            "features.x",
        ),
    ],
)
def test_bad_baselines_are_rejected_with_the_field(data, message):
    with pytest.raises(ValueError, match=message):
        Baseline.from_dict(data)


def test_a_baseline_with_a_null_prediction_mean_is_rejected_with_the_field():
    """Found by loadtest/fuzz_long.py: a learned baseline whose score mean
    overflowed (a score of 1e308) was published with ``"mean": null``, and
    reading it back raised TypeError, crashing every worker that read it."""
    batch = next(generate(Scenario(), events=500, batch=500, seed=1))
    data = Baseline.fit(EventColumns.from_events("m", batch, default_timestamp=0.0)).to_dict()
    data["prediction"]["score"]["mean"] = None
    with pytest.raises(ValueError, match="prediction.score"):
        Baseline.from_dict(data)
    data["prediction"] = [1]
    with pytest.raises(ValueError, match="prediction"):
        Baseline.from_dict(data)


def test_fit_from_arrays_or_lists_gives_the_same_baseline():
    from streamproc.decode import decode_batch

    batch = next(generate(Scenario.demo(drift_at=2000), events=4000, batch=4000, seed=3))
    for e in batch[:300]:
        e["features"]["income"] = None  # a float column with nulls
    lists = EventColumns.from_events("fraud-detector", batch, default_timestamp=0.0)
    arrays = decode_batch([orjson.dumps(e) for e in batch], [0.0] * len(batch)).columns[0]
    assert any(type(c) is np.ndarray and c.dtype.kind == "i" for c in arrays.features.values())
    a, b = Baseline.fit(arrays).to_dict(), Baseline.fit(lists).to_dict()
    a.pop("created_at"), b.pop("created_at")
    assert a == b
