"""The ``streamproc`` command's argument types: a wrong value is one argparse
error line naming the flag (see :mod:`streamproc.cli`)."""

from __future__ import annotations

import argparse
import math
import re
import time
from datetime import datetime
from typing import Any

from streamproc.config import LOG_LEVELS


def at_least(kind: type, minimum: float, *, maximum: float | None = None) -> Any:
    """An argparse type: a finite number of ``kind`` from ``minimum`` (above it,
    for a ``minimum`` of 0 and ``kind`` float) up to ``maximum``.

    >>> at_least(float, 0)("0.5"), at_least(int, 0, maximum=65535)("0")
    (0.5, 0)
    >>> at_least(float, 0)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a number above 0, got '0'
    >>> at_least(int, 0, maximum=65535)("70000")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a whole number from 0 to 65535, got '70000'
    """
    what = "a whole number" if kind is int else "a number"
    above = kind is float and minimum == 0
    if maximum is not None:
        what += f" from {minimum:g} to {maximum:g}"
    else:
        what += f" above {minimum:g}" if above else f" of at least {minimum:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None
            or not math.isfinite(value)
            or value < minimum
            or (above and value == minimum)
            or (maximum is not None and value > maximum)
        ):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def at_least_one(kind: type) -> Any:
    """An argparse type: a finite number of ``kind`` that is at least 1.

    >>> at_least_one(float)("2.5"), at_least_one(int)("3")
    (2.5, 3)
    >>> at_least_one(int)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a whole number of at least 1, got '0'
    >>> at_least_one(float)("inf")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a number of at least 1, got 'inf'
    """
    return at_least(kind, 1)


def log_level(text: str) -> str:
    """An argparse type: a log level, in any case."""
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since(text: str, now: float | None = None) -> float:
    """An argparse type: epoch seconds from an ISO time or a duration back from now.

    >>> since("10m", now=1000.0), since("2026-11-22T01:56:51Z")
    (400.0, 1795312611.0)
    """
    match = _DURATION.match(text.strip().lower())
    if match:
        now = time.time() if now is None else now
        return now - float(match[1]) * _SECONDS[match[2]]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO time (2026-11-22T01:56:51Z) or a duration (30s, 10m, 2h, 1d), "
            f"got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as a person types it
    return moment.timestamp()
