"""Baselines: the reference profile of a model (one :mod:`profile <.profiles>` per
feature, the prediction's, the error rate; phases of the clock, dispersion
factors, the reference performance), fitted from reference events and
serialised as ``baseline.v1`` JSON.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamproc.detect.calibrate import Dispersion, adwin_dispersion, calibrate_reference
from streamproc.detect.cycle import PhaseProfile, period_for_span
from streamproc.detect.performance import PerformanceReference
from streamproc.detect.prediction import baseline_null_share
from streamproc.detect.profiles import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    fit_profile,
    profile_from_dict,
)
from streamproc.events.columns import EventColumns
from streamproc.events.shapes import category

SCHEMA = "baseline.v1"


@dataclass(frozen=True, slots=True)
class Baseline:
    """The reference profile of one model (``baseline.v1``)."""

    model_id: str
    features: dict[str, Profile]
    prediction_score: NumericProfile | None = None
    prediction_label: CategoricalProfile | None = None
    error_rate: float = 0.0
    events: int = 0
    model_version: str | None = None
    source: str = "fit"
    created_at: float = 0.0
    # share of events whose prediction lacks a part the baseline's have (see .prediction)
    prediction_null_rate: float = 0.0
    phases: PhaseProfile | None = None  # per phase of the clock, see .cycle
    calibration: Dispersion = field(default_factory=Dispersion)  # see .calibrate
    performance: PerformanceReference | None = None  # from labelled reference, see .performance

    @classmethod
    def fit(
        cls,
        columns: EventColumns,
        *,
        bins: int = 10,
        max_categories: int = 20,
        min_share: float = 0.01,
        source: str = "fit",
        model_version: str | None = None,
        window_events: int = 500,
        cycles: bool = True,
        labels: Sequence[Any] | None = None,
    ) -> Baseline:
        """Fit a baseline from reference events in columnar form.

        With ``cycles`` (the default), a reference whose timestamps span at
        least 2 days gets a :class:`PhaseProfile` (24 phases; 48 from 14 days
        on), and a reference of at least 20 windows of ``window_events`` a
        :class:`Dispersion` (see :mod:`.calibrate`).

        ``labels``: the ground truth of each reference event (None where it
        has none; a string or bool for a class, a number for a regression
        target): the baseline then carries the reference performance and,
        for a classifier with scores, the score calibration of the label-free
        estimate (see :mod:`.performance`).

        >>> from streamproc.events.columns import EventColumns
        >>> events = [{"model_id": "m", "features": {"x": float(i), "c": "ab"[i % 2]}}
        ...           for i in range(100)]
        >>> b = Baseline.fit(EventColumns.from_events("m", events, default_timestamp=0.0))
        >>> sorted(b.features), b.features["x"].kind, b.features["c"].categories
        (['c', 'x'], 'numeric', {'a': 0.5, 'b': 0.5})
        """
        features = {
            name: fit_profile(col, bins=bins, max_categories=max_categories, min_share=min_share)
            for name, col in sorted(columns.features.items())
        }
        scores = columns.prediction_scores
        has_scores = bool((~np.isnan(scores)).any())
        classes = [v for v in columns.prediction_labels if v is not None]
        baseline = cls(
            model_id=columns.model_id,
            features=features,
            prediction_score=NumericProfile.fit(scores, bins=bins) if has_scores else None,
            prediction_label=(
                CategoricalProfile.fit(classes, max_categories=max_categories, min_share=min_share)
                if classes
                else None
            ),
            error_rate=float(columns.errors.mean()) if columns.size else 0.0,
            events=columns.size,
            model_version=model_version,
            source=source,
            created_at=time.time(),
            prediction_null_rate=baseline_null_share(scores, columns.prediction_labels),
        )
        if labels is not None:
            baseline = baseline.replace(
                performance=fit_performance(columns, labels, window_events=window_events)
            )
        if not cycles or columns.size == 0:
            return baseline
        span = float(columns.timestamps.max() - columns.timestamps.min())
        period = period_for_span(span)
        phases = PhaseProfile.fit(columns, baseline, period) if period > 1 else None
        calibration = calibrate_reference(columns, baseline, period, window_events)
        if calibration.windows:
            adwin = adwin_dispersion(columns, baseline, phases, window_events)
            calibration = dataclasses.replace(calibration, adwin=adwin)
        return baseline.replace(phases=phases, calibration=calibration)

    def replace(self, **changes: Any) -> Baseline:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "source": self.source,
            "created_at": self.created_at,
            "events": self.events,
            "features": {name: p.to_dict() for name, p in self.features.items()},
            "prediction": {
                "score": self.prediction_score.to_dict() if self.prediction_score else None,
                "label": self.prediction_label.to_dict() if self.prediction_label else None,
                "null_rate": self.prediction_null_rate,
            },
            "error_rate": self.error_rate,
            **({"phases": self.phases.to_dict()} if self.phases is not None else {}),
            **({"calibration": self.calibration.to_dict()} if self.calibration.windows else {}),
            **({"performance": self.performance.to_dict()} if self.performance else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Baseline:
        """Parse ``baseline.v1`` JSON; raises ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("baseline: must be a JSON object")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema: must be {SCHEMA!r}, got {data.get('schema')!r}")
        if not isinstance(data.get("model_id"), str):
            raise ValueError("model_id: required string field is missing")
        if not isinstance(data.get("features"), dict):
            raise ValueError("features: must be an object of feature profiles")
        features: dict[str, Profile] = {}
        for name, profile in data["features"].items():
            try:
                features[name] = profile_from_dict(profile)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"features.{name}: {exc}") from None
        prediction = data.get("prediction") or {}
        if not isinstance(prediction, dict):
            raise ValueError("prediction: must be an object")
        score, label = prediction.get("score"), prediction.get("label")
        try:
            prediction_score = NumericProfile.from_dict(score) if score else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"prediction.score: {exc}") from None
        try:
            prediction_label = CategoricalProfile.from_dict(label) if label else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"prediction.label: {exc}") from None
        try:
            return cls._rest_from_dict(
                data, features, prediction, prediction_score, prediction_label
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"baseline: {exc}") from None

    @classmethod
    def _rest_from_dict(
        cls,
        data: dict,
        features: dict[str, Profile],
        prediction: dict,
        prediction_score: NumericProfile | None,
        prediction_label: CategoricalProfile | None,
    ) -> Baseline:
        return cls(
            model_id=data["model_id"],
            features=features,
            prediction_score=prediction_score,
            prediction_label=prediction_label,
            error_rate=float(data.get("error_rate", 0.0)),
            events=int(data.get("events", 0)),
            model_version=data.get("model_version"),
            source=str(data.get("source", "fit")),
            created_at=float(data.get("created_at", 0.0)),
            prediction_null_rate=float(prediction.get("null_rate") or 0.0),
            phases=_phases_from_dict(data.get("phases")),
            calibration=_calibration_from_dict(data.get("calibration")),
            performance=_performance_from_dict(data.get("performance")),
        )


def _phases_from_dict(data: Any) -> PhaseProfile | None:
    if data is None:
        return None
    try:
        return PhaseProfile.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"phases: {exc}") from None


def _calibration_from_dict(data: Any) -> Dispersion:
    try:
        return Dispersion.from_dict(data)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"calibration: {exc}") from None


def _performance_from_dict(data: Any) -> PerformanceReference | None:
    try:
        return PerformanceReference.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"performance: {exc}") from None


def fit_performance(
    columns: EventColumns, labels: Sequence[Any], *, window_events: int = 500
) -> PerformanceReference | None:
    """The reference performance of ``columns``' predictions against ``labels``
    (one per event, None where unlabelled); None when none is labelled."""
    if len(labels) != columns.size:
        raise ValueError(
            f"labels: need one per reference event ({columns.size}), got {len(labels)}"
        )
    truth: list[Any] = []
    values = np.full(columns.size, np.nan)
    for i, label in enumerate(labels):  # fit time, not the stream
        if label is None:
            truth.append(None)
        elif isinstance(label, (int, float)) and not isinstance(label, bool):
            number = float(label)  # 1.0 from a CSV cell is the class "1"
            truth.append(category(int(number) if number.is_integer() else number))
            values[i] = number
        else:
            truth.append(category(label))
    return PerformanceReference.fit(
        columns.prediction_scores,
        list(columns.prediction_labels),
        truth,
        values,
        window_events=window_events,
    )
