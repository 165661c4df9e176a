"""Null rate of the prediction (the feature null rate: test_detection_positions, test_detector)."""

from __future__ import annotations

import math

import orjson
import pytest

from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.detect.nulls import NullRate
from streamproc.detect.settings import Settings
from streamproc.events.columns import columns_by_model
from tests.unit.detect.prediction_helpers import both, closed, events, fit, score


def prediction_findings(window):
    return [f for f in NullRate().judge(window) if f.signal == "prediction"]


@pytest.mark.parametrize(
    "null",
    [lambda i: None, lambda i: ..., lambda i: {"score": None}, lambda i: {"label": "ok"}],
    ids=["null", "absent", "null-score", "label-without-score"],
)
def test_null_predictions_are_critical(null):
    baseline = fit(2000, both)
    assert baseline.prediction_null_rate == 0.0
    (finding,) = prediction_findings(closed(baseline, events(500, null)))
    assert (finding.key, finding.severity, finding.value) == (
        ("prediction", None, "null_rate"),
        "critical",
        1.0,
    )
    assert 0.1 <= finding.threshold < 0.2
    assert finding.message.startswith("the prediction is null or missing in 100% of the last 500")


def test_a_share_of_nulls_is_judged_against_the_baselines_share():
    baseline = fit(2000, lambda i: None if i % 5 == 0 else score(i))
    assert baseline.prediction_null_rate == pytest.approx(0.2)
    same = closed(baseline, events(500, lambda i: None if i % 5 == 1 else score(i)))
    assert prediction_findings(same) == []
    more = closed(baseline, events(500, lambda i: None if i % 2 else score(i)))
    (finding,) = prediction_findings(more)
    assert finding.value == 0.5 and finding.threshold > 0.3


def test_clean_windows_and_models_without_predictions_give_nothing():
    assert prediction_findings(closed(fit(2000, both), events(500, both, seed=3))) == []
    assert prediction_findings(closed(fit(2000, lambda i: None), events(500, lambda i: None))) == []


def test_the_null_share_is_in_the_json_and_old_baselines_load_with_zero():
    baseline = fit(1000, lambda i: None if i % 4 == 0 else score(i))
    data = orjson.loads(orjson.dumps(baseline.to_dict()))
    assert data["prediction"]["null_rate"] == 0.25
    assert Baseline.from_dict(data).prediction_null_rate == 0.25
    del data["prediction"]["null_rate"]
    assert Baseline.from_dict(data).prediction_null_rate == 0.0


def test_all_null_predictions_flow_through_every_detector():
    """After a clean start, 100 % null predictions: one alert, PSI and ADWIN do not break."""
    rows = [
        {
            "model_id": "m",
            "timestamp": i / 1000,
            "features": {"x": float(i % 13)},
            "prediction": both(i) if i < 3000 else None,
            "latency_ms": 5.0,
        }
        for i in range(8000)
    ]
    monitor = Monitor(Settings())
    alerts = []
    for start in range(0, len(rows), 700):
        alerts += monitor.process(
            columns_by_model(rows[start : start + 700], default_timestamp=0.0), now=0.0
        )
    assert [(a.signal, a.detector, a.status, a.window_start) for a in alerts] == [
        ("prediction", "null_rate", "firing", 3.0)
    ]
    psi = monitor.models["m"].latest.prediction_psi  # no scores in the window: not judged
    assert psi is None or math.isnan(psi)
