"""What a window (or a baseline) says about the integrity of the predictions.

An event's prediction has a score (``prediction_scores``, NaN where absent)
and/or a label (``prediction_labels``, None where absent). Against the parts a
baseline's predictions have (a score profile, a label profile, or both):

- **null**: the event lacks a part the baseline has (no prediction at all, a
  null prediction, or an object whose score or label is null), unless it is
  of the other kind;
- **other kind**: the baseline has only one part and the event has only the
  other one (a class instead of a score, or the reverse).

:class:`PredictionCounts` counts these per chunk with a few numpy and C-level
list calls (no Python loop per event), plus what the ``stuck`` and
``unseen_class`` checks need: how many predictions equal the window's first
one, and the label bins. Counts add up, so a window's counts do not depend
on how its events were cut into chunks.

>>> import numpy as np
>>> scores = np.array([0.1, np.nan, np.nan, 0.1])
>>> labels = [None, None, "a", None]
>>> null_and_other(scores, labels, has_score=True, has_label=False)
(1, 1)
>>> null_and_other(scores, labels, has_score=True, has_label=True)
(4, 0)
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from streamproc.detect.baseline import Baseline
    from streamproc.detect.profiles import CategoricalProfile, NumericProfile


def label_count(labels: list[Any], distinct: set[Any] | None = None) -> int:
    """How many ``labels`` are not None (``distinct``: their set, if made already).

    ``list.count(None)`` compares every string with None the slow way (~25 ns
    each); a set of the labels (hashes are cached) tells first if any is None."""
    if distinct is None:
        distinct = set(labels)
    return len(labels) - labels.count(None) if None in distinct else len(labels)


def null_and_other(
    scores: np.ndarray,
    labels: list[Any],
    *,
    has_score: bool,
    has_label: bool,
    n_l: int | None = None,
) -> tuple[int, int]:
    """(events with a null prediction, events with a prediction of the other kind);
    ``n_l``: the :func:`label_count`, if known."""
    n = len(scores)
    if n == 0:
        return 0, 0
    present = ~np.isnan(scores)
    n_s = int(np.count_nonzero(present))
    if n_l is None:
        n_l = label_count(labels)
    if n_l == 0:
        both = 0
    elif n_l == n:
        both = n_s
    else:
        has = np.fromiter(map(operator.is_not, labels, repeat(None)), dtype=bool, count=n)
        both = int(np.count_nonzero(present & has))
    neither = n - n_s - n_l + both
    if has_score and has_label:
        return n - both, 0
    if has_score:
        return neither, n_l - both
    if has_label:
        return neither, n_s - both
    return neither, 0


def baseline_null_share(scores: np.ndarray, labels: list[Any]) -> float:
    """The share of reference events with a null prediction (see :func:`null_and_other`),
    the parts being those any reference event has."""
    n = len(scores)
    if n == 0:
        return 0.0
    has_score = bool((~np.isnan(scores)).any())
    has_label = label_count(labels) > 0
    nulls, _ = null_and_other(scores, labels, has_score=has_score, has_label=has_label)
    return nulls / n


@dataclass(slots=True)
class PredictionCounts:
    """The prediction counts of one window against one baseline's prediction parts."""

    has_score: bool
    has_label: bool
    label_profile: CategoricalProfile | None
    events: int = 0
    nulls: int = 0
    other_kind: int = 0
    scores: int = 0  # events with a score
    labels: int = 0  # events with a label
    first_score: float = math.nan  # the window's first score
    same_score: int = 0  # scores equal to it
    first_label: str | None = None
    same_label: int = 0
    unseen: int = 0  # labels in label_profile's "unseen" bin (classes it never saw)

    @classmethod
    def of(cls, baseline: Baseline) -> PredictionCounts:
        label = baseline.prediction_label
        return cls(baseline.prediction_score is not None, label is not None, label)

    def add(
        self, scores: np.ndarray, labels: list[Any], label_bins: np.ndarray | None = None
    ) -> None:
        """Count a chunk's predictions; ``label_bins``: its label counts if already made."""
        n = len(scores)
        self.events += n
        distinct = set(labels)
        n_l = label_count(labels, distinct)
        nulls, other = null_and_other(
            scores, labels, has_score=self.has_score, has_label=self.has_label, n_l=n_l
        )
        self.nulls += nulls
        self.other_kind += other
        present = ~np.isnan(scores)
        n_s = int(np.count_nonzero(present))
        if n_s:
            self.scores += n_s
            if math.isnan(self.first_score):
                self.first_score = float(scores[int(np.argmax(present))])
            self.same_score += int(np.count_nonzero(scores == self.first_score))
        if n_l:
            self.labels += n_l
            if self.first_label is None:
                self.first_label = next(v for v in labels if v is not None)
            self.same_label += labels.count(self.first_label)
        if self.label_profile is not None and n_l:
            self.unseen += (
                int(label_bins[-1])
                if label_bins is not None
                else unseen(self.label_profile, labels, distinct)
            )


def unseen(profile: CategoricalProfile, labels: list[Any], distinct: set[Any]) -> int:
    """How many ``labels`` fall in the profile's "unseen" bin (as ``bin_counts(labels)[-1]``):
    of their set ``distinct``, a count of each one the profile does not know."""
    known = profile.known
    new = [v for v in distinct if v not in known]
    if len(new) > 16:  # many new classes: one pass
        return int(profile.bin_counts(labels)[-1])
    return sum(map(labels.count, new))


def bin_share(profile: NumericProfile | CategoricalProfile, value: Any) -> float:
    """The baseline's share of the bin ``value`` falls in."""
    if profile.kind == "numeric":
        counts = profile.bin_counts(np.array([value], dtype=np.float64))  # type: ignore[arg-type]
    else:
        counts = profile.bin_counts([value])  # type: ignore[arg-type]
    return float(profile.proportions[int(np.argmax(counts))])
