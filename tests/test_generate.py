"""Tests for qupsample.generator: golden files, idempotence, `--check`, orphans, batch_run.sh."""

from __future__ import annotations

import os
import re
import shutil
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
    assert_one_error_line,
    invoke,
    make_project,
    read_tree,
)

from qupsample.generator import generate

# The committed output of `make generate` is the golden copy of the built-in families.
GOLDEN = REPO / "generated"
GOLDEN_SWEEP = REPO / "tests" / "golden_sweep"
# The quality_thresholds family: the vigintiles each threshold scheme includes.
THRESHOLDS = {
    "top10pct": [18, 20],
    "top30pct": [15, 16, 17, 18, 20],
    "top50pct": [*range(11, 19), 20],
    "top70pct": [*range(7, 19), 20],
}
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
    generate(out=out, root=make_project(base))
    return out


# --- golden files ---------------------------------------------------------------------


def test_generate_reproduces_the_committed_generated_folder(tmp_path: Path) -> None:
    """Generating the repo's specs afresh writes exactly the committed `generated/` file
    set, byte for byte: `generated/` is the golden copy (`make generate` refreshes it)."""
    out = make_project(tmp_path, all_families=True) / "generated"
    generate(root=out.parent)
    produced = read_tree(out)
    golden = read_tree(GOLDEN)
    assert sorted(produced) == sorted(golden), "run `make generate`"
    assert set(FAMILY_FILES) <= set(golden)
    for relative, data in produced.items():
        assert data == golden[relative], f"generated/{relative} is stale: run `make generate`"


def test_batch_run_scripts_are_executable(family_out: Path) -> None:
    """batch_run.sh is written executable and committed executable; configs are not."""
    for folder in (family_out, REPO / "generated"):
        assert os.access(folder / FAMILY / "batch_run.sh", os.X_OK)
        config_mode = (folder / FAMILY / "heavy_code" / "aggressive.yaml").stat().st_mode
        assert not config_mode & 0o111


# --- idempotence ----------------------------------------------------------------------


def test_generate_twice_changes_no_byte(tmp_path: Path) -> None:
    """A second generate writes nothing (0 written) and leaves every byte, mode and mtime."""
    root = make_project(tmp_path)
    out = tmp_path / "out"
    code, stdout, stderr = invoke("generate", "--root", str(root), "--out", str(out))
    assert code == 0
    assert sorted(stdout.splitlines()) == [f"wrote: {out / path}" for path in FAMILY_FILES]
    assert stderr == f"project: {root}\n{out}: 20 files, 20 written\n"
    before = snapshot(out)
    code, stdout, stderr = invoke("generate", "--root", str(root), "--out", str(out))
    assert (code, stdout, stderr) == (0, "", f"project: {root}\n{out}: 20 files, 0 written\n")
    assert snapshot(out) == before
    # The same files as the committed ones, but each usage line shows where it really is.
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
    """A normal generate removes orphans (and emptied folders) but not files elsewhere,
    which it names as unexpected (so that --check fails until they are removed)."""
    root = make_project(tmp_path, with_generated=True)
    out = root / "generated"
    _add_orphan(root)
    (out / FAMILY / "heavy_old").mkdir()
    (out / FAMILY / "heavy_old" / "gradual.yaml").write_text("name: older\n")
    (out / "notes.txt").write_text("mine\n")
    code, stdout, err = invoke("generate", "--root", str(root))
    assert code == 0
    assert stdout.splitlines() == [
        f"removed: {out}/{FAMILY}/heavy_code/old.yaml",
        f"removed: {out}/{FAMILY}/heavy_old/gradual.yaml",
        f"unexpected: {out}/notes.txt",
    ]
    assert "1 file(s) no spec writes (unexpected above): generate leaves them" in err
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


def test_hostile_profile_names_are_refused_before_any_script_is_written(
    tmp_path: Path,
) -> None:
    """A profile named with shell syntax is refused at load: no batch script runs it."""
    name = 'it\'s $(touch pwned) `touch pwned2` "q"; x'
    profile = (REPO / "schemes" / "profiles" / "heavy_code.yaml").read_text()
    edits = {f"schemes/profiles/{name}.yaml": profile}
    root = make_project(tmp_path, edits, profiles=["heavy_code"])  # and the hostile one
    out = tmp_path / "out"
    code, _, err = invoke("generate", "--root", str(root), "--out", str(out))
    assert code == 2
    assert "rename the file to 'it_s_touch_pwned_touch_pwned2_q_x.yaml'" in err
    assert not out.exists()


def test_batch_run_quotes_the_paths_it_launches(tmp_path: Path) -> None:
    """The batch script quotes each config's path for the shell (belt and braces)."""
    from qupsample.renderer import template_environment

    quote = template_environment(REPO / "templates").filters["sh"]
    assert quote("a b/$(touch pwned).yaml") == "'a b/$(touch pwned).yaml'"


# --- the threshold family -----------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("threshold", sorted(THRESHOLDS))
def test_threshold_configs_list_single_vigintile_buckets_without_weights(
    threshold: str, profile: str
) -> None:
    """Each threshold config gives every topic one weightless bucket per included vigintile."""
    path = REPO / "generated" / "quality_thresholds" / profile / f"{threshold}.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    assert config["name"] == f"quality-{threshold}-{profile.replace('_', '-')}"
    all_dressed = next(s for s in config["sources"] if s["name"] == "all_dressed")
    assert len(all_dressed["topics"]) == 6
    for topic in all_dressed["topics"]:
        names = [b["name"] for b in topic["quality"]]
        assert names == [f"vigintile_{v:04d}" for v in THRESHOLDS[threshold]]
        for bucket in topic["quality"]:
            assert "weight" not in bucket
            assert bucket["paths"] == [
                f"s3://ai2-llm/preprocessed/cc_all_dressed/all_dressed_v3/dclm_plus2_vigilantes/"
                f"allenai/dolma2-tokenizer/{topic['name']}/{bucket['name']}/*.npy"
            ]


def test_threshold_family_is_in_generate_check(tmp_path: Path) -> None:
    """`generate --check` reports a stale threshold config like any other."""
    root = make_project(tmp_path, all_families=True, profiles=["heavy_code"])
    generate(root=root)
    path = root / "generated" / "quality_thresholds" / "heavy_code" / "top10pct.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    report = generate(root=root, check=True)
    assert report.stale == ["quality_thresholds/heavy_code/top10pct.yaml"]
    assert not report.missing and not report.orphaned


def test_generate_one_family(tmp_path: Path) -> None:
    """`generate --family quality_thresholds` writes that family only; unknown names suggest."""
    code, _, err = invoke(
        "generate", "--family", "quality_thresholds", "--out", str(tmp_path), "--root", str(REPO)
    )
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quality_thresholds"]
    code, _, err = invoke("generate", "--family", "quality_tresholds", "--root", str(REPO))
    assert code == 2
    assert "did you mean 'quality_thresholds'?" in err


# --- sweeps -------------------------------------------------------------------------


def test_sweep_matches_golden_files(tmp_path: Path, update_golden: bool) -> None:
    """A family's declared sweep `proxy_model_id: [olmo3_14m, olmo3_60m]` is written by a
    plain generate to generated/sweeps/: the golden sweep tree."""
    root = _with_sweep(tmp_path)
    out = root / "generated" / "sweeps"
    code, _, err = invoke("generate", "--root", str(root))
    assert code == 0, err
    written = read_tree(out)
    if update_golden:
        shutil.rmtree(GOLDEN_SWEEP, ignore_errors=True)
        for relative, data in written.items():
            (GOLDEN_SWEEP / relative).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN_SWEEP / relative).write_bytes(data)
    golden = read_tree(GOLDEN_SWEEP)
    assert written == golden
    assert sorted(written) == [
        f"{form}/proxy_model_id-{m}/{f}"
        for form in ("quality_upsampling", "quality_upsampling_launch")
        for m in ("olmo3_14m", "olmo3_60m")
        for f in (
            "README.md",
            "batch_run.sh",
            "heavy_code/aggressive.yaml",
            "heavy_code/gradual.yaml",
        )
    ]


def _with_sweep(tmp_path: Path, values: str = "[olmo3_14m, olmo3_60m]") -> Path:
    family = (REPO / "schemes" / "families" / f"{FAMILY}.yaml").read_text(encoding="utf-8")
    spec = family + f"sweeps:\n  proxy_model_id: {values}\n"
    return make_project(
        tmp_path, {f"schemes/families/{FAMILY}.yaml": spec}, profiles=["heavy_code"]
    )


def test_check_sees_declared_sweeps_removed_families_and_stray_files(tmp_path: Path) -> None:
    """--check is honest about everything under generated/: a declared sweep whose values
    changed, an old sweep no spec declares, a removed family's folder, a stray file."""
    root = _with_sweep(tmp_path)
    out = root / "generated"
    assert invoke("generate", "--root", root).code == 0
    assert invoke("generate", "--root", root, "--check").code == 0
    (out / "old_family" / "heavy_code").mkdir(parents=True)
    (out / "old_family" / "heavy_code" / "gradual.yaml").write_text("name: old\n")
    (out / FAMILY / "notes.txt").write_text("mine\n")
    family = root / "schemes" / "families" / f"{FAMILY}.yaml"
    family.write_text(family.read_text().replace("olmo3_60m", "olmo3_30m"))
    code, stdout, err = invoke("generate", "--root", root, "--check")
    assert code == 1, err
    lines = stdout.splitlines()
    sweep = f"{out}/sweeps/{FAMILY}"
    assert f"orphaned: {sweep}/proxy_model_id-olmo3_60m/heavy_code/gradual.yaml" in lines
    assert f"missing: {sweep}/proxy_model_id-olmo3_30m/heavy_code/gradual.yaml" in lines
    assert f"unexpected: {out}/{FAMILY}/notes.txt" in lines
    assert f"unexpected: {out}/old_family/heavy_code/gradual.yaml" in lines
    assert "out of date" in err
    # generate removes what it wrote once and leaves the rest; then --check is clean.
    assert invoke("generate", "--root", root).code == 0
    assert not (out / "sweeps" / FAMILY / "proxy_model_id-olmo3_60m").exists()
    (out / FAMILY / "notes.txt").unlink()
    shutil.rmtree(out / "old_family")
    assert invoke("generate", "--root", root, "--check").code == 0


def test_an_undeclared_sweep_into_generated_is_refused(tmp_path: Path) -> None:
    """An ad-hoc --sweep would leave generated/ with files --check cannot reproduce: it is
    refused with both ways out, and nothing is written; with --out it goes there."""
    root = make_project(tmp_path, profiles=["heavy_code"])
    code, out, err = invoke("generate", "--sweep", "seed=1,2", "--root", root)
    assert_one_error_line(
        code,
        out,
        err,
        "generate --sweep: seed: a sweep in generated/ must be declared",
        "`sweeps: {seed: [V1, V2]}`",
        "or write this one elsewhere with --out DIR",
    )
    assert not (root / "generated").exists()
    code, _, err = invoke(
        "generate", "--sweep", "seed=1,2", "--root", root, "--out", tmp_path / "s"
    )
    assert code == 0, err
    assert (tmp_path / "s" / FAMILY / "seed-2" / "heavy_code" / "gradual.yaml").is_file()


def test_sweep_names_and_settings_follow_the_value(tmp_path: Path) -> None:
    """Each sweep value gets its setting, a name suffix, a header and a usage path."""
    root = make_project(tmp_path, profiles=["heavy_code"])
    out = tmp_path / "sweeps"
    generate(out, root=root, sweep=("chinchilla_multiple", ["0.5", "1", "2"]))
    for value, tokens in (("0.5", "138,958,080"), ("1", "277,916,160"), ("2", "555,832,320")):
        path = (
            out
            / "quality_upsampling"
            / f"chinchilla_multiple-{value}"
            / "heavy_code"
            / "gradual.yaml"
        )
        text = path.read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        assert config["name"] == f"quality-upsampling-gradual-heavy-code-{value}"
        assert str(config["chinchilla_multiple"]) == value
        assert f"x 20 x 13,895,808 = {tokens} (nominal" in text
        # With --out, the usage line shows the file where it really is.
        assert (
            f"# Usage: olmix launch run --config {out.as_posix()}/quality_upsampling/"
            f"chinchilla_multiple-{value}/heavy_code/gradual.yaml\n"
        ) in text
    assert (
        generate(
            out, root=root, sweep=("chinchilla_multiple", ["0.5", "1", "2"]), check=True
        ).differs
        is False
    )


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("nodes=1,x", "error: --sweep: nodes: "),
        ("nodez=1,2", "error: --sweep: nodez: unknown key — did you mean 'nodes'?"),
        ("nodes", "error: --sweep: 'nodes': expected KEY=V1,V2,..."),
        ("nodes=1,1", "error: --sweep: nodes: a value is listed twice"),
        ("nodes=1,,2", "error: --sweep: nodes: needs values"),
    ],
)
def test_bad_sweeps_are_one_line_errors(tmp_path: Path, sweep: str, message: str) -> None:
    """A bad --sweep exits 2 with one line and writes nothing."""
    out = tmp_path / "out"
    code, _, err = invoke("generate", "--sweep", sweep, "--out", str(out), "--root", str(REPO))
    assert code == 2
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_second_sweep_keeps_the_first(tmp_path: Path) -> None:
    """Sweeps of different keys live side by side: the second does not remove the first."""
    root = make_project(tmp_path, profiles=["heavy_code"])
    out = tmp_path / "sweeps"
    generate(out, root=root, sweep=("chinchilla_multiple", ["0.5", "1"]))
    report = generate(out, root=root, sweep=("proxy_model_id", ["olmo3_14m", "olmo3_60m"]))
    assert report.orphaned == []
    assert (out / "quality_upsampling" / "chinchilla_multiple-1" / "heavy_code").is_dir()
    again = generate(out, root=root, sweep=("chinchilla_multiple", ["0.5"]), check=True)
    # A sweep owns the folders of its own values only.
    assert (again.orphaned, again.differs) == ([], False)


# --- the family README and the pre-commit hook --------------------------------------


def test_retargeted_family_readme_names_the_data_root(tmp_path: Path) -> None:
    """The family README shows the data_root the configs were built on."""
    generate(tmp_path, root=REPO, overrides={"data_root": "/mnt/mirror"})
    readme = (tmp_path / "quality_upsampling" / "README.md").read_text(encoding="utf-8")
    assert "built on `data_root` = `/mnt/mirror`" in readme


def test_pre_commit_hook_runs_generate_check() -> None:
    """The `qupsample-check` hook runs `qupsample generate --check` once per commit."""
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "qupsample-check")
    assert hook["entry"] == "qupsample generate --check"
    assert hook["pass_filenames"] is False
    assert re.search(hook["files"], "schemes/weighting/gradual.yaml")
    assert re.search(hook["files"], "generated/quality_upsampling/README.md")


# --- writes and deletes stay inside the folders generate owns --------------------------


def test_family_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    """OUT/quality_upsampling linked to another folder: refused in one line, nothing touched."""
    root = make_project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("mine\n")
    (elsewhere / "README.md").write_text("not generate's\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / FAMILY).symlink_to(elsewhere)
    code, stdout, err = invoke("generate", "--root", str(root), "--out", str(out))
    assert (code, stdout) == (2, "")
    assert err.startswith(f"error: {out / FAMILY}: is a symbolic link; generate writes only inside")
    assert err.count("\n") == 1
    assert sorted(p.name for p in elsewhere.iterdir()) == ["README.md", "precious.txt"]
    assert (elsewhere / "README.md").read_text() == "not generate's\n"


def test_orphan_cleanup_removes_only_generated_names_and_never_follows_links(
    tmp_path: Path,
) -> None:
    """A stale config goes; the user's own files, and a link's target, stay."""
    root = make_project(tmp_path, with_generated=True)
    out = root / "generated"
    outside = tmp_path / "outside.yaml"
    outside.write_text("keep\n")
    (out / FAMILY / "heavy_code" / "old.yaml").write_text("stale\n")
    (out / FAMILY / "notes.txt").write_text("mine\n")
    (out / FAMILY / "heavy_code" / "notes.md").write_text("mine\n")
    (out / FAMILY / "heavy_code" / "linked.yaml").symlink_to(outside)
    code, stdout, err = invoke("generate", "--root", str(root))
    assert code == 0, err
    assert stdout.splitlines() == [
        f"removed: {out / FAMILY / 'heavy_code' / 'old.yaml'}",
        *(f"unexpected: {out / FAMILY / p}" for p in ("notes.txt", "heavy_code/linked.yaml",
                                                      "heavy_code/notes.md")),
    ]  # fmt: skip
    assert (out / FAMILY / "notes.txt").read_text() == "mine\n"
    assert (out / FAMILY / "heavy_code" / "notes.md").read_text() == "mine\n"
    assert (out / FAMILY / "heavy_code" / "linked.yaml").is_symlink()
    assert outside.read_text() == "keep\n"


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        (
            {"schemes/families/quality_upsampling.yaml": "output: ."},
            "output: must name a sub-folder of the output folder",
        ),
        (
            {"schemes/families/quality_upsampling.yaml": "output: ../up"},
            "output: must name a sub-folder of the output folder",
        ),
        ({"schemes/profiles/...yaml": "PROFILE"}, "the name '..' is not a clean identifier"),
        ({"schemes/profiles/..yaml": "PROFILE"}, "the name '.' is not a clean identifier"),
        (
            {"schemes/weighting/.hidden.yaml": "SCHEME"},
            "the name '.hidden' is not a clean identifier",
        ),
        (
            {"schemes/weighting/Steep v2.yaml": "SCHEME"},
            "schemes/weighting/Steep v2.yaml: the name 'Steep v2' is not a clean identifier, and"
            " it goes into generated config names and paths — rename the file to"
            " 'Steep_v2.yaml' (letters, digits, '_' and '-' only)",
        ),
        (
            {"schemes/profiles/heavy.code.yml": "PROFILE"},
            "rename the file to 'heavy_code.yml'",
        ),
        (
            {"schemes/families/nested.yaml": "FAMILY_NESTED"},
            "output: 'quality_upsampling' and 'quality_upsampling/deeper'",
        ),
    ],
)
def test_unsafe_names_and_outputs_are_refused_at_load(
    tmp_path: Path, edits: dict[str, str], message: str
) -> None:
    """Spec names are safe path parts, outputs are sub-folders that never nest: one line."""
    family = (REPO / "schemes" / "families" / f"{FAMILY}.yaml").read_text()
    texts = {
        "PROFILE": (REPO / "schemes" / "profiles" / "heavy_code.yaml").read_text(),
        "SCHEME": (REPO / "schemes" / "weighting" / "gradual.yaml").read_text(),
        "FAMILY_NESTED": family.replace(
            "output: quality_upsampling\n", "output: quality_upsampling/deeper\n"
        ).replace("quality_upsampling_launch", "nested_launch"),
    }
    resolved = {}
    for path, text in edits.items():
        if text.startswith("output:"):
            text = family.replace("output: quality_upsampling\n", text + "\n")
        resolved[path] = texts.get(text, text)
    root = make_project(tmp_path, resolved)
    out = tmp_path / "out"
    code, _, err = invoke("generate", "--root", str(root), "--out", str(out))
    assert code == 2 and err.count("\n") == 1, err
    assert message in err
    assert not out.exists()


def test_yml_spec_files_are_read_like_yaml(tmp_path: Path) -> None:
    """A scheme saved as `.yml` is one of the family's schemes, as olmix reads both."""
    steep = "description: Steep\nbuckets:\n  top10pct: 90\n  10-30pct: 10\n"
    root = make_project(tmp_path, {"schemes/weighting/steeper.yml": steep})
    code, out, err = invoke("list", "--root", str(root))
    assert code == 0, err
    assert "  steeper             Steep [quality_upsampling]\n" in out
    code, out, err = invoke("render", "steeper", "heavy_code", "--root", str(root))
    assert code == 0, err
    assert out.startswith("# quality-upsampling-steeper-heavy-code\n")
    (root / "schemes" / "weighting" / "steeper.yaml").write_text(steep)
    code, _, err = invoke("list", "--root", str(root))
    assert code == 2
    assert "two files are named 'steeper'" in err


def test_an_undeclared_sweep_is_refused_into_generated_whatever_its_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out generated, ./generated/x or the absolute path: all inside generated/."""
    root = make_project(tmp_path, profiles=["heavy_code"])
    monkeypatch.chdir(root)
    for out in ("generated", "./generated/x", root / "generated"):
        code, stdout, err = invoke("generate", "--sweep", "seed=1,2", "--out", out)
        assert_one_error_line(code, stdout, err, "a sweep in generated/ must be declared")
    assert not (root / "generated").exists()


def test_check_with_only_unexpected_files_says_to_remove_them(tmp_path: Path) -> None:
    """When generate itself would change nothing, --check does not send you to it."""
    root = make_project(tmp_path, with_generated=True)
    (root / "generated" / "notes.txt").write_text("mine\n")
    code, stdout, err = invoke("generate", "--check", "--root", root)
    assert code == 1
    assert stdout == f"unexpected: {root / 'generated' / 'notes.txt'}\n"
    assert err.splitlines()[-1].endswith(
        "out of date — remove the unexpected files above (generate never removes them)"
    )
