import orjson

from streamproc.events.alerts import Alert, alert_id


def test_alert_round_trip_and_stable_id():
    a = Alert(
        alert_id("m", "feature", "x", "psi", "60.000"),
        "firing",
        "warning",
        "m",
        "v",
        "feature",
        "x",
        "psi",
        0.31,
        0.25,
        0.0,
        60.0,
        5000,
        61.2,
        "msg",
    )
    data = orjson.loads(a.to_json())
    assert set(data) == {
        "alert_id",
        "status",
        "severity",
        "model_id",
        "model_version",
        "signal",
        "feature",
        "detector",
        "value",
        "threshold",
        "window",
        "detected_at",
        "message",
    }
    assert data["window"] == {"start": 0.0, "end": 60.0, "events": 5000}
    assert Alert.from_dict(data) == a
    assert alert_id("m", "feature", "x", "psi", "1") != alert_id("m", "feature", "y", "psi", "1")
