"""Likely renames: a judged feature missing from a window while a new feature
with a similar profile is present in about as many of its events.

A producer that renames ``country`` to ``country_code`` would otherwise show
two unrelated schema alerts (one missing, one new). The window keeps the first
:data:`SAMPLE` values of each new feature (:func:`sample_new`; at most
``max_tracked_features`` new names per window, so at most ``SAMPLE x max_tracked_features``
values); when the window closes, :func:`likely_renames` bins each new
feature's sample into each missing feature's baseline bins and pairs them
where the PSI is small (below ``psi_critical``), the value types match and
the missing and present shares differ by at most :data:`SHARE_GAP`. The
schema detector then links the two alerts through their ``details``
(``likely_renamed_to`` / ``likely_renamed_from``).

>>> from streamproc.detect.profiles import CategoricalProfile
>>> profiles = {"country": CategoricalProfile.fit(["US"] * 50 + ["DE"] * 50)}
>>> samples = {"country_code": ["US", "DE"] * 50, "other": ["x"] * 100}
>>> likely_renames(profiles, {"country": 1.0}, {"country_code": 1.0, "other": 1.0},
...                samples, max_psi=0.25)
{'country': 'country_code'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from streamproc.detect.columns import column_counts
from streamproc.detect.profiles import Profile
from streamproc.detect.psi import psi
from streamproc.events.shapes import MISSING

SAMPLE = 256  # values kept per new feature and window
SHARE_GAP = 0.2  # largest difference of the missing and present shares of a rename
MIN_SAMPLE = 20  # fewer values than this: no verdict


def sample_new(
    samples: dict[str, list[Any]], name: str, column: Any, present: int | None = None
) -> None:
    """Keep the first :data:`SAMPLE` values (nulls and absences skipped) of the
    new feature ``name`` from one chunk's ``column``; ``present``: how many of
    its entries are not :data:`MISSING`, if known.

    A list with few values among many absences (a name flood's column: one
    event of the chunk has the name) is searched by halves, each counted
    in C (``list.count`` of :data:`MISSING` is an identity test per entry),
    instead of a Python-level walk over every entry.

    >>> samples = {}
    >>> sample_new(samples, "f_1", [MISSING] * 40 + [None, "a"] + [MISSING] * 60)
    >>> sample_new(samples, "f_1", [1.5, MISSING, 2.5], present=2)
    >>> samples
    {'f_1': ['a', 1.5, 2.5]}
    """
    kept = samples.setdefault(name, [])
    need = SAMPLE - len(kept)
    if need <= 0:
        return
    if type(column) is np.ndarray:
        values = column[~np.isnan(column)][:need] if column.dtype.kind == "f" else column[:need]
        kept += values.tolist()
        return
    if type(column) is list:
        if present is None:
            present = len(column) - column.count(MISSING)
        if present * _SPARSE < len(column):
            found: list[Any] = []
            _present_values(column, 0, len(column), present, found)
            kept += [v for v in found if v is not None][:need]
            return
    for value in column:
        if value is not None and value is not MISSING:
            kept.append(value)
            if len(kept) >= SAMPLE:
                return


_SPARSE = 16  # fewer values than one entry in this many: search by halves
_LEAF = 32  # entries walked in Python once a part is this short


def _present_values(column: list[Any], start: int, stop: int, present: int, out: list[Any]) -> None:
    """Append to ``out``, in order, the entries of ``column[start:stop]`` that are
    not :data:`MISSING` (``present`` of them)."""
    if stop - start <= _LEAF:
        out += [v for v in column[start:stop] if v is not MISSING]
        return
    middle = (start + stop) // 2
    left = middle - start - column[start:middle].count(MISSING)
    if left:
        _present_values(column, start, middle, left, out)
    if present - left:
        _present_values(column, middle, stop, present - left, out)


def likely_renames(
    profiles: Mapping[str, Profile],
    missing: Mapping[str, float],
    present: Mapping[str, float],
    samples: Mapping[str, list[Any]],
    *,
    max_psi: float,
) -> dict[str, str]:
    """Missing feature -> the new feature it was likely renamed to.

    ``profiles``: the baseline profile of each judged feature; ``missing``:
    the share of the window's events without it (only those past the schema
    threshold); ``present``: the share of events carrying each new feature
    (likewise); ``samples``: the new features' first values. Each new feature
    pairs with at most one missing feature (the closest profile first).
    """
    candidates: list[tuple[float, str, str]] = []
    for old, missing_share in missing.items():
        profile = profiles[old]
        for new, present_share in present.items():
            sample = samples.get(new) or []
            if len(sample) < MIN_SAMPLE or abs(missing_share - present_share) > SHARE_GAP:
                continue
            counts, _, _, wrong = column_counts(profile, list(sample))
            if wrong * 2 > len(sample) or counts.sum() == 0:
                continue
            expected = np.asarray(profile.proportions, dtype=np.float64) * len(sample)
            distance = psi(expected, counts)
            if distance < max_psi:
                candidates.append((distance, old, new))
    pairs: dict[str, str] = {}
    taken: set[str] = set()
    for _, old, new in sorted(candidates):
        if old not in pairs and new not in taken:
            pairs[old] = new
            taken.add(new)
    return pairs
