"""Shared test helpers: the repo's paths, the facts table, a spec-tree copier, the CLI."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from qupsample.cli import app

REPO = Path(__file__).resolve().parents[1]
FAMILY = "quality_upsampling"
# The family's current-olmix form (`also:` in its family spec).
LAUNCH = "quality_upsampling_launch"
TOPICS = [
    "science_math_and_technology",
    "software_development",
    "education_and_jobs",
    "politics",
    "adult_content",
    "art_and_design",
]
SCHEMES = ["aggressive", "gradual"]
PROFILES = ["heavy_adult", "heavy_code", "heavy_science", "heavy_wiki"]
# Every file `generate` writes for the family, in both of its forms.
FAMILY_FILES = sorted(
    f"{folder}/{name}"
    for folder in (FAMILY, LAUNCH)
    for name in [*(f"{p}/{s}.yaml" for p in PROFILES for s in SCHEMES), "README.md", "batch_run.sh"]
)
# The experiment's profiles (olmix_facts.md): all_dressed, arxiv, wikipedia; then TOPICS.
PROFILE_TABLE = {
    "heavy_adult": ([98, 1, 1], [15, 15, 10, 3, 50, 5]),
    "heavy_code": ([98, 1, 1], [20, 50, 15, 5, 3, 5]),
    "heavy_science": ([98, 1, 1], [50, 20, 15, 5, 3, 5]),
    "heavy_wiki": ([69, 1, 30], [25, 20, 15, 3, 1, 5]),
}


def make_project(
    tmp_path: Path,
    edits: dict[str, str] | None = None,
    *,
    with_generated: bool = False,
    all_families: bool = False,
    profiles: Sequence[str] | None = None,
) -> Path:
    """Copies the repo's specs and templates (quality_upsampling family only), then edits.

    `edits` maps a path inside the project to its new text. With `with_generated`,
    the family's folders under `generated/` are copied too, so the copy starts up to
    date. `all_families` keeps every family; `profiles` keeps only those profiles.
    """
    root = tmp_path / "project"
    shutil.copytree(REPO / "schemes", root / "schemes")
    shutil.copytree(REPO / "templates", root / "templates")
    if with_generated:
        for folder in (FAMILY, LAUNCH):
            shutil.copytree(REPO / "generated" / folder, root / "generated" / folder)
    for family in (root / "schemes" / "families").glob("*.yaml"):
        if family.stem != FAMILY and not all_families:
            family.unlink()
    for profile in (root / "schemes" / "profiles").glob("*.yaml"):
        if profiles is not None and profile.stem not in profiles:
            profile.unlink()
    for relative, text in (edits or {}).items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def all_paths(config: dict[str, Any]) -> list[str]:
    """Every path of a parsed config, in order."""
    paths: list[str] = []
    for source in config["sources"]:
        paths += source.get("paths", [])
        for topic in source.get("topics", []):
            paths += topic.get("paths", [])
            for bucket in topic.get("quality", []):
                paths += bucket["paths"]
    return paths


def invoke(*args: str) -> tuple[int, str, str]:
    """Runs the CLI in-process; returns exit code, stdout and stderr."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def table_rows(text: str) -> dict[str, list[str]]:
    """The leaf rows of a `resolve` table: full leaf name -> its cells after the name.

    Rows are indented by depth (two spaces a level), cells are two or more spaces apart;
    rows without numbers (sources and topics) only name the path to their leaves.
    """
    rows: dict[str, list[str]] = {}
    path: list[str] = []
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("─")) + 1
    for line in lines[start:]:
        if not line.startswith(" "):
            break
        cells = re.split(r"\s{2,}", line.strip())
        depth = (len(line) - len(line.lstrip()) - 1) // 2
        path[depth:] = [cells[0]]
        if len(cells) > 1:
            rows[":".join(path)] = cells[1:]
    return rows
