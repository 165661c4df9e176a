"""The ``streamproc`` subcommands; :mod:`streamproc.cli` parses the arguments.

Each ``cmd_*`` function takes the parsed arguments and returns the exit code.
Heavy modules (aiokafka, the detectors) are imported inside the commands, so
that ``streamproc --help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamproc.config import WorkerConfig


def fail(message: str, code: int = 2) -> int:
    """Print ``streamproc: error: message`` to stderr; return ``code``."""
    print(f"streamproc: error: {message}", file=sys.stderr)
    return code


def load_config(args: argparse.Namespace, **flags: Any) -> WorkerConfig:
    """The configuration: ``--config`` (if the command has it), then ``flags``."""
    from streamproc.config import load_config

    return load_config(getattr(args, "config", None), flags=flags)
