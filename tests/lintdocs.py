"""The examples of docs/lint.md: the base config, and each rule's bad and good snippet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from helpers import REPO

DOC = REPO / "docs" / "lint.md"
_BLOCK = re.compile(r"^```yaml (base|bad|good)( latin-1)?\n(.*?)^```", re.S | re.M)
_CODE = re.compile(r"^### ([A-Z]\d{3}) ", re.M)


class Example(NamedTuple):
    """One rule's example: the file's bytes, and the line the finding must point at."""

    code: str
    kind: str
    data: bytes
    line: int | None


def merged(base: str, snippet: str) -> str:
    """The base config with the snippet's top-level keys replaced by the snippet (a
    snippet starting with `name:` is a whole file)."""
    if snippet.startswith("name:"):
        return snippet
    keys = {line.split(":")[0] for line in snippet.splitlines() if line[:1].strip()}
    kept: list[str] = []
    keep = True
    for line in base.splitlines(keepends=True):
        if line[:1].strip():
            keep = line.split(":")[0] not in keys
        if keep:
            kept.append(line)
    return "".join(kept) + snippet


def examples(doc: Path = DOC) -> list[Example]:
    """Every bad and good example of the doc, in order."""
    text = doc.read_text(encoding="utf-8")
    base = _BLOCK.search(text)
    assert base is not None and base.group(1) == "base"
    found = []
    starts = [(m.start(), m.group(1)) for m in _CODE.finditer(text)]
    for block in _BLOCK.finditer(text):
        if block.group(1) == "base":
            continue
        code = [c for start, c in starts if start < block.start()][-1]
        body = merged(base.group(3), block.group(3))
        marker = [i for i, line in enumerate(body.splitlines(), 1) if f"# <- {code}" in line]
        data = body.encode("latin-1" if block.group(2) else "utf-8")
        found.append(Example(code, block.group(1), data, marker[0] if marker else None))
    return found
