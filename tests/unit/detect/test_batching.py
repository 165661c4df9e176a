"""Detection does not depend on how events are cut into records and batches:
the same events fed in chunks of 1, 50, 500 and 5,000 give the same alerts
(signal, feature, detector, status, window, value) in the same order."""

from __future__ import annotations

import copy

import pytest

from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import columns_by_model
from streamproc.simulate import Scenario, generate

AGE_GONE, RENAMED, RETYPED, NULLS, BACK, STUCK = 4_000, 5_200, 6_300, 7_700, 9_300, 10_700


def changed_events(n: int = 13_000) -> list[dict]:
    """A clean start (the baseline is learned from it), then: 'age' stops
    arriving, 'income' is renamed, 'tenure_days' becomes a string, predictions
    are null, come back, then are stuck at one value."""
    events = [e for b in generate(Scenario(), events=n, batch=5000, seed=7) for e in b]
    for i, e in enumerate(events):
        f = e["features"]
        if i >= AGE_GONE:
            del f["age"]
        if i >= RENAMED:
            f["income_usd"] = f.pop("income")
        if i >= RETYPED:
            f["tenure_days"] = str(f["tenure_days"])
        if NULLS <= i < BACK:
            e["prediction"] = None if i % 3 else {"score": None}
        if i >= STUCK:
            e["prediction"] = {"label": "ok", "score": 0.125}
    return events


def alerts_in_chunks(events: list[dict], size: int, settings: Settings) -> list[tuple]:
    monitor = Monitor(settings)
    alerts = []
    for i in range(0, len(events), size):
        batch = columns_by_model(copy.deepcopy(events[i : i + size]), default_timestamp=0.0)
        alerts += monitor.process(batch, now=0.0)
    return [
        (
            a.signal,
            a.feature,
            a.detector,
            a.status,
            a.window_start,
            a.window_end,
            a.window_events,
            a.value,
        )
        for a in alerts
    ]


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return changed_events()


def test_the_same_alerts_whatever_the_chunk_size(events):
    settings = Settings()
    by_size = {size: alerts_in_chunks(events, size, settings) for size in (1, 50, 500, 5000)}
    reference = by_size[5000]
    for size, alerts in by_size.items():
        assert alerts == reference, size
    firing = {(a[0], a[1], a[2]) for a in reference if a[3] == "firing"}
    assert {
        ("schema", "age", "schema"),
        ("schema", "income", "schema"),
        ("schema", "income_usd", "schema"),
        ("schema", "tenure_days", "schema"),
        ("prediction", None, "null_rate"),
        ("prediction", None, "stuck"),
    } <= firing, firing
    first = {(a[0], a[1], a[2]): a for a in reversed(reference) if a[3] == "firing"}
    # each change is caught at the close of the first full window after it, as 100 %
    for key, at in (
        (("schema", "age", "schema"), AGE_GONE),
        (("schema", "income", "schema"), RENAMED),
        (("schema", "tenure_days", "schema"), RETYPED),
        (("prediction", None, "null_rate"), NULLS),
    ):
        start = 1_763_766_000.0 + ((at + 499) // 500 * 500) / 1000
        assert first[key][4] <= start, (key, first[key])
    assert first[("schema", "age", "schema")][7] == 1.0


def test_a_time_closed_window_closes_at_the_same_event(events):
    """Windows that close on ``window_seconds`` (events 1 ms apart, 0.3 s) too."""
    settings = Settings(window_seconds=0.3, min_window_events=100)
    sample = events[:8_000]
    reference = alerts_in_chunks(sample, 5000, settings)
    assert reference
    assert alerts_in_chunks(sample, 1, settings) == reference
    assert alerts_in_chunks(sample, 77, settings) == reference
