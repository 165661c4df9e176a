"""Detection-quality benchmark: streamproc's detectors against river and common practice.

    python loadtest/quality.py            # full run (a few minutes on 2 cores)
    python loadtest/quality.py --quick    # small run, same code paths

Prints the tables, writes ``docs/detection.md`` (between its BENCHMARK
markers) and ``docs/img/*.png``. Every stream is seeded: the same command
gives the same numbers.

Measures (per detector, per feature stream):

- MTFA: mean events between false alarms, on stationary streams;
- MTD: mean delay (events) from the change to the first alarm after it;
- MDR: share of changes not detected within the horizon;
- MTR = MTFA / MTD x (1 - MDR) (higher is better).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "loadtest"))

from streams import (  # noqa: E402
    DRIFTS,
    NUMERIC_FAMILIES,
    RATE,
    Stream,
    drifted,
    family_of,
    feature_names,
    sample,
    stationary,
)

from streamproc.detect.monitor import Monitor  # noqa: E402
from streamproc.detect.profiles import CategoricalProfile, NumericProfile  # noqa: E402
from streamproc.detect.psi import psi  # noqa: E402
from streamproc.detect.settings import Settings  # noqa: E402

OURS = ("ours: policy", "ours: psi", "ours: adwin", "ours: null_rate")
COMMON = ("PSI > 0.1", "PSI > 0.25", "KS p < 0.05")
RIVER = ("river ADWIN", "river KSWIN", "river PageHinkley")
DUMMY = "dummy (every 1000)"
DETECTORS = (*OURS, *COMMON, *RIVER, DUMMY)
WINDOW = 1000  # tumbling window of the common-practice detectors


@dataclass
class Config:
    stationary_events: int  # per stationary model run of ours (x models, x 24 features)
    stationary_models: int
    reps: int  # drifted streams per drift scenario
    change: int  # change point (plus a random offset within one window)
    horizon: int  # events after the change within which a detection counts
    river_stationary: int  # events per numeric family for river ADWIN / PageHinkley
    kswin_stationary: int  # events per numeric family for river KSWIN
    kswin_reps: int  # drifted streams per scenario for KSWIN (slow: ~0.2 ms/event)


FULL = Config(500_000, 4, 18, 10_000, 20_000, 2_000_000, 15_000, 6)
QUICK = Config(100_000, 2, 6, 10_000, 12_000, 50_000, 5_000, 2)


@dataclass
class Tally:
    """False alarms on stationary streams and delays on drifted ones."""

    false_alarms: int = 0
    stationary_events: int = 0
    delays: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def mtfa(self) -> float:
        """Mean events between false alarms; with none, the events seen (a lower bound)."""
        return self.stationary_events / max(self.false_alarms, 1)

    def scenario(self, name: str) -> tuple[float, float, float]:
        """(mean delay, median delay, missed share) of one scenario."""
        d = self.delays.get(name, [])
        hits = [x for x in d if not math.isnan(x)]
        if not d:
            return math.nan, math.nan, math.nan
        mdr = 1 - len(hits) / len(d)
        return (
            float(np.mean(hits)) if hits else math.nan,
            float(np.median(hits)) if hits else math.nan,
            mdr,
        )

    def pooled(self, names: list[str]) -> tuple[float, float, float]:
        """(MTD, MDR, MTR) pooled over scenarios."""
        d = [x for n in names for x in self.delays.get(n, [])]
        hits = [x for x in d if not math.isnan(x)]
        if not d:
            return math.nan, math.nan, math.nan
        mdr = 1 - len(hits) / len(d)
        mtd = float(np.mean(hits)) if hits else math.nan
        mtr = self.mtfa / max(mtd, 1.0) * (1 - mdr) if hits else 0.0
        return mtd, mdr, mtr


# -- ours ---------------------------------------------------------------------


def settings() -> Settings:
    """The defaults under test: exactly what ``Settings()`` gives."""
    return Settings(**SETTINGS_OVERRIDE)


def run_ours_stationary(cfg: Config, tallies: dict[str, Tally], per_feature: dict) -> None:
    """Our monitor on stationary models: false alerts per feature and detector."""
    batch = 10_000
    for model in range(cfg.stationary_models):
        monitor = Monitor(settings())
        seen = 0
        while seen < cfg.stationary_events:
            size = min(batch, cfg.stationary_events - seen)
            stream = stationary(size, seed=10_000 * (model + 1) + seen // batch)
            cols = stream.columns(0, size, model_id=f"m{model}")
            cols.timestamps += seen / RATE
            for alert in monitor.process([cols], now=0.0):
                if alert.status != "firing":
                    continue
                key = alert.feature or alert.signal
                per_feature[key][alert.detector] += 1
            seen += size
    learned = settings().baseline_events
    judged = cfg.stationary_models * (cfg.stationary_events - learned)
    for name in ("ours: policy", "ours: psi", "ours: adwin", "ours: null_rate"):
        tallies[name].stationary_events += judged * len(feature_names())
    for _key, by_detector in per_feature.items():
        total = sum(by_detector.values())
        tallies["ours: policy"].false_alarms += total
        for det in ("psi", "adwin", "null_rate"):
            tallies[f"ours: {det}"].false_alarms += by_detector.get(det, 0)


def ours_delays(stream: Stream, batch: int = 250) -> dict[str, float]:
    """First firing position after the change, per detector, on the target stream."""
    monitor = Monitor(settings())
    first: dict[str, float] = {}
    change, target = stream.change, stream.target
    assert change is not None
    stop = min(stream.size, change + HORIZON[0])
    for start in range(0, stop, batch):
        cols = stream.columns(start, min(stop, start + batch))
        for alert in monitor.process([cols], now=0.0):
            about = "prediction" if alert.signal == "prediction" else alert.feature
            if alert.status != "firing" or about != target:
                continue
            position = round(alert.window_end * RATE) + 1
            if position <= change:
                continue
            first.setdefault("ours: policy", position - change)
            first.setdefault(f"ours: {alert.detector}", position - change)
        if len(first) >= 3:
            break
    return first


HORIZON = [20_000]
SETTINGS_OVERRIDE: dict = {}


# -- common practice ----------------------------------------------------------


def ks_pvalue(reference_sorted: np.ndarray, window: np.ndarray) -> float:
    """Two-sample KS p-value (asymptotic, scipy's kstwo-free formula)."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(reference_sorted, window, method="asymp").pvalue)


def window_stats(
    reference: np.ndarray, windows: list[np.ndarray], categorical: bool, bins: int = 10
) -> tuple[list[float], list[float]]:
    """(PSI, KS p-value) of each window against the reference, common-practice style.

    Nulls are dropped (as most tools do); PSI uses 10 quantile bins of the
    reference (or its categories plus one "other") and the same smoothing as ours.
    """
    ref = reference[[v is not None for v in reference]] if reference.dtype == object else reference
    if categorical:
        profile = CategoricalProfile.fit(ref.tolist(), max_categories=20, min_share=0.0)
    else:
        ref = ref.astype(np.float64)
        profile = NumericProfile.fit(ref, bins=bins)
    expected = np.asarray(profile.proportions) * len(ref)
    psis, pvalues = [], []
    ref_sorted = None if categorical else np.sort(ref)
    for w in windows:
        if w.dtype == object and not categorical:
            w = np.array([np.nan if v is None else v for v in w], dtype=np.float64)
        if categorical:
            w = w[[v is not None for v in w]]
            psis.append(psi(expected, profile.bin_counts(w.tolist())))
            pvalues.append(math.nan)
        else:
            w = w[~np.isnan(w)]
            psis.append(psi(expected, profile.bin_counts(w)) if len(w) else 0.0)
            pvalues.append(ks_pvalue(ref_sorted, w) if len(w) else 1.0)
    return psis, pvalues


def common_fires(psis: list[float], pvalues: list[float]) -> dict[str, list[bool]]:
    return {
        "PSI > 0.1": [p > 0.1 for p in psis],
        "PSI > 0.25": [p > 0.25 for p in psis],
        "KS p < 0.05": [(not math.isnan(p)) and p < 0.05 for p in pvalues],
    }


def run_common_stationary(cfg: Config, tallies: dict[str, Tally], reference_events: int) -> None:
    events = cfg.stationary_events // 2
    for i, name in enumerate(feature_names()):
        rng = np.random.default_rng(77 + i)
        family = family_of(name)
        reference = sample(family, rng, reference_events)
        data = sample(family, rng, events)
        windows = [data[j : j + WINDOW] for j in range(0, events - WINDOW + 1, WINDOW)]
        psis, pvalues = window_stats(reference, windows, family.startswith("cat"))
        for det, fires in common_fires(psis, pvalues).items():
            if det.startswith("KS") and family.startswith("cat"):
                continue
            tallies[det].false_alarms += sum(fires)
            tallies[det].stationary_events += events


def common_delays(stream: Stream, reference_events: int) -> dict[str, float]:
    change, target = stream.change, stream.target
    assert change is not None and target is not None
    column = stream.scores if target == "prediction" else stream.features[target]
    categorical = family_of(target).startswith("cat")
    reference = column[:reference_events]
    last = min(stream.size, change + HORIZON[0]) - WINDOW + 1
    starts = list(range(reference_events, last, WINDOW))
    psis, pvalues = window_stats(reference, [column[s : s + WINDOW] for s in starts], categorical)
    out: dict[str, float] = {}
    for det, fires in common_fires(psis, pvalues).items():
        if det.startswith("KS") and categorical:
            continue
        for s, fired in zip(starts, fires, strict=True):
            end = s + WINDOW
            if fired and end > change:
                out[det] = end - change
                break
    return out


# -- river --------------------------------------------------------------------


def river_detector(name: str, seed: int):
    from river.drift import ADWIN, KSWIN, PageHinkley

    if name == "river ADWIN":
        return ADWIN()
    if name == "river KSWIN":
        return KSWIN(seed=seed)
    return PageHinkley()


def standardized(values: np.ndarray, reference_events: int) -> list[float]:
    """Values minus the reference mean, over its sd (river's detectors assume a scale)."""
    ref = values[:reference_events].astype(np.float64)
    return ((values.astype(np.float64) - ref.mean()) / (ref.std() or 1.0)).tolist()


def river_count(name: str, values: list[float], seed: int) -> int:
    det = river_detector(name, seed)
    fired = 0
    for v in values:
        det.update(v)
        fired += det.drift_detected
    return fired


def run_river_stationary(cfg: Config, tallies: dict[str, Tally], reference_events: int) -> None:
    for i, family in enumerate(NUMERIC_FAMILIES):
        for name in RIVER:
            events = cfg.kswin_stationary if name == "river KSWIN" else cfg.river_stationary
            rng = np.random.default_rng(500 + i)
            data = standardized(sample(family, rng, events + reference_events), reference_events)
            tallies[name].false_alarms += river_count(name, data[reference_events:], seed=i)
            tallies[name].stationary_events += events


def river_delays(stream: Stream, reference_events: int, rep: int) -> dict[str, float]:
    change, target = stream.change, stream.target
    assert change is not None and target is not None
    column = stream.scores if target == "prediction" else stream.features[target]
    if column.dtype == object:  # nulls: river sees only the numbers
        keep = np.array([v is not None for v in column])
        column, positions = column[keep].astype(np.float64), np.flatnonzero(keep)
    else:
        positions = np.arange(len(column))
    values = standardized(column, reference_events)
    stop = change + HORIZON[0]
    out: dict[str, float] = {}
    for name in RIVER:
        if name == "river KSWIN" and rep >= CONFIG[0].kswin_reps:
            continue
        det = river_detector(name, rep)
        first = int(np.searchsorted(positions, change - 2_000)) if name == "river KSWIN" else 0
        for value, pos in zip(values[first:], positions[first:].tolist(), strict=True):
            if pos >= stop:
                break
            det.update(value)
            if det.drift_detected and pos >= change:
                out[name] = pos + 1 - change
                break
    return out


CONFIG: list[Config] = []


# -- driver ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (about a minute)")
    parser.add_argument("--no-write", action="store_true", help="print only, write no files")
    parser.add_argument("--no-cyclic", action="store_true", help="skip the cyclic-traffic part")
    parser.add_argument(
        "--no-peers", action="store_true", help="cyclic part without NannyML and Evidently"
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    CONFIG.append(cfg)
    HORIZON[0] = cfg.horizon
    t0 = time.perf_counter()
    tallies = {name: Tally() for name in DETECTORS}
    reference_events = settings().baseline_events
    per_feature: dict = defaultdict(lambda: defaultdict(int))
    run_ours_stationary(cfg, tallies, per_feature)
    print(f"[{time.perf_counter() - t0:5.0f}s] ours on stationary streams", file=sys.stderr)
    run_common_stationary(cfg, tallies, reference_events)
    run_river_stationary(cfg, tallies, reference_events)
    print(f"[{time.perf_counter() - t0:5.0f}s] baselines on stationary streams", file=sys.stderr)
    tallies[DUMMY].stationary_events, tallies[DUMMY].false_alarms = 1000, 1
    for d_index, drift in enumerate(DRIFTS):
        for rep in range(cfg.reps):
            family = drift.families[rep % len(drift.families)]
            seed = 1_000 * d_index + rep
            offset = int(np.random.default_rng(seed).integers(0, 1000))
            change = cfg.change + offset
            size = change + cfg.horizon + (drift.length if drift.kind == "gradual" else 0)
            stream = drifted(drift, family=family, change=change, size=size, seed=seed)
            HORIZON[0] = cfg.horizon + (drift.length if drift.kind == "gradual" else 0)
            found = ours_delays(stream)
            found |= common_delays(stream, reference_events)
            numeric = family in NUMERIC_FAMILIES or family == "prediction"
            if numeric:
                found |= river_delays(stream, reference_events, rep)
            found[DUMMY] = 1000 - (change % 1000) or 1000
            for name in DETECTORS:
                if name == "river KSWIN" and rep >= cfg.kswin_reps:
                    continue
                applies = name in OURS or name == DUMMY or numeric or name.startswith("PSI")
                if name == "ours: adwin" and not numeric:
                    applies = False
                if name == "ours: null_rate" and drift.kind != "nulls":
                    applies = False
                if applies:
                    tallies[name].delays[drift.name].append(found.get(name, math.nan))
            HORIZON[0] = cfg.horizon
        print(f"[{time.perf_counter() - t0:5.0f}s] {drift.name}", file=sys.stderr)
    report = render(cfg, tallies, per_feature, time.perf_counter() - t0)
    print(report)
    if not args.no_write:
        write_doc(report)
        plots(cfg)
    if not args.no_cyclic:
        import cyclic_bench

        def log(msg: str) -> None:
            print(f"[{time.perf_counter() - t0:5.0f}s] {msg}", file=sys.stderr, flush=True)

        cyclic = cyclic_bench.run(args.quick, not args.no_peers, log=log)
        print(cyclic)
        if not args.no_write:
            write_doc(cyclic, "CYCLIC")
            from plots import cyclic_week

            cyclic_week(ROOT / "docs" / "img")
    return 0


def fmt(x: float, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.1f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:.{digits}f}"


def render(cfg: Config, tallies: dict[str, Tally], per_feature: dict, seconds: float) -> str:
    lines: list[str] = []
    numeric_scen = [d.name for d in DRIFTS if set(d.families) & set(NUMERIC_FAMILIES)]
    all_scen = [d.name for d in DRIFTS]
    lines.append("### Summary (per feature stream)\n")
    lines.append(
        "| detector | stationary events | false alarms | MTFA | MTD | MDR | MTR "
        "| MTD (numeric) | MDR (numeric) | MTR (numeric) |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in DETECTORS:
        t = tallies[name]
        mtd, mdr, mtr = t.pooled(all_scen)
        nmtd, nmdr, nmtr = t.pooled(numeric_scen)
        bound = ">" if t.false_alarms == 0 else ""
        lines.append(
            f"| {name} | {fmt(t.stationary_events)} | {t.false_alarms} | {bound}{fmt(t.mtfa)} "
            f"| {fmt(mtd)} | {fmt(mdr, 2)} | {bound}{fmt(mtr, 1)} "
            f"| {fmt(nmtd)} | {fmt(nmdr, 2)} | {bound}{fmt(nmtr, 1)} |"
        )
    lines.append("")
    lines.append("### Median delay in events (missed share) per drift\n")
    header = "| drift | " + " | ".join(DETECTORS) + " |"
    lines.append(header)
    lines.append("|---|" + "---:|" * len(DETECTORS))
    for drift in DRIFTS:
        cells = []
        for name in DETECTORS:
            _, med, mdr = tallies[name].scenario(drift.name)
            cells.append("n/a" if math.isnan(mdr) else f"{fmt(med)} ({mdr:.0%})")
        lines.append(f"| {drift.name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += targets(cfg, tallies, per_feature)
    lines.append("")
    worst = max((sum(v.values()) for v in per_feature.values()), default=0)
    per_million = cfg.stationary_models * (cfg.stationary_events - settings().baseline_events) / 1e6
    lines.append(
        f"Ours on stationary streams: {cfg.stationary_models} models x "
        f"{cfg.stationary_events:,} events x {len(feature_names())} features "
        f"(+ prediction, latency); false alerts: "
        f"{sum(sum(v.values()) for v in per_feature.values())} in all, at most {worst} on one "
        f"feature, i.e. <= {worst / per_million:.2f} per feature per 1,000,000 events."
    )
    if per_feature:
        detail = ", ".join(f"{k}: {dict(v)}" for k, v in sorted(per_feature.items()))
        lines.append(f"False alerts by feature: {detail}.")
    lines.append(
        f"river ADWIN and PageHinkley: {cfg.river_stationary:,} stationary events per numeric "
        f"family; KSWIN {cfg.kswin_stationary:,} per family and {cfg.kswin_reps} drifted "
        f"streams per scenario (it costs ~0.2 ms per event). Others: {cfg.reps} drifted "
        f"streams per scenario, change at event {cfg.change:,} + U[0, 1000), horizon "
        f"{cfg.horizon:,} events (+ the ramp for gradual drifts). Run time {seconds:.0f} s."
    )
    return "\n".join(lines)


def targets(cfg: Config, tallies: dict[str, Tally], per_feature: dict) -> list[str]:
    """The figures of issue 3, checked on this run."""
    per_million = cfg.stationary_models * (cfg.stationary_events - settings().baseline_events) / 1e6
    worst_by_family = {}
    for name in feature_names():
        family = family_of(name)
        count = sum(per_feature.get(name, {}).values())
        worst_by_family[family] = max(worst_by_family.get(family, 0), count)
    worst = max(worst_by_family.values()) / per_million
    rows = [
        (
            "false alerts per feature per 1,000,000 stationary events (worst feature, 24 together)",
            "<= 1",
            f"{worst:.2f} (" + ", ".join(f"{f} {c}" for f, c in worst_by_family.items()) + ")",
            worst <= 1,
        )
    ]
    policy = tallies["ours: policy"]
    for drift, limit in (
        ("shift 1 sd", 1000),
        ("shift 0.5 sd", 2000),
        ("new category 10%", 1000),
        ("null flood 30%", 1000),
        ("variance x2", 3000),
    ):
        d = [x for x in policy.delays[drift] if not math.isnan(x)]
        missed = len(policy.delays[drift]) - len(d)
        med = float(np.median(d)) if d else math.nan
        shown = f"median {med:.0f}, p90 {np.percentile(d, 90):.0f}, max {max(d):.0f}" if d else "-"
        rows.append(
            (
                f"delay, {drift} (events)",
                f"median <= {limit:,}",
                f"{shown}; missed {missed}/{len(policy.delays[drift])}",
                bool(d) and med <= limit and missed == 0,
            )
        )
    numeric = [d.name for d in DRIFTS if set(d.families) & set(NUMERIC_FAMILIES)]
    ours = policy.pooled(numeric)[2]
    for name in RIVER:
        theirs = tallies[name].pooled(numeric)[2]
        rows.append(
            (
                f"MTR on numeric streams, ours vs {name}",
                "ours higher",
                f"> {ours:,.0f} vs {theirs:,.1f}",
                ours > theirs,
            )
        )
    out = ["### Targets (issue 3)\n", "| figure | target | this run | met |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {'yes' if ok else 'NO'} |" for a, b, c, ok in rows]
    return out


def write_doc(report: str, marker: str = "BENCHMARK") -> None:
    """Put ``report`` between the ``marker`` comments of docs/detection.md."""
    doc = ROOT / "docs" / "detection.md"
    begin, end = f"<!-- {marker}:BEGIN -->", f"<!-- {marker}:END -->"
    text = doc.read_text() if doc.exists() else f"# Detection quality\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    doc.write_text(f"{head}{begin}\n{report}\n{end}{tail}")


def plots(cfg: Config) -> None:
    from plots import draw_all

    draw_all(ROOT / "docs" / "img", settings())


if __name__ == "__main__":
    raise SystemExit(main())
