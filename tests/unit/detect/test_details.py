"""The ``details`` of each detector's alerts, and value/threshold in one unit."""

import numpy as np

from streamproc.detect.baseline import Baseline
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings
from streamproc.events.columns import EventColumns, columns_by_model


def _events(n, rng, *, country=None, amount=None, latency=15.0, start=0.0, features=None):
    out = []
    for i in range(n):
        f = {
            "amount": float(rng.normal(100, 10)) if amount is None else amount(i),
            "country": (country or (lambda i: "US" if i % 2 else "DE"))(i),
        }
        if features is not None:
            f = features(i, f)
        out.append(
            {
                "model_id": "m",
                "timestamp": start + i / 1000,
                "features": f,
                "latency_ms": float(rng.normal(latency, 1.0)),
            }
        )
    return out


def _monitor(rng, settings=None):
    reference = _events(5000, rng)
    baseline = Baseline.fit(EventColumns.from_events("m", reference, default_timestamp=0.0))
    return Monitor(settings or Settings(), baselines=[baseline])


def _run(monitor, events, batch=1000):
    alerts = []
    for k in range(0, len(events), batch):
        columns = columns_by_model(events[k : k + batch], default_timestamp=0.0)
        alerts += monitor.process(columns, now=0.0)
    return [a for a in alerts if a.status == "firing"]


def _one(alerts, signal, feature, detector):
    key = (signal, feature, detector)
    (alert,) = [a for a in alerts if (a.signal, a.feature, a.detector) == key]
    assert alert.value > alert.threshold  # comparable: value above threshold is firing
    return alert


def test_psi_details_name_the_categories_that_moved_with_both_shares():
    rng = np.random.default_rng(1)
    monitor = _monitor(rng)
    alerts = _run(monitor, _events(2000, rng, country=lambda i: "DE", start=10.0))
    alert = _one(alerts, "feature", "country", "psi")
    moved = alert.details["moved"]
    assert moved[0]["bin"] in {"US", "DE"} and len(moved) <= 3
    shares = {m["bin"]: (m["baseline"], m["window"]) for m in moved}
    assert shares["US"][1] == 0.0 and abs(shares["US"][0] - 0.5) < 0.01
    assert shares["DE"][1] == 1.0
    assert "US 50% -> 0%" in alert.message
    assert alert.to_dict()["details"]["moved"] == moved


def test_psi_details_of_a_numeric_feature_name_its_bins():
    rng = np.random.default_rng(2)
    monitor = _monitor(rng)
    alerts = _run(monitor, _events(2000, rng, amount=lambda i: 200.0, start=10.0))
    moved = _one(alerts, "feature", "amount", "psi").details["moved"]
    assert moved[0]["bin"].startswith(">= ") and moved[0]["window"] == 1.0
    assert abs(moved[0]["baseline"] - 0.1) < 0.02


def test_schema_details_say_expected_and_seen_types():
    rng = np.random.default_rng(3)
    monitor = _monitor(rng)
    alerts = _run(monitor, _events(2000, rng, amount=lambda i: "lots", start=10.0))
    alert = _one(alerts, "schema", "amount", "schema")
    assert alert.details == {
        "problem": "type",
        "expected": "number",
        "seen": "string or boolean",
        "events": 500,
        **({"input_line": alert.details["input_line"]} if "input_line" in alert.details else {}),
    }
    assert "(expected number, got string or boolean)" in alert.message


def test_adwin_latency_details_are_in_ms_and_value_is_comparable_to_threshold():
    rng = np.random.default_rng(4)
    monitor = _monitor(rng)
    _run(monitor, _events(3000, rng, start=10.0))  # the learned latency level: 15 ms
    alerts = _run(monitor, _events(3000, rng, latency=150.0, start=20.0))
    alert = _one(alerts, "latency", None, "adwin")
    d = alert.details
    assert d["unit"] == "ms" and abs(d["before"] - 15) < 1 and abs(d["after"] - 150) < 1
    assert abs(alert.value - (d["after"] - d["before"])) < 1e-5
    assert "15.41 -> 150 ms (134.60 ms)" in alert.message
    assert alert.threshold == 0.0  # no sd to scale latency by: the shift in ms against 0
    later = []
    for k in range(6):
        events = _events(1000, rng, latency=150.0, start=30.0 + k)
        columns = columns_by_model(events, default_timestamp=0.0)
        later += monitor.process(columns, now=0.0)
    (resolved,) = [a for a in later if a.signal == "latency" and a.status == "resolved"]
    assert resolved.threshold == alert.threshold and resolved.value == 0.0


def test_adwin_feature_value_in_sd_against_the_minimum_shift():
    rng = np.random.default_rng(5)
    monitor = _monitor(rng)
    _run(monitor, _events(3000, rng, start=10.0))
    shifted = _events(3000, rng, amount=lambda i: float(rng.normal(130, 10)), start=20.0)
    alerts = _run(monitor, shifted)
    alert = _one(alerts, "feature", "amount", "adwin")
    assert alert.threshold == Settings().adwin_min_shift  # sd, as the value
    assert 2.0 < alert.value < 4.0  # a 3 sd shift
    assert alert.details["unit"] == "value" and abs(alert.details["after"] - 130) < 3


def test_a_renamed_feature_links_its_missing_and_new_alerts():
    rng = np.random.default_rng(6)
    monitor = _monitor(rng)

    def renamed(i, f):
        return {"amount": f["amount"], "country_code": f["country"]}

    alerts = _run(monitor, _events(2000, rng, start=10.0, features=renamed))
    missing = _one(alerts, "schema", "country", "schema")
    new = _one(alerts, "schema", "country_code", "schema")
    assert missing.details["likely_renamed_to"] == "country_code"
    assert new.details["likely_renamed_from"] == "country"
    assert "likely renamed" in missing.message


def test_a_missing_and_an_unrelated_new_feature_are_no_rename():
    rng = np.random.default_rng(7)
    monitor = _monitor(rng)

    def other(i, f):
        return {"amount": f["amount"], "device": "ios" if i % 3 else "android"}

    alerts = _run(monitor, _events(2000, rng, start=10.0, features=other))
    missing = _one(alerts, "schema", "country", "schema")
    assert "likely_renamed_to" not in missing.details
    assert "likely_renamed_from" not in _one(alerts, "schema", "device", "schema").details
