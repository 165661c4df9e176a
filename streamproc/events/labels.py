"""Predictions joined to their ground-truth labels: what the label join hands
to the performance detectors.

A label event (``docs/contract.md``, "Label event v1") names a prediction by
``(model_id, event_id)``; once the join has matched it, the pair is one row
of a :class:`LabelledPredictions` batch of that model, in the order the labels
were matched. Classification labels are categories (strings, as
:func:`~streamproc.events.shapes.category` makes them); regression labels are
numbers.

>>> import numpy as np
>>> batch = LabelledPredictions(
...     model_id="m", event_ids=["e1", "e2"], timestamps=np.array([10.0, 11.0]),
...     label_times=np.array([70.0, 95.0]), scores=np.array([0.9, 0.2]),
...     predicted=["fraud", "ok"], truth=["fraud", "fraud"],
...     truth_values=np.array([np.nan, np.nan]))
>>> batch.size, batch.label_delays().tolist()
(2, [60.0, 84.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(slots=True)
class LabelledPredictions:
    """Labelled predictions of one model, one row per matched label.

    ``timestamps``: the prediction events' times; ``label_times``: the label
    events' times (their ``timestamp``, else the label record's time);
    ``scores``: the prediction score (NaN where the prediction had none);
    ``predicted``: the predicted class (None where it had none); ``truth``:
    the label as a category string (None for a numeric label of a regression
    model); ``truth_values``: the label as a number (NaN where it is not one).
    """

    model_id: str
    event_ids: list[str]
    timestamps: np.ndarray
    label_times: np.ndarray
    scores: np.ndarray
    predicted: list[str | None]
    truth: list[str | None]
    truth_values: np.ndarray

    @property
    def size(self) -> int:
        return len(self.event_ids)

    def label_delays(self) -> np.ndarray:
        """Seconds from each prediction to its label."""
        return self.label_times - self.timestamps

    def slice(self, start: int, stop: int) -> LabelledPredictions:
        """Rows ``start:stop`` as a new batch."""
        cut: dict[str, Any] = {
            name: getattr(self, name)[start:stop]
            for name in (
                "event_ids",
                "timestamps",
                "label_times",
                "scores",
                "predicted",
                "truth",
                "truth_values",
            )
        }
        return LabelledPredictions(model_id=self.model_id, **cut)
