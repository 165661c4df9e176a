"""Every relative link of the README and docs/*.md points at a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)  # [name]: target


def relative_links(text: str) -> list[str]:
    """The link targets of ``text`` that are paths (not URLs, not anchors).

    >>> relative_links("[a](docs/x.md#y) [b](https://e.org) [c](#z)\\n[d]: ../up.md")
    ['docs/x.md', '../up.md']
    """
    targets = LINK.findall(text) + REFERENCE.findall(text)
    paths = [t.split("#", 1)[0] for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]
    return [p for p in paths if p]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_in_the_repository(doc):
    broken = []
    for target in relative_links(doc.read_text()):
        path = (doc.parent / target).resolve()
        if not path.exists() or ROOT.resolve() not in path.parents:
            broken.append(target)
    assert not broken, f"{doc.name}: links to missing or outside files: {broken}"


def test_the_link_finder_finds_links_across_line_breaks():
    text = "see [the\ncontract](docs/contract.md) and [x](../shared/CONTRACT.md)"
    assert relative_links(text) == ["docs/contract.md", "../shared/CONTRACT.md"]
