"""Tests for `qupsample init` and where outputs go: never into the built-in specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, invoke

from qupsample.scaffold import init_project


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time in ns."""
    return {p.as_posix(): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_init_scaffolds_a_project_that_generates_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init writes specs, templates, Makefile, README and hook; generate there matches the repo."""
    code, out, err = invoke("init", str(tmp_path / "mine"))
    assert (code, out) == (0, ""), err
    root = tmp_path / "mine"
    assert sorted(p.name for p in root.iterdir()) == [
        ".pre-commit-config.yaml",
        "Makefile",
        "README.md",
        "schemes",
        "templates",
    ]
    assert "id: qupsample-check" in (root / ".pre-commit-config.yaml").read_text()
    assert "$(QUPSAMPLE) generate --check" in (root / "Makefile").read_text()
    assert err.endswith(
        f"next: cd {root} && qupsample generate   (then edit schemes/ and run it again)\n"
    )
    monkeypatch.chdir(root)
    code, _, err = invoke("generate")
    assert code == 0, err
    assert err.startswith(f"project: {root}\n")
    produced = {
        p.relative_to(root / "generated"): p.read_bytes()
        for p in (root / "generated").rglob("*")
        if p.is_file()
    }
    committed = {
        p.relative_to(REPO / "generated"): p.read_bytes()
        for p in (REPO / "generated").rglob("*")
        if p.is_file()
    }
    assert produced == committed
    assert invoke("generate", "--check")[0] == 0


def test_init_never_overwrites(tmp_path: Path) -> None:
    """A folder that already holds any project file is refused in one line, untouched."""
    (tmp_path / "Makefile").write_text("mine\n")
    code, out, err = invoke("init", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {tmp_path / 'Makefile'}: already exists; init never overwrites a project"
        " — choose an empty folder, e.g. `qupsample init my-experiments`\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["Makefile"]
    assert (tmp_path / "Makefile").read_text() == "mine\n"


def test_init_into_a_file_is_one_line(tmp_path: Path) -> None:
    """init onto a regular file exits 2 with one line."""
    file = tmp_path / "x"
    file.write_text("")
    code, _, err = invoke("init", str(file))
    assert code == 2 and err.count("\n") == 1 and "is a file" in err


def test_init_leaves_no_staging_folder(tmp_path: Path) -> None:
    """The staging folder is gone after init, and only the project files remain."""
    created = init_project(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in created)


def test_generate_with_only_builtin_specs_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a project, generate writes nothing anywhere and points to init or --out."""
    before = snapshot(REPO / "generated")
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("generate")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "run `qupsample init` to start a project here; or pass --out DIR" in err
    assert list(tmp_path.iterdir()) == []
    assert snapshot(REPO / "generated") == before
    code, _, err = invoke("list")
    assert code == 0 and err.startswith("specs: built-in (")
    code, _, err = invoke("generate", "--out", "configs")
    assert code == 0, err
    assert (tmp_path / "configs" / "quality_upsampling" / "heavy_code" / "gradual.yaml").is_file()
    assert snapshot(REPO / "generated") == before
