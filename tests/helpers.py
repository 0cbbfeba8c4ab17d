"""Shared test helpers: the repo's paths, the facts table, a spec-tree copier, the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from qupsample.cli import app

REPO = Path(__file__).resolve().parents[1]
FAMILY = "quality_upsampling"
TOPICS = [
    "science_math_and_technology",
    "software_development",
    "education_and_jobs",
    "politics",
    "adult_content",
    "art_and_design",
]
# The experiment's profiles (olmix_facts.md): all_dressed, arxiv, wikipedia; then TOPICS.
PROFILE_TABLE = {
    "heavy_adult": ([98, 1, 1], [15, 15, 10, 3, 50, 5]),
    "heavy_code": ([98, 1, 1], [20, 50, 15, 5, 3, 5]),
    "heavy_science": ([98, 1, 1], [50, 20, 15, 5, 3, 5]),
    "heavy_wiki": ([69, 1, 30], [25, 20, 15, 3, 1, 5]),
}


def make_project(
    tmp_path: Path, edits: dict[str, str] | None = None, *, with_generated: bool = False
) -> Path:
    """Copies the repo's specs and templates (quality_upsampling family only), then edits.

    `edits` maps a path inside the project to its new text. With `with_generated`,
    `generated/<family>/` is copied too, so the copy starts up to date.
    """
    root = tmp_path / "project"
    shutil.copytree(REPO / "schemes", root / "schemes")
    shutil.copytree(REPO / "templates", root / "templates")
    if with_generated:
        shutil.copytree(REPO / "generated" / FAMILY, root / "generated" / FAMILY)
    for family in (root / "schemes" / "families").glob("*.yaml"):
        if family.stem != FAMILY:
            family.unlink()
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
