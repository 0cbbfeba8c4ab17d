"""Tests for qupsample.cli: exact output and exit codes of list/render/generate, help, imports."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from helpers import FAMILY, FAMILY_FILES, REPO, all_paths, invoke, make_project, read_tree
from typer.testing import CliRunner

from qupsample.cli import app
from qupsample.renderer import render

HEAVY_CODE_AGGRESSIVE = REPO / "generated" / FAMILY / "heavy_code" / "aggressive.yaml"
DEFAULT_ROOT = "s3://ai2-llm/preprocessed"
RENDER = ["render", "aggressive", "heavy_code", "--root", str(REPO)]


# --- list -----------------------------------------------------------------------------

LIST_OUTPUT = """\
families:
  quality_upsampling  Weighted quality buckets crossed with topic profiles (2 schemes x 4 profiles -> quality_upsampling/)
schemes:
  aggressive          Aggressive upsampling - top10%=70, 10-30%=30, rest=0 [quality_upsampling]
  gradual             Gradual upsampling - top10%=50, 10-30%=30, 30-50%=20, 50-70%=0 [quality_upsampling]
profiles:
  heavy_adult         Adult-content-heavy mix (adult_content 50) [quality_upsampling]
  heavy_code          Code-heavy mix (software_development 50) [quality_upsampling]
  heavy_science       Science-heavy mix (science_math_and_technology 50) [quality_upsampling]
  heavy_wiki          Wikipedia-heavy mix (wikipedia 30) [quality_upsampling]
"""  # noqa: E501


def test_list_prints_families_schemes_and_profiles(tmp_path: Path) -> None:
    """`qupsample list` prints one aligned line per family, scheme and profile, exit 0."""
    root = make_project(tmp_path)
    assert invoke("list", "--root", str(root)) == (0, LIST_OUTPUT, f"project: {root}\n")


# --- render ---------------------------------------------------------------------------


def test_render_prints_the_generated_bytes() -> None:
    """`qupsample render aggressive heavy_code` prints exactly the generated file's bytes."""
    result = CliRunner().invoke(app, RENDER)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout_bytes == HEAVY_CODE_AGGRESSIVE.read_bytes()


def test_render_output_file_is_replaced_atomically(tmp_path: Path) -> None:
    """`render -o FILE` prints nothing and replaces FILE by a rename, leaving no temp file."""
    folder = tmp_path / "configs"
    folder.mkdir()
    target = folder / "config.yaml"
    target.write_text("old\n")
    old_inode = target.stat().st_ino
    assert invoke(*RENDER, "-o", str(target)) == (0, "", "")
    # The usage line shows the file written, so copy-pasting it launches that file.
    committed = HEAVY_CODE_AGGRESSIVE.read_text()
    assert target.read_text() == committed.replace(
        f"--config generated/{FAMILY}/heavy_code/aggressive.yaml", f"--config {target}"
    )
    assert target.stat().st_ino != old_inode
    assert [path.name for path in folder.iterdir()] == ["config.yaml"]


def test_render_output_that_cannot_be_written_is_a_user_error(tmp_path: Path) -> None:
    """`render -o` onto a folder exits 2 with one line naming the path, no traceback."""
    code, stdout, stderr = invoke(*RENDER, "-o", str(tmp_path))
    assert (code, stdout) == (2, "")
    assert stderr == f"error: {tmp_path}: is a folder; it is never replaced — choose another path\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("data_root", ["/mnt/mirror", "/mnt/mirror/"])
def test_set_data_root_retargets_every_path(data_root: str) -> None:
    """`--set data_root=/mnt/mirror` moves every path (and only the root) to the mirror."""
    code, stdout, _ = invoke(*RENDER, "--set", f"data_root={data_root}")
    assert code == 0
    default = all_paths(yaml.safe_load(HEAVY_CODE_AGGRESSIVE.read_text()))
    assert len(default) == 6 * 5 + 2
    assert all_paths(yaml.safe_load(stdout)) == [
        path.replace(DEFAULT_ROOT, "/mnt/mirror", 1) for path in default
    ]
    assert DEFAULT_ROOT not in stdout


def test_set_proxy_model_changes_field_and_token_count() -> None:
    """`--set proxy_model_id=olmo3_60m` changes exactly the field and the 600M header line."""
    code, stdout, _ = invoke(*RENDER, "--set", "proxy_model_id=olmo3_60m")
    assert code == 0
    before = HEAVY_CODE_AGGRESSIVE.read_text().splitlines()
    after = stdout.splitlines()
    assert len(after) == len(before)
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        (
            "# Expected training tokens: 0.5 x 20 x 13,895,808 = 138,958,080 (nominal 140M)",
            "# Expected training tokens: 0.5 x 20 x 57,422,208 = 574,222,080 (nominal 600M)",
        ),
        ("proxy_model_id: olmo3_14m", "proxy_model_id: olmo3_60m"),
    ]


def test_set_numbers_are_read_as_numbers() -> None:
    """`--set chinchilla_multiple=1 --set seed=7` writes numbers and 280M training tokens."""
    code, stdout, _ = invoke(*RENDER, "--set", "chinchilla_multiple=1", "--set", "seed=7")
    assert code == 0
    config = yaml.safe_load(stdout)
    assert (config["chinchilla_multiple"], config["seed"]) == (1, 7)
    assert (
        "# Expected training tokens: 1 x 20 x 13,895,808 = 277,916,160 (nominal 280M)"
        in stdout.splitlines()
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param(
            "nodez=2", "--set: nodez: unknown key — did you mean 'nodes'? known: ", id="unknown-key"
        ),
        pytest.param(
            "chinchilla_multiple=abc",
            "--set: chinchilla_multiple: must be a number, got 'abc'",
            id="not-a-number",
        ),
        pytest.param(
            "nodes=1.5",
            "--set: nodes: Input should be a valid integer, got 1.5",
            id="float-for-int",
        ),
        pytest.param(
            "nodes=0", "--set: nodes: Input should be greater than or equal to 1", id="zero-nodes"
        ),
        pytest.param(
            "nodes", "--set: 'nodes': expected KEY=VALUE — e.g. --set seed=7", id="no-equals"
        ),
        pytest.param(
            "data_root=", "--set: data_root: must be a path or URL, got ''", id="empty-root"
        ),
        pytest.param(
            "proxy_model_id=olmo9_1m",
            "--set: proxy_model_id: unknown proxy model 'olmo9_1m' — did you mean 'olmo3_1m'?"
            " known (schemes/proxies.yaml): olmo3_1m, ",
            id="unknown-proxy-model",
        ),
    ],
)
def test_bad_set_is_one_line_error_and_writes_nothing(
    tmp_path: Path, item: str, message: str
) -> None:
    """A bad `--set` exits 2 with one `error: --set: KEY: ...` line; nothing is written."""
    target = tmp_path / "config.yaml"
    out = tmp_path / "out"
    for args in (
        [*RENDER, "--set", item, "-o", str(target)],
        ["generate", "--root", str(REPO), "--out", str(out), "--set", item],
    ):
        code, stdout, stderr = invoke(*args)
        assert (code, stdout) == (2, ""), args
        assert stderr.startswith(f"error: {message}"), stderr
        assert stderr.count("\n") == 1 and stderr.endswith("\n")
    assert not target.exists()
    assert not out.exists()


# --- root discovery -------------------------------------------------------------------


def test_commands_find_the_project_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --root, list, render and generate use the nearest project above the cwd."""
    aggressive = (REPO / "schemes" / "weighting" / "aggressive.yaml").read_text()
    edited = (
        aggressive.replace("top10pct: 70", "top10pct: 71")
        .replace("top10%=70", "top10%=71")
        .replace("description: Aggressive", "description: Edited")
    )
    root = make_project(tmp_path, {"schemes/weighting/aggressive.yaml": edited})
    monkeypatch.chdir(root / "schemes" / "weighting")
    code, stdout, _ = invoke("list")
    assert code == 0
    assert "  aggressive          Edited upsampling" in stdout.splitlines()[3]
    code, stdout, _ = invoke("render", "aggressive", "heavy_code")
    assert code == 0
    assert stdout == render("aggressive", "heavy_code", root=root)
    assert "            weight: 71" in stdout.splitlines()
    assert invoke("generate")[0] == 0
    assert sorted(read_tree(root / "generated")) == FAMILY_FILES


@pytest.mark.parametrize(
    "command",
    [["list"], ["render", "aggressive", "heavy_code"], ["generate"], ["generate", "--check"]],
)
@pytest.mark.parametrize("folder", ["empty", "absent"])
def test_root_without_specs_is_one_line_error(
    tmp_path: Path, command: list[str], folder: str
) -> None:
    """`--root` at a folder without schemes/ and templates/ exits 2 with one line."""
    root = tmp_path / folder
    if folder == "empty":
        root.mkdir()
    code, stdout, stderr = invoke(*command, "--root", str(root))
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"error: {root}: has no schemes/ and templates/ folders"
        " — create them with `qupsample init DIR`; or pass the folder that holds them"
        " with --root DIR\n"
    )
    assert sorted(tmp_path.iterdir()) == ([root] if folder == "empty" else [])


# --- help and exit codes --------------------------------------------------------------


def _commands(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, f"{path} {name}")


def test_every_command_option_and_argument_has_help() -> None:
    """Every command, and every option and argument of each, has non-empty help text."""
    commands = list(_commands(typer.main.get_command(app), "qupsample"))
    assert {"qupsample list", "qupsample render", "qupsample generate"} <= {p for p, _ in commands}
    missing = []
    for path, command in commands:
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{path} {param.name}")
    assert missing == []


COMMANDS = [
    "list", "render", "generate", "resolve", "lint", "diff", "plot", "priors", "convert", "init",
    "demo",
]  # fmt: skip
STORAGE = [
    "--priors", "--offline", "--refresh", "--no-cache", "--cache-dir", "--endpoint-url",
    "--profile", "--anon",
]  # fmt: skip


def test_help_lists_commands_and_exit_codes() -> None:
    """`qupsample --help` lists every command with a whole summary, and the exit codes."""
    code, stdout, _ = invoke("--help")
    assert code == 0
    commands = stdout.split("Commands:")[1].split("Exit codes")[0]
    listed = [line.split()[0] for line in commands.splitlines() if line[2:3].strip()]
    assert listed == COMMANDS
    assert "..." not in commands
    text = " ".join(stdout.split())
    assert (
        "Exit codes: 0 ok; 1 differences or findings (generate --check, diff, lint, resolve"
        " --strict, render --strict);" in text
    )
    assert "3 mix not feasible" in text
    assert "70 internal error" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_exit_codes_and_no_python_types(command: str) -> None:
    """Each subcommand's help ends with the exit codes and names no Python type."""
    code, stdout, _ = invoke(command, "--help")
    assert code == 0
    text = " ".join(stdout.split())
    assert "Exit codes: 0 ok;" in text and "70 internal error" in text
    options = stdout.split("Exit codes")[0]
    for python_type in ("<str>", "<int", "<list", "<dir>", "<file>", "<path>", "{"):
        assert python_type not in options, python_type
    assert not re.search(r"\b(INTEGER|TEXT|PATH|DIRECTORY)\b", options)


@pytest.mark.parametrize("command", ["render", "generate", "resolve", "diff", "plot", "convert"])
def test_storage_options_are_the_same_everywhere(command: str) -> None:
    """Every command that may need token counts takes the same storage and cache options."""
    _, stdout, _ = invoke(command, "--help")
    for option in STORAGE:
        assert f"  {option}" in stdout, option


def test_usage_lines_use_one_metavar_style() -> None:
    """SCHEME PROFILE, CONFIG, CONFIG..., A B: no braces, no lowercase names."""
    usages = {c: invoke(c, "--help")[1].splitlines()[0] for c in COMMANDS}
    assert usages["render"] == "Usage: qupsample render [OPTIONS] SCHEME PROFILE"
    assert usages["resolve"] == "Usage: qupsample resolve [OPTIONS] CONFIG"
    assert usages["plot"] == "Usage: qupsample plot [OPTIONS] CONFIG..."
    assert usages["convert"] == "Usage: qupsample convert [OPTIONS] CONFIG..."
    assert usages["diff"] == "Usage: qupsample diff [OPTIONS] A B"
    assert usages["lint"] == "Usage: qupsample lint [OPTIONS] [CONFIG]..."
    assert usages["init"] == "Usage: qupsample init [OPTIONS] [DIR]"


def test_version() -> None:
    """`qupsample --version` prints the installed version."""
    from importlib.metadata import version

    assert invoke("--version") == (0, f"qupsample {version('qupsample')}\n", "")


@pytest.mark.parametrize(
    ("module", "function", "args"),
    [
        ("qupsample.specs", "list_specs", ["list", "--root", str(REPO)]),
        ("qupsample.renderer", "find_target", RENDER),
        ("qupsample.generator", "plan_outputs", ["generate", "--root", str(REPO), "--check"]),
    ],
)
def test_internal_error_exits_70_with_traceback(
    monkeypatch: pytest.MonkeyPatch, module: str, function: str, args: list[str]
) -> None:
    """An unexpected exception inside the library exits 70 and prints its traceback."""

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    # By module object: the package exports functions named like its modules.
    monkeypatch.setattr(importlib.import_module(module), function, boom)
    code, stdout, stderr = invoke(*args)
    assert (code, stdout) == (70, "")
    assert "Traceback (most recent call last):" in stderr
    assert "RuntimeError: boom" in stderr
    assert stderr.endswith("internal error: this is a bug in qupsample, please report it\n")


# --- real processes -------------------------------------------------------------------


def test_python_dash_m_shows_help() -> None:
    """`python -m qupsample --help` prints the usage and the exit codes."""
    result = subprocess.run(
        [sys.executable, "-m", "qupsample", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith("Usage: python -m qupsample [OPTIONS] COMMAND [ARGS]...")
    assert "Exit codes:" in result.stdout


def test_installed_entry_point_renders_from_a_project_subfolder() -> None:
    """The installed `qupsample` script, run in tests/, finds the repo and prints the config."""
    script = Path(sys.executable).with_name("qupsample")
    result = subprocess.run(
        [str(script), "render", "aggressive", "heavy_code"],
        capture_output=True,
        cwd=REPO / "tests",
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == HEAVY_CODE_AGGRESSIVE.read_bytes()


def test_a_ctrl_c_wrapped_by_a_library_is_an_interrupt_not_a_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An import or library that turns a Ctrl-C into another error still exits 130,
    with no traceback and no 'internal error'."""
    import qupsample.renderer

    def interrupted(*args: object, **kwargs: object) -> str:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("import failed") from exc

    monkeypatch.setattr(qupsample.renderer, "render", interrupted)
    code, out, err = invoke("render", "aggressive", "heavy_code", "--root", REPO)
    assert (code, out) == (130, "")
    assert "Traceback" not in err and "internal error" not in err
