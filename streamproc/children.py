"""Child processes that do not outlive their parent (Linux: ``PR_SET_PDEATHSIG``).

The embedded broker runs in a session of its own (so a Ctrl-C in a terminal
reaches only its parent, which stops it in order), and the decoder processes
are children of a worker: without this, a parent killed by SIGKILL would leave
them running, the broker holding its port. :func:`die_with_parent` asks the
kernel to send the calling process SIGTERM when its parent dies; pass it as
``preexec_fn`` to :class:`subprocess.Popen`, or call it first thing in a
child. Elsewhere than Linux it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> bool:
    """Have ``sig`` sent to this process when its parent dies; True if set.

    ``parent``: the pid the parent had; if it is already gone (the parent died
    before this call), the signal is sent now.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def preexec_die_with_parent() -> None:
    """``preexec_fn`` for Popen: the child gets SIGTERM when its parent dies.

    The kernel sends it when the *thread* that started the child ends; start
    such children from the main thread (or a thread that lives as long).
    """
    die_with_parent(signal.SIGTERM)
