"""Reporter with no broker listening (its port refuses connections): the
request path stays fast and never raises; everything is counted."""

import asyncio
import time

import pytest

from streamproc.broker import free_port
from streamproc.client import AsyncReporter, Reporter
from streamproc.client.sampling import kept


@pytest.fixture
def nowhere() -> str:
    return f"127.0.0.1:{free_port()}"


def test_with_no_broker_calls_return_at_once_and_the_overflow_is_dropped(nowhere):
    told = []
    reporter = Reporter(
        nowhere, model_id="m", max_queue=100, flush_at_exit=False,
        on_error=lambda kind, detail: told.append(kind),
    )  # fmt: skip
    slowest = 0.0
    for i in range(2_000):
        started = time.perf_counter()
        reporter.record({"x": float(i)}, prediction=0.5)
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.05
    stats = reporter.stats()
    assert stats["sent"] == 0
    # the sender holds at most one cycle (4 x batch_events) besides the queue's 100
    assert stats["dropped"] >= 2_000 - 100 - 4 * 500
    assert stats["dropped"] + stats["queued"] <= 2_000
    assert reporter.flush(0.3) is False
    started = time.monotonic()
    assert reporter.close(timeout=0.5) is False
    assert time.monotonic() - started < 8
    after = reporter.stats()
    assert after["sent"] == 0 and after["dropped"] == 2_000 and after["queued"] == 0
    assert "send_failed" in told and after["errors"] >= 1


def test_bad_values_are_counted_by_reason_and_never_raise(nowhere):
    told = []
    reporter = Reporter(nowhere, model_id="m", flush_at_exit=False,
                        on_error=lambda kind, detail: told.append(kind))  # fmt: skip
    reporter.record({1: 1.0})
    reporter.record({"a": object()})
    reporter.record(None)  # type: ignore[arg-type]
    reporter.record({"a": 1}, latency_ms=-5)
    reporter.record({"a": 1}, latency_ms=-6)
    reporter.record({"a": float("nan")})
    reporter.label("e", [1])  # type: ignore[arg-type]
    reporter.flush(0.5)  # encoding happens before sending: counted even with no broker
    stats = reporter.stats()
    assert stats["problems"] == {
        "non_string_key": 1, "unserializable": 1, "bad_features": 1, "bad_latency": 2,
        "bad_label": 1,
    }  # fmt: skip
    assert stats["invalid"] == 6 and stats["non_finite"] == 1
    assert sorted(set(told) - {"send_failed"}) == sorted(stats["problems"])
    reporter.close(timeout=0.2)
    assert reporter.record({"a": 1}) and reporter.stats()["dropped"] >= 2


def test_ids_are_made_when_missing_and_kept_when_given(nowhere):
    with Reporter(nowhere, model_id="m", flush_at_exit=False) as reporter:
        made = reporter.record({"a": 1})
        assert len(made) == 36 and made[14] == "7"
        assert reporter.record({"a": 1}, event_id="req-42") == "req-42"
        assert reporter.record({"a": 1}, event_id=42) == "42"
        reporter.close(timeout=0.2)


def test_sampling_leaves_out_events_and_their_labels_together(nowhere):
    with Reporter(nowhere, model_id="m", sample_rate=0.3, flush_at_exit=False) as reporter:
        ids = [reporter.record({"a": i}, event_id=f"r{i}") for i in range(1_000)]
        left_out = [i for i in ids if not kept(i, 0.3)]
        assert reporter.stats()["unsampled"] == len(left_out) > 500
        assert all(reporter.label(i, 1) is False for i in left_out)
        assert reporter.stats()["unsampled"] == 2 * len(left_out)
        reporter.close(timeout=0.2)


def test_block_waits_for_room_up_to_its_timeout(nowhere):
    reporter = Reporter(nowhere, model_id="m", max_queue=1, when_full="block",
                        block_timeout=0.2, flush_at_exit=False)  # fmt: skip
    reporter.record({"a": 0})  # the sender takes it and fails to send it: it takes no more
    time.sleep(0.3)
    waits = []
    for _ in range(3):
        started = time.monotonic()
        reporter.record({"a": 1})
        waits.append(time.monotonic() - started)
    assert waits[0] < 0.1  # room for one
    assert all(0.15 < w < 2.0 for w in waits[1:]), waits  # waited block_timeout, then dropped
    assert reporter.stats()["dropped"] == 2
    reporter.close(timeout=0.2)


def test_wrong_settings_fail_at_construction():
    for options in (
        {"model_id": "bad id"}, {"model_id": "m", "sample_rate": 0},
        {"model_id": "m", "when_full": "wait"}, {"model_id": "m", "max_queue": 0},
    ):  # fmt: skip
        with pytest.raises(ValueError):
            Reporter("127.0.0.1:1", flush_at_exit=False, **options)


def test_async_reporter_awaits_flush_and_close(nowhere):
    async def main() -> dict:
        async with AsyncReporter(nowhere, model_id="m", flush_at_exit=False) as reporter:
            reporter.record({"a": 1})
            assert await reporter.flush(0.2) is False
            await reporter.close(timeout=0.2)
            return reporter.stats()

    assert asyncio.run(main())["dropped"] == 1


def test_a_value_that_breaks_encoding_costs_one_call_not_the_sender(nowhere):
    class Hostile(dict):
        def items(self):
            raise RuntimeError("no items for you")

    reporter = Reporter(nowhere, model_id="m", flush_at_exit=False, on_error=lambda k, d: None)
    reporter.record(Hostile(a=1))
    reporter.record({1: 2.0})  # still encoded (and counted) after the failure
    reporter.flush(0.5)
    assert reporter.stats()["problems"] == {"internal": 1, "non_string_key": 1}
    reporter.close(timeout=0.2)


def test_a_sample_rate_set_after_construction_applies_to_the_next_calls():
    reporter = Reporter("localhost:1", model_id="m", flush_at_exit=False)
    try:
        reporter.sample_rate = 0.25
        ids = [reporter.record({"x": 1.0}) for _ in range(4_000)]
        unsampled = reporter.stats()["unsampled"]
        assert unsampled == sum(1 for i in ids if not kept(i, 0.25)) and 2_000 < unsampled < 4_000
        with pytest.raises(ValueError):
            reporter.sample_rate = 0.0
    finally:
        reporter.close(0.5)
