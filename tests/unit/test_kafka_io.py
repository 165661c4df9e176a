"""The produce loop and the alert follower, against stand-ins for the aiokafka clients."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from streamproc import kafka_io
from streamproc.events.alerts import Alert


class FakeProducer:
    def __init__(self, **config) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        FakeProducer.last = self

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def flush(self) -> None: ...

    async def send(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, key, value))


async def test_produce_groups_events_per_record_and_sends_the_rest(monkeypatch):
    monkeypatch.setattr(kafka_io, "AIOKafkaProducer", FakeProducer)
    events = [{"model_id": "m", "i": i} for i in range(5)]
    sent = await kafka_io.produce("b", "t", iter(events), per_record=2, restamp=True)
    assert sent == 5
    records = FakeProducer.last.sent
    assert [len(orjson.loads(v)) for _, _, v in records[:2]] == [2, 2]
    assert orjson.loads(records[2][2])["i"] == 4  # the last one alone, as an object
    assert {k for _, k, _ in records} == {b"m"} and {t for t, _, _ in records} == {"t"}
    assert all("timestamp" in e for e in events)


class FakeConsumer:
    polls: list[dict] = []

    def __init__(self, *topics, **config) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None:
        FakeConsumer.stopped = True

    async def getmany(self, timeout_ms: int) -> dict:
        return FakeConsumer.polls.pop(0) if FakeConsumer.polls else {}


ALERT = Alert(
    "id", "firing", "warning", "m", "v1", "feature", "x", "psi", 0.3, 0.1,
    0.0, 60.0, 1000, 1795305600.0, "PSI of feature 'x' is 0.30",
)  # fmt: skip


async def test_follow_alerts_reports_unreadable_records_and_stops_when_idle(monkeypatch):
    monkeypatch.setattr(kafka_io, "AIOKafkaConsumer", FakeConsumer)
    record = SimpleNamespace
    FakeConsumer.polls = [
        {0: [record(value=b"nope", offset=7), record(value=ALERT.to_json(), offset=8)]}
    ]
    seen: list[Alert] = []
    unreadable: list[int] = []
    idles: list[float] = []

    def done(idle: float) -> bool:
        idles.append(idle)
        return idle >= 1.0

    await kafka_io.follow_alerts("b", "t", seen.append, unreadable.append, done=done)
    assert unreadable == [7] and seen == [ALERT]
    assert idles == [0.0, 0.0, 0.5, 1.0] and FakeConsumer.stopped
