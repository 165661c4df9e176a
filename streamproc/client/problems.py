"""The SDK's counters and its reports of what went wrong (pure; thread-safe).

Nothing the SDK meets raises into the caller: each bad value, full queue or
failed send is counted here, and the first of each kind is told once, to the
``on_error(kind, detail)`` callback if there is one, else as one warning
line on the ``streamproc.client`` logger.

>>> seen = []
>>> counts = Counters(on_error=lambda kind, detail: seen.append(kind))
>>> counts.reject("bad_latency", "latency_ms: must be a number >= 0")
>>> counts.reject("bad_latency", "latency_ms: must be a number >= 0")
>>> counts.snapshot()["invalid"], counts.snapshot()["problems"], seen
(2, {'bad_latency': 2}, ['bad_latency'])
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Counters", "ErrorCallback"]

ErrorCallback = Callable[[str, str], object]

log = logging.getLogger("streamproc.client")

_FIELDS = ("sent", "labels_sent", "dropped", "invalid", "unsampled", "non_finite", "errors")


class Counters:
    """What :meth:`streamproc.client.Reporter.stats` returns.

    - ``sent``: events the broker acknowledged; ``labels_sent``: labels;
    - ``dropped``: events and labels not sent: the queue was full (or the
      reporter closed), or the broker was still down when ``close`` gave up;
    - ``invalid``: calls whose values break the contract (never sent), by
      reason in ``problems``;
    - ``unsampled``: events (and their labels) left out by ``sample_rate``;
    - ``non_finite``: NaN or infinite numbers sent as ``null``;
    - ``errors``: failed attempts to send (each is retried).
    """

    def __init__(self, on_error: ErrorCallback | None = None) -> None:
        self._on_error = on_error
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(_FIELDS, 0)
        self._problems: dict[str, int] = {}

    def add(self, field: str, n: int = 1) -> None:
        with self._lock:
            self._counts[field] += n

    def reject(self, reason: str, detail: str) -> None:
        """Count one invalid call; tell the first of each ``reason``."""
        with self._lock:
            self._counts["invalid"] += 1
            first = reason not in self._problems
            self._problems[reason] = self._problems.get(reason, 0) + 1
        if first:
            self.tell(reason, detail)

    def tell(self, kind: str, detail: str) -> None:
        """Report one problem to the callback (its exceptions are swallowed) or the log."""
        if self._on_error is None:
            log.warning("streamproc client: %s: %s (told once per kind)", kind, detail)
            return
        try:
            self._on_error(kind, detail)
        except Exception:  # noqa: BLE001 - the callback must not break sending
            log.exception("streamproc client: the on_error callback raised")

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self._counts, "problems": dict(self._problems)}
