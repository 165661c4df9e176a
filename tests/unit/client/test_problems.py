import logging

from streamproc.client.problems import Counters


def test_each_kind_is_told_once_and_counted_every_time():
    told = []
    counters = Counters(on_error=lambda kind, detail: told.append((kind, detail)))
    for _ in range(3):
        counters.reject("non_string_key", "features: key 1 is a int, not a string")
    counters.reject("bad_latency", "latency_ms: must be a number >= 0")
    snap = counters.snapshot()
    assert snap["invalid"] == 4
    assert snap["problems"] == {"non_string_key": 3, "bad_latency": 1}
    assert [k for k, _ in told] == ["non_string_key", "bad_latency"]


def test_without_a_callback_one_log_line_per_kind(caplog):
    counters = Counters()
    with caplog.at_level(logging.WARNING, logger="streamproc.client"):
        counters.reject("unserializable", "event: cannot be written as JSON")
        counters.reject("unserializable", "event: cannot be written as JSON")
    assert len(caplog.records) == 1 and "unserializable" in caplog.text


def test_a_raising_callback_is_contained(caplog):
    def boom(kind: str, detail: str) -> None:
        raise RuntimeError("callback bug")

    counters = Counters(on_error=boom)
    counters.reject("bad_label", "label: must be a string or a number")
    assert counters.snapshot()["invalid"] == 1
    assert "on_error callback raised" in caplog.text
