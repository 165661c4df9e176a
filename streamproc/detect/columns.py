"""Raw feature columns as the detectors count them: numbers or labels, and how
many values were null, absent or of the wrong kind.

A column is what :class:`~streamproc.events.columns.EventColumns` holds: a list of
raw JSON values (:data:`~streamproc.events.shapes.MISSING` where an event lacks
the feature), or a float64/int64 array (NaN for null) as
:func:`~streamproc.decode.decode_batch` builds it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streamproc.events.columns import column_values
from streamproc.events.shapes import MISSING, category

if TYPE_CHECKING:
    from streamproc.detect.profiles import CategoricalProfile, NumericProfile, Profile

_NUMERIC_TYPES = frozenset({int, float})


@dataclass(frozen=True, slots=True)
class ColumnView:
    """A raw feature column split into what the detectors count.

    ``numbers`` holds one float per event (NaN where the value is null, absent
    or not a number); the counts say how many were null, absent, or of the
    other kind (a string in a numeric feature or the reverse).
    """

    numbers: np.ndarray | None
    labels: list[Any] | None
    nulls: int
    missing: int
    wrong_type: int


def numeric_view(column: list[Any]) -> ColumnView:
    """Numbers of a raw column (NaN for null, absent, or non-numeric values).

    >>> v = numeric_view([1, None, "a", 2.5, True])
    >>> v.numbers.tolist()[::3], v.nulls, v.wrong_type
    ([1.0, 2.5], 1, 2)
    """
    if type(column) is np.ndarray:  # built by decode_records: only numbers and nulls (NaN)
        if column.dtype.kind != "f":
            return ColumnView(column.astype(np.float64), None, 0, 0, 0)
        return ColumnView(column, None, int(np.isnan(column).sum()), 0, 0)
    kinds = set(map(type, column))
    if kinds <= {float, int, type(None)}:
        numbers = np.array(column, dtype=np.float64)
        nulls = int(np.isnan(numbers).sum()) if type(None) in kinds else 0
        return ColumnView(numbers, None, nulls, 0, 0)
    numbers = np.fromiter(
        (v if type(v) in _NUMERIC_TYPES else np.nan for v in column),
        dtype=np.float64,
        count=len(column),
    )
    nulls = sum(1 for v in column if v is None)
    missing = sum(1 for v in column if v is MISSING)
    wrong = len(column) - nulls - missing - int((~np.isnan(numbers)).sum())
    return ColumnView(numbers, None, nulls, missing, wrong)


def categorical_view(column: list[Any]) -> ColumnView:
    """Category labels of a raw column (booleans become ``"true"``/``"false"``).

    Null and absent values stay ``None`` and :data:`MISSING`; numbers are
    counted as the wrong type but still binned by their text.

    >>> v = categorical_view(["DE", None, True, 3])
    >>> v.labels, v.nulls, v.wrong_type
    (['DE', None, 'true', '3'], 1, 1)
    """
    if type(column) is np.ndarray:
        column = column_values(column)
    kinds = set(map(type, column))
    if kinds <= {str, type(None)}:
        nulls = column.count(None) if type(None) in kinds else 0
        return ColumnView(None, column, nulls, 0, 0)
    labels = [v if (v is None or v is MISSING or type(v) is str) else category(v) for v in column]
    nulls = sum(1 for v in column if v is None)
    missing = sum(1 for v in column if v is MISSING)
    wrong = sum(1 for v in column if type(v) in _NUMERIC_TYPES)
    return ColumnView(None, labels, nulls, missing, wrong)


def categorical_counts(
    profile: CategoricalProfile, column: list[Any]
) -> tuple[np.ndarray, int, int, int]:
    """Bin counts, nulls, absences and wrong-typed values of a raw categorical column.

    The same as ``profile.bin_counts(categorical_view(column).labels)`` and
    the view's counts; a column of only strings, nulls and absences is counted
    in one pass (a ``Counter``), the rest goes through :func:`categorical_view`.

    >>> from streamproc.detect.profiles import CategoricalProfile
    >>> p = CategoricalProfile.fit(["a", "b"], min_share=0.0)
    >>> counts, nulls, missing, wrong = categorical_counts(p, ["a", None, MISSING, "z", 3])
    >>> counts.tolist(), nulls, missing, wrong
    ([1, 0, 0, 2], 1, 1, 1)
    """
    if type(column) is list:
        tally = Counter(column)
        if all(type(k) is str or k is None or k is MISSING for k in tally):
            return profile.tally_counts(tally), tally[None], tally[MISSING], 0
    view = categorical_view(column)
    return profile.bin_counts(view.labels), view.nulls, view.missing, view.wrong_type  # type: ignore[arg-type]


def coded_counts(
    profile: CategoricalProfile, codes: np.ndarray, values: list[Any]
) -> tuple[np.ndarray, int, int, int]:
    """:func:`categorical_counts` of a column of strings, nulls and absences
    given as codes into its distinct values (``EventColumns.coded``): one
    ``bincount``, the same counts.

    >>> from streamproc.detect.profiles import CategoricalProfile
    >>> p = CategoricalProfile.fit(["a", "b"], min_share=0.0)
    >>> codes = np.array([0, 1, 2, 3, 3])
    >>> counts, nulls, missing, wrong = coded_counts(p, codes, ["a", None, MISSING, "z"])
    >>> counts.tolist(), nulls, missing, wrong
    ([1, 0, 0, 2], 1, 1, 0)
    """
    tally = dict(zip(values, np.bincount(codes, minlength=len(values)).tolist(), strict=True))
    return profile.tally_counts(tally), tally.get(None, 0), tally.get(MISSING, 0), 0


def column_counts(profile: Profile, column: Any) -> tuple[np.ndarray, int, int, int]:
    """Bin counts, nulls, absences and wrong-typed values of one raw column.

    >>> from streamproc.detect.profiles import NumericProfile
    >>> p = NumericProfile.fit(np.arange(10.0), bins=2)
    >>> counts, nulls, missing, wrong = column_counts(p, [1.0, None, MISSING, "x", 8])
    >>> counts.tolist(), nulls, missing, wrong
    ([1, 1], 1, 1, 1)
    """
    if profile.kind == "numeric":
        view = numeric_view(column)
        numeric: NumericProfile = profile  # type: ignore[assignment]
        return numeric.bin_counts(view.numbers), view.nulls, view.missing, view.wrong_type  # type: ignore[arg-type]
    return categorical_counts(profile, column)  # type: ignore[arg-type]
