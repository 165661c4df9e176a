"""The window detectors of a model, and what one is.

When a window closes, :class:`~streamproc.detect.monitor.ModelMonitor` asks
each detector of :data:`WINDOW_DETECTORS` to judge it, then puts the findings
:meth:`~streamproc.detect.window.ClosedWindow.in_order` and hands them to the
alert policy. A detector is called once per window (never per event), reads
the window's statistics and counts from the
:class:`~streamproc.detect.window.ClosedWindow`, and makes a
:class:`~streamproc.detect.policy.Finding` only where
:meth:`~streamproc.detect.window.ClosedWindow.matters` (it breaches, or its
alert is open), with its text from :mod:`streamproc.detect.messages`.

To add one: write a module with a class like :class:`~.errors.ErrorRate`
and put an instance in :data:`WINDOW_DETECTORS` below.

ADWIN (:mod:`streamproc.detect.adwin_drift`) is fed every chunk, not judged
per window, so it is not one of these.

>>> [d.name for d in WINDOW_DETECTORS]  # doctest: +NORMALIZE_WHITESPACE
['psi', 'null_rate', 'schema', 'error_rate', 'stuck', 'kind', 'unseen_class',
 'estimated_accuracy']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from streamproc.detect.closed import ClosedWindow
from streamproc.detect.errors import ErrorRate
from streamproc.detect.nulls import NullRate
from streamproc.detect.performance_drift import EstimatedAccuracy
from streamproc.detect.policy import Finding
from streamproc.detect.prediction_kind import PredictionKind
from streamproc.detect.prediction_stuck import PredictionStuck
from streamproc.detect.psi_drift import PsiDrift
from streamproc.detect.schema import Schema
from streamproc.detect.unseen_class import UnseenClass


class Detector(Protocol):
    """A test of one closed window of one model."""

    name: str  # the ``detector`` of its findings and alerts

    def judge(self, window: ClosedWindow) -> Iterable[Finding]:
        """The findings of ``window`` that can change an alert (see ``window.matters``)."""
        ...


WINDOW_DETECTORS: tuple[Detector, ...] = (
    PsiDrift(),
    NullRate(),
    Schema(),
    ErrorRate(),
    PredictionStuck(),
    PredictionKind(),
    UnseenClass(),
    EstimatedAccuracy(),
)
