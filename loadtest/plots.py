"""Figures for docs/detection.md: a statistic over time, its threshold, the change, the alerts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from streams import DRIFTS, RATE, Stream, drifted

from streamproc.detect.adwin import BlockAdwin, adwin_delta
from streamproc.detect.monitor import Monitor
from streamproc.detect.settings import Settings


def mark_change_and_alerts(ax, change: int, alerts) -> None:
    """A dashed line at the change point and one orange line per alert."""
    ax.axvline(change, color="k", ls="--", lw=1, label=f"change at {change:,}")
    for i, pos in enumerate(alerts):
        ax.axvline(
            pos,
            color="tab:orange",
            lw=2,
            alpha=0.8,
            label=f"alert at {pos:,} (delay {pos - change:,})" if i == 0 else None,
        )


def _drift(name: str):
    return next(d for d in DRIFTS if d.name == name)


def window_series(stream: Stream, settings: Settings, what: str) -> dict[str, list[float]]:
    """Per judged window of the target feature: end position, statistic, threshold; alerts."""
    monitor = Monitor(settings)
    target = stream.target
    out: dict[str, list[float]] = {"end": [], "value": [], "threshold": [], "alerts": []}
    step = settings.window_events
    for start in range(0, stream.size, step):
        cols = stream.columns(start, min(stream.size, start + step))
        alerts = monitor.process([cols], now=0.0)
        model = monitor.models["bench"]
        report = model.latest
        if report is None or round(report.window.end * RATE) + 1 != min(stream.size, start + step):
            continue
        stats = report.features[target]  # type: ignore[index]
        out["end"].append(min(stream.size, start + step))
        if what == "psi":
            out["value"].append(stats.psi)
            out["threshold"].append(stats.psi_threshold)
        else:
            out["value"].append(stats.null_ratio)
            baseline = model.baseline.features[target]  # type: ignore[union-attr,index]
            from streamproc.detect.quality import rate_threshold

            tests = 2 * len(baseline_features(model)) + 2
            alpha = step / (2 * settings.false_alarm_events) / tests
            out["threshold"].append(
                rate_threshold(
                    baseline_rate=baseline.null_rate,
                    window=step,
                    alpha=alpha,
                    min_increase=settings.null_rate_min_increase,
                )
            )
        for a in alerts:
            if a.status == "firing" and a.feature == target and a.detector in ("psi", "null_rate"):
                out["alerts"].append(round(a.window_end * RATE) + 1)
    return out


def baseline_features(model) -> dict:
    return model.baseline.features


def draw_all(directory: Path, settings: Settings) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    cases = [
        (
            "psi_shift_0.5sd.png",
            "shift 0.5 sd",
            "normal",
            "psi",
            "PSI of a normal feature, mean shift of 0.5 sd",
        ),
        (
            "psi_variance_x2.png",
            "variance x2",
            "normal",
            "psi",
            "PSI of a normal feature, variance doubled (same mean)",
        ),
        (
            "psi_new_category.png",
            "new category 10%",
            "cat_many",
            "psi",
            "PSI of a 60-category feature, a new category takes 10 %",
        ),
        (
            "null_flood.png",
            "null flood 30%",
            "lognormal",
            "null",
            "null ratio of a log-normal feature, 30 % nulls",
        ),
    ]
    change = 10_300
    for filename, drift_name, family, what, title in cases:
        stream = drifted(_drift(drift_name), family=family, change=change, size=20_000, seed=42)
        series = window_series(stream, settings, what)
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.plot(
            series["end"],
            series["value"],
            marker=".",
            lw=1,
            label=what.upper() if what == "psi" else "null ratio",
        )
        ax.step(
            series["end"],
            series["threshold"],
            where="post",
            color="tab:red",
            lw=1,
            label="threshold (size-aware, from the false-alarm budget)",
        )
        mark_change_and_alerts(ax, change, series["alerts"])
        ax.set_xlabel("events")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        path = directory / filename
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    written.append(_adwin_plot(directory, settings, change, plt))
    return written


def _adwin_plot(directory: Path, settings: Settings, change: int, plt) -> Path:
    """ADWIN on a 0.25 sd shift of a log-normal feature (too small for PSI)."""
    stream = drifted(
        _drift("shift 0.25 sd"), family="lognormal", change=change, size=20_000, seed=42
    )
    values = stream.features["lognormal_0"].astype(np.float64)
    ref = values[: settings.baseline_events]
    delta = settings.adwin_delta or adwin_delta(
        false_alarm_events=2 * settings.false_alarm_events,
        streams=20,  # 18 numeric features, the prediction, the latency: as in the benchmark
        block=settings.adwin_block,
        clock=settings.adwin_clock,
    )
    detector = BlockAdwin(
        block=settings.adwin_block,
        delta=delta,
        clock=settings.adwin_clock,
        center=float(ref.mean()),
        scale=float(ref.std()),
    )
    positions, estimates, alerts = [], [], []
    step = settings.adwin_block * settings.adwin_clock
    for start in range(settings.baseline_events, len(values), step):
        for c in detector.update(values[start : start + step]):
            alerts.append(settings.baseline_events + c.values_seen)
        positions.append(start + step)
        estimates.append(detector.mean)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    roll = np.convolve(values, np.ones(500) / 500, mode="valid")
    ax.plot(np.arange(500, len(values) + 1), roll, color="0.7", lw=1, label="mean of last 500")
    ax.plot(positions, estimates, color="tab:blue", lw=1.5, label="ADWIN's estimate of the mean")
    mark_change_and_alerts(ax, change, alerts)
    ax.set_xlabel("events")
    ax.set_title(
        "ADWIN (standardized block sums) on a log-normal feature, shift of 0.25 sd", fontsize=10
    )
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = directory / "adwin_shift_0.25sd.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cyclic_week(directory: Path, feature: str = "basket_amount", days: int = 7) -> Path:
    """PSI of a cyclic feature over a week of cyclic traffic, with its threshold:
    against a baseline without phases (as before the time-aware baselines) and
    against one with them (now). The same 7 reference days fit both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cyclic import DAY, START, CyclicStream

    from streamproc.detect.baseline import Baseline

    settings = Settings()
    ref = CyclicStream(7, 1, start=START - 7 * DAY)
    test = CyclicStream(days, 0)
    reference = ref.columns(0, ref.size)
    fits = {
        "before: one baseline for every hour": Baseline.fit(reference, cycles=False),
        "now: judged against the hours it covers, threshold calibrated": Baseline.fit(reference),
    }
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True, sharey=True)
    for ax, (title, baseline) in zip(axes, fits.items(), strict=True):
        monitor = Monitor(settings, baselines=[baseline])
        ends, values, thresholds, alerts = [], [], [], []
        last = None
        for start in range(0, test.size, 250):
            cols = test.columns(start, min(test.size, start + 250))
            for alert in monitor.process([cols], now=float(cols.timestamps[-1])):
                if alert.status == "firing" and alert.feature == feature:
                    alerts.append((alert.window_end - START) / DAY)
            report = monitor.models[test.model_id].latest
            if report is None or report.window.end == last:
                continue
            last = report.window.end
            stats = report.features[feature]
            ends.append((report.window.end - START) / DAY)
            values.append(stats.psi)
            thresholds.append(stats.psi_threshold)
        ax.plot(ends, values, lw=0.6, color="tab:blue", label=f"PSI of '{feature}' per window")
        ax.plot(ends, thresholds, lw=1.2, color="tab:red", label="alert threshold")
        for i, day in enumerate(alerts):
            ax.axvline(day, color="tab:orange", lw=1, alpha=0.6, label="alert" if i == 0 else None)
        ax.set_yscale("log")
        ax.set_title(f"{title}: {len(alerts)} alerts on '{feature}' in {days} days", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("days of drift-free cyclic traffic (Monday 00:00 UTC = 0)")
    fig.tight_layout()
    path = directory / "cyclic_week_psi.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
