"""Shipping a name flood's columns to another process without their absences.

Under a name flood each model's batch keeps up to ``MAX_BATCH_FEATURES`` rare
names, each a list of the batch's length that holds a value in a few rows and
:data:`~streamproc.events.shapes.MISSING` elsewhere: pickle would write and
read a reference per absence (~90 ms a batch of 10,000 flood events, sender
and receiver together). A decoding child knows from the chunks where such a
column can hold values (:func:`value_ranges`), and sends only those stretches
(:func:`pack_sparse`); unpickling rebuilds the very same plain list.

>>> import pickle
>>> column = [MISSING] * 6
>>> column[4] = 1.5
>>> pickle.loads(pickle.dumps(SparseList(6, [(3, column[3:5])])))
[MISSING, MISSING, MISSING, MISSING, 1.5, MISSING]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from streamproc.events.columns import EventColumns
from streamproc.events.shapes import MISSING

if TYPE_CHECKING:
    from streamproc.decode.batch import DecodedRecords

Ranges = dict[str, list[tuple[int, int]]]  # a list column -> where its values may be


def spread(total: int, pieces: list[tuple[int, list[Any]]]) -> list[Any]:
    """A list of ``total`` absences with each piece's values from its start."""
    column: list[Any] = [MISSING] * total
    for start, values in pieces:
        column[start : start + len(values)] = values
    return column


class SparseList:
    """A list column as (length, stretches that may hold values): pickles small,
    unpickles as the plain list (:func:`spread`)."""

    __slots__ = ("total", "pieces")

    def __init__(self, total: int, pieces: list[tuple[int, list[Any]]]) -> None:
        self.total = total
        self.pieces = pieces

    def __reduce__(self) -> tuple[Any, ...]:
        return spread, (self.total, self.pieces)


def shipped_column(total: int, pieces: list[tuple[int, list[Any]]]) -> SparseList | None:
    """The sparse form, made straight from the parts (``EventColumns.concat``'s
    ``sparse``), of a list column that :func:`pack_sparse` would pack and that
    :func:`~.ipc.share_strings` would leave alone (absent at its first, middle
    and last entry): the same :class:`SparseList`, without making the plain
    list of absences first. None for any other column.

    >>> shipped_column(10, [(3, ["a", MISSING])]).pieces, shipped_column(10, [(0, ["a"])])
    ([(3, ['a', MISSING])], None)
    """
    if len(pieces) < 1 or 2 * sum(len(values) for _, values in pieces) >= total:
        return None
    for row in (0, total // 2, total - 1):
        if any(start <= row < start + len(values) for start, values in pieces):
            return None
    return SparseList(total, pieces)


def value_ranges(parts: Sequence[EventColumns], whole: EventColumns) -> Ranges:
    """For ``whole = EventColumns.concat(parts)``: the list columns whose values
    are all within parts that have the name, where those parts cover less
    than half the rows (elsewhere the column is absences), and those rows."""
    if len(parts) < 2:
        return {}
    sizes = [p.size for p in parts]
    starts = [0, *accumulate(sizes)]
    total = starts.pop()
    where: dict[str, list[int]] = {}
    for k, part in enumerate(parts):
        for name in part.features:
            where.setdefault(name, []).append(k)
    out: Ranges = {}
    for name, column in whole.features.items():
        if type(column) is list:
            ks = where[name]
            if 2 * sum(sizes[k] for k in ks) < total:
                out[name] = [(starts[k], starts[k] + sizes[k]) for k in ks]
    return out


def pack_sparse(decoded: DecodedRecords, ranges: list[Ranges]) -> None:
    """Replace (in place) the columns of ``ranges`` (one per model, from
    :func:`value_ranges`) by :class:`SparseList` objects: only for pickling
    the batch, which then unpickles as it was."""
    for columns, sparse in zip(decoded.columns, ranges, strict=True):
        features = columns.features
        for name, stretches in sparse.items():
            column = features[name]
            features[name] = SparseList(  # type: ignore[assignment]
                len(column), [(start, column[start:stop]) for start, stop in stretches]
            )
