"""The label join as it was before the label-stage speed-ups (commit 2c81b21):
a frozen reference, which ``test_join_equivalence`` compares the join with.
Do not change it; it is not used outside the tests."""

# ruff: noqa
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from streamproc.events.columns import EventColumns
from streamproc.events.labels import LabelledPredictions
from streamproc.events.shapes import category
from streamproc.labels.decode import LabelRows

from streamproc.labels.pending import JoinSettings  # the settings are unchanged

MAX_CLASSES = 10_000  # distinct predicted classes kept per model; more are stored as None
_MATCHED, _EXPIRED = "duplicate", "expired"  # what a remembered id makes of a later label


class ModelJoin:
    """The join state of one model (``max_pending`` bounds it too)."""

    def __init__(self, model_id: str, settings: JoinSettings, counts: Counter[str]) -> None:
        self.model_id = model_id
        self.s = settings
        self.counts = counts
        self.index: dict[str, int] = {}  # pending event id -> slot
        self._allocate(min(settings.max_pending, 1024))
        self.tail = self.head = 0  # slots [tail, head) are in use
        self.watermark = -math.inf  # newest prediction time
        self.early: dict[str, tuple[str | int | float, float]] = {}  # id -> (label, label time)
        self._swept = -math.inf
        self._recent: dict[str, str] = {}
        self._recent_old: dict[str, str] = {}
        self.class_names: list[str | None] = [None]  # code 0 is "no class"
        self.class_codes: dict[str | None, int] = {None: 0}

    def _allocate(self, capacity: int) -> None:
        self.ids = np.empty(capacity, dtype=object)
        self.times = np.empty(capacity, dtype=np.float64)
        self.scores = np.empty(capacity, dtype=np.float64)
        self.classes = np.zeros(capacity, dtype=np.int32)
        self.live = np.zeros(capacity, dtype=bool)

    # -- predictions ---------------------------------------------------------

    def add(self, columns: EventColumns) -> LabelledPredictions | None:
        ids = columns.event_ids
        n = columns.size
        times, scores, labels = (
            columns.timestamps,
            columns.prediction_scores,
            columns.prediction_labels,
        )
        if n:
            self.watermark = max(self.watermark, float(times.max()))
        if len(ids) != n:  # decoded without event ids
            self.counts["unjoinable"] += n
            ids = []
        elif None in ids:
            keep = [i for i, e in enumerate(ids) if e is not None]
            self.counts["unjoinable"] += n - len(keep)
            ids = [ids[i] for i in keep]
            times, scores = times[keep], scores[keep]
            labels = [labels[i] for i in keep]
        cap = self.s.max_pending
        if len(ids) > cap:  # more in one batch than the cap: the oldest never wait
            self.counts["predictions_evicted"] += len(ids) - cap
            ids, times, scores, labels = ids[-cap:], times[-cap:], scores[-cap:], labels[-cap:]
        found = self._insert(ids, times, scores, labels) if ids else None
        self._expire()
        return found

    def _insert(self, ids: list, times: np.ndarray, scores: np.ndarray, labels: list) -> Any:
        k = len(ids)
        self._make_room(k)
        a, b = self.head, self.head + k
        self.ids[a:b] = ids
        self.times[a:b] = times
        self.scores[a:b] = scores
        self.classes[a:b] = self._codes(labels)
        self.live[a:b] = True
        self.head = b
        index = self.index
        before = len(index)
        index.update(zip(ids, range(a, b), strict=True))
        if len(index) != before + k:  # an id seen again (e.g. redelivered): the newest counts
            self._unlive_stale(a)
        if not self.early:
            return None
        early = self.early
        if len(early) <= k:
            hits = [e for e in early if e in index]
        else:
            hits = list(dict.fromkeys(e for e in ids if e in early))
        if not hits:
            return None
        waiting = [early.pop(e) for e in hits]
        return self.match(
            hits, [w[0] for w in waiting], np.array([w[1] for w in waiting], dtype=np.float64)
        )

    def _codes(self, labels: list) -> np.ndarray:
        codes = self.class_codes
        try:
            return np.fromiter(map(codes.__getitem__, labels), dtype=np.int32, count=len(labels))
        except KeyError:
            for label in dict.fromkeys(labels):
                if label not in codes and len(self.class_names) <= MAX_CLASSES:
                    codes[label] = len(self.class_names)
                    self.class_names.append(label)
            return np.fromiter((codes.get(x, 0) for x in labels), dtype=np.int32, count=len(labels))

    def _unlive_stale(self, start: int) -> None:
        """Clear the slots an id's newer prediction replaced (rare: redeliveries)."""
        index, ids = self.index, self.ids
        for p in (np.flatnonzero(self.live[self.tail : self.head]) + self.tail).tolist():
            if index.get(ids[p]) != p:
                self.live[p] = False

    def _make_room(self, k: int) -> None:
        """Room for ``k`` more slots after ``head``: compact, grow, or evict the oldest."""
        if self.head + k <= len(self.times):
            return
        cap = self.s.max_pending
        keep = np.flatnonzero(self.live[self.tail : self.head]) + self.tail
        room = len(self.times)
        if len(keep) + k > cap:  # full: evict the oldest pending, an eighth of the cap at least
            evict = len(keep) + k - cap + cap // 8
            self._drop(keep[:evict], "predictions_evicted")
            keep = keep[evict:]
        while len(keep) + k > room // 2 and room < cap:  # keep at most half full after compaction
            room = min(cap, room * 2)
        old: tuple[np.ndarray, ...] = (self.ids, self.times, self.scores, self.classes)
        if room != len(self.times):
            self._allocate(room)
        m = len(keep)
        fresh: tuple[np.ndarray, ...] = (self.ids, self.times, self.scores, self.classes)
        for new, was in zip(fresh, old, strict=True):
            new[:m] = was[keep]
        self.ids[m:] = None
        self.live[:m] = True
        self.live[m:] = False
        self.index.update(zip(self.ids[:m].tolist(), range(m), strict=True))
        self.tail, self.head = 0, m

    def evict(self, count: int) -> None:
        """Give up the ``count`` oldest pending predictions."""
        live = np.flatnonzero(self.live[self.tail : self.head])[:count] + self.tail
        self._drop(live, "predictions_evicted")

    def _drop(self, positions: np.ndarray, reason: str) -> None:
        """Forget the pending predictions at ``positions`` (expired or evicted)."""
        index, ids = self.index, self.ids
        dropped = 0
        for p in positions.tolist():
            event_id = ids[p]
            if index.get(event_id) == p:
                del index[event_id]
                self._recent[event_id] = _EXPIRED
                dropped += 1
        self.live[positions] = False
        if dropped:
            self.counts[reason] += dropped
            self._remember((), _EXPIRED)  # keeps the recent ids bounded

    def _expire(self) -> None:
        """Drop the predictions older than the TTL (in arrival order), and early
        labels that waited too long."""
        cutoff = self.watermark - self.s.ttl_seconds
        times = self.times
        while self.tail < self.head and times[self.tail] < cutoff:
            stop = min(self.head, self.tail + 4096)
            fresh = times[self.tail : stop] >= cutoff
            end = self.tail + int(fresh.argmax()) if fresh.any() else stop
            old = np.flatnonzero(self.live[self.tail : end]) + self.tail
            self._drop(old, "predictions_expired")
            self.ids[self.tail : end] = None
            self.tail = end
        if self.early and self.watermark - self._swept >= max(1.0, self.s.early_seconds / 8):
            self._swept = self.watermark
            cutoff = self.watermark - self.s.early_seconds
            stale = [e for e, (_, t) in self.early.items() if t < cutoff]
            for e in stale:
                del self.early[e]
            if stale:
                self.counts["unknown_id"] += len(stale)

    # -- labels --------------------------------------------------------------

    def _remember(self, event_ids: Iterable[str], what: str) -> None:
        self._recent.update(zip(event_ids, repeat(what)))
        if len(self._recent) >= self.s.recent_ids // 2:
            self._recent_old, self._recent = self._recent, {}

    def match(self, event_ids: list[str], values: list, label_times: np.ndarray) -> Any:
        """Labels of this model, in order: the pairs they complete (or None); the
        others are counted or wait as early labels."""
        pop = self.index.pop
        positions: list[Any] = list(map(pop, event_ids, repeat(None)))
        if None in positions:
            hit = [k for k, p in enumerate(positions) if p is not None]
            miss = [k for k, p in enumerate(positions) if p is None]
            positions = [positions[k] for k in hit]
            ids = [event_ids[k] for k in hit]
            self._remember(ids, _MATCHED)
            self._misses([event_ids[k] for k in miss], [values[k] for k in miss], label_times[miss])
            event_ids, values, label_times = ids, [values[k] for k in hit], label_times[hit]
        else:
            self._remember(event_ids, _MATCHED)
        return self._pairs(event_ids, values, label_times, positions) if positions else None

    def _misses(self, event_ids: list[str], values: list, label_times: np.ndarray) -> None:
        """Labels whose prediction is not pending: counted, or early labels."""
        early, counts = self.early, self.counts
        recent, old = self._recent, self._recent_old
        for k, event_id in enumerate(event_ids):
            seen = recent.get(event_id) or old.get(event_id)
            if seen is not None:  # matched before (or twice in this batch), or dropped
                counts[seen] += 1
            elif event_id in early:
                counts["duplicate"] += 1
            else:
                early[event_id] = (values[k], float(label_times[k]))
        if len(early) > self.s.max_early:  # the oldest early labels give up
            drop = len(early) - self.s.max_early + self.s.max_early // 8
            for event_id in list(early)[:drop]:
                del early[event_id]
            counts["unknown_id"] += drop

    def _pairs(
        self, event_ids: list[str], values: list, label_times: np.ndarray, positions: list[int]
    ) -> Any:
        """The labelled predictions of matched labels (their predictions' slots)."""
        pos = np.asarray(positions, dtype=np.intp)
        self.live[pos] = False
        times = self.times[pos]
        late = times < self.watermark - self.s.ttl_seconds  # past the TTL, not dropped yet
        codes = self.classes[pos]
        n = len(pos)
        truth_values = np.full(n, np.nan)
        good = ~late
        if set(map(type, values)) == {str}:  # classes: the common case, no loop
            truth: list[str | None] = list(values)
        else:
            truth = []
            for k, value in enumerate(values):
                if type(value) is str:
                    truth.append(value)
                    continue
                truth_values[k] = value
                if codes[k] == 0:  # the prediction has no class: regression (or scores only)
                    truth.append(None)
                elif float(value).is_integer():
                    truth.append(category(int(value)))
                else:
                    truth.append(None)
                    if good[k]:
                        good[k] = False
                        self.counts["bad_value"] += 1
        if late.any():
            self.counts["expired"] += int(late.sum())
        if not good.all():
            sel = np.flatnonzero(good)
            pick = sel.tolist()
            event_ids = [event_ids[k] for k in pick]
            truth = [truth[k] for k in pick]
            pos, times, codes = pos[sel], times[sel], codes[sel]
            label_times, truth_values = label_times[sel], truth_values[sel]
        if not len(pos):
            return None
        self.counts["matched"] += len(pos)
        return LabelledPredictions(
            model_id=self.model_id,
            event_ids=list(event_ids),
            timestamps=times,
            label_times=np.asarray(label_times, dtype=np.float64),
            scores=self.scores[pos],
            predicted=np.asarray(self.class_names, dtype=object)[codes].tolist(),
            truth=truth,
            truth_values=truth_values,
        )


class ReferenceJoin:
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
        """Labels (in order); returns the matched pairs, one batch per model."""
        if not rows.size:
            return []
        models = {m: i for i, m in enumerate(dict.fromkeys(rows.model_ids))}
        if len(models) == 1:
            pairs = self._model(rows.model_ids[0]).match(rows.event_ids, rows.values, rows.times)
            return [] if pairs is None else [pairs]
        # group by model in numpy: each model's labels in their order
        codes = np.fromiter(map(models.__getitem__, rows.model_ids), np.intp, rows.size)
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=len(models))).tolist()
        ids = np.asarray(rows.event_ids, dtype=object)[order].tolist()
        values = np.asarray(rows.values, dtype=object)[order].tolist()
        times = rows.times[order]
        found = []
        start = 0
        for model_id, stop in zip(models, bounds, strict=True):
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

    def take_counts(self) -> Counter[str]:
        """Counts since the last call (see the class doc)."""
        total = self._counts
        for join in self.models.values():
            if join.counts:
                total.update(join.counts)
                join.counts.clear()
        self._counts = Counter()
        return +total  # without zero counts
