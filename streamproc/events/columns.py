"""Valid events of one model as columns (numpy arrays and lists) for the detectors.

>>> cols = EventColumns.from_events("m", [{"model_id": "m", "features": {"x": 1.5}}],
...                                 default_timestamp=10.0)
>>> cols.size, cols.features["x"], cols.timestamps.tolist()
(1, [1.5], [10.0])
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from typing import Any

import numpy as np

from streamproc.events.shapes import MISSING, category
from streamproc.events.validate import parse_timestamp

__all__ = ["EventColumns", "columns_by_model", "column_values", "flatten", "MAX_BATCH_FEATURES"]


def _max_batch_features(text: str) -> int:
    """STREAMPROC_MAX_BATCH_FEATURES; a mistake is a ``ValueError`` naming it."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"STREAMPROC_MAX_BATCH_FEATURES: not a valid int: {text!r}") from None
    if value < 1:
        raise ValueError(f"STREAMPROC_MAX_BATCH_FEATURES: must be at least 1, got {value}")
    return value


# Feature columns of one model in one batch: the first this many distinct names
# (in order of first appearance) get a column; further names are only counted
# (``EventColumns.overflow``). A producer that puts an id into a feature name
# (a new name per event) would otherwise make a batch of n events n columns of
# n values each. At least a model's tracked features (``max_tracked_features``, 200);
# environment STREAMPROC_MAX_BATCH_FEATURES (read once, by each process).
MAX_BATCH_FEATURES = _max_batch_features(os.environ.get("STREAMPROC_MAX_BATCH_FEATURES", "256"))
# (length, [(start, values), ...]) -> another form of a list column, or None
SparseColumn = Callable[[int, list[tuple[int, list[Any]]]], Any]


def flatten(records: Sequence[Any], stamps: Sequence[float]) -> tuple[list[Any], list[float]]:
    """The events of decoded records (each one event or a list of events) and
    the default timestamp of each event: its record's entry in ``stamps``.

    >>> flatten([{"a": 1}, [{"b": 2}, {"c": 3}]], [1.0, 2.0])
    ([{'a': 1}, {'b': 2}, {'c': 3}], [1.0, 2.0, 2.0])
    """
    if list not in set(map(type, records)):  # one C-level pass
        return list(records), list(stamps)
    events: list[Any] = []
    defaults: list[float] = []
    for record, stamp in zip(records, stamps, strict=True):
        if type(record) is list:
            events += record
            defaults += [stamp] * len(record)
        else:
            events.append(record)
            defaults.append(stamp)
    return events, defaults


def _per_event(default_timestamp: float | list[float], n: int) -> list[float]:
    """One default timestamp per event, from one for all or one each."""
    return default_timestamp if isinstance(default_timestamp, list) else [default_timestamp] * n


def _prediction_parts(prediction: Any) -> tuple[float, str | None]:
    """(score, label) of a prediction; NaN / None where absent."""
    kind = type(prediction)
    if kind is float or kind is int:
        return float(prediction), None
    if kind is str:
        return np.nan, prediction
    if kind is bool:
        return np.nan, "true" if prediction else "false"
    if kind is dict:
        score = prediction.get("score")
        label = prediction.get("label")
        return (
            np.nan if score is None else float(score),
            None if label is None else category(label),
        )
    return np.nan, None


@dataclass(slots=True)
class EventColumns:
    """The valid events of one model in columnar form.

    ``features`` maps each feature name seen in the batch to its column: one
    raw value per event (number, string, bool, ``None`` for null,
    :data:`MISSING` when the event lacks the feature). A column that holds
    only floats and nulls may instead be a float64 array (NaN for null), and
    one of only integers an int64 array: :func:`streamproc.decode.decode_batch` builds them so
    that the numbers leave Python objects early. :func:`column_values` gives
    the raw values of either form. Numeric arrays use NaN for "absent".

    ``folded``: feature names with a value in only one event of a large batch,
    given no column (``name -> (row, value)``, see :mod:`streamproc.decode.fold`);
    :meth:`unfold` puts them back as columns.

    ``coded`` may hold, for a column of only strings, nulls and absences, the
    same column as ``(codes, values)``: ``column[i] == values[codes[i]]``,
    ``values`` distinct (the decoding child makes them, see
    :func:`~streamproc.decode.ipc.share_strings`, so that the detectors count
    a chunk's labels with one ``bincount``). The list stays the column; a
    batch made otherwise (or concatenated) has none.
    """

    model_id: str
    model_version: str
    timestamps: np.ndarray
    features: dict[str, list[Any]]
    prediction_scores: np.ndarray
    prediction_labels: list[str | None]
    latency_ms: np.ndarray
    errors: np.ndarray
    event_ids: list[str | None] = field(default_factory=list)
    # distinct feature names past MAX_BATCH_FEATURES in this batch (no column)
    overflow: int = 0
    coded: dict[str, tuple[np.ndarray, list[Any]]] = field(default_factory=dict)
    folded: dict[str, tuple[int, Any]] | None = None

    @property
    def size(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_events(
        cls, model_id: str, events: list[dict[str, Any]], *, default_timestamp: float | list[float]
    ) -> EventColumns:
        """Columns from already validated events of one model.

        ``default_timestamp`` (one value, or one per event) stands in for
        events without a ``timestamp``: the Kafka record time.
        """
        n = len(events)
        defaults = _per_event(default_timestamp, n)
        timestamps = np.fromiter(
            (
                defaults[i]
                if (ts := e.get("timestamp")) is None
                else (ts if type(ts) is not str else parse_timestamp(ts))
                for i, e in enumerate(events)
            ),
            dtype=np.float64,
            count=n,
        )
        rows = [e["features"] for e in events]
        names = dict.fromkeys(chain.from_iterable(rows))  # in order of first appearance
        overflow = max(0, len(names) - MAX_BATCH_FEATURES)
        if overflow:
            names = dict.fromkeys(list(names)[:MAX_BATCH_FEATURES])
        features = {name: [row.get(name, MISSING) for row in rows] for name in names}
        parts = [_prediction_parts(e.get("prediction")) for e in events]
        latency = np.fromiter(
            (np.nan if (v := e.get("latency_ms")) is None else v for e in events),
            dtype=np.float64,
            count=n,
        )
        errors = np.fromiter((e.get("error") is not None for e in events), dtype=bool, count=n)
        version = (events[-1].get("model_version") or "unknown") if events else "unknown"
        return cls(
            model_id=model_id,
            model_version=version,
            timestamps=timestamps,
            features=features,
            prediction_scores=np.fromiter((p[0] for p in parts), dtype=np.float64, count=n),
            prediction_labels=[p[1] for p in parts],
            latency_ms=latency,
            errors=errors,
            event_ids=[e.get("event_id") for e in events],
            overflow=overflow,
        )

    @classmethod
    def concat(
        cls, batches: Sequence[EventColumns], *, sparse: SparseColumn | None = None
    ) -> EventColumns:
        """One batch from several batches of the same model, in order.

        ``sparse(total, pieces)``: given the length of a list column and its
        (start, values) pieces (the parts that have the name), another form
        of that column, or None for the plain list (a decoding child ships a
        name flood's columns so, see :mod:`streamproc.decode.sparse_ship`).

        >>> a = EventColumns.from_events("m", [{"model_id": "m", "features": {"x": 1.5}}],
        ...                              default_timestamp=1.0)
        >>> b = EventColumns.from_events("m", [{"model_id": "m", "features": {"y": "u"}}],
        ...                              default_timestamp=2.0)
        >>> c = EventColumns.concat([a, b])
        >>> c.features["x"], c.features["y"], c.timestamps.tolist()
        ([1.5, MISSING], [MISSING, 'u'], [1.0, 2.0])
        """
        if len(batches) == 1:
            return batches[0].capped()
        if any(b.folded for b in batches):
            batches = _unfold_repeated(batches)
        names = dict.fromkeys(chain.from_iterable(b.features for b in batches))
        folded: dict[str, tuple[int, Any]] | None = None
        overflow = max(0, len(names) - MAX_BATCH_FEATURES) + sum(b.overflow for b in batches)
        if len(names) > MAX_BATCH_FEATURES:
            names = dict.fromkeys(list(names)[:MAX_BATCH_FEATURES])
        features: dict[str, Any] = {}
        sizes = [b.size for b in batches]
        starts = [0, *accumulate(sizes)]
        total = starts.pop()
        where: dict[str, list[int]] = {}  # name -> the batches that have its column
        for k, b in enumerate(batches):
            for name in b.features:
                where.setdefault(name, []).append(k)
            if b.folded:
                folded = folded if folded is not None else {}
                start = starts[k]
                folded.update((name, (start + row, v)) for name, (row, v) in b.folded.items())
        for name in names:
            ks = where[name]
            parts: list[Any] = [batches[k].features[name] for k in ks]
            if (
                len(ks) == len(batches)
                and all(type(p) is np.ndarray for p in parts)
                and len({p.dtype for p in parts}) == 1
            ):
                features[name] = np.concatenate(parts)
            else:
                pieces = [(starts[k], column_values(p)) for k, p in zip(ks, parts, strict=True)]
                shaped = sparse(total, pieces) if sparse is not None else None
                if shaped is None:
                    shaped = [MISSING] * total
                    for start, values in pieces:
                        shaped[start : start + len(values)] = values
                features[name] = shaped
        return cls(
            model_id=batches[-1].model_id,
            model_version=batches[-1].model_version,
            timestamps=np.concatenate([b.timestamps for b in batches]),
            features=features,
            prediction_scores=np.concatenate([b.prediction_scores for b in batches]),
            prediction_labels=list(chain.from_iterable(b.prediction_labels for b in batches)),
            latency_ms=np.concatenate([b.latency_ms for b in batches]),
            errors=np.concatenate([b.errors for b in batches]),
            event_ids=list(chain.from_iterable(b.event_ids for b in batches)),
            overflow=overflow,
            folded=folded,
        )

    def capped(self) -> EventColumns:
        """These columns with at most :data:`MAX_BATCH_FEATURES` feature columns."""
        if len(self.features) <= MAX_BATCH_FEATURES:
            return self
        kept = list(self.features)[:MAX_BATCH_FEATURES]
        self.overflow += len(self.features) - MAX_BATCH_FEATURES
        self.features = {name: self.features[name] for name in kept}
        return self

    def slice(self, start: int, stop: int) -> EventColumns:
        """The events ``start:stop`` of this batch, as a new batch."""
        return EventColumns(
            model_id=self.model_id,
            model_version=self.model_version,
            timestamps=self.timestamps[start:stop],
            features={k: v[start:stop] for k, v in self.features.items()},
            prediction_scores=self.prediction_scores[start:stop],
            prediction_labels=self.prediction_labels[start:stop],
            latency_ms=self.latency_ms[start:stop],
            errors=self.errors[start:stop],
            event_ids=self.event_ids[start:stop],
            overflow=self.overflow,  # every part of an overflowing batch says so
            coded={k: (c[start:stop], v) for k, (c, v) in self.coded.items()},
            folded=_folded_between(self.folded, start, stop),
        )

    def unfold(self, names: Container[str] | None = None) -> EventColumns:
        """These columns with the folded names (those in ``names``; all if None)
        back as list columns, after the others; the same object if none is.

        >>> cols = EventColumns.from_events("m", [{"model_id": "m", "features": {}}] * 3,
        ...                                 default_timestamp=0.0)
        >>> cols.folded = {"id_1": (1, 2.5), "id_2": (2, "a")}
        >>> back = cols.unfold({"id_2"})
        >>> back.features, back.folded
        ({'id_2': [MISSING, MISSING, 'a']}, {'id_1': (1, 2.5)})
        """
        folded = self.folded
        if not folded:
            return self
        back = [name for name in folded if names is None or name in names]
        if not back:
            return self
        features = dict(self.features)
        left = dict(folded)
        for name in back:
            row, value = left.pop(name)
            column: list[Any] = [MISSING] * self.size
            column[row] = value
            features[name] = column
        return dataclasses.replace(self, features=features, folded=left or None)


def _folded_between(
    folded: dict[str, tuple[int, Any]] | None, start: int, stop: int
) -> dict[str, tuple[int, Any]] | None:
    """The folded names of the events ``start:stop``, their rows from ``start``."""
    if not folded:
        return None
    part = {name: (row - start, v) for name, (row, v) in folded.items() if start <= row < stop}
    return part or None


def _unfold_repeated(batches: Sequence[EventColumns]) -> list[EventColumns]:
    """The batches, each folded name that another batch has too (folded or as
    a column) put back as a column: what is folded stays one event's name."""
    seen: Counter[str] = Counter()
    for b in batches:
        seen.update(b.features.keys())
        if b.folded:
            seen.update(b.folded.keys())
    return [b.unfold({n for n in b.folded if seen[n] > 1}) if b.folded else b for b in batches]


def columns_by_model(
    events: list[dict[str, Any]], *, default_timestamp: float | list[float]
) -> list[EventColumns]:
    """Group valid events by ``model_id`` (keeping their order) into columns.

    >>> [c.model_id for c in columns_by_model(
    ...     [{"model_id": "a", "features": {}}, {"model_id": "b", "features": {}}],
    ...     default_timestamp=0.0)]
    ['a', 'b']
    """
    defaults = _per_event(default_timestamp, len(events))
    groups: dict[str, tuple[list[dict[str, Any]], list[float]]] = {}
    for event, ts in zip(events, defaults, strict=True):
        group = groups.get(event["model_id"])
        if group is None:
            group = groups[event["model_id"]] = ([], [])
        group[0].append(event)
        group[1].append(ts)
    return [
        EventColumns.from_events(model_id, group, default_timestamp=ts)
        for model_id, (group, ts) in groups.items()
    ]


def column_values(column: Any) -> list[Any]:
    """The raw values of a feature column, whichever form it has.

    >>> column_values(np.array([1.5, np.nan])), column_values(["a", None])
    ([1.5, None], ['a', None])
    """
    if type(column) is np.ndarray:
        values = column.tolist()
        if column.dtype.kind == "f":
            return [None if v != v else v for v in values]
        return values
    return column if type(column) is list else list(column)
