"""`streamproc demo` as `make demo` runs it: alerts for the drifted features only, clean exit."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_catches_the_drifts_and_leaves_no_process():
    result = subprocess.run(
        [sys.executable, "-m", "streamproc", "demo", "--duration", "45"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "result: every drifted feature and the concept drift caught, no false alarm" in out
    assert "credit-scorer" in out and "performance  caught by" in out
    for feature in ("amount", "country", "income"):
        assert f"feature/{feature}" in out
    worker_pid = next(line.split()[2] for line in out.splitlines() if "worker   pid" in line)
    alive = subprocess.run(["ps", "-p", worker_pid], capture_output=True)
    assert alive.returncode == 1, f"worker {worker_pid} still running"
    broker = out.split("broker   ")[1].split()[0]
    leftover = subprocess.run(["pgrep", "-f", f"tansu.*{broker}"], capture_output=True)
    assert leftover.returncode == 1, "the demo's broker is still running"
