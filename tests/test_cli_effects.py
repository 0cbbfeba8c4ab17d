"""Commands checked twice: what the CLI prints, then the effect through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from helpers import REPO, invoke

from qupsample.convert import convert
from qupsample.dialects import Dialect, load_config
from qupsample.generator import generate
from qupsample.priors import read_priors
from qupsample.renderer import render
from qupsample.resolve import resolve


def test_render_to_a_file_writes_what_the_api_returns(tmp_path: Path) -> None:
    """`render -o FILE` prints nothing and writes render()'s text (usage line aside)."""
    out = tmp_path / "c.yaml"
    code, stdout, err = invoke("render", "gradual", "heavy_wiki", "-o", out, "--root", REPO)
    assert (code, stdout, err) == (0, "", "")
    assert out.read_text(encoding="utf-8") == render(
        "gradual", "heavy_wiki", root=REPO, out=tmp_path / "again.yaml"
    ).replace("again.yaml", "c.yaml")
    assert load_config(out).dialect is Dialect.FLAT


def test_resolve_json_is_the_api_s_mix(tmp_path: Path) -> None:
    """`resolve -f json` prints exactly Mix.to_json() of the same call."""
    code, stdout, _ = invoke(
        "resolve", "aggressive:heavy_wiki", "--offline", "-f", "json", "--root", REPO
    )
    assert code == 0
    mix = resolve("aggressive:heavy_wiki", offline=True, root=REPO)
    assert stdout == mix.to_json()
    assert json.loads(stdout)["training_tokens"] == mix.training_tokens


def test_convert_out_folder_then_read_back(tmp_path: Path) -> None:
    """`convert --out DIR` writes one launch config per name; read back, it is the form
    and the mix the API converts to."""
    source = REPO / "generated" / "quality_upsampling" / "heavy_wiki" / "gradual.yaml"
    code, _, err = invoke("convert", source, "--out", tmp_path, "--offline", "--root", REPO)
    assert code == 0, err
    [written] = tmp_path.glob("*.yaml")
    loaded = load_config(written, root=REPO)
    assert loaded.dialect is Dialect.LAUNCH
    expected = yaml.safe_load(convert(source, offline=True, root=REPO).text)
    assert yaml.safe_load(written.read_text(encoding="utf-8"))["mix"] == expected["mix"]


def test_priors_file_then_read_priors(tmp_path: Path, corpus: Path) -> None:
    """`priors -o FILE` writes olmix's block; read_priors gives the counts resolve uses."""
    config = tmp_path / "c.yaml"
    render("gradual", "heavy_code", root=REPO, overrides={"data_root": str(corpus)}, out=config)
    out = tmp_path / "priors.yaml"
    code, stdout, err = invoke("priors", config, "-o", out, "--no-cache", "--root", REPO)
    assert (code, stdout) == (0, ""), err
    counts = read_priors(out)
    mix = resolve(config, root=REPO, cache=False)
    assert counts == {leaf.leaf: leaf.tokens for leaf in mix.leaves if leaf.tokens is not None}


def test_generate_check_agrees_with_the_api(tmp_path: Path) -> None:
    """`generate --out DIR` writes the tree; generate(check=True) then finds it current."""
    code, _, err = invoke("generate", "--out", tmp_path, "--root", REPO)
    assert code == 0, err
    report = generate(tmp_path, root=REPO, check=True)
    assert not report.differs
    assert len(report.unchanged) == 38
