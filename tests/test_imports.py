"""Tests for the module map: qupsample's imports point one way (no cycles), and the heavy
libraries load only when storage is listed or a picture drawn."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

PACKAGE = REPO / "src" / "qupsample"


def imports_of(path: Path) -> set[str]:
    """The qupsample modules a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qupsample"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("qupsample.")}
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return {
        p.stem: (imports_of(p) & modules) - {p.stem}
        for p in PACKAGE.glob("*.py")
        if p.stem != "__init__"
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_import_graph_has_no_cycles() -> None:
    """No module imports, even lazily, one that imports it back (renderer <-> resolve)."""
    graph = import_graph()
    assert "resolve" in graph["renderer"]
    assert "renderer" not in graph["resolve"]
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_cycles() -> None:
    """The check above can fail: a loop of three modules is reported."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# --- lazy imports ---------------------------------------------------------------------

# Each takes a while to import; commands that do not list storage or draw never need them.
HEAVY = ["s3fs", "botocore", "aiobotocore", "fsspec", "boto3", "matplotlib"]
# typer loads rich for its help; the library modules never do.
LIBRARY_HEAVY = [*HEAVY, "rich"]
# Runs commands in the probe's own process, so their imports stay in its sys.modules.
CLI_RUNS = f"""\
from qupsample.entry import main
for args in (
    ["--help"],
    ["list", "--root", {str(REPO)!r}],
    ["render", "aggressive", "heavy_code", "--root", {str(REPO)!r}],
    ["generate", "--check", "--root", {str(REPO)!r}],
    ["lint", {str(REPO / "generated")!r}, "--root", {str(REPO)!r}],
):
    sys.argv = ["qupsample", *args]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
"""
PROBE = """\
import json, sys
heavy = json.loads(sys.argv[1])
{code}
print("LOADED", json.dumps(sorted({{m for m in sys.modules if m.split(".")[0] in heavy}})))
"""


@pytest.mark.parametrize(
    ("code", "printed"),
    [
        pytest.param("import qupsample.resolve", [], id="import-resolve"),
        pytest.param("import qupsample.storage", [], id="import-storage"),
        pytest.param("import qupsample.plot", [], id="import-plot"),
        pytest.param("import qupsample.lint", [], id="import-lint"),
        pytest.param(
            CLI_RUNS,
            ["Exit codes:", "  heavy_code ", "name: quality-upsampling-aggressive-heavy-code"],
            id="cli-help-list-render-generate-check-lint",
        ),
    ],
)
def test_heavy_libraries_load_only_when_needed(code: str, printed: list[str]) -> None:
    """Importing resolve, storage, plot or lint (nor rich either), and --help, list, render,
    generate --check and lint, load none of s3fs, botocore, aiobotocore, fsspec, boto3 or
    matplotlib (in a fresh process).
    """
    heavy = HEAVY if "main()" in code else LIBRARY_HEAVY
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code), json.dumps(heavy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for text in printed:
        assert text in result.stdout
    assert result.stdout.splitlines()[-1] == "LOADED []"
