"""The README and docs/ cannot go stale: every Python snippet runs, every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import REPO, closed_port

PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
SNIPPET = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")


def _snippets() -> list[tuple[str, str]]:
    return [
        (f"{page.relative_to(REPO)}#{index}", code)
        for page in PAGES
        for index, code in enumerate(SNIPPET.findall(page.read_text(encoding="utf-8")))
    ]


def test_the_docs_have_pages_and_snippets() -> None:
    """docs/ holds the reference pages, and the API page shows runnable code."""
    assert {p.name for p in PAGES} >= {"README.md", "api.md", "cli.md", "specs.md"}
    assert sum(name.startswith("docs/api.md") for name, _ in _snippets()) >= 4


@pytest.mark.parametrize(("name", "code"), _snippets(), ids=[n for n, _ in _snippets()])
def test_every_python_snippet_runs(
    name: str, code: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each snippet runs from the repository's root, offline, and its asserts hold."""
    monkeypatch.chdir(REPO)
    # Any listing a snippet would make goes to a loopback port nobody listens on.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    exec(compile(code, name, "exec"), {"__name__": "__docs__"})
    capsys.readouterr()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    """A link to another page or file of the repository points at something that exists."""
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_the_code_map_lists_every_module_once() -> None:
    """docs/code-map.md names each module of the package, and none that is gone."""
    text = (REPO / "docs" / "code-map.md").read_text(encoding="utf-8")
    listed = re.findall(r"`(\w+\.py)`", text)
    modules = {
        p.name
        for p in (REPO / "src" / "qupsample").glob("*.py")
        if p.name not in {"__init__.py", "__main__.py"}
    }
    assert set(listed) == modules
    assert len(listed) == len(set(listed))
