"""Tests for current olmix's launch configs: the olmix-launch template and its family form."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import FAMILY, LAUNCH, PROFILES, REPO, SCHEMES, closed_port, invoke

from qupsample.olmixmodels import LaunchConfig
from qupsample.resolve import resolve

PAIRS = [(s, p) for p in PROFILES for s in SCHEMES]
# What current olmix requires (olmix_current.md), and what data entries may hold.
REQUIRED = {
    "": {"name", "infra", "training", "data", "eval", "mix"},
    "infra": {"budget", "workspace", "cluster", "gpus"},
    "training": {"proxy_model_id", "tokenizer", "chinchilla_multiple", "seed"},
    "eval": {"type", "tasks"},
}
DATA_ENTRY_KEYS = {"name", "paths", "topics", "quality"}


@pytest.fixture
def no_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials, and an S3 endpoint nobody listens on: any listing would fail."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")


def render_launch(*args: str) -> tuple[int, str, str]:
    """`qupsample render ... --template olmix-launch --root REPO`."""
    return invoke("render", *args, "--template", "olmix-launch", "--root", str(REPO))


def data_leaves(entries: list[dict[str, Any]], prefix: str = "") -> Iterator[str]:
    """Leaf names of `data.sources`, checking every entry holds only fields olmix reads."""
    for entry in entries:
        assert set(entry) <= DATA_ENTRY_KEYS, entry.keys()
        name = f"{prefix}{entry['name']}"
        children = entry.get("topics") or entry.get("quality")
        if children:
            yield from data_leaves(children, f"{name}:")
        else:
            assert entry["paths"]
            yield name


def mix_products(node: dict[str, Any], prefix: str = "", product: Decimal = Decimal(1)) -> Any:
    """Leaf -> (product of printed weights, repetition_factor); groups sum to exactly 1."""
    children = {k: v for k, v in node.items() if k not in ("weight", "repetition_factor")}
    assert sum(Decimal(child["weight"]) for child in children.values()) == 1
    for name, child in children.items():
        weight = product * Decimal(child["weight"])
        if "repetition_factor" in child:
            yield f"{prefix}{name}", weight, float(child["repetition_factor"])
        else:
            yield from mix_products(child, f"{prefix}{name}:", weight)


@pytest.mark.usefixtures("no_storage")
@pytest.mark.parametrize(("scheme", "profile"), PAIRS)
def test_launch_config_of_every_pair_loads_in_current_olmix(scheme: str, profile: str) -> None:
    """Offline-capable, complete, free of ignored fields, and the same mix as the flat config."""
    code, out, err = render_launch(scheme, profile)
    assert code == 0, err
    assert out == (REPO / "generated" / LAUNCH / profile / f"{scheme}.yaml").read_text()
    config = yaml.safe_load(out)
    LaunchConfig.model_validate(config)
    for section, keys in REQUIRED.items():
        assert keys <= set(config[section] if section else config), section
    assert set(config["data"]) == {"sources", "dtype"}
    assert config["data"]["dtype"] == "uint32"
    assert set(config["eval"]["tasks"]) == {"math", "code", "qa"}
    leaves = list(data_leaves(config["data"]["sources"]))
    printed = {
        leaf: (weight, rf)
        for leaf, weight, rf in mix_products(yaml.load(out, Loader=yaml.BaseLoader)["mix"])
    }
    assert sorted(printed) == sorted(leaves)
    assert all(weight > 0 for weight, _ in printed.values())
    flat = resolve(REPO / "generated" / FAMILY / profile / f"{scheme}.yaml", offline=True)
    expected = {leaf.leaf: leaf for leaf in flat.leaves if leaf.weight}
    assert sorted(expected) == sorted(printed)
    for name, (weight, rf) in printed.items():
        assert float(weight) == pytest.approx(expected[name].weight, abs=1e-9)
        assert rf == expected[name].max_repetition_factor
        assert rf == {"arxiv": 1.5, "wikipedia": 2.0}.get(name, 1.0)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_heavy_wiki_keeps_wikipedia_at_thirty_percent(scheme: str) -> None:
    """Source weights 69/1/30 stay 0.69/0.01/0.3, not olmix's migrated 6.3e-5."""
    text = (REPO / "generated" / LAUNCH / "heavy_wiki" / f"{scheme}.yaml").read_text()
    assert "\n  wikipedia:\n    weight: 0.3\n    repetition_factor: 2.0\n" in text
    mix = yaml.safe_load(text)["mix"]
    assert (mix["all_dressed"]["weight"], mix["arxiv"]["weight"]) == (0.69, 0.01)
    assert resolve(yaml.safe_load(text), offline=True).leaves[-1].weight == 0.3


def test_keep_zero_keeps_buckets_in_data_with_zero_in_the_mix() -> None:
    """--keep-zero writes gradual's 50-70pct bucket in data and at weight 0 in the mix."""
    code, out, err = render_launch("gradual", "heavy_code", "--keep-zero")
    assert code == 0, err
    config = yaml.safe_load(out)
    LaunchConfig.model_validate(config)
    leaves = list(data_leaves(config["data"]["sources"]))
    assert "all_dressed:politics:50-70pct" in leaves
    assert config["mix"]["all_dressed"]["politics"]["50-70pct"] == {
        "weight": 0.0,
        "repetition_factor": 1.0,
    }
    assert config["mix"]["all_dressed"]["politics"]["top10pct"]["weight"] == 0.5


def test_equal_profile_weights_print_as_equal_numbers() -> None:
    """heavy_code's politics and art_and_design (5 each) print the same weight."""
    mix = yaml.safe_load((REPO / "generated" / LAUNCH / "heavy_code" / "gradual.yaml").read_text())
    topics = mix["mix"]["all_dressed"]
    assert topics["politics"]["weight"] == topics["art_and_design"]["weight"] == 0.0510204082


@pytest.mark.usefixtures("no_storage")
def test_inclusion_only_scheme_offline_says_what_to_run() -> None:
    """A threshold config needs token counts: offline and without priors, one line."""
    code, out, err = render_launch("top10pct", "heavy_code", "--offline")
    assert (code, out) == (2, "")
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: quality-top10pct-heavy-code: mix: needs token counts for")
    assert "qupsample priors CONFIG -o priors.yaml" in lines[0]
    assert "--priors priors.yaml" in lines[0]


def test_inclusion_only_scheme_from_a_priors_file(tmp_path: Path, corpus: Path) -> None:
    """With --priors, a threshold config renders offline; the same as listing storage."""
    flat = tmp_path / "flat.yaml"
    code, _, err = invoke(
        "render", "top70pct", "heavy_code", "--root", str(REPO), "--set",
        f"data_root={corpus}", "-o", str(flat),
    )  # fmt: skip
    assert code == 0, err
    priors = tmp_path / "priors.yaml"
    code, _, err = invoke("priors", str(flat), "-o", str(priors))
    assert code == 0, err
    args = ["top10pct", "heavy_code", "--set", f"data_root={corpus}"]
    code, offline, err = render_launch(*args, "--offline", "--priors", str(priors))
    assert code == 0, err
    code, listed, err = render_launch(*args)
    assert code == 0, err
    assert offline == listed
    mix = yaml.safe_load(offline)["mix"]["all_dressed"]["software_development"]
    assert set(mix) == {"weight", "vigintile_0018", "vigintile_0020"}


def test_retired_mix_template_points_to_olmix_launch() -> None:
    """`--template olmix-mix` says in one line to use olmix-launch."""
    code, out, err = invoke(
        "render", "aggressive", "heavy_code", "--template", "olmix-mix", "--root", str(REPO)
    )
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "retired" in err and "use --template olmix-launch" in err


def test_unknown_template_suggests_the_closest() -> None:
    """`--template olmix-lanch` is a one-line error suggesting olmix-launch.yaml.j2."""
    code, _, err = invoke(
        "render", "aggressive", "heavy_code", "--template", "olmix-lanch", "--root", str(REPO)
    )
    assert code == 2
    assert "did you mean 'olmix-launch.yaml.j2'?" in err
    assert err.count("\n") == 1
