"""Partitions moving between workers: what the worker does before and after.

Before partitions are taken away (a rebalance, a stop), the offsets of what
was judged are committed, after a last checkpoint of the models' state when
checkpoints are on; then the models of the lost partitions are forgotten and
batches polled before the move are dropped unjudged (every partition kept or
gained restarts from its committed offset). After partitions are assigned,
their models' checkpoints are restored before any of their records is judged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiokafka import ConsumerRebalanceListener, TopicPartition

from streamproc.stream.delivery import deliver

if TYPE_CHECKING:
    from streamproc.stream.ingest import IngestService

log = logging.getLogger(__name__)


class Handover(ConsumerRebalanceListener):
    """The worker's rebalance listener, and its last commit at a stop."""

    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before partitions move: checkpoint and commit what was judged, then forget them."""
        s = self.service
        if s.checkpoints is not None:
            async with s.judging:
                await self.checkpoint()
                await s.committer.commit()
                s.release(revoked)
            return
        await s.committer.commit()
        s.release(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions assigned: restore their models' checkpoints (before any of
        their records is judged)."""
        log.info("assigned partitions: %s", sorted(tp.partition for tp in assigned))
        s = self.service
        if s.checkpoints is None:
            return
        events = s.config.topics.events
        partitions = {tp.partition for tp in assigned if tp.topic == events}
        async with s.judging:
            started = time.perf_counter()
            restored = await s.checkpoints.restore(partitions)
            for key, partition in restored:
                s.owned.note(key, partition)
        log.info(
            "restored %d models from checkpoints in %.0f ms",
            len(restored),
            (time.perf_counter() - started) * 1000,
        )

    async def at_stop(self) -> None:
        """At a stop, if the broker answers soon: the last checkpoint and its
        offsets, or (checkpoints off) the offsets of what was judged."""
        s = self.service
        if s.checkpoints is None:
            try:
                await asyncio.wait_for(s.committer.commit(), timeout=2.0)
            except Exception as exc:  # noqa: BLE001 - best effort on shutdown
                log.warning("offsets not committed on stop (%s)", exc or type(exc).__name__)
            return
        try:
            await asyncio.wait_for(self._last_checkpoint(), timeout=2.5)
        except Exception as exc:  # noqa: BLE001 - best effort on shutdown
            log.warning(
                "no checkpoint on stop (%s); the next owner resumes from the last one",
                exc or type(exc).__name__,
            )

    async def _last_checkpoint(self) -> None:
        s = self.service
        async with s.judging:
            s.generation += 1  # batches polled from now on are not judged
            await self.checkpoint()
            await s.committer.commit()

    async def checkpoint(self) -> None:
        """Write the changed models' state; then hand the offsets it covers to
        the committer. The caller holds the judging lock."""
        s = self.service
        assert s.checkpoints is not None and s.producer is not None
        records, offsets = s.checkpoints.collect(now=time.time())
        topic = s.config.topics.state
        messages = [(topic, value, key, None, partition) for partition, key, value in records]
        await deliver(s.producer, messages, what="checkpoints", stopping=lambda: s.should_stop)
        s.committer.add(offsets)
