"""The alert texts, pinned: a change here changes what users read and match on."""

from streamproc.detect import messages


def test_level_alert_texts():
    assert (
        messages.psi(messages.feature("amount"), 0.412, 0.1, 500)
        == "PSI of feature 'amount' is 0.41 (threshold 0.10) over the last 500 events"
    )
    assert (
        messages.psi(messages.PREDICTION, 1.0, 0.25, 200)
        == "PSI of the prediction is 1.00 (threshold 0.25) over the last 200 events"
    )
    assert messages.null_rate("income", 0.4, 0.01, 0.11, 500) == (
        "null ratio of feature 'income' is 0.40 (baseline 0.01, threshold 0.11) "
        "over the last 500 events"
    )
    assert messages.error_rate(0.3, 0.001, 0.051, 500) == (
        "inference error rate is 30.00% (baseline 0.10%, threshold 5.10%) over the last 500 events"
    )


def test_schema_texts():
    assert (
        messages.schema("age", "missing", 1.0, 1000)
        == "feature 'age' is missing in 100% of the last 1000 events"
    )
    assert (
        messages.schema("d", "new", 0.5, 200)
        == "feature 'd' is new (not in the baseline) and present in 50% of the last 200 events"
    )
    assert (
        messages.schema("a", "type", 0.25, 400)
        == "feature 'a' has values of the wrong type in 25% of the last 400 events"
    )


def test_adwin_and_resolved_texts():
    assert messages.adwin_change(messages.feature("x"), 1.0, 2.5, 1.5, " sd", 2000) == (
        "ADWIN detected a change in the mean of feature 'x': 1 -> 2.5 (1.50 sd) after 2000 values"
    )
    assert (
        messages.adwin_quiet("prediction", 10)
        == "ADWIN saw no further change in the mean of prediction for 10 windows"
    )
    assert messages.resolved("PSI of x") == "resolved: PSI of x"
