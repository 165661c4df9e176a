"""Profile a real worker with py-spy while it drains a pre-filled topic.

    python loadtest/profile_worker.py [--arrays] [--events N] [--out FILE]

Writes py-spy's collapsed stacks (of the worker and its decoder process) to
FILE (default profile-worker.txt) and prints the functions with the most
samples (inclusive) in each, for docs/performance.md.
Needs the ``bench`` extra (py-spy) and, for py-spy, permission to ptrace.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput as lt  # noqa: E402

from streamproc.simulate import wide_events  # noqa: E402


def summarize(path: Path, within: str, top: int = 30) -> None:
    """Inclusive and own share of functions, among samples under ``within``."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if within not in stack:
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1]
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    print(f"{total} samples under {within}; inclusive share of the top functions:")
    for frame, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}%  (self {100 * own[frame] / total:4.1f}%)  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arrays", action="store_true", help="records of 100 events")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--out", default="profile-worker.txt")
    args = parser.parse_args()
    broker, bootstrap = lt.own_broker()
    try:
        single, arrays = lt.encode(wide_events(events=args.events, models=10))
        topic = f"lt.profile.{uuid.uuid4().hex[:8]}"
        asyncio.run(lt.create_topics(bootstrap, [topic]))
        asyncio.run(lt.produce(bootstrap, topic, arrays if args.arrays else single))
        suffix = uuid.uuid4().hex[:8]
        worker = lt.Worker(bootstrap, topic, f"lt-{suffix}", suffix)
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "-o",
                args.out,
                "--subprocesses",
                "-p",
                str(worker.process.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        first = None
        while (worker.metric("streamproc_events_total") or 0) < args.events:
            if first is None and (worker.metric("streamproc_events_total") or 0) > 0:  # noqa: SIM102
                first = time.perf_counter()
            time.sleep(0.05)
        print(f"drained in {time.perf_counter() - (first or 0):.2f} s after the first event")
        spy.send_signal(2)
        spy.wait(30)
        worker.process.kill()
        worker.process.wait()
    finally:
        if broker is not None:
            broker.stop()
    print("The worker's process (its poller, judge and committer tasks):")
    summarize(Path(args.out), "IngestService.")
    print("Its decoder process:")
    summarize(Path(args.out), "_child (")
    return 0


if __name__ == "__main__":
    sys.exit(main())
