"""The heap trim gives freed memory inside the heap back to the OS."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streamproc.stream.heap import trim_heap


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_memory_freed_between_live_blocks_goes_back_to_the_os():
    blocks = [bytes(16_000) for _ in range(5_000)]  # 80 MB of heap, under the mmap threshold
    del blocks[::2]  # half freed: 16 kB holes (whole pages) that the live half keeps open
    before = rss_mb()
    assert trim_heap()
    assert before - rss_mb() > 20  # ~40 MB of holes
    del blocks
