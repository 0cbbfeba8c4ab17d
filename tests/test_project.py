"""Tests for the project context: every command reads its project, never the current folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import invoke, make_project, read_tree

from qupsample.demo import write_demo_corpus
from qupsample.renderer import render
from qupsample.specs import Project, load_project, open_project

# A project whose settings use a proxy model and a tokenizer only it defines: read from
# anywhere else, its configs are unknown or counted with the wrong token size.
PROXY_LINES = (
    "proxy_models:\n  olmo3_9m: {nominal: 9_000_000, dolma2: 8_700_000, narrow: 4_500_000}\n"
)
TOKENIZER_LINES = "tokenizers:\n  narrow: {dtype: uint16, trainer: true}\n"


def _project(tmp_path: Path) -> Path:
    proxies = (Path(__file__).parents[1] / "schemes" / "proxies.yaml").read_text("utf-8")
    settings = (Path(__file__).parents[1] / "schemes" / "settings.yaml").read_text("utf-8")
    return make_project(
        tmp_path,
        {
            "schemes/proxies.yaml": proxies.replace("proxy_models:\n", PROXY_LINES).replace(
                "tokenizers:\n", TOKENIZER_LINES
            ),
            "schemes/settings.yaml": settings.replace("olmo3_14m", "olmo3_9m").replace(
                "tokenizer: dolma2", "tokenizer: narrow"
            ),
        },
        profiles=["heavy_code"],
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The project P, a corpus in its layout, and a flat and a launch config of P on it."""
    base = tmp_path_factory.mktemp("context")
    root = _project(base)
    corpus = base / "corpus"
    write_demo_corpus(corpus, root=root)
    configs = base / "configs"
    overrides = {"data_root": str(corpus)}
    flat, launch = configs / "flat.yaml", configs / "launch.yaml"
    render("aggressive", "heavy_code", root=root, overrides=overrides, out=flat)
    render(
        "gradual", "heavy_code", root=root, overrides=overrides, out=launch, template="olmix-launch"
    )
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return {"P": root, "FLAT": flat, "LAUNCH": launch, "D": base / "out", "ELSEWHERE": elsewhere}


COMMANDS = {
    "list": ["list"],
    "render": ["render", "aggressive", "heavy_code"],
    "render-launch": ["render", "aggressive", "heavy_code", "--template", "olmix-launch"],
    "generate": ["generate", "--out", "D"],
    "resolve-pair": ["resolve", "aggressive:heavy_code", "--offline", "-f", "json"],
    "resolve-file": ["resolve", "FLAT", "-f", "json", "--allow-repetition", "--no-cache"],
    "resolve-launch": ["resolve", "LAUNCH", "-f", "json", "--allow-repetition", "--no-cache"],
    "priors": ["priors", "FLAT", "--no-cache"],
    "convert-generation": ["convert", "FLAT", "--to", "generation", "--no-cache"],
    "convert-launch": ["convert", "FLAT", "--no-cache"],
    "diff": ["diff", "aggressive:heavy_code", "gradual:heavy_code", "--offline", "-f", "json"],
    "lint": ["lint", "LAUNCH", "FLAT", "-f", "json"],
    "plot": ["plot", "FLAT", "aggressive:heavy_code", "-o", "D/mix.svg", "--offline"],
}


def _run(args: list[str], setup: dict[str, Path], inside: bool) -> tuple[int, str, str, dict]:
    if (setup["D"]).exists():
        shutil.rmtree(setup["D"])
    argv = [str(setup.get(arg, arg)).replace("D/", f"{setup['D']}/") for arg in args]
    setup["D"].mkdir()
    if not inside:
        argv += ["--root", str(setup["P"])]
    code, out, err = invoke(*argv)
    tree = read_tree(setup["D"])
    return code, out, err, tree


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_reads_the_project_not_the_current_folder(
    name: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside P and from an unrelated folder with --root P, a command prints and writes the
    same bytes, from P's proxy models and tokenizers."""
    monkeypatch.chdir(setup["P"])
    inside = _run(COMMANDS[name], setup, inside=True)
    monkeypatch.chdir(setup["ELSEWHERE"])
    elsewhere = _run(COMMANDS[name], setup, inside=False)
    # diff finds the two mixes differ; lint finds P's tokenizer reads dolma2 folders.
    assert inside[0] == (1 if name in ("diff", "lint") else 0), inside[2]
    assert elsewhere == inside


def test_the_project_s_proxies_size_the_run(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From any folder, P's `narrow` tokenizer (uint16) sizes the counts and P's olmo3_9m
    with it the budget: int(20 x 4,500,000 x 0.5)."""
    monkeypatch.chdir(setup["ELSEWHERE"])
    code, out, err = invoke("priors", setup["FLAT"], "--no-cache", "--root", setup["P"])
    assert code == 0, err
    [folder] = (setup["FLAT"].parents[1] / "corpus").rglob("wikipedia-dolma-0823")
    size = sum(p.stat().st_size for p in folder.rglob("*.npy"))
    assert f"    wikipedia: {size // 2}\n" in out
    code, out, err = invoke("resolve", setup["FLAT"], "-f", "json", "--root", setup["P"])
    assert code in (0, 3), err
    assert '"training_tokens": 45000000,' in out


def test_open_project_is_the_one_place_root_none_is_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_project finds the project from the current folder; a Project passes through."""
    root = _project(tmp_path)
    monkeypatch.chdir(root / "schemes")
    project = open_project()
    assert project.root == root.resolve()
    assert open_project(project) is project
    assert load_project(project).proxies.proxy_models["olmo3_9m"].trainer["narrow"] == 4_500_000
    assert isinstance(project, Project)
