"""Prediction integrity and batching-independent schema checks on a real broker."""

from __future__ import annotations

import pytest

from streamproc.simulate import Scenario, generate
from tests.conftest import metric, produce_events, unique_topics, wait_for
from tests.integration.test_worker import alerts_for

pytestmark = pytest.mark.integration

T0 = 1_763_766_000.0  # the simulator's first timestamp; events are 1 ms apart
CHANGE = 5_000


def test_null_predictions_and_a_feature_that_stops_alert_live(bootstrap, start_worker):
    """After 5,000 clean events, 30,000 with a null (or absent, or null-score)
    prediction and without 'age': a firing prediction null_rate alert and a
    schema alert on 'age' at 100 %, each by the first full window after the change."""
    worker = start_worker(unique_topics())
    scenario = Scenario(model_id="nulls")
    events = [e for b in generate(scenario, events=35_000, batch=5000, seed=5) for e in b]
    for i, e in enumerate(events[CHANGE:]):
        if i % 3 == 0:
            e["prediction"] = None
        elif i % 3 == 1:
            del e["prediction"]
        else:
            e["prediction"] = {"score": None}
        del e["features"]["age"]
    produce_events(bootstrap, worker.topics.events, events)
    assert wait_for(
        lambda: metric(worker.metrics(), "streamproc_events_total") >= 35_000, timeout=90
    ), worker.log()[-2000:]
    alerts = alerts_for(bootstrap, worker.topics.alerts, "nulls", expect=2, timeout=30)
    firing = {
        (a["signal"], a["feature"], a["detector"]): a for a in alerts if a["status"] == "firing"
    }
    first_full_window = T0 + CHANGE / 1000
    nulls = firing[("prediction", None, "null_rate")]
    assert nulls["severity"] == "critical" and nulls["value"] == 1.0, nulls
    assert nulls["window"]["start"] <= first_full_window
    age = firing[("schema", "age", "schema")]
    assert age["value"] == 1.0 and age["window"]["start"] <= first_full_window, age
    assert set(firing) == {("prediction", None, "null_rate"), ("schema", "age", "schema")}, alerts
