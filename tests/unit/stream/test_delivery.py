"""Delivering outputs and committing offsets while brokers come and go (stream/delivery.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from streamproc.stream import delivery
from streamproc.stream.delivery import Committer, deliver

TP = TopicPartition("events", 0)


class FlakyProducer:
    """Fails the first ``failures`` rounds of sends, then acks everything."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[Any, ...]] = []

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> asyncio.Future[None]:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError()
        self.sent.append((topic, value, kwargs["key"], kwargs["partition"]))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FlakyConsumer:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.committed: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.committed.append(dict(offsets))


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "RETRY_S", 0.0)


async def test_messages_are_sent_again_until_the_broker_acks_them_all():
    producer = FlakyProducer(failures=2)
    messages = [("alerts", b"a", b"m1", None, None), ("state", b"s", b"m1", None, 3)]
    await deliver(producer, messages, what="outputs", stopping=lambda: False)  # type: ignore[arg-type]
    assert producer.sent == [("alerts", b"a", b"m1", None), ("state", b"s", b"m1", 3)]


async def test_a_stopping_worker_gives_up_with_the_error():
    producer = FlakyProducer(failures=1)
    with pytest.raises(KafkaConnectionError):
        await deliver(
            producer, [("alerts", b"a", None, None, None)], what="x", stopping=lambda: True
        )  # type: ignore[arg-type]
    assert producer.sent == []


async def test_offsets_are_kept_while_the_broker_is_away_and_committed_with_the_next_ones():
    committer = Committer(stopping=lambda: False)
    committer.consumer = FlakyConsumer(KafkaConnectionError())  # type: ignore[assignment]
    committer.add({TP: 10})
    await committer.commit_wanted()  # fails: kept, and wanted again
    committer.add({TP: 20})
    await committer.commit_wanted()
    assert committer.consumer.committed == [{TP: 20}]  # type: ignore[union-attr]


async def test_offsets_a_rebalance_refused_are_dropped_for_the_next_owner():
    committer = Committer(stopping=lambda: False)
    committer.consumer = FlakyConsumer(CommitFailedError())  # type: ignore[assignment]
    committer.add({TP: 10})
    await committer.commit()
    await committer.commit()  # nothing left to commit
    assert committer.consumer.committed == []  # type: ignore[union-attr]


async def test_cleared_offsets_are_not_committed():
    committer = Committer(stopping=lambda: False)
    committer.consumer = FlakyConsumer(None)  # type: ignore[assignment]
    committer.add({TP: 10})
    committer.clear()
    await committer.commit()
    assert committer.consumer.committed == []  # type: ignore[union-attr]
