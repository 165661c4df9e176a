"""Every user-visible alert text: the one place a message is written.

A detector passes its numbers here and puts the text in its
:class:`~streamproc.detect.policy.Finding`; the policy prefixes a resolve.

>>> psi(feature("amount"), 0.41, 0.1, 500)
"PSI of feature 'amount' is 0.41 (threshold 0.10) over the last 500 events"
>>> resolved(schema("age", "missing", 1.0, 1000))
"resolved: feature 'age' is missing in 100% of the last 1000 events"
"""

from __future__ import annotations

from typing import Any

PREDICTION = "the prediction"  # the subject of the prediction's PSI

_SCHEMA_PROBLEMS = {
    "missing": "is missing",
    "new": "is new (not in the baseline) and present",
    "type": "has values of the wrong type",
}


def feature(name: str) -> str:
    """How a message names a feature."""
    return f"feature '{name}'"


def psi(
    subject: str,
    value: float,
    threshold: float,
    events: int,
    moved: list[dict[str, Any]] | None = None,
) -> str:
    """A PSI alert; ``subject`` is :func:`feature` or :data:`PREDICTION`;
    ``moved`` the bins that moved most (:func:`streamproc.detect.moved.top_moves`).

    >>> psi(feature("c"), 4.0, 0.1, 500, [{"bin": "US", "baseline": 0.5, "window": 0.0}])[-40:]
    'ast 500 events; moved most: US 50% -> 0%'
    """
    text = (
        f"PSI of {subject} is {value:.2f} (threshold {threshold:.2f}) over the last {events} events"
    )
    if moved:
        shares = ", ".join(
            f"{m['bin']} {_share(m['baseline'])} -> {_share(m['window'])}" for m in moved
        )
        text += f"; moved most: {shares}"
    return text


def _share(share: float) -> str:
    """A share as a percentage, with a decimal below 10 %.

    >>> _share(0.5), _share(0.0312), _share(0.0)
    ('50%', '3.1%', '0%')
    """
    if share == 0 or share >= 0.1:
        return f"{share:.0%}"
    return f"{share:.1%}"


def null_rate(name: str, ratio: float, baseline: float, threshold: float, events: int) -> str:
    """A null-ratio alert.

    >>> null_rate("x", 0.4, 0.0, 0.1, 500)
    "null ratio of feature 'x' is 0.40 (baseline 0.00, threshold 0.10) over the last 500 events"
    """
    return (
        f"null ratio of feature '{name}' is {ratio:.2f} "
        f"(baseline {baseline:.2f}, threshold {threshold:.2f}) over the last {events} events"
    )


OVERFLOW_FEATURE = "__overflow__"  # the feature of the one schema alert about the caps


def feature_overflow(names: int, cap: int, events: int) -> str:
    """The schema alert of a model with more feature names than are tracked.

    >>> feature_overflow(310, 200, 500)[:62]
    '310 feature names past the cap of 200 tracked per model in the'
    """
    return (
        f"{names} feature names past the cap of {cap} tracked per model in the last {events}"
        " events (not tracked: does a producer put ids into feature names?)"
    )


def schema(
    name: str, problem: str, share: float, events: int, expected: str = "", seen: str = ""
) -> str:
    """A schema alert; ``problem`` is ``missing``, ``new`` or ``type``; for
    ``type``, the ``expected`` and ``seen`` value types.

    >>> schema("age", "type", 0.5, 200, "number", "string or boolean")[:80]
    "feature 'age' has values of the wrong type (expected number, got string or boole"
    """
    what = _SCHEMA_PROBLEMS[problem]
    if problem == "type" and expected:
        what += f" (expected {expected}, got {seen})"
    return f"feature '{name}' {what} in {share:.0%} of the last {events} events"


def likely_rename(missing: str, new: str, share: float, events: int) -> str:
    """A missing feature and a new one with the same profile: a likely rename.

    >>> likely_rename("country", "country_code", 1.0, 500)[-40:]
    '% of the last 500 events: likely renamed'
    """
    return (
        f"feature '{missing}' is missing and '{new}' is new with a similar profile "
        f"in {share:.0%} of the last {events} events: likely renamed"
    )


def prediction_null_rate(ratio: float, baseline: float, threshold: float, events: int) -> str:
    """A null-prediction alert.

    >>> prediction_null_rate(1.0, 0.0, 0.1, 500)
    'the prediction is null or missing in 100% of the last 500 events (baseline 0%, threshold 10%)'
    """
    return (
        f"the prediction is null or missing in {ratio:.0%} of the last {events} events "
        f"(baseline {baseline:.0%}, threshold {threshold:.0%})"
    )


def prediction_stuck(value: str, share: float, events: int) -> str:
    """A stuck-prediction alert; ``value`` is shown as given (a number, or a quoted class).

    >>> prediction_stuck("0.5", 1.0, 500)
    'the prediction is stuck at 0.5 in 100% of the last 500 predictions (the baseline varies)'
    """
    return (
        f"the prediction is stuck at {value} in {share:.0%} of the last {events} predictions "
        "(the baseline varies)"
    )


def prediction_kind(expected: str, seen: str, share: float, events: int) -> str:
    """A change of the prediction's kind (``score`` or ``class``).

    >>> prediction_kind("score", "class", 1.0, 500)
    'the prediction is a class instead of a score in 100% of the last 500 events'
    """
    return (
        f"the prediction is a {seen} instead of a {expected} "
        f"in {share:.0%} of the last {events} events"
    )


def unseen_class(share: float, baseline: float, threshold: float, labels: int) -> str:
    """Predicted classes the baseline never saw.

    >>> unseen_class(0.3, 0.0, 0.05, 500)[:66]
    'classes not in the baseline are 30% of the last 500 predicted clas'
    """
    return (
        f"classes not in the baseline are {share:.0%} of the last {labels} predicted classes "
        f"(baseline {baseline:.0%}, threshold {threshold:.0%})"
    )


def error_rate(rate: float, baseline: float, threshold: float, events: int) -> str:
    """An inference-error-rate alert.

    >>> error_rate(0.3, 0.001, 0.051, 500)
    'inference error rate is 30.00% (baseline 0.10%, threshold 5.10%) over the last 500 events'
    """
    return (
        f"inference error rate is {rate:.2%} (baseline {baseline:.2%}, "
        f"threshold {threshold:.2%}) over the last {events} events"
    )


def adwin_change(
    subject: str,
    before: float,
    after: float,
    value: float,
    shift_unit: str,
    values_seen: int,
    *,
    unit: str = "",
) -> str:
    """An ADWIN change of mean; ``shift_unit`` is ``" sd"`` when ``value`` is
    standardized, ``unit`` the unit of the means (``ms`` for latency).

    >>> adwin_change("latency", 15.0, 150.0, 2.5, " sd", 4000, unit="ms")
    'ADWIN detected a change in the mean of latency: 15 -> 150 ms (2.50 sd) after 4000 values'
    >>> adwin_change("feature 'x'", 1.0, 2.0, 0.5, " sd", 4000)
    "ADWIN detected a change in the mean of feature 'x': 1 -> 2 (0.50 sd) after 4000 values"
    """
    means = f"{before:.4g} -> {after:.4g}" + (f" {unit}" if unit else "")
    return (
        f"ADWIN detected a change in the mean of {subject}: "
        f"{means} ({value:.2f}{shift_unit}) after {values_seen} values"
    )


def adwin_quiet(subject: str, windows: int) -> str:
    """The text an ADWIN alert resolves with."""
    return f"ADWIN saw no further change in the mean of {subject} for {windows} windows"


def resolved(message: str) -> str:
    """The text of a ``resolved`` alert, from the firing finding's text."""
    return f"resolved: {message}"


def accuracy(value: float, reference: float, threshold: float, labels: int) -> str:
    """A realized-accuracy alert (labelled predictions).

    >>> accuracy(0.89, 0.94, 0.905, 1000)
    'accuracy is 0.890 over the last 1000 labelled predictions (reference 0.940, alert below 0.905)'
    """
    return (
        f"accuracy is {value:.3f} over the last {labels} labelled predictions "
        f"(reference {reference:.3f}, alert below {threshold:.3f})"
    )


def mae(value: float, reference: float, threshold: float, labels: int) -> str:
    """A realized mean-absolute-error alert (regression).

    >>> mae(2.5, 1.9, 2.2, 1000)[:66]
    'mean absolute error is 2.5 over the last 1000 labelled predictions'
    """
    return (
        f"mean absolute error is {value:.4g} over the last {labels} labelled predictions "
        f"(reference {reference:.4g}, alert above {threshold:.4g})"
    )


def estimated_accuracy(value: float, expected: float, threshold: float, events: int) -> str:
    """A label-free accuracy estimate that fell below the reference band.

    >>> estimated_accuracy(0.85, 0.94, 0.92, 500)[:60]
    'estimated accuracy (from the calibrated scores, before any l'
    """
    return (
        "estimated accuracy (from the calibrated scores, before any label) is "
        f"{value:.3f} over the last {events} predictions "
        f"(reference {expected:.3f}, alert below {threshold:.3f})"
    )


def performance_adwin(metric: str, before: float, after: float, labels_seen: int) -> str:
    """An ADWIN change of a labelled error stream (``metric``: ``error rate``,
    ``absolute error``).

    >>> performance_adwin("error rate", 0.06, 0.09, 4000)
    'ADWIN detected a rise of the error rate: 0.06 -> 0.09 after 4000 labelled predictions'
    """
    return (
        f"ADWIN detected a rise of the {metric}: {before:.4g} -> {after:.4g} "
        f"after {labels_seen} labelled predictions"
    )


def performance_adwin_quiet(metric: str, windows: int) -> str:
    """The text a performance ADWIN alert resolves with."""
    return f"ADWIN saw no further rise of the {metric} for {windows} performance windows"
