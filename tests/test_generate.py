"""Tests for qupsample.generator: golden files, idempotence, `--check`, orphans, batch_run.sh."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import (
    FAMILY,
    FAMILY_FILES,
    LAUNCH,
    PROFILES,
    REPO,
    SCHEMES,
    invoke,
    make_project,
    read_tree,
)

from qupsample.generator import generate

GOLDEN = REPO / "tests" / "golden"
CONFIGS = [f"{FAMILY}/{p}/{s}.yaml" for p in PROFILES for s in SCHEMES]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under `folder` with its bytes, mode, and modification time in ns."""
    return {
        path.relative_to(folder).as_posix(): (
            path.read_bytes(),
            path.stat().st_mode,
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def family_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output of one generate of the quality_upsampling family, shared by the module."""
    base = tmp_path_factory.mktemp("family")
    out = base / "out"
    generate(out=out, root=make_project(base, with_generated=True))
    return out


# --- golden files ---------------------------------------------------------------------


def test_generate_matches_golden_files(tmp_path: Path, update_golden: bool) -> None:
    """Generating the repo's specs writes exactly the golden file set, byte for byte."""
    out = make_project(tmp_path, all_families=True) / "generated"
    generate(root=out.parent)
    produced = read_tree(out)
    if update_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for relative, data in produced.items():
            target = GOLDEN / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(stat.S_IMODE((out / relative).stat().st_mode))
    golden = read_tree(GOLDEN)
    assert sorted(produced) == sorted(golden)
    assert set(FAMILY_FILES) <= set(golden)
    for relative, data in produced.items():
        assert data == golden[relative], f"{relative} differs from tests/golden/{relative}"


def test_committed_generated_folder_equals_golden_files() -> None:
    """The committed `generated/` folder is up to date: it equals the golden files."""
    committed = read_tree(REPO / "generated")
    golden = read_tree(GOLDEN)
    assert sorted(committed) == sorted(golden)
    for relative, data in committed.items():
        assert data == golden[relative], f"generated/{relative}: run `make generate`"


def test_batch_run_scripts_are_executable(family_out: Path) -> None:
    """batch_run.sh is written executable and committed executable; configs are not."""
    for folder in (family_out, REPO / "generated"):
        assert os.access(folder / FAMILY / "batch_run.sh", os.X_OK)
        config_mode = (folder / FAMILY / "heavy_code" / "aggressive.yaml").stat().st_mode
        assert not config_mode & 0o111


# --- idempotence ----------------------------------------------------------------------


def test_generate_twice_changes_no_byte(tmp_path: Path) -> None:
    """A second generate writes nothing (0 written) and leaves every byte, mode and mtime."""
    root = make_project(tmp_path, with_generated=True)
    out = tmp_path / "out"
    code, stdout, stderr = invoke("generate", "--root", str(root), "--out", str(out))
    assert code == 0
    assert sorted(stdout.splitlines()) == [f"wrote: {out / path}" for path in FAMILY_FILES]
    assert stderr == f"project: {root}\n{out}: 20 files, 20 written\n"
    before = snapshot(out)
    code, stdout, stderr = invoke("generate", "--root", str(root), "--out", str(out))
    assert (code, stdout, stderr) == (0, "", f"project: {root}\n{out}: 20 files, 0 written\n")
    assert snapshot(out) == before
    # The same files as the golden ones, but each usage line shows where it really is.
    written = {
        p: d.replace(f"{out.as_posix()}/".encode(), b"generated/")
        for p, d in read_tree(out).items()
    }
    assert written == {
        p: d for p, d in read_tree(GOLDEN).items() if p.startswith((f"{FAMILY}/", f"{LAUNCH}/"))
    }
    usage = f"# Usage: olmix launch run --config {out.as_posix()}/{FAMILY}/heavy_code/gradual.yaml"
    assert usage in (out / FAMILY / "heavy_code" / "gradual.yaml").read_text()


# --- --check --------------------------------------------------------------------------


def test_check_passes_on_fresh_copy(tmp_path: Path) -> None:
    """`generate --check` on an up-to-date copy exits 0, lists nothing and writes nothing."""
    root = make_project(tmp_path, with_generated=True)
    before = snapshot(root)
    code, stdout, stderr = invoke("generate", "--check", "--root", str(root))
    assert (code, stdout) == (0, "")
    assert stderr == f"project: {root}\n{root / 'generated'}: 20 files, up to date\n"
    assert snapshot(root) == before


def _edit_profile(root: Path) -> None:
    path = root / "schemes" / "profiles" / "heavy_code.yaml"
    path.write_text(path.read_text().replace("politics: 5", "politics: 6"))


def _add_orphan(root: Path) -> None:
    (root / "generated" / FAMILY / "heavy_code" / "old.yaml").write_text("name: old\n")


def _delete_config(root: Path) -> None:
    (root / "generated" / FAMILY / "heavy_wiki" / "gradual.yaml").unlink()


@pytest.mark.parametrize(
    ("change", "listed"),
    [
        pytest.param(
            _edit_profile,
            [
                "stale: {out}/quality_upsampling/heavy_code/aggressive.yaml",
                "stale: {out}/quality_upsampling/heavy_code/gradual.yaml",
                "stale: {out}/quality_upsampling/README.md",
                "stale: {out}/quality_upsampling_launch/heavy_code/aggressive.yaml",
                "stale: {out}/quality_upsampling_launch/heavy_code/gradual.yaml",
                "stale: {out}/quality_upsampling_launch/README.md",
            ],
            id="spec-edited",
        ),
        pytest.param(
            _add_orphan, ["orphaned: {out}/quality_upsampling/heavy_code/old.yaml"], id="orphan"
        ),
        pytest.param(
            _delete_config,
            ["missing: {out}/quality_upsampling/heavy_wiki/gradual.yaml"],
            id="file-deleted",
        ),
    ],
)
def test_check_fails_when_out_of_date(
    tmp_path: Path, change: Callable[[Path], None], listed: list[str]
) -> None:
    """`generate --check` exits 1, lists each stale/orphaned/missing file, and writes nothing."""
    root = make_project(tmp_path, with_generated=True)
    change(root)
    before = snapshot(root)
    code, stdout, stderr = invoke("generate", "--check", "--root", str(root))
    out = root / "generated"
    assert code == 1
    assert stdout.splitlines() == [line.format(out=out) for line in listed]
    assert stderr == f"{out}: out of date — run `qupsample generate` (or `make generate`)\n"
    assert snapshot(root) == before


def test_generate_removes_orphans_only_in_family_folders(tmp_path: Path) -> None:
    """A normal generate removes orphans (and emptied folders) but not files elsewhere."""
    root = make_project(tmp_path, with_generated=True)
    out = root / "generated"
    _add_orphan(root)
    (out / FAMILY / "heavy_old").mkdir()
    (out / FAMILY / "heavy_old" / "gradual.yaml").write_text("name: older\n")
    (out / "notes.txt").write_text("mine\n")
    code, stdout, _ = invoke("generate", "--root", str(root))
    assert code == 0
    assert stdout.splitlines() == [
        f"removed: {out}/{FAMILY}/heavy_code/old.yaml",
        f"removed: {out}/{FAMILY}/heavy_old/gradual.yaml",
    ]
    assert not (out / FAMILY / "heavy_old").exists()
    assert (out / "notes.txt").read_text() == "mine\n"
    assert sorted(read_tree(out)) == sorted([*FAMILY_FILES, "notes.txt"])


# --- batch_run.sh ---------------------------------------------------------------------


def _fake_olmix(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A fake `olmix` first on PATH that appends its arguments (tab-separated) to a log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "olmix.log"
    script = bin_dir / "olmix"
    script.write_text(f"#!/bin/sh\nprintf '%s\\t' \"$@\" >> '{log}'\necho >> '{log}'\n")
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return env, log


def test_batch_run_launches_every_config_from_any_folder(tmp_path: Path, family_out: Path) -> None:
    """batch_run.sh, run from another folder, passes olmix each config's existing path."""
    out = tmp_path / "out"
    shutil.copytree(family_out, out, symlinks=True)
    env, log = _fake_olmix(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = out / FAMILY / "batch_run.sh"
    subprocess.run([str(script), "--dry-run"], cwd=elsewhere, env=env, check=True, timeout=30)
    calls = [line.split("\t")[:-1] for line in log.read_text().splitlines()]
    assert len(calls) == 8
    assert [call[:3] for call in calls] == [["launch", "run", "--config"]] * 8
    assert [call[4:] for call in calls] == [["--dry-run"]] * 8
    paths = [Path(call[3]) for call in calls]
    assert all(path.is_file() for path in paths)
    assert [path.resolve() for path in paths] == [(out / c).resolve() for c in CONFIGS]


@pytest.mark.parametrize(("form", "flag"), [(FAMILY, "--config"), (LAUNCH, "--variants")])
def test_batch_run_keeps_going_and_lists_failures(
    tmp_path: Path, family_out: Path, form: str, flag: str
) -> None:
    """Every config is launched even when some fail; failures are listed, then exit 1."""
    env, log = _fake_olmix(tmp_path)
    failing = tmp_path / "bin" / "olmix"
    # The fake olmix also fails for heavy_code configs.
    failing.write_text(failing.read_text() + '[ "${4#*heavy_code}" = "$4" ]\n')
    result = subprocess.run(
        [str(family_out / form / "batch_run.sh"), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    calls = [line.split("\t")[:-1] for line in log.read_text().splitlines()]
    assert [call[:3] for call in calls] == [["launch", "run", flag]] * 8
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "failed: heavy_code/aggressive.yaml",
        "failed: heavy_code/gradual.yaml",
    ]


def test_batch_run_quotes_hostile_profile_names(tmp_path: Path) -> None:
    """A profile named with shell syntax is launched by its path and never executed."""
    name = 'it\'s $(touch pwned) `touch pwned2` "q"; x'
    profile = (REPO / "schemes" / "profiles" / "heavy_code.yaml").read_text()
    edits = {f"schemes/profiles/{name}.yaml": profile}
    root = make_project(tmp_path, edits, with_generated=True)
    for other in ("heavy_adult", "heavy_science", "heavy_wiki"):  # fewer configs to render
        (root / "schemes" / "profiles" / f"{other}.yaml").unlink()
    out = tmp_path / "out"
    generate(out=out, root=root)
    env, log = _fake_olmix(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([str(out / FAMILY / "batch_run.sh")], cwd=elsewhere, env=env, check=True)
    paths = [Path(line.split("\t")[3]) for line in log.read_text().splitlines()]
    assert len(paths) == 4
    assert all(path.is_file() for path in paths)
    assert (out / FAMILY / name / "aggressive.yaml").resolve() in [p.resolve() for p in paths]
    assert not (elsewhere / "pwned").exists()
    assert not (elsewhere / "pwned2").exists()
    config = yaml.safe_load((out / FAMILY / name / "aggressive.yaml").read_text())
    assert config["name"] == f"quality-upsampling-aggressive-{name}"
