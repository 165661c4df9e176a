import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import orjson
import pytest

from streamproc.decode import DecodedRecords, decode_batch
from streamproc.decode.pool import DecoderPool
from streamproc.events.columns import column_values
from streamproc.labels import decode_labels
from streamproc.labels.decode import decode_labels_grouped
from streamproc.simulate import wide_events

VALUES = [
    orjson.dumps({"model_id": "a", "features": {"x": 1.5, "c": "DE"}, "latency_ms": 3}),
    b"not json",
    orjson.dumps([{"model_id": "b", "features": {"x": None}}, {"features": {}}]),
]
TIMES = [1.0, 2.0, 3.0]


def summary(decoded: DecodedRecords) -> list:
    return [
        [
            (c.model_id, {k: column_values(v) for k, v in c.features.items()})
            for c in decoded.columns
        ],
        [(i, r.reason, r.detail, r.index) for i, r in decoded.rejections],
        decoded.events,
    ]


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "pipe"])
async def test_a_child_decodes_exactly_as_this_process(monkeypatch, memfd):
    monkeypatch.setattr("streamproc.decode.pool._MEMFD", memfd)
    with DecoderPool(1) as pool:
        pending = [pool.decode(VALUES, TIMES) for _ in range(3)]
        results = [await p for p in pending]
    for decoded in results:
        assert summary(decoded) == summary(decode_batch(VALUES, TIMES))
        assert np.array_equal(decoded.columns[0].timestamps, [1.0])


async def test_batches_of_a_killed_child_are_decoded_here_and_the_pool_restarts():
    with DecoderPool(1) as pool:
        await pool.decode(VALUES, TIMES)  # the child is running
        (first,) = [d.process for d in pool._decoders]
        values, times = VALUES * 5000, TIMES * 5000  # long enough to be killed while at it
        pending = pool.decode(values, times)
        os.kill(first.pid, signal.SIGKILL)
        decoded = await pending
        assert summary(decoded) == summary(decode_batch(values, times))
        for _ in range(50):
            if pool._decoders[0].process.pid != first.pid:
                break
            await asyncio.sleep(0.1)
        assert pool._decoders[0].process.pid != first.pid
        assert summary(await pool.decode(VALUES, TIMES)) == summary(decode_batch(VALUES, TIMES))


async def test_null_values_and_many_batches_in_flight_come_back_in_order():
    batches = [([*VALUES, None], [*TIMES, 4.0]), ([VALUES[0]] * 5, [float(i) for i in range(5)])]
    with DecoderPool(2) as pool:
        pending = [pool.decode(v, t) for v, t in batches * 3]
        results = [await p for p in pending]
    assert [summary(r) for r in results] == [summary(decode_batch(v, t)) for v, t in batches * 3]
    assert results[0].rejections[-1][0] == 3  # the null value, at its index


async def test_a_dropped_batch_needs_no_await():
    with DecoderPool(1) as pool:
        pool.decode(VALUES, TIMES).close()  # no "never awaited" warning, no error


async def test_decoded_batches_carry_no_event_ids():
    values = [orjson.dumps(e) for e in wide_events(events=300, models=3)]
    with DecoderPool(1) as pool:
        decoded = await pool.decode(values, [0.0] * len(values))
    assert decoded.events == 300 and all(c.event_ids == [] for c in decoded.columns)


def test_negative_process_counts_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        DecoderPool(-1)


def test_children_exit_when_the_worker_is_killed():
    """A SIGKILLed worker cannot stop its pool: the children notice by themselves."""
    script = textwrap.dedent(
        """
        import asyncio, sys, time
        from streamproc.decode.pool import DecoderPool

        async def main():
            pool = DecoderPool(1).start()
            await pool.decode([b"{}"], [0.0])
            print(*[d.process.pid for d in pool._decoders], flush=True)
            time.sleep(60)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    children = [int(pid) for pid in parent.stdout.readline().split()]
    assert children
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in children if _running(pid)]
    assert not alive, f"decoder processes {alive} outlived their worker"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


LABELS = [
    orjson.dumps({"model_id": "a", "event_id": "e1", "label": "fraud", "timestamp": 5}),
    orjson.dumps([{"model_id": "a", "event_id": "e2", "label": 0.5}, {"model_id": "a"}]),
    b"not json",
    orjson.dumps({"model_id": "b", "event_id": "e3", "label": 2}),
    None,
]
LABEL_TIMES = [10.0, 11.0, 12.0, 13.0, 14.0]


def labels_summary(decoded) -> list:
    rows, bad = decoded
    return [
        rows.model_ids,
        rows.event_ids,
        [(type(v), v) for v in rows.values],
        np.nan_to_num(rows.times, nan=-1.0).tolist(),  # NaN: no timestamp, filled in later
        rows.records,
        [(i, r.reason, r.detail, r.index) for i, r in bad],
    ]


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "pipe"])
async def test_a_child_decodes_a_polls_labels_exactly_as_this_process(monkeypatch, memfd):
    monkeypatch.setattr("streamproc.decode.pool._MEMFD", memfd)
    job = (VALUES, TIMES, LABELS, decode_labels_grouped)
    with DecoderPool(0) as here:
        events_here, labels_here = await here.decode_poll(*job)
    with DecoderPool(1) as pool:
        child = pool._decoders[0].process
        pending = [pool.decode_poll(*job) for _ in range(2)]
        pending.append(pool.decode_poll([], [], LABELS, decode_labels_grouped))  # labels only
        results = [await p for p in pending]
        # decoded by the child, not by this process after the child died
        assert [d.process for d in pool._decoders] == [child] and child.is_alive()
    assert labels_summary(labels_here)[5] == labels_summary(decode_labels(LABELS, LABEL_TIMES))[5]
    for _, labels in results:
        assert labels_summary(labels) == labels_summary(labels_here)
        labels[0].fill_times(LABEL_TIMES.__getitem__)  # as the worker does
        expected = decode_labels(LABELS, LABEL_TIMES)[0].grouped()
        assert labels_summary((labels[0], []))[:5] == labels_summary((expected, []))[:5]
        assert labels[0].times.tolist() == [5.0, 11.0, 13.0]  # the record's time by default
    for events, _ in results[:2]:
        assert summary(events) == summary(events_here) == summary(decode_batch(VALUES, TIMES))
    assert results[2][0].events == 0


async def test_a_child_decodes_a_name_flood_exactly_as_this_process():
    values = [orjson.dumps(e) for e in wide_events(events=3000, models=5, name_flood=True)]
    times = [float(i) for i in range(len(values))]
    with DecoderPool(1) as pool:
        decoded = await pool.decode(values, times)
    here = decode_batch(values, times)
    assert summary(decoded) == summary(here)
    assert [c.overflow for c in decoded.columns] == [c.overflow for c in here.columns]
    for a, b in zip(decoded.columns, here.columns, strict=True):
        assert [type(v) for v in a.features.values()] == [type(v) for v in b.features.values()]


def test_children_spawned_before_a_loop_decode_a_file_and_a_pool_never_started_closes(tmp_path):
    from streamproc.decode.spans import line_spans

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in wide_events(events=300)))
    pool = DecoderPool(2).spawn()
    children = [d.process for d in pool._decoders]
    assert all(p.is_alive() for p in children)  # started before any event loop runs
    decoded = [d.events for _, d in pool.decode_spans(line_spans(str(path), 100))]
    assert decoded == [100, 100, 100]
    assert not any(p.is_alive() for p in children)  # stopped at the end
    unused = DecoderPool(1).spawn()
    unused.close()  # spawned, never started: no event loop to leave
    assert not unused._decoders
