"""``replay --labels FILE``: a file of label events joined to the replayed predictions."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

MAX_REJECTED_SHOWN = 20  # rejected lines printed one by one; the rest are counted


class ReplayLabels:
    """``replay --labels FILE``: label events joined to the replayed predictions.

    The labels file is read in order alongside the events. After each batch of
    events, the labels whose ``timestamp`` is at most the newest event time
    replayed so far are joined (a label without a ``timestamp`` takes that
    time); the file should be in time order, as the labels topic would be. A
    label whose prediction comes later waits as on the labels topic (the join's
    early labels). At the end the remaining labels are joined, and those still
    unmatched are counted.
    """

    def __init__(self, path: str, config: Any) -> None:
        from streamproc.files import read_line_batches
        from streamproc.labels import LabelJoin
        from streamproc.stream.labels import join_settings

        self.path = path
        self.join = LabelJoin(join_settings(config))
        self._lines = read_line_batches(path)
        self._rows: Any = None  # the decoded chunk being fed, and where
        self._at = 0
        self._newest = -float("inf")
        self.counts: Counter[str] = Counter()

    def _next_chunk(self) -> bool:
        from streamproc.labels import decode_labels

        for numbers, lines in self._lines:
            rows, rejections = decode_labels(lines, [float("nan")] * len(lines))
            for index, rejection in rejections:
                self.counts["rejected"] += 1
                if self.counts["rejected"] <= MAX_REJECTED_SHOWN:
                    print(
                        f"{self.path}:{numbers[index]}: rejected: {rejection.detail}",
                        file=sys.stderr,
                    )
            if rows.size:
                self._rows, self._at = rows, 0
                return True
        self._rows = None
        return False

    def _feed(self, until: float) -> list[Any]:
        import numpy as np

        pairs: list[Any] = []
        while True:
            rows = self._rows
            if rows is None or self._at >= rows.size:
                if not self._next_chunk():
                    return pairs
                rows = self._rows
            times = rows.times[self._at :]
            late = times > until
            stop = self._at + (int(late.argmax()) if late.any() else len(times))
            if stop > self._at:
                part = rows.slice(self._at, stop)
                part.times = np.where(np.isnan(part.times), self._newest, part.times)
                pairs += self.join.match(part)
                self._at = stop
            if stop < rows.size:
                return pairs

    def _judge(self, pairs: list[Any], monitor: Any) -> list[Any]:
        return monitor.process_labels(pairs, now=time.time()) if pairs else []

    def after(self, columns: list[Any], monitor: Any) -> list[Any]:
        """Join after a batch of events; the alerts of the pairs it completes."""
        pairs = self.join.add(columns)
        for c in columns:
            if c.size:
                self._newest = max(self._newest, float(c.timestamps.max()))
        return self._judge(pairs + self._feed(self._newest), monitor)

    def finish(self, monitor: Any) -> list[Any]:
        alerts = self._judge(self._feed(float("inf")), monitor)
        self.join.flush()
        return alerts

    def summary(self) -> str:
        self.counts.update(self.join.take_counts())
        c = self.counts
        return (
            f"labels: {c['matched']} matched, unmatched: {c['unknown_id']} unknown_id, "
            f"{c['expired']} expired, {c['duplicate']} duplicate, {c['bad_value']} bad_value; "
            f"{c['rejected']} rejected; {c['unjoinable']} events without event_id"
        )
