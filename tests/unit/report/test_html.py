from streamproc.events.alerts import Alert
from streamproc.report.collect import Distribution, ModelReport, ReportData
from streamproc.report.html import render


def _alert(status: str, feature: str = "x") -> Alert:
    return Alert(
        alert_id="a1",
        status=status,
        severity="warning",
        model_id="m<1>",
        model_version="v",
        signal="feature",
        feature=feature,
        detector="psi",
        value=0.4,
        threshold=0.2,
        window_start=0.0,
        window_end=60.0,
        window_events=500,
        detected_at=61.0,
        message="PSI of feature 'x' is 0.4 & more",
    )


def _data(**changes) -> ReportData:
    model = ModelReport(
        "m<1>",
        events=1000,
        windows=2,
        baseline_source="learned",
        baseline_events=500,
        features=["x"],
        series={
            ("feature", "x", "psi"): [(0.0, 0.1, 0.2), (60.0, 0.4, 0.2)],
            ("feature", "x", "null_rate"): [(0.0, 0.0, 0.1), (60.0, 0.0, 0.1)],
            ("prediction", None, "psi"): [(0.0, 0.1, 0.2), (60.0, 0.1, 0.2)],
        },
        distributions={"x": Distribution(["<1", "≥1"], [0.5, 0.5], [0.1, 0.9], 60.0, 500)},
    )
    fields = {"alerts": [_alert("firing"), _alert("resolved")], **changes}
    return ReportData("ev.jsonl", 0.0, 1000, 3, [model], **fields)


def test_the_page_is_self_contained_and_escapes_every_name():
    page = render(_data())
    for outside in ("<script", "src=", "<link", "url(", "https://"):
        assert outside not in page
    assert "m<1>" not in page and "m&lt;1&gt;" in page
    assert "is 0.4 &amp; more" in page


def test_the_page_has_the_alert_table_the_charts_and_the_summary():
    page = render(_data())
    assert "<h2>Alerts (2)</h2>" in page and page.count("<tr><td class=") == 2
    assert page.count("<svg") == 4  # prediction PSI; x's PSI, null rate and distribution
    assert "1,000 (3 rejected)" in page and "1 fired, 1 resolved" in page
    assert "learned from its first events" in page


def test_caps_are_said():
    page = render(_data(omitted_models=4, omitted_alerts=7))
    assert "4 models (cap 20)" in page and "7 more alerts not shown" in page
    assert "<h2>Alerts (9)</h2>" in page


def test_no_alert_no_table():
    assert "No alert." in render(_data(alerts=[]))
