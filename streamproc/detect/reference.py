"""What to warn about in reference data before a baseline is fitted from it.

Pure: takes the reference events (and each one's line in the file), returns
one line per problem; ``streamproc baseline fit`` prints them.

>>> events = [{"features": {"id": i, "age": 30.0 + i % 7}} for i in range(40)]
>>> events[16]["features"]["age"] = "abc"
>>> for line in reference_warnings(events, list(range(2, 42)), bins=10):
...     print(line.split(":")[0])
only 40 reference rows for 10 bins per numeric feature
column 'id' looks like an id (integers increasing by 1)
column 'age'
>>> reference_warnings(events, list(range(2, 42)), bins=10)[2]
"column 'age': 1 values do not parse as numbers (first at line 18: 'abc')"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ROWS_PER_BIN = 10  # fewer reference rows than this many per bin: noisy edges
MIN_ROWS_FOR_ID = 20  # below this, all-distinct values say nothing


def _columns(events: Sequence[dict[str, Any]]) -> dict[str, list[tuple[int, Any]]]:
    columns: dict[str, list[tuple[int, Any]]] = {}
    for index, event in enumerate(events):
        features = event.get("features")
        if isinstance(features, dict):
            for name, value in features.items():
                if value is not None:
                    columns.setdefault(name, []).append((index, value))
    return columns


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _looks_like_id(values: list[Any]) -> str | None:
    if len(values) < MIN_ROWS_FOR_ID:
        return None
    if all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
        return f"all {len(values)} values distinct"
    if all(_is_number(v) and float(v).is_integer() for v in values):
        steps = {float(b) - float(a) for a, b in zip(values, values[1:], strict=False)}
        if steps == {1.0}:
            return "integers increasing by 1"
    return None


def reference_warnings(
    events: Sequence[dict[str, Any]], lines: Sequence[int], *, bins: int
) -> list[str]:
    """One line per problem of the reference ``events`` (``lines[i]``: the file
    line of ``events[i]``): too few rows for ``bins`` bins, columns that look
    like ids, values of a numeric column that are not numbers."""
    warnings = []
    if len(events) < ROWS_PER_BIN * bins:
        warnings.append(
            f"only {len(events)} reference rows for {bins} bins per numeric feature: the bin "
            f"edges will be noisy ({ROWS_PER_BIN * bins} rows or more are better)"
        )
    for name, cells in _columns(events).items():
        values = [v for _, v in cells]
        why = _looks_like_id(values)
        if why:
            warnings.append(
                f"column {name!r} looks like an id ({why}): a useless feature; "
                f"leave it out with --exclude {name}"
            )
            continue
        numbers = sum(1 for v in values if _is_number(v))
        strings = [(i, v) for i, v in cells if isinstance(v, str)]
        if strings and numbers > len(strings):
            index, first = strings[0]
            warnings.append(
                f"column {name!r}: {len(strings)} values do not parse as numbers "
                f"(first at line {lines[index]}: {first!r})"
            )
    return warnings
