"""Runs of lines of a file, found by a newline scan and read by whoever decodes them.

Replay hands each decoding child the byte span of its next run of lines
(:class:`FileSpan`), so the children read the file themselves and the
replaying process only scans for newlines.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "events.jsonl")
>>> _ = open(path, "wb").write(b'{"a": 1}\\n\\n{"b": 2}\\n{"c": 3}')
>>> spans = list(line_spans(path, lines_per_batch=2))
>>> [(s.start, s.stop, s.first) for s in spans]
[(0, 10, 1), (10, 27, 3)]
>>> [(list(numbers), lines) for numbers, lines in (s.read() for s in spans)]
[([1], [b'{"a": 1}\\n']), ([3, 4], [b'{"b": 2}\\n', b'{"c": 3}'])]
"""

from __future__ import annotations

import io
import mmap
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class FileSpan:
    """Bytes ``start:stop`` of the file at ``path``, which begin at line ``first``."""

    path: str
    start: int
    stop: int
    first: int

    def read(self) -> tuple[Sequence[int], list[bytes]]:
        """The span's non-blank lines and their line numbers (blank: what
        ``line.strip()`` empties; a line keeps its ``\\n``, as iterating a file)."""
        with Path(self.path).open("rb") as f:
            f.seek(self.start)
            data = f.read(self.stop - self.start)
        lines = io.BytesIO(data).readlines()
        numbers: Sequence[int] = range(self.first, self.first + len(lines))
        blank = list(map(bytes.isspace, lines))
        if any(blank):
            kept = list(map(operator.not_, blank))
            numbers, lines = list(compress(numbers, kept)), list(compress(lines, kept))
        return numbers, lines


def line_spans(path: str | Path, lines_per_batch: int) -> Iterator[FileSpan]:
    """The spans of each run of ``lines_per_batch`` lines of the file, in order."""
    if Path(path).stat().st_size == 0:
        return  # (an empty file cannot be mapped)
    with Path(path).open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        view = np.frombuffer(data, dtype=np.uint8)
        try:
            start, first, seen = 0, 1, 0
            step = 8 << 20
            for base in range(0, len(view), step):
                ends = np.flatnonzero(view[base : base + step] == 10) + (base + 1)
                skip = lines_per_batch - seen - 1  # index of the newline ending the run
                for stop in ends[skip::lines_per_batch].tolist():
                    yield FileSpan(str(path), start, stop, first)
                    start, first = stop, first + lines_per_batch
                seen = (seen + len(ends)) % lines_per_batch
            if start < len(view):
                yield FileSpan(str(path), start, len(view), first)
        finally:
            del view  # the mmap closes only without exported buffers
