"""Shared test helpers: the repo's paths, the facts table, a spec-tree copier, the CLI,
file trees, olmix config entries, and a loopback port nobody listens on."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from typer.testing import CliRunner

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

# The fields of a resolved mix's leaf rows and path rows, in order (JSON keys, columns).
LEAF_COLUMNS = [
    "leaf",
    "weight",
    "tokens",
    "requested_tokens",
    "repetition_factor",
    "max_repetition_factor",
]
PATH_COLUMNS = ["path", "leaf", "objects", "tokens", "weight"]


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


class Run(NamedTuple):
    """What an in-process CLI run returned: unpacks as (code, out, err)."""

    code: int
    out: str
    err: str


def invoke(*args: object) -> Run:
    """Runs the CLI in-process (arguments pass through `str`); exit code, stdout, stderr."""
    from qupsample.cli import app  # here, so that conftest's import of REPO loads no CLI

    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return Run(result.exit_code, result.stdout, result.stderr)


def assert_one_error_line(code: int, out: str, err: str, *fragments: str) -> str:
    """Exit 2, nothing on stdout, one `error: ` line on stderr holding every fragment."""
    assert code == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    [line] = err.splitlines()
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line, line
    return line


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative POSIX path, with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_objects(folder: Path, sizes: dict[str, int]) -> str:
    """Writes a zero-filled file of each size under `folder`; returns `folder` as POSIX."""
    for key, size in sizes.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(size))
    return folder.as_posix()


def entry(name: str, weight: float | None = None, **fields: Any) -> dict[str, Any]:
    """An olmix source, topic or quality entry; a weight or field that is None is left out."""
    data: dict[str, Any] = {"name": name}
    if weight is not None:
        data["weight"] = weight
    data.update({key: value for key, value in fields.items() if value is not None})
    return data


def write_config(folder: Path, config: dict[str, Any], name: str = "config.yaml") -> Path:
    """Writes `config` as YAML (keys in order) to `folder`/`name`; returns the path."""
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


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
