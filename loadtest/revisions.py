"""Temporary git worktrees of this repository at given revisions (for old-vs-new runs).

>>> with worktrees({}) as trees:
...     trees
{}
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def worktrees(revs: dict[str, str]) -> Iterator[dict[str, Path]]:
    """A detached worktree per ``name -> revision``, removed on leaving."""
    with tempfile.TemporaryDirectory(prefix="streamproc-revs-") as tmp:
        trees: dict[str, Path] = {}
        try:
            for name, rev in revs.items():
                path = Path(tmp) / f"tree-{name}"
                git = ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev]
                done = subprocess.run(git, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"git worktree add {rev} failed: {done.stderr.strip()}")
                trees[name] = path.resolve()
            yield trees
        finally:
            for path in trees.values():
                git = ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)]
                subprocess.run(git, check=False, capture_output=True)
