"""Kafka record batches as a broker sends them, for unit tests of what the
worker does with the labels topic's batches (``streamproc.stream.fetch.RecordBatch``)."""

from __future__ import annotations

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from streamproc.stream.fetch import RecordBatch


def record_batch(
    base: int,
    records: list[tuple[bytes | None, bytes]],
    start: int,
    time_ms: int | None = None,
) -> RecordBatch:
    """A record batch of ``records`` (key, value) at offsets from ``base``, each
    timed ``time_ms``, else 1,000 s + its offset; taken from offset ``start`` on."""
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    stamps = [time_ms or 1_000 * (1_000 + base + i) for i in range(len(records))]
    for i, (key, value) in enumerate(records):
        builder.append(i, timestamp=stamps[i], key=key, value=value, headers=[])
    data = bytearray(builder.build())
    data[:8] = base.to_bytes(8, "big")  # the broker gives the batch its offsets
    count = len(records) - max(0, start - base)
    return RecordBatch(bytes(data), start, base + len(records) - 1, stamps[0], count)
