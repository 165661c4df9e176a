"""Checking the fields of a settings dataclass: each value of its declared type and range.

Every mistake is one ``ValueError`` naming the field and what was expected:

>>> from dataclasses import dataclass
>>> @dataclass
... class S:
...     window_events: int = 500
...     psi_min: float = 0.1
>>> check_fields(S(window_events=1000.5))
Traceback (most recent call last):
ValueError: window_events: expected an integer, got 1000.5
>>> check_fields(S(psi_min="0.2"))
Traceback (most recent call last):
ValueError: psi_min: expected a number, got the string '0.2'
>>> check_fields(S(window_events=-5), minimum={"window_events": 1})
Traceback (most recent call last):
ValueError: window_events: must be at least 1, got -5
>>> check_fields(S(psi_min=float("inf")))
Traceback (most recent call last):
ValueError: psi_min: expected a finite number, got inf
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any

_KINDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@cache
def _checks(cls: Any) -> tuple[tuple[str, tuple[type, ...], bool], ...]:
    """(field name, accepted types, None allowed) of each checked field of ``cls``."""
    hints = typing.get_type_hints(cls)
    checks = []
    for f in dataclasses.fields(cls):
        expected = _expected(hints[f.name])
        if expected is not None:
            checks.append((f.name, *expected))
    return tuple(checks)


def _expected(hint: Any) -> tuple[tuple[type, ...], bool] | None:
    """The accepted simple types of a hint and whether None is allowed (None: not checked)."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else ()
    kinds = [a for a in args if a is not type(None)] if args else [hint]
    if not all(k in _KINDS for k in kinds):
        return None
    return tuple(kinds), type(None) in args


_UnionType = type(int | None)


def describe(value: Any) -> str:
    """How a wrong value is shown: strings say they are strings."""
    return f"the string {value!r}" if isinstance(value, str) else repr(value)


_NONE: Mapping[str, float] = {}


def check_fields(
    obj: Any,
    *,
    minimum: Mapping[str, float] = _NONE,
    maximum: Mapping[str, float] = _NONE,
) -> None:
    """Raise ``ValueError`` for the first field of ``obj`` whose value is not of
    its declared simple type (int, float, str, bool, optionally None; an int is
    a number, a bool is not), or is below ``minimum`` / above ``maximum``."""
    kind: Any = type(obj)
    for name, kinds, optional in _checks(kind):
        value: Any = getattr(obj, name)
        if value is None and optional:
            continue
        accepted = (int, float) if kinds == (float,) else kinds  # an int is a number
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in kinds):
            raise ValueError(f"{name}: expected {_KINDS[kinds[0]]}, got {describe(value)}")
        number: Any = value  # checked above; compared only for numeric fields
        if isinstance(number, float) and not math.isfinite(number):  # NaN passes every test below
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
        low = minimum.get(name)
        if low is not None and number < low:
            raise ValueError(f"{name}: must be at least {low:g}, got {value!r}")
        high = maximum.get(name)
        if high is not None and number > high:
            raise ValueError(f"{name}: must be at most {high:g}, got {value!r}")
