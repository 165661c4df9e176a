"""Reading events and reference data from files (JSON lines or CSV).

A JSON-lines file holds one inference event, or one JSON array of events, per
line. For reference data, a line may also be a flat object of feature values
(a training row); a CSV file is always read that way, its header naming the
features. A column named ``prediction`` becomes the prediction (a number is a
score, anything else a class).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "ref.csv")
>>> _ = open(path, "w").write("amount,country,prediction\\n1.5,DE,0.2\\n,FR,0.9\\n")
>>> [e["features"] for e in read_reference(path, model_id="m")]
[{'amount': 1.5, 'country': 'DE'}, {'amount': None, 'country': 'FR'}]
"""

from __future__ import annotations

import csv
import gc
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from streamproc.contracts import DecodedRecords, Rejection, decode_record, decode_records


def _cell(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return {"true": True, "false": False}.get(text.lower(), text)


def _as_event(row: dict[str, Any], model_id: str) -> dict[str, Any]:
    if isinstance(row.get("features"), dict):
        return {**row, "model_id": row.get("model_id") or model_id}
    features = dict(row)
    prediction = features.pop("prediction", None)
    return {"model_id": model_id, "features": features, "prediction": prediction}


def read_reference(path: str | Path, *, model_id: str) -> list[dict[str, Any]]:
    """Reference events for a baseline from JSON lines or CSV (see module doc)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as f:
            return [
                _as_event({k: _cell(v) for k, v in row.items()}, model_id)
                for row in csv.DictReader(f)
            ]
    events = []
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
            rows = obj if isinstance(obj, list) else [obj]
            events += [_as_event(r, model_id) for r in rows if isinstance(r, dict)]
    return events


def read_event_lines(
    path: str | Path, *, lines_per_batch: int = 10_000
) -> Iterator[tuple[list[dict[str, Any]], list[tuple[int, Rejection]]]]:
    """Valid events and (line number, rejection) pairs, a batch of lines at a time."""
    with Path(path).open("rb") as f:
        events: list[dict[str, Any]] = []
        rejected: list[tuple[int, Rejection]] = []
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            good, bad = decode_record(line)
            events += good
            rejected += [(number, r) for r in bad]
            if number % lines_per_batch == 0:
                yield events, rejected
                events, rejected = [], []
        if events or rejected:
            yield events, rejected


def read_line_batches(
    path: str | Path, *, lines_per_batch: int = 10_000
) -> Iterator[tuple[list[int], list[bytes]]]:
    """Non-blank lines (undecoded) and their line numbers, a batch of lines at a time.

    For :func:`streamproc.contracts.decode_records`, which decodes them in bulk.
    """
    with Path(path).open("rb") as f:
        numbers: list[int] = []
        lines: list[bytes] = []
        for number, line in enumerate(f, 1):
            if line.strip():
                numbers.append(number)
                lines.append(line)
            if number % lines_per_batch == 0 and lines:
                yield numbers, lines
                numbers, lines = [], []
        if lines:
            yield numbers, lines


def _decode_lines(lines: list[bytes]) -> DecodedRecords:
    gc.disable()  # short-lived containers, no cycles (see stream/ingest.py)
    try:
        return decode_records(lines, [0.0] * len(lines))
    finally:
        gc.enable()


def decoded_line_batches(
    path: str | Path,
    *,
    lines_per_batch: int = 10_000,
    processes: int | None = None,
    ahead: int = 3,
    min_bytes: int = 16 << 20,
) -> Iterator[tuple[list[int], DecodedRecords]]:
    """:func:`read_line_batches` decoded by :func:`decode_records`, in order.

    For a file of at least ``min_bytes``, ``processes`` child processes
    (default: 2 on a machine with 2 or more CPUs, else none) decode while the
    caller works on the previous batches (at most ``ahead`` batches per process
    are in flight, so memory stays bounded). Decoding is more than half of a
    replay's time; on 2 CPUs, two decoding children next to the detecting
    parent replayed 400,000 events in 3.3-4.0 s, one child in 4.6-5.7 s, none
    in 4.4-7.4 s (a noisy shared machine). Smaller files are decoded here (a
    child costs ~0.2 s to start).
    """
    if processes is None:
        processes = 2 if (os.cpu_count() or 1) >= 2 else 0
    batches = read_line_batches(path, lines_per_batch=lines_per_batch)
    if processes < 1 or os.path.getsize(path) < min_bytes:
        for numbers, lines in batches:
            yield numbers, _decode_lines(lines)
        return
    pending: deque[tuple[list[int], Future[DecodedRecords]]] = deque()
    with ProcessPoolExecutor(processes) as pool:
        try:
            for numbers, lines in batches:
                pending.append((numbers, pool.submit(_decode_lines, lines)))
                if len(pending) > ahead * processes:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()
