"""Performance-detection benchmark (issue 11): realized and label-free estimated accuracy.

    python loadtest/performance.py            # full run: 10 M stationary labelled events
    python loadtest/performance.py --quick    # 1 M, fewer seeds: same code paths

Drives the detect core directly (``Monitor.process`` for the events,
``Monitor.process_labels`` for their labels, as the worker does after the
label join), no Kafka. The synthetic model is ``streamproc.simulate``'s: its
truth is a noisy rule of the features (reference accuracy ~0.94). The
baseline is fitted on 20,000 labelled reference events of another seed
(``Baseline.fit(..., labels=...)``), at ``Settings()`` defaults.

Prints the target table (markdown) with the measured figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamproc.detect.baseline import Baseline  # noqa: E402
from streamproc.detect.estimate import prediction_sums  # noqa: E402
from streamproc.detect.monitor import Monitor  # noqa: E402
from streamproc.detect.settings import Settings  # noqa: E402
from streamproc.events.labels import LabelledPredictions  # noqa: E402
from streamproc.simulate import (  # noqa: E402
    UNCERTAIN_SHIFT,
    flip_for,
    synthetic_columns,
)

RATE = 1000.0  # events per second of event time
BATCH = 250
REFERENCE = 20_000
PERFORMANCE = ("accuracy", "error_rate_adwin", "estimated_accuracy", "mae", "abs_error_adwin")


def reference_baseline(settings: Settings, seed: int = 12345) -> Baseline:
    events, labelled = synthetic_columns(REFERENCE, np.random.default_rng(seed))
    return Baseline.fit(
        events,
        bins=settings.numeric_bins,
        window_events=settings.window_events,
        labels=labelled.truth,
    )


def take(b: LabelledPredictions, index: np.ndarray) -> LabelledPredictions:
    """Rows ``index`` of a batch, in that order."""
    idx = index.tolist()
    return LabelledPredictions(
        model_id=b.model_id,
        event_ids=[b.event_ids[i] for i in idx],
        timestamps=b.timestamps[index],
        label_times=b.label_times[index],
        scores=b.scores[index],
        predicted=[b.predicted[i] for i in idx],
        truth=[b.truth[i] for i in idx],
        truth_values=b.truth_values[index],
    )


def stationary(events: int, baseline: Baseline, settings: Settings, seed: int) -> dict:
    """False performance alerts on stationary traffic, and the estimate's error."""
    rng = np.random.default_rng(seed)
    monitor = Monitor(settings, baselines=[baseline])
    calibration = baseline.performance.calibration  # type: ignore[union-attr]
    positive = baseline.performance.positive  # type: ignore[union-attr]
    firing: dict[str, int] = {}
    other = 0
    chunk, window = 5000, 5000
    est_sum = real_sum = 0.0
    n_in = 0
    errors: list[float] = []
    started = time.perf_counter()
    for first in range(0, events, chunk):
        cols, labelled = synthetic_columns(chunk, rng, first=first, rate=RATE, label_delay=60.0)
        for s in range(0, chunk, BATCH):
            # a batch of events, then their labels: with a fixed delay the label-match
            # order is the event order, and how late the labels come is immaterial here
            alerts = monitor.process([cols.slice(s, s + BATCH)], now=0.0)
            alerts += monitor.process_labels([labelled.slice(s, s + BATCH)], now=0.0)
            for a in alerts:
                if a.status != "firing":
                    continue
                if a.detector in PERFORMANCE and a.signal == "performance":
                    firing[a.detector] = firing.get(a.detector, 0) + 1
                else:
                    other += 1
        # the estimate against realized accuracy, windows of 5,000 (the same predictions)
        sums = prediction_sums(
            calibration, positive, cols.prediction_scores, cols.prediction_labels
        )
        correct = np.fromiter(map(str.__eq__, labelled.predicted, labelled.truth), bool, chunk)
        est_sum += float(sums[1])
        real_sum += float(correct.sum())
        n_in += chunk
        if n_in >= window:
            errors.append(est_sum / n_in - real_sum / n_in)
            est_sum = real_sum = 0.0
            n_in = 0
    elapsed = time.perf_counter() - started
    err = np.abs(np.array(errors))
    return {
        "events": events,
        "firing": firing,
        "other": other,
        "seconds": elapsed,
        "estimate_mean_abs": float(err.mean()),
        "estimate_p95": float(np.quantile(err, 0.95)),
        "estimate_max": float(err.max()),
        "estimate_bias": float(np.mean(errors)),
        "windows": len(errors),
    }


def realized_delay(
    baseline: Baseline,
    settings: Settings,
    *,
    accuracy: float,
    delay: float,
    jitter: float,
    seed: int,
    horizon: int = 20_000,
) -> tuple[int | None, float | None, str | None]:
    """Labelled predictions of drifted events matched before the first realized
    performance alert (-1: an alert before any), the event time from the change
    to it (label delay included), and its detector.

    Every label arrives ``delay`` s (plus Exp(``jitter``) s) after its event; the
    join matches them in label-time order, handed over in batches of 250.
    """
    rng = np.random.default_rng(seed)
    change = 20_000 + int(rng.integers(0, 1000))
    total = change + horizon + int(10 * jitter * RATE)
    _, lab = synthetic_columns(total, rng, rate=RATE, label_delay=delay)
    flips = (np.arange(total) >= change) & (rng.random(total) < flip_for(accuracy))
    swap = {"fraud": "ok", "ok": "fraud"}
    lab.truth = [swap[t] if f else t for t, f in zip(lab.truth, flips.tolist(), strict=True)]
    if jitter > 0:
        lab.label_times = lab.label_times + rng.exponential(jitter, total)
    order = np.argsort(lab.label_times, kind="stable")
    lab = take(lab, order)
    drifted = order >= change
    change_time = 1_763_766_000.0 + change / RATE
    monitor = Monitor(settings, baselines=[baseline])
    seen = 0
    for s in range(0, total, BATCH):
        alerts = monitor.process_labels([lab.slice(s, s + BATCH)], now=0.0)
        seen += int(drifted[s : s + BATCH].sum())
        for a in alerts:
            if a.status == "firing" and a.signal == "performance":
                if seen == 0:
                    return -1, None, a.detector  # before the change: a false alarm
                end = float(lab.label_times[min(s + BATCH, total) - 1])
                return seen, end - change_time, a.detector
        if seen > horizon * 0.9:  # the tail is labels of the last events only
            break
    return None, None, None


def estimated_delay(
    baseline: Baseline, settings: Settings, *, seed: int, horizon: int = 20_000
) -> int | None:
    """Events after a covariate shift (amount +1.25 sd, no labels at all) until
    ``estimated_accuracy`` fires."""
    rng = np.random.default_rng(seed)
    change = 20_000 + int(rng.integers(0, 1000))
    monitor = Monitor(settings, baselines=[baseline])
    for first in range(0, change + horizon, BATCH):
        cols, _ = synthetic_columns(BATCH, rng, first=first, rate=RATE)
        if first + BATCH > change:
            shifted, _ = synthetic_columns(
                BATCH, rng, first=first, rate=RATE, amount_shift=UNCERTAIN_SHIFT
            )
            keep = np.arange(first, first + BATCH) < change
            cols.features = {
                k: np.where(keep, v, shifted.features[k]) for k, v in cols.features.items()
            }
            cols.prediction_scores = np.where(
                keep, cols.prediction_scores, shifted.prediction_scores
            )
            cols.prediction_labels = [
                a if k else b
                for a, b, k in zip(
                    cols.prediction_labels, shifted.prediction_labels, keep.tolist(), strict=True
                )
            ]
        for a in monitor.process([cols], now=0.0):
            if a.status == "firing" and a.detector == "estimated_accuracy":
                return max(0, first + BATCH - change) if first + BATCH > change else -1
    return None


def summary(delays: list[int | None]) -> str:
    hit = sorted(d for d in delays if d is not None and d >= 0)
    false = sum(1 for d in delays if d == -1)
    missed = sum(1 for d in delays if d is None)
    if not hit:
        return f"missed {missed}/{len(delays)}"
    q = np.quantile(hit, [0.5, 0.9])
    text = f"median {q[0]:,.0f}, p90 {q[1]:,.0f}, max {hit[-1]:,}; missed {missed}/{len(delays)}"
    return text + (f", {false} false before the change" if false else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, help="stationary events (default 10 M, quick 1 M)")
    parser.add_argument("--seeds", type=int, help="seeded streams per drift (default 20, quick 6)")
    args = parser.parse_args()
    events = args.events or (1_000_000 if args.quick else 10_000_000)
    seeds = args.seeds or (6 if args.quick else 20)
    settings = Settings()
    started = time.perf_counter()
    baseline = reference_baseline(settings)
    perf = baseline.performance
    assert perf is not None and perf.calibration is not None
    print(
        f"reference: {perf.labels} labelled events, accuracy {perf.accuracy:.4f}, "
        f"calibrated expected accuracy {perf.calibration.expected:.4f}, "
        f"dispersion {perf.calibration.dispersion:.2f}",
        flush=True,
    )
    rows: list[tuple[str, str, str, bool]] = []
    st = stationary(events, baseline, settings, seed=1)
    print(f"stationary: {st}", flush=True)
    realized_false = sum(v for k, v in st["firing"].items() if k != "estimated_accuracy")
    estimated_false = st["firing"].get("estimated_accuracy", 0)
    rows.append(
        (
            f"false realized performance alerts, {events:,} stationary labelled events",
            "0",
            f"{realized_false} ({st['seconds']:.0f} s for events + labels)",
            realized_false == 0,
        )
    )
    rows.append(
        (
            f"false `estimated_accuracy` alerts, {events:,} stationary events",
            "0",
            str(estimated_false),
            estimated_false == 0,
        )
    )
    rows.append(
        (
            "estimate error vs realized accuracy, stationary windows of 5,000",
            "<= 0.01",
            f"mean |error| {st['estimate_mean_abs']:.4f}, p95 {st['estimate_p95']:.4f}, "
            f"max {st['estimate_max']:.4f}, bias {st['estimate_bias']:+.4f} "
            f"({st['windows']} windows)",
            st["estimate_p95"] <= 0.01,
        )
    )
    detail = []
    for accuracy, target in ((0.91, 5000), (0.89, 2000), (0.85, None)):
        # jitter: labels of events around the change arrive interleaved, over
        # ~jitter x RATE labels (5 s: 5,000 labels at 1,000 events/s)
        for delay, jitter in ((60.0, 0.0), (60.0, 5.0), (3600.0, 0.0)):
            results = [
                realized_delay(
                    baseline, settings, accuracy=accuracy, delay=delay, jitter=jitter, seed=100 + k
                )
                for k in range(seeds)
            ]
            delays = [r[0] for r in results]
            secs = [r[1] for r in results if r[1] is not None]
            detectors = sorted({r[2] for r in results if r[2]})
            label = f"delay {delay:.0f} s" + (f" + Exp({jitter:.0f} s)" if jitter else "")
            line = (
                f"0.94 -> {accuracy}, labels {label}: {summary(delays)} labelled events; "
                f"median {np.median(secs) if secs else float('nan'):,.0f} s event time; "
                f"first by {', '.join(detectors)}"
            )
            print(line, flush=True)
            detail.append(line)
            if target is not None and jitter == 0 and delay == 60.0:
                hit = [d for d in delays if d is not None and d >= 0]
                ok = len(hit) == len(delays) and float(np.median(hit)) <= target
                rows.append(
                    (
                        f"accuracy 0.94 -> {accuracy}: delay (labelled events of drifted "
                        f"predictions)",
                        f"<= {target:,}",
                        summary(delays),
                        ok,
                    )
                )
    est = [estimated_delay(baseline, settings, seed=200 + k) for k in range(seeds)]
    hit = [d for d in est if d is not None and d >= 0]
    rows.append(
        (
            f"label-free: covariate shift amount +{UNCERTAIN_SHIFT} sd (accuracy ~0.885), "
            "no labels: `estimated_accuracy` delay (events)",
            "<= 10,000",
            summary(est),
            len(hit) == len(est) and max(hit) <= 10_000,
        )
    )
    print()
    print("| figure | target | this run | met |")
    print("|---|---|---|---|")
    for figure, target, value, ok in rows:
        print(f"| {figure} | {target} | {value} | {'yes' if ok else 'no'} |")
    print()
    for line in detail:
        print(f"- {line}")
    print(f"\nrun time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
