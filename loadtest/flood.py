"""Replay speed and peak memory: normal events against a feature-name flood.

    python loadtest/flood.py [--flood 100000] [--normal N] [--dir /tmp/flood]

Writes two JSON-lines files of ``streamproc.simulate.wide_events`` (10 models,
20 features): ``normal`` as is, ``flood`` with one more feature per event
named ``f_<hex id>`` (a producer bug: an id in a feature name). By default
``normal`` has as many events as ``flood``: the same events without the
flood's names, so that both runs carry the same fixed costs (start-up, the
pipeline filling, the baselines learned from the first events). Replays each
with ``python -m streamproc replay`` in a child process and prints its
events/s and peak RSS (docs/reliability.md has the figures).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import orjson

from streamproc.simulate import wide_events


def write(path: Path, events: int, flood: bool) -> None:
    if path.exists():
        return
    with open(path, "wb") as out:
        for offset in range(0, events, 50_000):
            batch = wide_events(
                events=min(50_000, events - offset), offset=offset, name_flood=flood
            )
            out.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))


_WRAPPER = """
import resource, subprocess, sys
run = subprocess.run([sys.executable, "-m", "streamproc", "replay", "--input", sys.argv[1]],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
print(next(line for line in reversed(run.stderr.splitlines()) if "events/s" in line))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def replay(path: Path) -> tuple[float, float, str]:
    """events/s and peak RSS (MB, of the largest process: the replay or its
    decoder) of a replay in a fresh process, and its summary line."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    line, peak = out[-2], int(out[-1])
    match = re.search(r"\(([\d,]+) events/s\)", line)
    assert match is not None, line
    return float(match.group(1).replace(",", "")), peak / 1024, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=100_000)
    parser.add_argument("--normal", type=int, default=None, help="default: --flood")
    parser.add_argument("--dir", default="/tmp/streamproc-flood")
    args = parser.parse_args()
    args.normal = args.normal or args.flood
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    normal, flood = folder / f"normal-{args.normal}.jsonl", folder / f"flood-{args.flood}.jsonl"
    write(normal, args.normal, False)
    write(flood, args.flood, True)
    results = {}
    for name, path in (("normal", normal), ("flood", flood)):
        rate, rss, line = replay(path)
        results[name] = rate
        print(f"{name:7s} {rate:>10,.0f} events/s  peak RSS {rss:,.0f} MB   ({line})")
    print(f"flood / normal: {results['flood'] / results['normal']:.2f}")


if __name__ == "__main__":
    main()
