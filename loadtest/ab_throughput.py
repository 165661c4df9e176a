"""Throughput of two revisions side by side: ``loadtest/throughput.py`` on each, alternately.

    python loadtest/ab_throughput.py --old-rev c8ab642 --new-rev HEAD --runs 3

Runs old, new, old, new, ... (``--runs`` each) on temporary worktrees, with
this checkout's virtualenv, and prints every run's key figures and the
medians per revision. Needs a quiet machine: each run takes ~3.5 minutes
and uses both cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from revisions import worktrees  # noqa: E402

FIGURES = (
    "ceiling_events_per_s",
    "streamproc_events_per_s",
    "single_vs_ceiling",
    "single_vs_naive_faust",
    "streamproc_inline_events_per_s",
    "batched_vs_batched_ceiling",
    "replay_events_per_s",
    "p99_alert_latency_s",
)


def run(tree: Path, extra: list[str]) -> dict[str, float]:
    """One ``throughput.py --json`` run of ``tree``'s code."""
    done = subprocess.run(
        [sys.executable, str(tree / "loadtest" / "throughput.py"), "--json", *extra],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"{tree}: throughput.py failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old-rev", required=True)
    parser.add_argument("--new-rev", required=True)
    parser.add_argument("--runs", type=int, default=3, help="runs per revision (default 3)")
    parser.add_argument("extra", nargs="*", help="arguments for throughput.py (after --)")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    with worktrees({"old": args.old_rev, "new": args.new_rev}) as trees:
        for i in range(args.runs):
            for side in ("old", "new"):
                figures = run(trees[side], args.extra)
                results[side].append(figures)
                shown = "  ".join(f"{k}={figures.get(k)}" for k in FIGURES)
                print(f"run {i + 1} {side}: {shown}", flush=True)
    for key in FIGURES:
        old = statistics.median(r.get(key) or 0.0 for r in results["old"])
        new = statistics.median(r.get(key) or 0.0 for r in results["new"])
        ratio = new / old if old else float("nan")
        print(f"median {key:<34} old {old:>12,.4g}  new {new:>12,.4g}  new/old {ratio:.3f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
