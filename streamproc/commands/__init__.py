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


def kafka_failure(error: BaseException, config: WorkerConfig) -> int:
    """One line on why a one-shot command could not use Kafka; exit code 1."""
    from streamproc.kafka_security import describe_failure

    return fail(describe_failure(config.bootstrap, config, error), 1)


def quiet_kafka_logs() -> None:
    """A one-shot command reports a Kafka failure in one line of its own
    (:func:`kafka_failure`): drop the clients' retry logs, which Python would
    otherwise print to stderr, one per attempt."""
    import logging

    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
