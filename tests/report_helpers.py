"""A drifting stream with labels on disk, and headless Chromium, for the report's
tests and the README's screenshot (docs/img/report.png)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import orjson

from streamproc.simulate import Scenario, generate, labels_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def write_drifting_stream(
    events_path: str | Path,
    labels_path: str | Path | None = None,
    *,
    events: int = 40_000,
    drift_at: int = 20_000,
    concept_drift_at: int = 26_000,
) -> None:
    """The demo scenario (amount +1 sd, country mix, income nulls from ``drift_at``)
    as JSON lines; with ``labels_path``, its labels in time order, 30 % of them
    flipped from ``concept_drift_at`` on (accuracy falls)."""
    stream = [
        e for batch in generate(Scenario.demo(drift_at=drift_at), events=events) for e in batch
    ]
    Path(events_path).write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in stream))
    if labels_path is not None:
        labels = labels_for(stream, concept_drift_at=concept_drift_at, flip=0.3)
        labels.sort(key=lambda label: label["timestamp"])
        Path(labels_path).write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in labels))


def chromium(
    page: Path, *, screenshot: Path | None = None, size: str = "1240,2400"
) -> tuple[str, list[str]]:
    """Open ``page`` in headless Chromium: its DOM after load, and the console
    messages it logged (errors, warnings, failed loads: anything on the console)."""
    args = [
        CHROMIUM,
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={size}",
    ]
    if screenshot is not None:
        args.append(f"--screenshot={screenshot}")
    else:
        args.append("--dump-dom")
    done = subprocess.run(
        [*args, page.resolve().as_uri()], capture_output=True, text=True, timeout=120, check=True
    )
    console = [
        line for line in done.stderr.splitlines() if re.search(r":CONSOLE(\(\d+\))?[:\]]", line)
    ]
    return done.stdout, console


if __name__ == "__main__":
    import sys

    write_drifting_stream(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
