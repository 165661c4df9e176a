"""What moved: the ``details`` of an alert, built from a window's counts.

A PSI alert says which bins (numeric) or categories moved most, with their
share in the baseline and in the window; a schema alert what type was
expected and what was seen; an ADWIN alert the means before and after.

>>> from streamproc.detect.profiles import CategoricalProfile
>>> p = CategoricalProfile.fit(["US"] * 50 + ["DE"] * 50, min_share=0.01)
>>> top_moves(p, np.array([0, 100, 0, 0]))  # doctest: +NORMALIZE_WHITESPACE
[{'bin': 'US', 'baseline': 0.5, 'window': 0.0},
 {'bin': 'DE', 'baseline': 0.5, 'window': 1.0}]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamproc.detect.profiles import CategoricalProfile, NumericProfile, Profile

TOP = 3  # bins or categories a PSI alert names
OTHER_KNOWN = "(other known categories)"  # a categorical profile's "rest" bin
UNSEEN = "(categories not in the baseline)"  # and its "unseen" bin


def bin_names(profile: Profile) -> list[str]:
    """A readable name per bin of ``profile``.

    >>> p = NumericProfile.fit(np.arange(100.0), bins=4)
    >>> bin_names(p)
    ['< 24.75', '24.75 to 49.5', '49.5 to 74.25', '>= 74.25']
    """
    if isinstance(profile, CategoricalProfile):
        return [*map(str, profile.categories), OTHER_KNOWN, UNSEEN]
    edges = [f"{e:.4g}" for e in profile.edges]
    if not edges:
        return ["all values"]
    middle = [f"{lo} to {hi}" for lo, hi in zip(edges, edges[1:], strict=False)]
    return [f"< {edges[0]}", *middle, f">= {edges[-1]}"]


def top_moves(profile: Profile, counts: np.ndarray, top: int = TOP) -> list[dict[str, Any]]:
    """The ``top`` bins whose share moved most from the baseline to the window
    (``counts``: the window's count per bin), largest move first; bins that
    did not move are left out."""
    total = int(counts.sum())
    expected = np.asarray(profile.proportions, dtype=np.float64)
    if total == 0 or len(expected) != len(counts):
        return []
    window = counts / total
    moved = np.abs(window - expected)
    names = bin_names(profile)
    order = sorted(range(len(names)), key=lambda i: (-moved[i], i))[:top]
    return [
        {
            "bin": names[i],
            "baseline": round(float(expected[i]), 4),
            "window": round(float(window[i]), 4),
        }
        for i in order
        if moved[i] > 0.0
    ]


def psi_details(profile: Profile, counts: np.ndarray) -> dict[str, Any]:
    """The ``details`` of a PSI alert: ``moved`` (see :func:`top_moves`)."""
    return {"moved": top_moves(profile, counts)}


def expected_type(profile: Profile) -> str:
    """The value type a feature's profile expects (``number`` or ``string or boolean``)."""
    return "number" if isinstance(profile, NumericProfile) else "string or boolean"


def wrong_type(profile: Profile) -> str:
    """The type of a value counted as of the wrong type for ``profile``."""
    return "string or boolean" if isinstance(profile, NumericProfile) else "number"


def schema_details(
    problem: str, profile: Profile | None, events: int, count: int, seen: str | None = None
) -> dict[str, Any]:
    """The ``details`` of a schema alert: the ``problem`` (``missing``,
    ``type`` or ``new``), the ``expected`` and ``seen`` types and how many of
    the window's ``events`` had it (``count``).

    >>> schema_details("type", NumericProfile.fit(np.arange(10.0)), 100, 40)
    {'problem': 'type', 'expected': 'number', 'seen': 'string or boolean', 'events': 40}
    """
    if problem == "missing":
        assert profile is not None
        expected, got = expected_type(profile), "absent"
    elif problem == "type":
        assert profile is not None
        expected, got = expected_type(profile), wrong_type(profile)
    else:  # new: the baseline expects nothing
        expected, got = "absent", seen or "present"
    return {"problem": problem, "expected": expected, "seen": got, "events": count}


def adwin_details(before: float, after: float, unit: str, values_seen: int) -> dict[str, Any]:
    """The ``details`` of an ADWIN alert: the means before and after, in ``unit``.

    >>> adwin_details(15.0, 150.0, "ms", 4000)
    {'before': 15.0, 'after': 150.0, 'unit': 'ms', 'values_seen': 4000}
    """
    return {
        "before": round(before, 6),
        "after": round(after, 6),
        "unit": unit,
        "values_seen": values_seen,
    }
