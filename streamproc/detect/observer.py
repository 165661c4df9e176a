"""What the monitor reports to beyond its alerts: an observer of judged windows
(``streamproc report`` records them) and where an event of a batch came from
(``streamproc replay``'s input lines)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

from streamproc.detect.closed import ClosedWindow
from streamproc.detect.policy import Finding, Window

Locate: TypeAlias = Callable[[int], dict[str, Any]]  # index in a batch -> extra details


class WindowObserver(Protocol):
    """Sees every judged window of a model (``streamproc report`` records them).

    Called after the detectors; it must not change what it is given.
    """

    def window(self, model_id: str, closed: ClosedWindow) -> None:
        """An event window was closed and judged."""

    def performance(self, model_id: str, finding: Finding, window: Window) -> None:
        """A realized-performance finding (one per labelled window, and ADWIN's)."""
