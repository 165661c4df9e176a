"""Profiles: what a baseline knows of one feature, and how values are binned against it.

A baseline holds, per feature, a :class:`NumericProfile` (quantile bin edges
and proportions, null rate, range, mean, std) or a :class:`CategoricalProfile`
(proportions of the top categories, the share of the rest, and the share of
values the baseline had too many categories to name). It is fitted from
reference events and serialised as ``baseline.v1`` JSON. Its size is bounded:
at most ``numeric_bins`` numbers or ``max_categories`` + 100 names per feature.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> profile = NumericProfile.fit(rng.normal(size=10_000), bins=10)
>>> len(profile.proportions), round(sum(profile.proportions), 6)
(10, 1.0)
>>> profile.bin_counts(np.array([-5.0, 0.0, 5.0, np.nan])).tolist()
[1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamproc.detect.columns import categorical_view, numeric_view
from streamproc.detect.moments import usable
from streamproc.events.columns import column_values
from streamproc.events.shapes import MISSING

KNOWN_REST_LIMIT = 100
_ARRAY_DTYPES = (np.dtype(np.float64), np.dtype(np.int64))


@dataclass(frozen=True, slots=True)
class NumericProfile:
    """Reference distribution of a numeric value: quantile bins and moments.

    ``edges`` are the interior cut points (``bins - 1`` at most, fewer when
    quantiles coincide, as for counts); a value ``v`` falls in bin
    ``searchsorted(edges, v, side="right")``, so values beyond the reference
    range land in the outer bins.
    """

    edges: tuple[float, ...]
    proportions: tuple[float, ...]
    null_rate: float
    count: int
    minimum: float
    maximum: float
    mean: float
    std: float
    _edges: np.ndarray = field(init=False, compare=False, repr=False)

    kind = "numeric"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_edges", np.asarray(self.edges, dtype=np.float64))

    @property
    def edge_array(self) -> np.ndarray:
        """``edges`` as a float64 array (shared: do not modify)."""
        return self._edges

    @classmethod
    def fit(cls, values: np.ndarray, *, bins: int = 10, nulls: int = 0) -> NumericProfile:
        """Fit from reference numbers (NaN entries are ignored)."""
        finite = values[~np.isnan(values)]
        total = len(finite) + nulls
        if len(finite) == 0:
            return cls((), (1.0,), 1.0 if total else 0.0, total, 0.0, 0.0, 0.0, 0.0)
        quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
        edges = np.unique(quantiles)
        counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
        ok = usable(finite)  # magnitudes past MOMENT_LIMIT stay out of mean and sd
        moderate = finite if ok.all() else finite[ok]
        return cls(
            edges=tuple(float(e) for e in edges),
            proportions=tuple(float(c) for c in counts / len(finite)),
            null_rate=nulls / total,
            count=len(finite),
            minimum=float(finite.min()),
            maximum=float(finite.max()),
            mean=float(moderate.mean()) if len(moderate) else 0.0,
            std=float(moderate.std()) if len(moderate) else 0.0,
        )

    @property
    def bins(self) -> int:
        return len(self.proportions)

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """Counts per bin of the non-NaN ``values``."""
        finite = values[~np.isnan(values)]
        return np.bincount(self._edges.searchsorted(finite, side="right"), minlength=self.bins)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "edges": list(self.edges),
            "proportions": list(self.proportions),
            "null_rate": self.null_rate,
            "count": self.count,
            "min": self.minimum,
            "max": self.maximum,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericProfile:
        edges = tuple(float(e) for e in data["edges"])
        proportions = tuple(float(p) for p in data["proportions"])
        if len(proportions) != len(edges) + 1:
            raise ValueError("numeric profile: need len(proportions) == len(edges) + 1")
        if list(edges) != sorted(edges):
            raise ValueError("numeric profile: edges must be sorted")
        return cls(
            edges=edges,
            proportions=proportions,
            null_rate=float(data.get("null_rate", 0.0)),
            count=int(data.get("count", 0)),
            minimum=float(data.get("min", edges[0] if edges else 0.0)),
            maximum=float(data.get("max", edges[-1] if edges else 0.0)),
            mean=float(data.get("mean", 0.0)),
            std=float(data.get("std", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class CategoricalProfile:
    """Reference distribution of a categorical value.

    Bins are the named ``categories``, then "rest" (categories the baseline
    saw but did not keep), then "unseen" (categories the baseline never saw).
    ``unseen`` is the baseline's own share of values it could not name: 0
    unless the feature had more distinct values than the profile keeps.

    >>> p = CategoricalProfile.fit(["a"] * 60 + ["b"] * 39 + ["c"], min_share=0.02)
    >>> p.categories, p.rest, p.bin_counts(["a", "c", "zz", None]).tolist()
    ({'a': 0.6, 'b': 0.39}, 0.01, [1, 0, 1, 1])
    """

    categories: dict[str, float]
    rest: float
    unseen: float
    known_rest: frozenset[str]
    null_rate: float
    count: int
    _index: dict[Any, int] = field(default_factory=dict, compare=False, repr=False)

    kind = "categorical"

    def __post_init__(self) -> None:
        index: dict[Any, int] = {name: i for i, name in enumerate(self.categories)}
        rest = len(self.categories)
        index.update({name: rest for name in self.known_rest})
        index[None] = index[MISSING] = len(self.categories) + 2  # skipped: one past the bins
        self._index.update(index)

    @classmethod
    def fit(
        cls,
        labels: list[Any],
        *,
        max_categories: int = 20,
        min_share: float = 0.01,
        nulls: int = 0,
    ) -> CategoricalProfile:
        """Fit from reference labels (``None`` and :data:`MISSING` are ignored)."""
        counter = Counter(v for v in labels if v is not None and v is not MISSING)
        total = sum(counter.values())
        if total == 0:
            return cls({}, 0.0, 0.0, frozenset(), 1.0 if nulls else 0.0, 0)
        ranked = counter.most_common()
        kept = [(k, c) for k, c in ranked[:max_categories] if c / total >= min_share]
        others = ranked[len(kept) :]
        named_rest = others[:KNOWN_REST_LIMIT]
        unnamed = sum(c for _, c in others[KNOWN_REST_LIMIT:])
        return cls(
            categories={k: c / total for k, c in kept},
            rest=sum(c for _, c in named_rest) / total,
            unseen=unnamed / total,
            known_rest=frozenset(k for k, _ in named_rest),
            null_rate=nulls / (total + nulls),
            count=total,
        )

    @property
    def bins(self) -> int:
        return len(self.categories) + 2

    @property
    def known(self) -> dict[Any, int]:
        """The labels with a bin of their own or "rest" (and null, absent): not unseen."""
        return self._index

    @property
    def proportions(self) -> tuple[float, ...]:
        return (*self.categories.values(), self.rest, self.unseen)

    def bin_counts(self, labels: list[Any]) -> np.ndarray:
        """Counts per bin (categories, rest, unseen); null and absent are skipped."""
        return self.tally_counts(Counter(labels))

    def tally_counts(self, tally: Mapping[Any, int]) -> np.ndarray:
        """:meth:`bin_counts` of the labels counted in ``tally``.

        Labels that a ``Counter`` merges (equal and of equal hash) are looked
        up as one in the bins' index, so counting first gives the same bins.
        """
        bins = self.bins
        index = self._index
        counts = [0] * (bins + 1)
        for label, count in tally.items():
            counts[index.get(label, bins - 1)] += count
        return np.array(counts[:bins], dtype=np.intp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "categories": dict(self.categories),
            "rest": self.rest,
            "unseen": self.unseen,
            "known_rest": sorted(self.known_rest),
            "null_rate": self.null_rate,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalProfile:
        categories = {str(k): float(v) for k, v in dict(data["categories"]).items()}
        return cls(
            categories=categories,
            rest=float(data.get("rest", 0.0)),
            unseen=float(data.get("unseen", 0.0)),
            known_rest=frozenset(str(k) for k in data.get("known_rest", [])),
            null_rate=float(data.get("null_rate", 0.0)),
            count=int(data.get("count", 0)),
        )


Profile = NumericProfile | CategoricalProfile


def profile_from_dict(data: dict[str, Any]) -> Profile:
    kind = data.get("kind")
    if kind == "numeric":
        return NumericProfile.from_dict(data)
    if kind == "categorical":
        return CategoricalProfile.from_dict(data)
    raise ValueError(f"profile kind must be 'numeric' or 'categorical', got {kind!r}")


def fit_profile(column: list[Any], *, bins: int, max_categories: int, min_share: float) -> Profile:
    """Fit the profile of one raw feature column; its kind is the majority's.

    Numbers make a numeric feature; strings and booleans a categorical one.
    """
    if type(column) is np.ndarray and column.dtype in _ARRAY_DTYPES:
        # decode_records' numbers: NaN stands for null, nothing else is there
        view = numeric_view(column)
        if view.nulls < len(column):
            return NumericProfile.fit(view.numbers, bins=bins, nulls=view.nulls)  # type: ignore[arg-type]
    column = column_values(column)
    kinds = Counter(map(type, column))
    numeric = kinds[int] + kinds[float]
    categorical = kinds[str] + kinds[bool]
    if numeric >= categorical and numeric > 0:
        view = numeric_view(column)
        return NumericProfile.fit(view.numbers, bins=bins, nulls=view.nulls)  # type: ignore[arg-type]
    view = categorical_view(column)
    return CategoricalProfile.fit(
        view.labels or [], max_categories=max_categories, min_share=min_share, nulls=view.nulls
    )
