"""Delivering the worker's own messages, and committing offsets, while brokers come and go.

A worker's outputs (alerts, dead letters, baselines, checkpoints) must reach
the broker before the offsets of what they came from are committed: so
:func:`deliver` waits for every ack and sends everything again while the broker
is away (alert ids and message keys are stable, so a repeat is recognisable),
and :class:`Committer` commits the newest offsets handed to it, keeping them
for the next attempt while the broker is away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

log = logging.getLogger(__name__)

RETRY_S = 1.0  # how often undelivered messages and uncommitted offsets are tried again

# topic, value, key, headers, partition (None: by key)
Message = tuple[str, bytes | None, bytes | None, Any, int | None]


async def deliver(
    producer: AIOKafkaProducer,
    messages: Sequence[Message],
    *,
    what: str,
    stopping: Callable[[], bool],
) -> None:
    """Send ``messages`` and wait until the broker has acked them all; on a
    ``KafkaError`` send them all again every :data:`RETRY_S` seconds, unless
    ``stopping()`` (then the error is raised). ``what`` names them in the log."""
    while messages:
        try:
            sends = [
                await producer.send(topic, value, key=key, headers=headers, partition=partition)
                for topic, value, key, headers, partition in messages
            ]
            await asyncio.gather(*sends)
            return
        except KafkaError as exc:  # the broker is away
            if stopping():
                raise
            log.warning("%s not delivered (%s); sending them again", what, type(exc).__name__)
            await asyncio.sleep(RETRY_S)


class Committer:
    """The newest offsets of judged (and delivered) batches, committed in the
    background: :meth:`add` hands offsets over, the committer task runs
    :meth:`commit_wanted` forever, :meth:`commit` commits at once."""

    def __init__(self, stopping: Callable[[], bool]) -> None:
        self.consumer: AIOKafkaConsumer | None = None
        self._offsets: dict[TopicPartition, int] = {}
        self._wanted = asyncio.Event()
        self._stopping = stopping

    def add(self, offsets: dict[TopicPartition, int]) -> None:
        """Offsets to commit at the next round trip (the newest per partition wins)."""
        self._offsets.update(offsets)
        self._wanted.set()

    def clear(self) -> None:
        """Forget what is not committed yet (partitions moved: their owners redo it)."""
        self._offsets.clear()

    async def commit_wanted(self) -> None:
        """Wait until offsets are handed over, then commit them."""
        await self._wanted.wait()
        await self.commit()

    async def commit(self) -> None:
        """Commit what was handed over; while the broker is away, keep it for a retry."""
        self._wanted.clear()
        offsets, self._offsets = self._offsets, {}
        if not offsets or self.consumer is None:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("offsets not committed (%s); the partition's next owner redoes them", exc)
        except KafkaError as exc:  # the broker is away: commit them with the next ones
            log.warning("offsets not committed yet (%s); retrying", type(exc).__name__)
            for tp, offset in offsets.items():
                self._offsets.setdefault(tp, offset)
            if not self._stopping():
                await asyncio.sleep(RETRY_S)
                self._wanted.set()
