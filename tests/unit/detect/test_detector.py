import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.detector import WINDOW_DETECTORS
from streamproc.detect.settings import Settings
from streamproc.detect.window import WindowCounts
from streamproc.events.columns import EventColumns
from streamproc.simulate import Scenario, generate


def test_registry_names_are_distinct_and_each_detector_reports_its_own():
    names = [d.name for d in WINDOW_DETECTORS]
    assert len(set(names)) == len(names)
    reference = next(generate(Scenario(), events=3000, batch=3000, seed=0))
    baseline = Baseline.fit(EventColumns.from_events("m", reference, default_timestamp=0.0))
    # a window where every detector breaches: drift, nulls, a missing and a new
    # feature, errors
    scenario = Scenario.demo(drift_at=0, error_rate=0.5)
    events = next(generate(scenario, events=500, batch=500, seed=1))
    window = EventColumns.from_events("m", events, default_timestamp=0.0)
    del window.features["age"]
    window.features["new"] = [1.0] * 500
    counts = WindowCounts(baseline, Settings())
    counts.add(window)
    closed = counts.close(lambda key: False)
    prediction_only = {"stuck", "kind", "unseen_class"}  # tests/unit/detect/test_prediction*.py
    performance = {"estimated_accuracy"}  # needs labels in the baseline: test_performance_drift.py
    for detector in WINDOW_DETECTORS:
        if detector.name in prediction_only | performance:
            continue
        findings = list(detector.judge(closed))
        assert findings, detector.name
        assert {f.detector for f in findings} == {detector.name}
        assert all(f.breached for f in findings)
    assert np.isfinite(closed.alpha)
