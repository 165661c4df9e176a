"""Which partition of the events topic each model's records come from.

Records are keyed by model id, so a model lives on one partition; when a
rebalance takes partitions away, the worker forgets the models they carried.

>>> from aiokafka import TopicPartition
>>> owned = ModelPartitions()
>>> p0, p1 = TopicPartition("events", 0), TopicPartition("events", 1)
>>> owned.note_batch({p0: [b"a", b"b"], p1: [b"c"]})
>>> owned.note(b"d", 1)
>>> owned.take({1}), owned.take({1}), len(owned)
(['c', 'd'], [], 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka import TopicPartition

__all__ = ["ModelPartitions"]


class ModelPartitions:
    """Record key (model id) -> partition, for the models seen or restored here."""

    __slots__ = ("_of",)

    def __init__(self) -> None:
        self._of: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._of)

    def note(self, key: bytes, partition: int) -> None:
        self._of[key] = partition

    def note_batch(self, keys: Mapping[TopicPartition, Iterable[bytes]]) -> None:
        """Note the keys of a polled batch, by the partition they came from."""
        for tp, batch_keys in keys.items():
            self._of.update(dict.fromkeys(batch_keys, tp.partition))

    def take(self, partitions: set[int]) -> list[str]:
        """Forget the models of ``partitions``; their ids."""
        keys = [key for key, partition in self._of.items() if partition in partitions]
        for key in keys:
            del self._of[key]
        return [key.decode(errors="replace") for key in keys]
