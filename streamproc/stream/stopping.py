"""Stopping a worker within seconds, whatever it is doing.

Faust's worker stops its services in order and waits for each, including its
own consumer group join, which at start-up can take tens of seconds; a second
Ctrl-C then prints tracebacks. :class:`Worker` handles SIGTERM and SIGINT
itself, from the moment the process starts:

1. the ingest service stops first (``ingest_timeout`` at most): it stops
   judging, commits the offsets of what was judged and published, leaves the
   consumer group and stops the decoder processes;
2. then Faust's own shutdown runs;
3. a watchdog thread ends the process ``deadline`` seconds after the first
   signal if it is still running (exit code 0: the stop was asked for). The
   decoder processes die with it (:mod:`streamproc.children`).

A second signal changes nothing: the first one's deadline holds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

import faust

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 8.0  # from the first SIGTERM/SIGINT to the end of the process
INGEST_STOP_S = 4.0


def _hard_exit(deadline: float) -> None:
    log.warning("worker still stopping %.0f s after the signal: exiting now", deadline)
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001, S110 - exiting anyway
            pass
    os._exit(0)


def _ignored(sig: signal.Signals) -> None:
    log.warning("%s received: ignored (a worker opens no debugger)", sig.name)


class Worker(faust.Worker):
    """A Faust worker that stops within :data:`STOP_DEADLINE_S` of SIGTERM/SIGINT."""

    def __init__(self, app: faust.App, ingest: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(app, ingest, *args, **kwargs)
        self._ingest = ingest
        self._watchdog: threading.Timer | None = None
        self.stop_deadline = STOP_DEADLINE_S

    def execute_from_commandline(self) -> Any:
        # Until Faust installs its handlers (replaced by ours below), a signal
        # must not raise KeyboardInterrupt in the middle of start-up.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_early_signal)
        return super().execute_from_commandline()

    def _on_early_signal(self, signum: int, frame: Any) -> None:
        self.loop.call_soon_threadsafe(self._on_stop_signal, signal.Signals(signum))

    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, self._on_stop_signal, sig)
        # mode's SIGUSR2 opens pdb in the event loop: the stream would stop in a
        # debugger (with a terminal) or log a BdbQuit traceback (without one).
        # SIGUSR1 (mode: log every task's stack) is kept.
        self.loop.add_signal_handler(signal.SIGUSR2, _ignored, signal.SIGUSR2)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        if self._watchdog is not None:
            return
        self._watchdog = threading.Timer(self.stop_deadline, _hard_exit, (self.stop_deadline,))
        self._watchdog.daemon = True
        self._watchdog.start()
        log.info("%s received: stopping (at most %.0f s)", sig.name, self.stop_deadline)
        self._ingest.readiness.stopping = True
        asyncio.ensure_future(self._stop_in_order(sig), loop=self.loop)

    async def _stop_in_order(self, sig: signal.Signals) -> None:
        try:
            await asyncio.wait_for(self._ingest.stop(), timeout=INGEST_STOP_S)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - stopping anyway
            log.warning("ingest did not stop cleanly (%s)", type(exc).__name__)
        self._schedule_shutdown(sig)
