"""One model's side of the label join: its pending predictions, early labels
and recently seen ids, in numpy slots (see :mod:`streamproc.labels.join` for
the rules and their defaults).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from streamproc.events.columns import EventColumns
from streamproc.events.labels import LabelledPredictions
from streamproc.events.shapes import category

UNMATCHED_REASONS = ("unknown_id", "expired", "duplicate", "bad_value")
# ModelJoin attributes pickled as they are (the slots and the id sets are packed)
_PLAIN = ("model_id", "s", "counts", "watermark", "early", "_swept", "class_names", "class_codes")
MAX_CLASSES = 10_000  # distinct predicted classes kept per model; more are stored as None


@dataclass(frozen=True, slots=True)
class JoinSettings:
    """Bounds of the join (see the module doc): ``max_pending`` for all models
    together, the others per model."""

    ttl_seconds: float = 86_400.0
    max_pending: int = 1_000_000
    early_seconds: float = 300.0
    max_early: int = 100_000
    recent_ids: int = 200_000

    def __post_init__(self) -> None:
        if self.max_pending < 8 or self.max_early < 1 or self.recent_ids < 2:
            raise ValueError("max_pending must be >= 8, max_early >= 1, recent_ids >= 2")
        if self.ttl_seconds <= 0 or self.early_seconds < 0:
            raise ValueError("ttl_seconds must be > 0 and early_seconds >= 0")


def packed_ids(ids: list[str]) -> tuple[str, np.ndarray]:
    """Ids as one string and their lengths: pickled in one copy, where a list
    pickles (and memoizes) each string.

    >>> text, lengths = packed_ids(["a1", "", "b22"])
    >>> text, lengths.tolist(), unpacked_ids(text, lengths)
    ('a1b22', [2, 0, 3], ['a1', '', 'b22'])
    """
    return "".join(ids), np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))


def unpacked_ids(text: str, lengths: np.ndarray) -> list[str]:
    """The ids that :func:`packed_ids` packed."""
    ends = np.cumsum(lengths).tolist()
    return list(map(text.__getitem__, map(slice, [0, *ends[:-1]], ends)))


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
        # Recent ids, in two generations (the newest holds fewer than recent_ids // 2):
        # matched (a later label is a duplicate) and dropped (it is expired). An id
        # is in one set of a generation, the last it went to.
        self._matched: set[str] = set()
        self._dropped: set[str] = set()
        self._matched_old: set[str] = set()
        self._dropped_old: set[str] = set()
        self.class_names: list[str | None] = [None]  # code 0 is "no class"
        self.class_codes: dict[str | None, int] = {None: 0}

    # -- checkpoints -----------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle, compact: only the pending slots (not the spare
        capacity, not the index, which their ids rebuild) and every set of ids as
        one string (:func:`packed_ids`). A checkpoint of 75,000 pending
        predictions pickles and compresses in ~1/3 of the time of the plain
        object arrays and dict, at under half the size."""
        state = {name: getattr(self, name) for name in _PLAIN}
        keep = np.flatnonzero(self.live[self.tail : self.head]) + self.tail
        state["pending"] = (
            packed_ids(self.ids[keep].tolist()),
            self.times[keep],
            self.scores[keep],
            self.classes[keep],
        )
        state["recent"] = [packed_ids(list(ids)) for ids in self._recent_sets()]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in _PLAIN:
            setattr(self, name, state[name])
        (text, lengths), times, scores, classes = state["pending"]
        ids = unpacked_ids(text, lengths)
        m = len(ids)
        self._allocate(max(min(self.s.max_pending, 1024), min(self.s.max_pending, 4 * m)))
        self.ids[:m] = ids
        self.times[:m], self.scores[:m], self.classes[:m] = times, scores, classes
        self.live[:m] = True
        self.tail, self.head = 0, m
        self.index = dict(zip(ids, range(m), strict=True))
        recent = [set(unpacked_ids(*packed)) for packed in state["recent"]]
        self._matched, self._dropped, self._matched_old, self._dropped_old = recent

    def _recent_sets(self) -> tuple[set[str], set[str], set[str], set[str]]:
        return self._matched, self._dropped, self._matched_old, self._dropped_old

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
        if len(early) <= k:  # (filter and map: no Python code per label)
            hits = list(filter(index.__contains__, early))
        else:
            hits = list(dict.fromkeys(filter(early.__contains__, ids)))
        if not hits:
            return None
        values, label_times = zip(*map(early.pop, hits), strict=True)
        return self.match(hits, list(values), np.array(label_times, dtype=np.float64))

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
        while len(keep) + k > room // 4 and room < cap:  # at most a quarter full after compaction
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
        dropped = []
        for p in positions.tolist():
            event_id = ids[p]
            if index.get(event_id) == p:
                del index[event_id]
                dropped.append(event_id)
        self.live[positions] = False
        if dropped:
            self.counts[reason] += len(dropped)
            self._remember(dropped, self._dropped, self._matched)

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

    def _remember(self, event_ids: list[str], into: set[str], other: set[str]) -> None:
        """Remember ids as matched or dropped (``into``, and not in ``other``)."""
        if other:
            other.difference_update(event_ids)
        into.update(event_ids)
        if len(self._matched) + len(self._dropped) >= self.s.recent_ids // 2:
            self._matched_old, self._dropped_old = self._matched, self._dropped
            self._matched, self._dropped = set(), set()

    def match(self, event_ids: list[str], values: list, label_times: np.ndarray) -> Any:
        """Labels of this model, in order: the pairs they complete (or None); the
        others are counted or wait as early labels."""
        pop = self.index.pop
        n = len(event_ids)
        positions = np.fromiter(map(pop, event_ids, repeat(-1)), dtype=np.intp, count=n)
        if n and positions.min() < 0:
            found = positions >= 0
            if not found.any():  # none pending (labels before their predictions, say)
                self._misses(event_ids, values, label_times)
                return None
            hit, miss = np.flatnonzero(found).tolist(), np.flatnonzero(~found).tolist()
            positions = positions[found]
            ids = [event_ids[k] for k in hit]
            self._remember(ids, self._matched, self._dropped)
            self._misses([event_ids[k] for k in miss], [values[k] for k in miss], label_times[miss])
            event_ids, values, label_times = ids, [values[k] for k in hit], label_times[hit]
        else:
            self._remember(event_ids, self._matched, self._dropped)
        return self._pairs(event_ids, values, label_times, positions) if len(positions) else None

    def _misses(self, event_ids: list[str], values: list, label_times: np.ndarray) -> None:
        """Labels whose prediction is not pending: counted, or early labels."""
        early, counts = self.early, self.counts
        matched, dropped = self._matched, self._dropped
        matched_old, dropped_old = self._matched_old, self._dropped_old
        fresh = set(event_ids)
        if (
            len(fresh) == len(event_ids)
            and early.keys().isdisjoint(fresh)
            and all(seen.isdisjoint(fresh) for seen in (matched, dropped, matched_old, dropped_old))
        ):  # all new and distinct (the common case): all wait, in bulk
            waiting = zip(values, label_times.tolist(), strict=True)
            early.update(zip(event_ids, waiting, strict=True))
            event_ids = []
        for k, event_id in enumerate(event_ids):
            # matched before (or twice in this batch), or dropped: the newer generation first
            if event_id in matched:
                counts["duplicate"] += 1
            elif event_id in dropped:
                counts["expired"] += 1
            elif event_id in matched_old:
                counts["duplicate"] += 1
            elif event_id in dropped_old:
                counts["expired"] += 1
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
        self, event_ids: list[str], values: list, label_times: np.ndarray, positions: np.ndarray
    ) -> Any:
        """The labelled predictions of matched labels (their predictions' slots)."""
        pos = positions
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
