"""decoded_lines: child processes reading their own runs of lines give
exactly what decoding the file's line batches here gives."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streamproc.decode import decode_batch
from streamproc.events.columns import column_values
from streamproc.files import decoded_lines, read_line_batches
from streamproc.simulate import wide_events


def lines_of(events: int) -> list[bytes]:
    return [orjson.dumps(e) for e in wide_events(events=events, models=3)]


def decoded_line_batches(path: Path, **options: object) -> list:
    """(line numbers, decoded records) of each batch of ``decoded_lines``."""
    return [(b.numbers, b.decoded) for b in decoded_lines(path, **options)]  # type: ignore[arg-type]


def summary(batches) -> list:
    out = []
    for numbers, decoded in batches:
        out.append(
            (
                list(numbers),
                [(i, r) for i, r in decoded.rejections],
                decoded.events,
                [
                    (
                        c.model_id,
                        c.timestamps.tolist(),
                        {k: column_values(v) for k, v in c.features.items()},
                        c.prediction_labels,
                        c.event_ids,
                    )
                    for c in decoded.columns
                ],
            )
        )
    return out


@pytest.mark.parametrize("tail", [b"\n", b"", b"\n\n  \n"])
@pytest.mark.parametrize("per_batch", [7, 50, 1000])
def test_children_decode_the_same_batches(tmp_path: Path, tail: bytes, per_batch: int) -> None:
    lines = lines_of(300)
    lines[3] = b""  # blank
    lines[10] = b"  \t "  # blank too
    lines[11] = b"not json"
    lines[12] = lines[12][:-3]  # truncated: the error names a position
    lines[20] = b"\r" + lines[20] + b"\r"  # a carriage return is not a line break
    lines[30:36] = [b""] * 6
    lines[40] = orjson.dumps(wide_events(events=5, models=1))  # an array
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + tail)
    here = [
        (numbers, decode_batch(batch, [0.0] * len(batch)))
        for numbers, batch in read_line_batches(path, lines_per_batch=per_batch)
    ]
    children = decoded_line_batches(path, lines_per_batch=per_batch, processes=2, min_bytes=0)
    assert summary(children) == summary(here)
    assert any(d.rejections for _, d in here)


def test_event_ids_can_be_left_out(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines_of(50)))
    for processes in (0, 1):
        batches = decoded_line_batches(path, processes=processes, min_bytes=0, event_ids=False)
        assert all(c.event_ids == [] for _, d in batches for c in d.columns)


def test_an_empty_file_has_no_batches(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert list(decoded_line_batches(path, processes=2, min_bytes=0)) == []
