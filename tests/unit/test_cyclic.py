"""Properties of the cyclic traffic generator (loadtest/cyclic.py) that could break."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtest"))

from cyclic import (  # noqa: E402
    DAY,
    DRIFT_BY_NAME,
    FEATURES,
    NEW_CATEGORY,
    START,
    CyclicStream,
    amount_phase_mean_sd,
)

from streamproc.events.shapes import MISSING  # noqa: E402


@pytest.fixture(scope="module")
def week() -> CyclicStream:
    return CyclicStream(days=7, seed=3)


def test_about_40000_events_a_day_weekends_fewer(week: CyclicStream) -> None:
    per_day = np.bincount(((week.timestamps - START) // DAY).astype(int), minlength=7)
    assert all(38_000 <= n <= 42_500 for n in per_day[:5]), per_day
    assert all(34_000 <= n <= 38_500 for n in per_day[5:]), per_day


def test_timestamps_increase_from_a_monday(week: CyclicStream) -> None:
    assert np.all(np.diff(week.timestamps) >= 0)
    assert week.timestamps[0] >= START and week.timestamps[-1] < START + 7 * DAY
    assert np.datetime64(int(START), "s").astype("datetime64[D]").item().weekday() == 0


def test_volume_follows_the_time_of_day(week: CyclicStream) -> None:
    hours = np.bincount(week.hours().astype(int), minlength=24)
    assert hours[15] > 3 * hours[3]


def test_hour_feature_is_the_clock_hour(week: CyclicStream) -> None:
    values = np.array(week.feature_values("hour", 0, week.size))
    assert np.array_equal(values, week.hours().astype(int))
    weekend = week.feature_values("is_weekend", 0, week.size)
    day = ((week.timestamps - START) // DAY).astype(int)
    assert weekend == (day >= 5).tolist()


def test_cyclic_amount_varies_over_the_day_by_more_than_one_sd(week: CyclicStream) -> None:
    amount, hour = week.num["basket_amount"], week.hours().astype(int)
    weekday = week.timestamps < START + 5 * DAY
    means = np.array([amount[weekday & (hour == h)].mean() for h in range(24)])
    _, sd = amount_phase_mean_sd(np.array([12.0]), np.array([False]))
    assert (means.max() - means.min()) / sd[0] > 1.0
    # and the country mix follows the time zones
    country = np.array(week.feature_values("country", 0, week.size), dtype=object)
    us_night = np.mean(country[hour == 2] == "US")
    us_afternoon = np.mean(country[hour == 14] == "US")
    assert us_night > us_afternoon + 0.1


def test_baseline_nulls_and_int_quirk_are_there(week: CyclicStream) -> None:
    ages = week.feature_values("customer_age", 0, week.size)
    assert 0.04 < ages.count(None) / week.size < 0.06
    amounts = week.feature_values("basket_amount", 0, 20_000)
    ints = sum(type(v) is int for v in amounts)
    assert 40 < ints < 200 and all(type(v) in (int, float) for v in amounts)
    assert len(FEATURES) >= 20


def test_seeded_reproducibility_and_prefix() -> None:
    a = CyclicStream(days=2, seed=5, events_per_day=4000)
    b = CyclicStream(days=2, seed=5, events_per_day=4000)
    c = CyclicStream(days=1, seed=5, events_per_day=4000)
    assert a.events(0, a.size) == b.events(0, b.size)
    assert a.events(0, c.size) == c.events(0, c.size)
    assert CyclicStream(days=1, seed=6, events_per_day=4000).size != c.size or not np.array_equal(
        CyclicStream(days=1, seed=6, events_per_day=4000).num["basket_amount"],
        c.num["basket_amount"],
    )


@pytest.mark.parametrize("name", sorted(DRIFT_BY_NAME))
def test_drift_changes_only_its_target_from_the_change(name: str) -> None:
    drift = DRIFT_BY_NAME[name]
    change_at = START + 0.5 * DAY
    clean = CyclicStream(days=1, seed=9, events_per_day=6000)
    dirty = CyclicStream(days=1, seed=9, events_per_day=6000, drift=drift, change_at=change_at)
    k = dirty.change
    assert k is not None and clean.size == dirty.size and 0 < k < clean.size
    before, after = clean.events(), dirty.events()
    assert before[:k] == after[:k]
    touched = set()
    for e0, e1 in zip(before[k:], after[k:], strict=True):
        for field in ("prediction", "latency_ms", "error"):
            if e0[field] != e1[field]:
                touched.add(field)
        for f in set(e0["features"]) | set(e1["features"]):
            if e0["features"].get(f, MISSING) != e1["features"].get(f, MISSING):
                touched.add(f)
    expected = {
        "shift": {drift.target},
        "new_category": {drift.target},
        "nulls": {drift.target},
        "null_predictions": {"prediction"},
        "rename": {drift.target, drift.new_name},
        "type": {drift.target},
        "latency": {"latency_ms"},
        "errors": {"error"},
    }[drift.kind]
    assert touched == expected
    tail = after[k:]
    if drift.kind == "new_category":
        share = np.mean([e["features"][drift.target] == NEW_CATEGORY for e in tail])
        assert 0.12 < share < 0.18
    if drift.kind == "null_predictions":
        assert all(e["prediction"]["score"] is None for e in tail)
    if drift.kind == "type":
        assert all(isinstance(e["features"][drift.target], str) for e in tail)
    if drift.kind == "errors":
        assert 0.17 < np.mean([e["error"] is not None for e in tail]) < 0.24
    if drift.kind == "shift":
        hours = dirty.hours()[k:]
        _, sd = amount_phase_mean_sd(hours, np.zeros(len(hours), bool))
        diff = dirty.num[drift.target][k:] - clean.num[drift.target][k:]
        quirk = dirty.int_quirk[k:]
        assert np.allclose(diff[~quirk], 0.5 * sd[~quirk], atol=0.011)


def test_columns_match_events_and_jsonl(tmp_path: Path) -> None:
    s = CyclicStream(
        days=1,
        seed=2,
        events_per_day=3000,
        drift=DRIFT_BY_NAME["renamed feature"],
        change_at=START + DAY / 2,
    )
    cols = s.columns(0, s.size)
    events = s.events()
    assert cols.size == len(events) == s.size
    k = s.change
    assert cols.features["device"][k] is MISSING and cols.features["device_type"][k - 1] is MISSING
    assert cols.features["device_type"][k] == events[k]["features"]["device_type"]
    path = tmp_path / "s.jsonl"
    assert s.write_jsonl(path) == s.size
    lines = path.read_text().splitlines()
    assert json.loads(lines[k]) == json.loads(json.dumps(events[k]))
