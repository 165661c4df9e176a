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
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streamproc.decode import DecodedRecords
from streamproc.decode.pool import DecoderPool
from streamproc.decode.spans import FileSpan, line_spans


def _cell(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return {"true": True, "false": False}.get(text.lower(), text)


def _as_event(row: dict[str, Any], model_id: str, prediction: str = "prediction") -> dict[str, Any]:
    if isinstance(row.get("features"), dict):
        return {**row, "model_id": row.get("model_id") or model_id}
    features = dict(row)
    value = features.pop(prediction, None)
    return {"model_id": model_id, "features": features, "prediction": value}


def _utf8_lines(path: Path, f: Any) -> Iterator[str]:
    """The lines of a binary file as text; a line that is not UTF-8 is a
    ``ValueError`` naming the file and line."""
    for number, raw in enumerate(f, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                f"{exc.start + 1}); expected a CSV or JSON-lines file"
            ) from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header; a row with more or fewer
    fields than the header is a ``ValueError`` naming the file and line."""
    with path.open("rb") as f:
        reader = csv.reader(_utf8_lines(path, f))
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file, expected a CSV header line") from None
        except csv.Error as exc:
            raise ValueError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
        if not any(h.strip() for h in header):
            raise ValueError(f"{path}:1: expected a CSV header naming the columns")
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise ValueError(f"{path}:1: column(s) named twice: {', '.join(duplicates)}")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ValueError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}:{reader.line_num}: {len(row)} fields, expected {len(header)} "
                    f"as in the header ({', '.join(header)})"
                )
            yield reader.line_num, dict(zip(header, row, strict=True))


def read_reference_rows(
    path: str | Path,
    *,
    model_id: str,
    prediction: str = "prediction",
    exclude: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], list[int]]:
    """Reference events (see module doc) and the line number of each.

    ``prediction`` names the column (or flat row field) holding the
    prediction; the ``exclude`` columns are dropped from the features (each
    must occur in the file, else ``ValueError``).
    """
    path = Path(path)
    events: list[dict[str, Any]] = []
    lines: list[int] = []
    found = prediction == "prediction"  # the default column is optional
    if path.suffix.lower() == ".csv":
        for number, row in _csv_rows(path):
            found = found or prediction in row
            events.append(_as_event({k: _cell(v) for k, v in row.items()}, model_id, prediction))
            lines.append(number)
    else:
        for number, row in _json_rows(path):
            if isinstance(row, dict):
                found = found or (prediction in row and not isinstance(row.get("features"), dict))
                events.append(_as_event(row, model_id, prediction))
                lines.append(number)
    if not found and events:
        raise ValueError(
            f"--prediction-column {prediction}: {path} has no column or flat-row field "
            f"{prediction!r}"
        )
    for name in exclude:
        found = False
        for event in events:
            features = event.get("features")
            if isinstance(features, dict) and name in features:
                del features[name]
                found = True
        if not found:
            raise ValueError(f"--exclude {name}: {path} has no column or feature {name!r}")
    return events, lines


def read_reference(path: str | Path, *, model_id: str) -> list[dict[str, Any]]:
    """Reference events for a baseline from JSON lines or CSV (see module doc)."""
    return read_reference_rows(path, model_id=model_id)[0]


def pop_target(events: list[dict[str, Any]], target: str) -> list[Any]:
    """The ground truth of each reference event from the column ``target``
    (``--target``): taken out of its features (a CSV column or flat row),
    else its top-level field of that name; None where it has none.

    >>> events = [{"features": {"x": 1.0, "y": "a"}}, {"features": {"x": 2.0}, "y": "b"}]
    >>> pop_target(events, "y"), events[0]["features"]
    (['a', 'b'], {'x': 1.0})
    """
    labels = []
    for event in events:
        features = event.get("features")
        if isinstance(features, dict) and target in features:
            labels.append(features.pop(target))
        else:
            labels.append(event.get(target))
    return labels


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Each JSON value of a JSON-lines file, the elements of an array one by
    one, with its line number; ``ValueError`` naming the line that is not JSON."""
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
            for row in obj if isinstance(obj, list) else [obj]:
                yield number, row


def read_labels(path: str | Path, *, model_id: str) -> dict[str, Any]:
    """Label events of ``model_id`` (JSON lines, one label event or an array of
    them a line; "Label event v1" in docs/contract.md) by ``event_id``; the
    last label of an event wins; labels of other models, and lines that are
    no label event, are skipped."""
    labels: dict[str, Any] = {}
    for _, row in _json_rows(Path(path)):
        if not isinstance(row, dict) or row.get("model_id", model_id) != model_id:
            continue
        event_id, label = row.get("event_id"), row.get("label")
        if isinstance(event_id, str) and label is not None:
            labels[event_id] = label
    return labels


def read_line_batches(
    path: str | Path, *, lines_per_batch: int = 10_000
) -> Iterator[tuple[list[int], list[bytes]]]:
    """Non-blank lines (undecoded) and their line numbers, a batch of lines at a time.

    For :func:`streamproc.decode.decode_batch`, which decodes them in bulk.
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


@dataclass(slots=True)
class LineBatch:
    """A run of input lines: the numbers of its non-blank lines, what they
    decoded to, and where it is in the file (:meth:`lines` reads it again)."""

    numbers: Sequence[int]
    decoded: DecodedRecords
    span: FileSpan

    def lines(self) -> list[bytes]:
        """The non-blank lines, read again from the file."""
        return self.span.read()[1]


def decoder_pool(
    path: str | Path,
    *,
    processes: int | None = None,
    min_bytes: int = 16 << 20,
    event_ids: bool = True,
) -> DecoderPool:
    """The :class:`~streamproc.decode.pool.DecoderPool` that :func:`decoded_lines`
    reads ``path`` with: ``processes`` children (default: 2 on a machine with 2
    or more CPUs, else none), none for a file under ``min_bytes``. Call its
    ``spawn()`` to start the children before the caller's own start-up."""
    if processes is None:
        processes = 2 if (os.cpu_count() or 1) >= 2 else 0
    if processes < 1 or os.path.getsize(path) < min_bytes:
        processes = 0
    return DecoderPool(processes, event_ids=event_ids)


def decoded_lines(
    path: str | Path,
    *,
    lines_per_batch: int = 10_000,
    processes: int | None = None,
    ahead: int = 3,
    min_bytes: int = 16 << 20,
    event_ids: bool = True,
    pool: DecoderPool | None = None,
) -> Iterator[LineBatch]:
    """:func:`read_line_batches` decoded by :func:`streamproc.decode.decode_batch`, in order.

    ``event_ids=False`` leaves the columns' ``event_ids`` empty (the detectors
    do not read them).

    For a file of at least ``min_bytes``, a
    :class:`~streamproc.decode.pool.DecoderPool` of ``processes`` child
    processes (default: 2 on a machine with 2 or more CPUs, else none) reads
    and decodes runs of lines while the caller works on the previous ones (at
    most ``ahead`` runs per process are in flight, so memory stays bounded);
    this process only scans for newlines (:mod:`streamproc.decode.spans`) and
    unpickles what the children send back. Smaller files are decoded here (a
    child costs ~0.4 s to start). ``pool``: that of :func:`decoder_pool`,
    whose children were started early (then ``processes``, ``min_bytes`` and
    ``event_ids`` are its own).
    """
    if pool is None:
        pool = decoder_pool(path, processes=processes, min_bytes=min_bytes, event_ids=event_ids)
    spans = deque[FileSpan]()

    def each_span() -> Iterator[FileSpan]:
        for span in line_spans(path, lines_per_batch):
            spans.append(span)
            yield span

    for numbers, decoded in pool.decode_spans(each_span(), ahead=ahead):
        span = spans.popleft()
        if numbers:
            yield LineBatch(numbers, decoded, span)


def event_lines(batch: LineBatch) -> dict[str, list[int]] | None:
    """The input line of each valid event of ``batch``, per model, in the
    order of the model's columns (None if they cannot be matched).

    Lines are parsed again (only called for a batch that raised an alert): a
    line without a rejection holds valid events only; in a line with some,
    each element is validated again.

    >>> import tempfile, os
    >>> lines = [b'{"model_id": "a", "features": {}}', b'[{"model_id": "b", "features": {}},'
    ...          b' {"features": {}}]', b'{"model_id": "a", "features": {}}']
    >>> path = os.path.join(tempfile.mkdtemp(), "events.jsonl")
    >>> _ = open(path, "wb").write(b"\\n".join([lines[0], b"", lines[1], lines[2]]))
    >>> [batch] = decoded_lines(path)
    >>> event_lines(batch)
    {'a': [1, 4], 'b': [3]}
    """
    from streamproc.events.validate import validate_event

    rejected: dict[int, int] = {}
    for index, _ in batch.decoded.rejections:
        rejected[index] = rejected.get(index, 0) + 1
    out: dict[str, list[int]] = {}
    for index, (number, line) in enumerate(zip(batch.numbers, batch.lines(), strict=True)):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        elements = obj if isinstance(obj, list) else [obj]
        bad = rejected.get(index, 0)
        if bad >= len(elements):
            continue
        for element in elements:
            if bad and validate_event(element) is not None:
                continue
            out.setdefault(element["model_id"], []).append(number)
    sizes = {c.model_id: c.size for c in batch.decoded.columns}
    if sizes != {model: len(numbers) for model, numbers in out.items()}:
        return None
    return out


def sniff_json_lines(
    path: str | Path, *, lines: int = 5, kind: str = "events to replay"
) -> str | None:
    """Why ``path`` is not a JSON-lines file of ``kind``, or None if it may be:
    its first ``lines`` non-empty lines are all not JSON (e.g. CSV), or it is empty.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ref.csv")
    >>> _ = open(path, "w").write("amount,country\\n1.5,DE\\n")
    >>> sniff_json_lines(path)[:80]
    "the first 2 non-empty lines are not JSON (it looks like CSV with the header 'amo"
    """
    seen: list[bytes] = []
    with Path(path).open("rb") as f:
        for line in f:
            if line.strip():
                seen.append(line.strip())
                if len(seen) >= lines:
                    break
    if not seen:
        return f"it is empty (no {kind})"
    for line in seen:
        try:
            orjson.loads(line)
            return None
        except orjson.JSONDecodeError:
            pass
    head = seen[0].decode("utf-8", "replace")[:80]
    csv_like = "," in head and not head.startswith(("{", "["))
    looks = f" (it looks like CSV with the header '{head}')" if csv_like else ""
    return (
        f"the first {len(seen)} non-empty lines are not JSON{looks}: "
        f"give a JSON-lines file of {kind}"
    )
