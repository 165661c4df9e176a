"""Feature names seen in one event of a large batch: folded out of the columns.

A name flood (a producer that puts an id into a feature *name*) gives every
event a name of its own. Each such name would be a column of the model's
whole batch holding one value, built, shipped, sliced, counted and sampled
like a real feature, for nothing: one value in hundreds of events can never
reach ``schema_min_share`` (5 %), be learned (``min_category_share``, 1 %) or
pair as a rename (20 values). So when a model's part of a batch has at least
:data:`FOLD_MIN_EVENTS` events, a name with a value (or a null) in exactly
one of them gets no column: the batch keeps it as ``name -> (row, value)``
in ``EventColumns.folded``. The window counts a folded name as its column
was counted: a new name present in one event (tracked while there is room
under ``max_tracked_features``, else in the overflow bucket). A baseline
feature among them is put back as a column before the batch is judged
(:meth:`EventColumns.unfold <streamproc.events.columns.EventColumns.unfold>`),
and so is a name folded in one batch and seen in another when batches are
joined (the events a model learns from). Smaller batches (a worker's at low
rates) fold nothing. docs/reliability.md ("Session 9") lists what differs
from columns.

>>> events = [{"model_id": "m", "features": {"x": float(i), f"id_{i}": 1.0}} for i in range(600)]
>>> parts = [EventColumns.from_events("m", events[i : i + 200], default_timestamp=0.0)
...          for i in range(0, 600, 200)]
>>> folded, past_cap = fold_singletons(parts)
>>> list(parts[1].features), len(folded), folded["id_7"], past_cap
(['x'], 255, (7, 1.0), 345)
"""

from __future__ import annotations

from itertools import accumulate, compress, repeat
from operator import is_not
from typing import Any

from streamproc.events import columns as columns_module
from streamproc.events.columns import EventColumns, column_values
from streamproc.events.shapes import MISSING

__all__ = ["FOLD_MIN_EVENTS", "fold_singletons"]

#: A model's batch folds its one-event names from this many events on (the
#: default window: such a name is at most 0.2 % of it).
FOLD_MIN_EVENTS = 500


def fold_singletons(parts: list[EventColumns]) -> tuple[dict[str, tuple[int, Any]] | None, int]:
    """Take out of the columns of a model's chunks of one batch (in place,
    ``parts`` in batch order) every name with a value in exactly one event,
    if the batch has at least :data:`FOLD_MIN_EVENTS` events.

    Returns them as ``name -> (row in the batch, value)`` in order of first
    appearance (or None), and how many names past ``MAX_BATCH_FEATURES`` it
    took out too: the batch keeps its first ``MAX_BATCH_FEATURES`` names,
    folded or not, as ``EventColumns.concat`` keeps columns.
    """
    if sum(part.size for part in parts) < FOLD_MIN_EVENTS:
        return None, 0
    where: dict[str, int] = {}  # name -> its only part, or -1
    for k, part in enumerate(parts):
        for name in part.features:
            where[name] = -1 if name in where else k
    past = len(where) - columns_module.MAX_BATCH_FEATURES
    if past > 0:
        kept = list(where)[: columns_module.MAX_BATCH_FEATURES]
        dropped = where.keys() - set(kept)
        for part in parts:
            for name in dropped.intersection(part.features):
                del part.features[name]
        where = {name: where[name] for name in kept}
    folded: dict[str, tuple[int, Any]] = {}
    offsets = list(accumulate((part.size for part in parts), initial=0))
    for name, k in where.items():
        if k < 0:
            continue
        features = parts[k].features
        column = features[name]
        if type(column) is list:
            n = len(column)
            # (an end is absent in a column of one value; count() compares the
            # other entries by ==, slow for strings: look at the ends first)
            if n == 1 or (
                (column[0] is MISSING or column[-1] is MISSING) and column.count(MISSING) == n - 1
            ):
                row = next(compress(range(n), map(is_not, column, repeat(MISSING))))
                folded[name] = (offsets[k] + row, column[row])
                del features[name]
        elif len(column) == 1:  # an array of one event's value
            folded[name] = (offsets[k], column_values(column)[0])
            del features[name]
    return folded or None, max(0, past)
