"""The label join: predictions wait for their ground-truth labels, in bounded memory.

:class:`LabelJoin` pairs each label event with the prediction event of the
same ``(model_id, event_id)`` and hands the pairs on as
:class:`~streamproc.events.labels.LabelledPredictions` (one batch per model,
rows in the order the labels were matched). It does no I/O: the worker
(:mod:`streamproc.stream.labels`) and ``streamproc replay --labels`` drive it.

Per model:

- **pending predictions**: those with an ``event_id`` (events without one are
  not joinable: counted as ``unjoinable``) wait for their label until the
  model's newest prediction time (event time) is ``ttl_seconds`` past theirs
  (default 24 h); those past it are dropped in arrival order (counted
  ``predictions_expired``). At most ``max_pending`` predictions wait in one
  join (default 1,000,000, all models of a worker together): when more would,
  every model gives up its oldest pending predictions, in proportion to how
  many it has, until an eighth of the cap is free (``predictions_evicted``).
  Storage is compact: a dict ``event_id -> slot`` into numpy arrays of
  prediction time, score and interned predicted class.
- **early labels** (a label whose prediction has not arrived yet) wait until
  the model's newest prediction time is ``early_seconds`` past the label's time
  (default 300 s), at most ``max_early`` of them (default 100,000); then they
  count as ``unknown_id``.
- **recent ids**: the ids of the last ``recent_ids`` predictions matched or
  dropped are remembered, so that a second label for a matched prediction
  counts as ``duplicate`` and a label for an expired or evicted prediction as
  ``expired``; an id forgotten by then counts as ``unknown_id``.

Unmatched labels are counted by reason (:data:`UNMATCHED_REASONS`): besides
those, ``bad_value`` is a number that is not a whole number for a model whose
predictions are classes. Whole numbers are classes then (``1`` and ``1.0`` are
the class ``"1"``); a string label of a model that predicts only scores is a
class too (a binary classifier reporting a probability).

>>> import numpy as np
>>> from streamproc.events.columns import EventColumns
>>> from streamproc.labels.decode import LabelRows
>>> join = LabelJoin()
>>> events = [{"model_id": "m", "event_id": f"e{i}", "timestamp": 10.0 + i, "features": {},
...            "prediction": {"label": "ok", "score": 0.1}} for i in range(3)]
>>> join.add([EventColumns.from_events("m", events, default_timestamp=0.0)])
[]
>>> rows = LabelRows(["m", "m", "m"], ["e1", "e1", "zz"], ["fraud", "fraud", "ok"],
...                  np.array([70.0, 71.0, 72.0]), [0, 1, 2])
>>> [(b.model_id, b.event_ids, b.truth, b.label_delays().tolist()) for b in join.match(rows)]
[('m', ['e1'], ['fraud'], [59.0])]
>>> join.pending, sorted(join.take_counts().items())
(2, [('duplicate', 1), ('matched', 1)])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from streamproc.events.columns import EventColumns
from streamproc.events.labels import LabelledPredictions
from streamproc.labels.decode import LabelRows
from streamproc.labels.pending import UNMATCHED_REASONS, JoinSettings, ModelJoin

__all__ = ["JoinSettings", "LabelJoin", "UNMATCHED_REASONS"]


class LabelJoin:
    """Predictions and labels of every model of one worker (or one replay).

    :meth:`add` the decoded events (before the labels of the same batch),
    :meth:`match` the labels; both return the pairs they complete.
    :meth:`take_counts` gives what happened since its last call: ``matched``,
    the unmatched labels by reason, ``unjoinable`` events (no ``event_id``),
    and predictions dropped unlabelled (``predictions_expired``,
    ``predictions_evicted``).
    """

    def __init__(self, settings: JoinSettings | None = None) -> None:
        self.settings = settings or JoinSettings()
        self.models: dict[str, ModelJoin] = {}
        self._counts: Counter[str] = Counter()

    def _model(self, model_id: str) -> ModelJoin:
        join = self.models.get(model_id)
        if join is None:
            join = self.models[model_id] = ModelJoin(model_id, self.settings, Counter())
        return join

    @property
    def pending(self) -> int:
        """Predictions waiting for their label, all models."""
        return sum(len(m.index) for m in self.models.values())

    @property
    def early(self) -> int:
        """Labels waiting for their prediction, all models."""
        return sum(len(m.early) for m in self.models.values())

    def add(self, batches: Iterable[EventColumns]) -> list[LabelledPredictions]:
        """Predictions of decoded events; returns the pairs completed by labels
        that arrived before them."""
        found = []
        for columns in batches:
            pairs = self._model(columns.model_id).add(columns)
            if pairs is not None:
                found.append(pairs)
        pending = self.pending
        cap = self.settings.max_pending
        if pending > cap:  # full: the models give up their oldest, in proportion
            excess = pending - (cap - cap // 8)
            for join in self.models.values():
                join.evict(min(len(join.index), excess * len(join.index) // pending + 1))
        return found

    def match(self, rows: LabelRows) -> list[LabelledPredictions]:
        """Labels (in order); returns the matched pairs, one batch per model.
        Rows grouped by model already (:meth:`LabelRows.grouped`) are matched
        as they are."""
        if not rows.size:
            return []
        rows = rows.grouped()
        ids, values, times = rows.event_ids, rows.values, rows.times
        found = []
        start = 0
        for model_id, stop in rows.groups or ():
            pairs = self._model(model_id).match(
                ids[start:stop], values[start:stop], times[start:stop]
            )
            if pairs is not None:
                found.append(pairs)
            start = stop
        return found

    def flush(self) -> None:
        """Give up on every early label (counted ``unknown_id``): the end of a replay."""
        for join in self.models.values():
            join.counts["unknown_id"] += len(join.early)
            join.early.clear()

    def forget(self, model_ids: Iterable[str]) -> None:
        """Drop the state of models no longer run here (their partitions moved)."""
        for model_id in model_ids:
            join = self.models.pop(model_id, None)
            if join is not None:
                self._counts.update(join.counts)

    def adopt(self, join: ModelJoin) -> bool:
        """Take over a model's join state (restored from a checkpoint); refused
        (False) when it was made with other bounds than this join's."""
        if join.s != self.settings:
            return False
        join.counts.clear()  # counted where it was made
        self.models[join.model_id] = join
        return True

    def take_counts(self) -> Counter[str]:
        """Counts since the last call (see the class doc)."""
        total = self._counts
        for join in self.models.values():
            if join.counts:
                total.update(join.counts)
                join.counts.clear()
        self._counts = Counter()
        return +total  # without zero counts
