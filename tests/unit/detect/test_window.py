import math

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.detect.policy import Finding
from streamproc.detect.psi import psi_against, psi_threshold, smoothed
from streamproc.detect.settings import Settings
from streamproc.detect.window import WindowCounts
from streamproc.events.columns import EventColumns, columns_by_model
from streamproc.simulate import Scenario, generate


def columns(events, seed=0):
    chunk = next(generate(Scenario(), events=events, batch=events, seed=seed))
    return EventColumns.from_events("fraud-detector", chunk, default_timestamp=0.0)


def test_numeric_columns_stacked_or_not_give_the_same_results():
    """Arrays as decode_records builds them (float, int, with NaN) take the
    stacked numeric path; the same values in lists are counted one by one."""
    import orjson

    from streamproc.decode import decode_batch

    scenario = Scenario.demo(drift_at=12_000, error_rate=0.01)
    stacked, one_by_one = (
        Monitor(Settings(baseline_events=3000)),
        Monitor(Settings(baseline_events=3000)),
    )
    got, expected = [], []
    for chunk in generate(scenario, events=30_000, batch=700, seed=4):
        decoded = decode_batch([orjson.dumps(e) for e in chunk], [0.0] * len(chunk))
        assert any(type(c) is np.ndarray for c in decoded.columns[0].features.values())
        got += stacked.process(decoded.columns, now=0.0)
        expected += one_by_one.process(columns_by_model(chunk, default_timestamp=0.0), now=0.0)
        a, b = stacked.models["fraud-detector"].latest, one_by_one.models["fraud-detector"].latest
        assert repr(a) == repr(b)
    assert got == expected and len(got) > 3


def test_the_prediction_psi_is_the_psi_against_its_smoothed_baseline_bins():
    baseline = Baseline.fit(columns(5000))
    settings = Settings()
    counts = WindowCounts(baseline, settings)
    window = columns(500, seed=1)
    counts.add(window)
    closed = counts.close(lambda key: False)
    profile = baseline.prediction_score
    assert profile is not None
    observed = profile.bin_counts(window.prediction_scores)
    expected = smoothed(np.asarray(profile.proportions) * profile.count)
    assert closed.prediction_psi == psi_against(expected, observed)
    assert closed.prediction_threshold == psi_threshold(
        bins=profile.bins,
        window=int(observed.sum()),
        reference=profile.count,
        alpha=closed.alpha,
        floor=settings.psi_min,
    )


def test_a_feature_absent_from_a_window_is_missing_in_every_event():
    baseline = Baseline.fit(columns(3000))
    counts = WindowCounts(baseline, Settings())
    window = columns(400, seed=2)
    del window.features["age"]
    counts.add(window)
    closed = counts.close(lambda key: False)
    age = next(f for f in closed.features if f.name == "age")
    assert age.counts.missing == 400 and age.counts.counts.sum() == 0
    assert math.isnan(age.stats.psi)


def test_findings_are_ordered_by_subject_then_detector():
    baseline = Baseline.fit(columns(1000))
    counts = WindowCounts(baseline, Settings())
    window = columns(300, seed=3)
    window.features["zzz"] = [1.0] * 300
    window.features["aaa"] = [1.0] * 300
    counts.add(window)
    closed = counts.close(lambda key: False)
    names = [f.name for f in closed.features]

    def finding(signal, feature, detector):
        return Finding(signal, feature, detector, 1.0, 0.5, 0.1, "warning", "m")

    ordered = [
        finding("feature", names[0], "psi"),
        finding("schema", names[0], "schema"),
        finding("feature", names[2], "null_rate"),
        finding("schema", "zzz", "schema"),
        finding("schema", "aaa", "schema"),
        finding("prediction", None, "psi"),
        finding("errors", None, "error_rate"),
        finding("labels", None, "accuracy"),
    ]
    # for one subject the detector order stays: psi (0) before schema (1)
    shuffled = [ordered[i] for i in (7, 6, 5, 3, 0, 2, 4, 1)]
    assert closed.in_order(shuffled) == ordered


def test_text_columns_counted_by_codes_or_by_counter_give_the_same_results():
    """Columns coded by the decoding child (share_strings: EventColumns.coded)
    are counted with a bincount; the same columns without codes with a Counter."""
    import copy

    import orjson

    from streamproc.decode import decode_batch
    from streamproc.decode.ipc import share_strings

    scenario = Scenario.demo(drift_at=12_000, error_rate=0.01)
    coded, plain = Monitor(Settings(baseline_events=3000)), Monitor(Settings(baseline_events=3000))
    got, expected = [], []
    for chunk in generate(scenario, events=30_000, batch=700, seed=5):
        decoded = decode_batch([orjson.dumps(e) for e in chunk], [0.0] * len(chunk))
        shared = copy.deepcopy(decoded)
        share_strings(shared)
        assert shared.columns[0].coded and not decoded.columns[0].coded
        got += coded.process(shared.columns, now=0.0)
        expected += plain.process(decoded.columns, now=0.0)
        a, b = coded.models["fraud-detector"].latest, plain.models["fraud-detector"].latest
        assert repr(a) == repr(b)
    assert got == expected and any(a.feature == "country" for a in got)
