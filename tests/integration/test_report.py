"""``streamproc report`` on a drifting stream, opened in real headless Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.report_helpers import CHROMIUM, chromium, write_drifting_stream

pytestmark = pytest.mark.integration


def test_chromium_reports_console_errors(tmp_path):
    """The check below can fail: a page with a script error shows on the console."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('boom'); nope();</script></body></html>")
    _, console = chromium(page)
    assert any("boom" in line for line in console) and any("nope" in line for line in console)


def test_report_of_a_drifting_stream_opens_in_chromium(tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium (see .ci/run)"
    events, labels, report = tmp_path / "e.jsonl", tmp_path / "l.jsonl", tmp_path / "report.html"
    write_drifting_stream(events, labels)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamproc",
            "report",
            "--input",
            str(events),
            "--labels",
            str(labels),
            "--output",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "-> " + str(report) in done.stderr
    html = report.read_text()
    # self-contained: nothing is fetched
    for outside in ("<script", "src=", "<link", "url(", "@import", "https://"):
        assert outside not in html, outside

    dom, console = chromium(report)
    assert console == [], console
    assert "PSI of feature 'amount'" in dom and "accuracy is" in dom
    assert dom.count("<svg") >= 20  # charts for the model, the prediction and each feature

    shot = tmp_path / "report.png"
    _, console = chromium(report, screenshot=shot)
    assert console == [], console
    image = Image.open(shot).convert("RGB")
    assert image.size == (1240, 2400)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, f"{len(colours or [])} colours: blank?"
    # the firing markers and the value lines are drawn (red #d1495b, blue #1f6fb2)
    counts = {c: n for n, c in colours}
    assert counts.get((0xD1, 0x49, 0x5B), 0) > 100 and counts.get((0x1F, 0x6F, 0xB2), 0) > 500
