"""Detection on cyclic traffic: false alerts and delays, ours against NannyML and Evidently.

    python loadtest/cyclic_bench.py            # 14 days (see the run time it prints)
    python loadtest/cyclic_bench.py --quick    # 4 days, same code paths (about 2.5 minutes)
    python loadtest/cyclic_bench.py --no-peers # ours only

Streams come from ``loadtest/cyclic.py`` (seeded: same command, same numbers):
a reference of 7 days (seed 1, the week before) and a test stream (seed 0) of
14 days (4 with --quick) in which nothing drifts. Each drift of
``cyclic.DRIFTS`` is injected into the test stream at one change time (day 9,
a Wednesday, 10:30 UTC; day 2 with --quick) and judged until 48 hours later
(36 with --quick).

Ours: ``Monitor`` with the default ``Settings()``, fed in time order in
batches of 250 events (``now`` = the batch's last event time), once with a
baseline fitted on the reference (``Baseline.fit``: 7 days, so 48 phases of
the clock and a calibrated dispersion per feature, see docs/detection.md) and
once with none (the monitor learns one from the stream's first 2,000 events,
then each phase of the clock from its first 2,000 events or its first hour). False alerts are
the ``firing`` alerts on the drift-free stream, by detector and feature. A
drift's delay runs from the change to the first ``firing`` alert about its
feature or signal whose window ends after the change (the monitor is copied
at the change point of the drift-free run, so what came before is the same).

Peers (run in their own virtualenv, ``--peers-venv``, default ``.venv-peers``,
created on first use):
NannyML 0.13.1 ``UnivariateDriftCalculator`` and Evidently 0.4.40
``DataDriftPreset`` with their defaults, on 1,000-event chunks and on daily
chunks, reference = the 7 reference days. See ``cyclic_peers.py``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "loadtest"))

from cyclic import DAY, DRIFTS, FEATURES, START, CyclicStream, Drift  # noqa: E402

from streamproc.detect.baseline import Baseline  # noqa: E402
from streamproc.detect.monitor import Monitor  # noqa: E402
from streamproc.detect.settings import Settings  # noqa: E402

BATCH = 250
PEER_DRIFTS = ("shift 0.5 sd", "new category 15%")
PEER_PINS = ("nannyml==0.13.1", "evidently==0.4.40", "pandas==2.2.*")
REF_SEED, TEST_SEED = 1, 0


@dataclass
class Config:
    days: int
    ref_days: int
    changes: tuple[tuple[int, float], ...]  # (day, UTC hour) of each injection; peers: the first
    horizon_hours: float
    peer_ref_rows: int  # Evidently: reference rows given to each report (sampled)
    evidently_stride: int  # Evidently 1k windows: judge every n-th on the drift-free stream


FULL = Config(
    days=14,
    ref_days=7,
    changes=((9, 10.5), (10, 3.0), (12, 16.0)),  # Wednesday morning, Thursday night, Saturday
    horizon_hours=48.0,
    peer_ref_rows=5_000,
    evidently_stride=3,
)
QUICK = Config(
    days=4,
    ref_days=7,
    changes=((2, 10.5),),
    horizon_hours=36.0,
    peer_ref_rows=5_000,
    evidently_stride=8,
)


def change_time(change: tuple[int, float]) -> float:
    day, hour = change
    return START + day * DAY + hour * 3600.0


@dataclass
class OursResult:
    false_alerts: Counter = field(default_factory=Counter)  # (detector, about) -> count
    by_day: Counter = field(default_factory=Counter)  # day -> count
    # per drift, one (events, hours, detector) or None per change time of Config.changes
    delays: dict[str, list[tuple[int, float, str] | None]] = field(default_factory=dict)
    events: int = 0


def about(alert) -> str:
    return alert.feature or alert.signal


def run_ours(cfg: Config, test: CyclicStream, baseline: Baseline | None, log) -> OursResult:
    """False alerts on the drift-free stream and the delay of each drift."""
    monitor = Monitor(Settings(), baselines=[baseline] if baseline else [])
    res = OursResult(events=test.size)
    cuts = {test.index_at(change_time(c)): c for c in cfg.changes}
    snapshots: dict[tuple[int, float], Monitor] = {}
    start = 0
    while start < test.size:
        stop = min([test.size, start + BATCH, *(i for i in cuts if i > start)])
        cols = test.columns(start, stop)
        for alert in monitor.process([cols], now=float(cols.timestamps[-1])):
            if alert.status == "firing":
                res.false_alerts[(alert.detector, about(alert))] += 1
                res.by_day[int((alert.window_end - START) // DAY)] += 1
        start = stop
        if start in cuts:
            snapshots[cuts[start]] = copy.deepcopy(monitor)
    log("drift-free run done")
    for drift in DRIFTS:
        res.delays[drift.name] = [drift_delay(cfg, snapshots[c], drift, c) for c in cfg.changes]
    log("drift runs done")
    return res


def drifted_stream(cfg: Config, drift: Drift, change: tuple[int, float]) -> CyclicStream:
    """The test stream with ``drift`` from ``change``, from the start of its day to the horizon."""
    day, hour = change
    days = min(cfg.days - day, math.ceil(hour / 24 + cfg.horizon_hours / 24))
    return CyclicStream(days, TEST_SEED, first_day=day, drift=drift, change_at=change_time(change))


def drift_delay(
    cfg: Config, snapshot: Monitor, drift: Drift, change: tuple[int, float]
) -> tuple[int, float, str] | None:
    """(events, hours, detector) from the change to the first alert about the target."""
    t_change = change_time(change)
    stream = drifted_stream(cfg, drift, change)
    monitor = copy.deepcopy(snapshot)
    open_before = any(
        (feature or signal) in drift.watched
        for m in monitor.models.values()
        for signal, feature, _ in m.policy.firing
    )
    mark = "*" if open_before else ""
    change = stream.change
    assert change is not None
    stop_at = stream.index_at(t_change + cfg.horizon_hours * 3600.0)
    for start in range(change, stop_at, BATCH):
        cols = stream.columns(start, min(stop_at, start + BATCH))
        for alert in monitor.process([cols], now=float(cols.timestamps[-1])):
            if alert.status != "firing" or about(alert) not in drift.watched:
                continue
            if alert.window_end < t_change:
                continue
            end = stream.index_at(alert.window_end) + 1
            return end - change, (alert.window_end - t_change) / 3600.0, alert.detector + mark
    return (-1, math.nan, "masked") if open_before else None


# -- peers ----------------------------------------------------------------------------


def ensure_peers_venv(path: Path, log) -> Path:
    python = path / "bin" / "python"
    probe = [str(python), "-c", "import nannyml, evidently, pandas"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    log(f"creating the peers' virtualenv at {path} (once)")
    subprocess.run(["python3", "-m", "venv", str(path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PINS], check=True)
    return python


def write_csv(path: Path, stream: CyclicStream, start: int = 0, stop: int | None = None) -> None:
    """Columns ``timestamp``, the features, ``prediction``, ``latency_ms`` (empty = null)."""
    stop = stream.size if stop is None else stop
    names = list(FEATURES)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", *names, "prediction", "latency_ms"])
        for s in range(start, stop, 50_000):
            e = min(stop, s + 50_000)
            cols = [stream.timestamps[s:e].tolist()]
            for name in names:
                vals = stream.feature_values(name, s, e)
                if FEATURES[name] == "bool":
                    vals = [None if v is None else ("true" if v else "false") for v in vals]
                cols.append(vals)
            cols.append([None if v != v else v for v in stream.scores[s:e].tolist()])
            cols.append(stream.latency[s:e].tolist())
            w.writerows(zip(*cols, strict=True))


def run_peers(cfg: Config, test: CyclicStream, ref: CyclicStream, venv: Path, work: Path, log):
    python = ensure_peers_venv(venv, log)
    work.mkdir(parents=True, exist_ok=True)
    jobs = {"reference": (ref, 0, ref.size), "nodrift": (test, 0, test.size)}
    starts = {}
    for name in PEER_DRIFTS:
        stream = drifted_stream(cfg, next(d for d in DRIFTS if d.name == name), cfg.changes[0])
        stop = stream.index_at(change_time(cfg.changes[0]) + cfg.horizon_hours * 3600.0)
        jobs[name] = (stream, 0, stop)
        starts[name] = stream
    for key, (stream, s, e) in jobs.items():
        write_csv(work / f"{key.replace(' ', '_').replace('%', 'pct')}.csv", stream, s, e)
    log("peer inputs written")
    spec = {
        "reference": str(work / "reference.csv"),
        "streams": {
            k: str(work / f"{k.replace(' ', '_').replace('%', 'pct')}.csv")
            for k in jobs
            if k != "reference"
        },
        "chunk_events": 1000,
        "day_seconds": DAY,
        "origin": START,
        "evidently_reference_rows": cfg.peer_ref_rows,
        "evidently_stride": cfg.evidently_stride,
        "change_at": change_time(cfg.changes[0]),
        "targets": {name: next(d for d in DRIFTS if d.name == name).target for name in PEER_DRIFTS},
        "seed": 0,
    }
    (work / "spec.json").write_text(json.dumps(spec))
    out = work / "peers.json"
    helper = ROOT / "loadtest" / "cyclic_peers.py"
    env = dict(
        os.environ, NML_DISABLE_USAGE_LOGGING="1", DO_NOT_TRACK="1", EVIDENTLY_DISABLE_TELEMETRY="1"
    )  # both phone home by default
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(python), str(helper), str(work / "spec.json"), str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"peers helper failed:\n{proc.stderr[-4000:]}")
    for line in proc.stderr.splitlines():
        if line.startswith("["):
            log("peers: " + line)
    return json.loads(out.read_text()), starts


def peer_figures(
    results: dict, starts: dict[str, CyclicStream], cfg: Config, test_size: int
) -> dict:
    """Per peer setup: false flags on the drift-free stream and delays of the two drifts."""
    t_change = change_time(cfg.changes[0])
    figures = {}
    for setup, by_stream in results.items():
        if "error" in by_stream:
            figures[setup] = {"error": by_stream["error"]}
            continue
        chunks = by_stream["nodrift"]
        flags = sum(len(c["flagged"]) for c in chunks)
        judged = len(chunks)
        total = cfg.days if "daily" in setup else test_size // 1000
        flagged_chunks = sum(1 for c in chunks if c["flagged"])
        per_col = Counter(col for c in chunks for col in c["flagged"])
        delays = {}
        for name in PEER_DRIFTS:
            drift = next(d for d in DRIFTS if d.name == name)
            stream = starts[name]
            delays[name] = None
            for c in by_stream[name]:
                if c["end_ts"] < t_change or drift.target not in c["flagged"]:
                    continue
                end = c["end"]  # index past the chunk's last event in that stream
                delays[name] = (end - stream.change, (c["end_ts"] - t_change) / 3600.0)
                break
        figures[setup] = {
            "flags": flags,
            "flagged_chunks": flagged_chunks,
            "chunks": judged,
            "total_chunks": total,
            "per_column": per_col,
            "delays": delays,
        }
    return figures


# -- report ---------------------------------------------------------------------------


def delay_cell(results: list[tuple[int, float, str] | None]) -> str:
    """Median over the change times (and the worst, if several); how many were missed."""
    found = sorted((r for r in results if r is not None and r[0] >= 0), key=lambda r: r[0])
    mark = "*" if any(r is not None and r[2].endswith("*") for r in results) else ""
    lost = len(results) - len(found)
    kind = "masked" if any(r is not None and r[0] < 0 for r in results) else "missed"
    if not found:
        return kind + mark
    mid = found[(len(found) - 1) // 2]
    cell = f"{mid[0]:,} / {mid[1]:.1f} h"
    if len(results) > 1:
        cell += f" (max {found[-1][0]:,})"
    return cell + (f", {lost} {kind}" if lost else "") + mark


def targets(ours: dict[str, OursResult]) -> list[str]:
    """The issue's targets on cyclic traffic, met or not."""
    rows = []
    for label, res in ours.items():
        total = sum(res.false_alerts.values())
        rows.append((f"false alerts, {label}", "0", str(total), total == 0))

        def worst(name: str, res: OursResult = res) -> float:
            hits = res.delays[name]
            return max((r[0] if r and r[0] >= 0 else math.inf) for r in hits)

        def median(name: str, res: OursResult = res) -> float:
            hits = sorted(r[0] if r and r[0] >= 0 else math.inf for r in res.delays[name])
            return hits[(len(hits) - 1) // 2]

        for name in ("shift 0.5 sd", "new category 15%"):
            rows.append(
                (
                    f"median delay {name}, {label}",
                    "<= 1,000",
                    f"{median(name):,}",
                    median(name) <= 1000,
                )
            )
        every = max(worst(d.name) for d in DRIFTS)
        rows.append(
            (f"every drift, worst delay, {label}", "<= 10,000", f"{every:,}", every <= 10_000)
        )
        for name in ("null predictions", "renamed feature", "type change"):
            rows.append(
                (
                    f"{name}, worst delay, {label}",
                    "<= 1,000",
                    f"{worst(name):,}",
                    worst(name) <= 1000,
                )
            )
        for name in ("latency x3", "errors 20%"):
            rows.append(
                (
                    f"{name}, worst delay, {label}",
                    "<= 2,000",
                    f"{worst(name):,}",
                    worst(name) <= 2000,
                )
            )
    out = ["| target (issue 10, cyclic traffic) | goal | this run | met |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {'yes' if ok else 'NO'} |" for a, b, c, ok in rows]
    return out


def fmt_delay(d, mark: str = "") -> str:
    if d is None:
        return "missed"
    if d[0] < 0:
        return "masked"
    return f"{d[0]:,} / {d[1]:.1f} h"


def render(
    cfg: Config,
    ours: dict[str, OursResult],
    peers: dict | None,
    peer_error: str | None,
    seconds: float,
) -> str:
    lines = []
    weeks = cfg.days / 7
    names = [d.name for d in DRIFTS]
    lines.append(
        f"Cyclic traffic: {cfg.days} days drift-free ({next(iter(ours.values())).events:,} "
        f"events), reference {cfg.ref_days} days; each drift injected at "
        + ", ".join(f"day {d} {h:04.1f} h UTC" for d, h in cfg.changes)
        + f" (peers: the first), horizon {cfg.horizon_hours:.0f} h. Delay = events / hours "
        "from the change to the first alert on the drifted feature or signal: the median over "
        "the change times, and the worst."
    )
    lines.append("")
    header = "| detector | false alerts (drift-free) | per week | " + " | ".join(names) + " |"
    lines.append(header)
    lines.append("|---|---:|---:|" + "---:|" * len(names))
    for label, res in ours.items():
        total = sum(res.false_alerts.values())
        cells = [delay_cell(res.delays[n]) for n in names]
        lines.append(f"| {label} | {total} | {total / weeks:.0f} | " + " | ".join(cells) + " |")
    if peers:
        for setup, fig in peers.items():
            if "error" in fig:
                lines.append(f"| {setup} | failed: {fig['error'][:200]} |")
                continue
            cells = [fmt_delay(fig["delays"][n]) if n in fig["delays"] else "n/a" for n in names]
            sampled = fig["chunks"] < fig["total_chunks"] * 0.9
            per_week = fig["flags"] * fig["total_chunks"] / max(fig["chunks"], 1) / weeks
            judged = (
                f"{fig['chunks']} judged (1 in {round(fig['total_chunks'] / fig['chunks'])})"
                if sampled
                else f"{fig['chunks']}"
            )
            lines.append(
                f"| {setup} | {fig['flags']} column flags; {fig['flagged_chunks']} of "
                f"{judged} chunks flagged | {'~' if sampled else ''}{per_week:.0f} | "
                + " | ".join(cells)
                + " |"
            )
    elif peer_error:
        lines.append(f"| peers | not run: {peer_error} |")
    lines.append("")
    for label, res in ours.items():
        by_det = Counter()
        for (det, _), c in res.false_alerts.items():
            by_det[det] += c
        lines.append(f"{label}: false alerts by detector: {dict(sorted(by_det.items()))}")
        detail = ", ".join(
            f"{det}/{what} {c}" for (det, what), c in sorted(res.false_alerts.items())
        )
        lines.append(f"  by detector/feature: {detail}")
        lines.append(f"  by day: {[res.by_day.get(d, 0) for d in range(cfg.days)]}")
        dets = ", ".join(
            f"{n}: {'/'.join(v[2] if v else '-' for v in vs)}" for n, vs in res.delays.items()
        )
        lines.append(f"  first detector per drift: {dets}")
    if peers:
        for setup, fig in peers.items():
            if "error" in fig:
                continue
            top = ", ".join(f"{c} {n}" for c, n in fig["per_column"].most_common(30))
            lines.append(f"{setup}: flags by column: {top}")
    lines.append(
        "missed: no alert about the drifted feature/signal within the horizon. masked: none "
        "either, and an episode about it was already firing (from the daily cycle) when the "
        "drift began, so the drift was never reported on its own. *: an episode about it was "
        "already firing at the change; the delay is to the next new firing alert."
    )
    lines.append("")
    lines += targets(ours)
    lines.append("")
    lines.append(f"Run time {seconds:.0f} s.")
    return "\n".join(lines)


PEERS_VENV = ROOT / ".venv-peers"


def run(quick: bool = False, peers: bool = True, venv: Path = PEERS_VENV, log=print) -> str:
    """The whole benchmark; returns the report (markdown)."""
    cfg = QUICK if quick else FULL
    t0 = time.perf_counter()
    ref = CyclicStream(cfg.ref_days, REF_SEED, start=START - cfg.ref_days * DAY)
    test = CyclicStream(cfg.days, TEST_SEED)
    log(f"cyclic streams drawn: reference {ref.size:,}, test {test.size:,} events")
    s = Settings()
    baseline = Baseline.fit(
        ref.columns(0, ref.size),
        bins=s.numeric_bins,
        max_categories=s.max_categories,
        min_share=s.min_category_share,
        window_events=s.window_events,
    )
    size = len(orjson.dumps(baseline.to_dict()))
    cal = baseline.calibration.to_dict()
    period = baseline.phases.period if baseline.phases is not None else 1
    log(f"baseline fitted: {period} phases, {size:,} bytes of JSON, dispersion {cal}")
    ours = {
        f"ours, fitted baseline ({cfg.ref_days} days)": run_ours(cfg, test, baseline, log),
        "ours, learned baseline": run_ours(cfg, test, None, log),
    }
    figures, peer_error = None, None
    if peers:
        with tempfile.TemporaryDirectory(prefix="cyclic-peers-") as work:
            try:
                raw, starts = run_peers(cfg, test, ref, venv, Path(work), log)
                figures = peer_figures(raw, starts, cfg, test.size)
            except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
                text = str(exc).strip()
                peer_error = text.splitlines()[-1] if text else repr(exc)
                log(f"peers failed: {exc}")
    return render(cfg, ours, figures, peer_error, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 days (about 2 minutes)")
    parser.add_argument("--no-peers", action="store_true", help="ours only")
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=Path(os.environ.get("PEERS_VENV", PEERS_VENV)),
        help="virtualenv of NannyML and Evidently (created on first use; default .venv-peers)",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:5.0f}s] {msg}", file=sys.stderr, flush=True)

    print(run(args.quick, not args.no_peers, args.peers_venv, log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
