"""Records of the labels topic in bulk: label rows and rejections, no I/O.

A record holds one label event or a JSON array of them (``docs/contract.md``,
"Label event v1"). :func:`decode_labels` decodes a batch of record values:
msgspec checks each record's types in C while it parses; a record it refuses
is decoded again by the reference path,
:func:`streamproc.events.validate.decode_label_record`, which defines what is
valid and the one-line reasons (the dead-letter texts, as for events).

>>> rows, bad = decode_labels(
...     [b'{"model_id": "m", "event_id": "e1", "label": "fraud", "timestamp": 5}',
...      b'[{"model_id": "m", "event_id": "e2", "label": 0.5}, {"model_id": "m"}]',
...      b'not json'],
...     [100.0, 101.0, 102.0])
>>> rows.event_ids, rows.values, rows.times.tolist()
(['e1', 'e2'], ['fraud', 0.5], [5.0, 101.0])
>>> [(i, r.reason, r.detail) for i, r in bad][0]
(1, 'missing_event_id', '[1] event_id: required string field is missing')
>>> bad[1][1].reason
'bad_json'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

import msgspec
import numpy as np

from streamproc.events.shapes import MODEL_ID_PATTERN, Rejection
from streamproc.events.validate import decode_label_record, parse_timestamp

__all__ = [
    "BatchLabels",
    "DecodedLabels",
    "LabelRows",
    "RecordTimes",
    "decode_label_batches",
    "decode_labels",
    "decode_labels_grouped",
]

_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _Label(msgspec.Struct, forbid_unknown_fields=True):
    # Unknown fields are refused here (msgspec would skip them unchecked); the
    # reference path then accepts them, as the contract says.
    model_id: str
    event_id: str
    label: Union[str, _Int, float]  # noqa: UP007 (msgspec needs typing unions on 3.11)
    timestamp: Union[_Int, float, None] = None  # noqa: UP007


_DECODER = msgspec.json.Decoder(Union[_Label, list[_Label]])  # noqa: UP007


@dataclass(slots=True)
class LabelRows:
    """Valid label events, in record order: one entry per label in each list.

    ``values``: the label (a string, or a number); ``times``: the label's
    ``timestamp``, else its record's (Kafka) time; ``records``: the index of
    the record each label came from. ``groups``: set by :meth:`grouped`.
    """

    model_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    values: list[str | int | float] = field(default_factory=list)
    times: np.ndarray = field(default_factory=lambda: np.empty(0))
    records: list[int] = field(default_factory=list)
    groups: list[tuple[str, int]] | None = None

    def grouped(self) -> LabelRows:
        """The same rows with each model's labels together: models in the order
        of their first label, each model's labels in their order; ``groups``
        gives each model and the end of its run. The join works model by model;
        the decoder processes group the rows they send to the worker.

        >>> rows = LabelRows(["a", "b", "a"], ["1", "2", "3"], ["x", "y", "z"],
        ...                  np.arange(3.0), [0, 1, 2]).grouped()
        >>> rows.event_ids, rows.records, rows.groups
        (['1', '3', '2'], [0, 2, 1], [('a', 2), ('b', 3)])
        """
        if self.groups is not None:
            return self
        models = {m: i for i, m in enumerate(dict.fromkeys(self.model_ids))}
        if len(models) <= 1:
            return LabelRows(self.model_ids, self.event_ids, self.values, self.times,
                             self.records, [(m, self.size) for m in models])  # fmt: skip
        codes = np.fromiter(map(models.__getitem__, self.model_ids), np.intp, self.size)
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=len(models))).tolist()
        take = order.tolist()
        model_ids: list[str] = []
        start = 0
        for model_id, stop in zip(models, bounds, strict=True):
            model_ids += [model_id] * (stop - start)
            start = stop
        return LabelRows(
            model_ids,
            np.asarray(self.event_ids, dtype=object)[order].tolist(),
            np.asarray(self.values, dtype=object)[order].tolist(),
            self.times[order],
            [self.records[k] for k in take],
            list(zip(models, bounds, strict=True)),
        )

    @property
    def size(self) -> int:
        return len(self.event_ids)

    def slice(self, start: int, stop: int) -> LabelRows:
        """Rows ``start:stop`` as new rows (not grouped)."""
        return LabelRows(
            self.model_ids[start:stop],
            self.event_ids[start:stop],
            self.values[start:stop],
            self.times[start:stop],
            self.records[start:stop],
        )

    def fill_times(self, record_time: Callable[[int], float]) -> None:
        """Give the labels whose time is NaN (no ``timestamp``, from
        :func:`decode_labels_grouped`) the time of their record:
        ``record_time(record index)``."""
        missing = np.isnan(self.times)
        if missing.any():
            for k in np.flatnonzero(missing).tolist():
                self.times[k] = record_time(self.records[k])

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled compactly (the decoder processes send rows to the worker):
        equal model ids and label strings as one object each (pickle sends it
        once), the event ids as one string (split on arrival: half the cost of
        unpickling a string each), record indexes as one array."""
        shared: dict[str, str] = {}
        intern = shared.setdefault
        values = [intern(v, v) if type(v) is str else v for v in self.values]
        model_ids = (
            None if self.groups is not None else list(map(intern, self.model_ids, self.model_ids))
        )
        event_ids: list[str] | str = self.event_ids
        joined = _SEPARATOR.join(self.event_ids)
        if self.event_ids and joined.count(_SEPARATOR) == len(self.event_ids) - 1:
            event_ids = joined  # (unless an id holds the separator)
        return _unpickle_rows, (
            model_ids,
            event_ids,
            values,
            self.times,
            np.asarray(self.records, dtype=np.int64),
            self.groups,
        )


_SEPARATOR = "\x1f"  # between the event ids of pickled rows


def _unpickle_rows(
    model_ids: list[str] | None,
    event_ids: list[str] | str,
    values: list[str | int | float],
    times: np.ndarray,
    records: np.ndarray,
    groups: list[tuple[str, int]] | None,
) -> LabelRows:
    if model_ids is None:  # grouped: the model ids are the groups'
        model_ids = []
        start = 0
        for model_id, stop in groups or ():
            model_ids += [model_id] * (stop - start)
            start = stop
    if type(event_ids) is str:
        event_ids = event_ids.split(_SEPARATOR)
    return LabelRows(model_ids, event_ids, values, times, records.tolist(), groups)  # type: ignore[arg-type]


DecodedLabels = tuple[LabelRows, list[tuple[int, Rejection]]]  # what decode_labels gives


def decode_labels(values: Sequence[bytes | None], timestamps: Sequence[float]) -> DecodedLabels:
    """Decode the values of a batch of label records.

    ``timestamps`` are the records' times (seconds), the default for labels
    without a ``timestamp`` (read only for those: it may compute them lazily).
    Returns the valid labels and, for each invalid one, ``(record index,
    rejection)``.
    """
    bulk = _decode_bulk(values, timestamps)
    if bulk is not None:
        return bulk, []
    rows = LabelRows()
    model_ids, event_ids, labels, records = (
        rows.model_ids,
        rows.event_ids,
        rows.values,
        rows.records,
    )
    times: list[float] = []
    rejections: list[tuple[int, Rejection]] = []
    decode = _DECODER.decode
    valid_ids: dict[str, bool] = {}  # model id -> matches the contract's pattern
    for index, value in enumerate(values):
        decoded: Any
        try:
            decoded = decode(value)  # type: ignore[arg-type]
        except (msgspec.DecodeError, TypeError):
            decoded = None
        items = decoded if type(decoded) is list else (decoded,)
        if decoded is None or not all(_valid_id(item.model_id, valid_ids) for item in items):
            _reference(index, value, timestamps[index], rows, times, rejections)
            continue
        default = timestamps[index]
        for item in items:
            model_ids.append(item.model_id)
            event_ids.append(item.event_id)
            labels.append(item.label)
            times.append(default if item.timestamp is None else item.timestamp)
            records.append(index)
    rows.times = np.asarray(times, dtype=np.float64)
    return rows, rejections


def decode_labels_grouped(values: Sequence[bytes | None]) -> DecodedLabels:
    """:func:`decode_labels` as the worker's decoder processes do it: the rows
    grouped by model (:meth:`LabelRows.grouped`), and the labels without a
    ``timestamp`` with the time NaN, for the worker to fill in from their
    records (:meth:`LabelRows.fill_times`), so that the records' times need not
    be sent (JSON has no NaN: a decoded time is never NaN).

    >>> rows, _ = decode_labels_grouped(
    ...     [b'{"model_id": "m", "event_id": "e", "label": 1}',
    ...      b'{"model_id": "m", "event_id": "f", "label": 1, "timestamp": 5}'])
    >>> rows.times.tolist(), rows.groups
    ([nan, 5.0], [('m', 2)])
    >>> rows.fill_times(lambda record: 100.0 + record)
    >>> rows.times.tolist()
    [100.0, 5.0]
    """
    rows, rejections = decode_labels(values, [math.nan] * len(values))
    return rows.grouped(), rejections


class RecordTimes:
    """The Kafka times (seconds) of records (with a ``timestamp`` in ms),
    computed only when asked for: :func:`decode_labels` reads those of the
    labels without a ``timestamp`` of their own."""

    __slots__ = ("records",)

    def __init__(self, records: Sequence[Any]) -> None:
        self.records = records

    def __getitem__(self, index: int) -> float:
        return float(self.records[index].timestamp) / 1000.0

    def __len__(self) -> int:
        return len(self.records)


@dataclass(slots=True)
class BatchLabels:
    """What :func:`decode_label_batches` makes of Kafka record batches: the
    rows grouped by model (times all filled in), the rejections (by index
    among the batches' records, in order), and each batch's record keys."""

    rows: LabelRows
    rejections: list[tuple[int, Rejection]]
    keys: list[set[bytes]]


def decode_label_batches(batches: Sequence[Any]) -> BatchLabels:
    """:func:`decode_labels` of the records of fetched Kafka record batches
    (:class:`~streamproc.stream.fetch.RecordBatch`), unpacked here: the
    worker's decoder processes do it for the labels topic, whose records the
    worker does not unpack. A label without a ``timestamp`` gets its record's."""
    from streamproc.stream.fetch import unpacked  # (aiokafka's record batches)

    records: list[Any] = []
    keys: list[set[bytes]] = []
    for batch in batches:
        some = unpacked(batch)
        records += some
        keys.append({r.key for r in some} - {None})
    rows, rejections = decode_labels([r.value for r in records], RecordTimes(records))  # type: ignore[arg-type]
    return BatchLabels(rows.grouped(), rejections, keys)


def _decode_bulk(values: Sequence[bytes | None], timestamps: Sequence[float]) -> LabelRows | None:
    """All records at once, when every one is valid (else None): msgspec decodes
    them as lines. Only when no value holds a newline, so that each line is
    exactly one record."""
    if not values:
        return None
    try:
        joined = b"\n".join(values)  # type: ignore[arg-type]
    except TypeError:  # a tombstone
        return None
    if joined.count(b"\n") != len(values) - 1:
        return None
    try:
        items = _DECODER.decode_lines(joined)
    except msgspec.DecodeError:
        return None
    if len(items) != len(values):  # blank values are skipped as blank lines
        return None
    labels: Any
    records: list[int]
    defaults: Any
    if list in set(map(type, items)):
        labels, records, defaults = [], [], []
        for index, item in enumerate(items):
            if type(item) is list:
                labels += item
                records += [index] * len(item)
                defaults += [timestamps[index]] * len(item)
            else:
                labels.append(item)
                records.append(index)
                defaults.append(timestamps[index])
    else:
        labels, records, defaults = items, list(range(len(items))), timestamps
    model_ids = [x.model_id for x in labels]
    for model_id in set(model_ids):
        if not MODEL_ID_PATTERN.fullmatch(model_id):
            return None
    stamps = [x.timestamp for x in labels]
    if None in stamps:
        stamps = [defaults[i] if t is None else t for i, t in enumerate(stamps)]
    return LabelRows(
        model_ids,
        [x.event_id for x in labels],
        [x.label for x in labels],
        np.asarray(stamps, dtype=np.float64),
        records,
    )


def _reference(
    index: int,
    value: bytes | None,
    default: float,
    rows: LabelRows,
    times: list[float],
    rejections: list[tuple[int, Rejection]],
) -> None:
    """One record msgspec refused, through the reference path."""
    good, bad = decode_label_record(value)
    rejections += [(index, problem) for problem in bad]
    for event in good:
        rows.model_ids.append(event["model_id"])
        rows.event_ids.append(event["event_id"])
        rows.values.append(event["label"])
        stamp = event.get("timestamp")
        times.append(default if stamp is None else parse_timestamp(stamp))  # type: ignore[arg-type]
        rows.records.append(index)


def _valid_id(model_id: str, known: dict[str, bool]) -> bool:
    ok = known.get(model_id)
    if ok is None:
        ok = known[model_id] = MODEL_ID_PATTERN.fullmatch(model_id) is not None
    return ok
