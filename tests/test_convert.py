"""Tests for qupsample.convert: any olmix form to another, the mix exactly as resolved."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from helpers import FAMILY, LAUNCH, PROFILES, REPO, invoke

from qupsample.convert import convert
from qupsample.dialects import load_config
from qupsample.olmixmodels import ExperimentConfig, GenerationConfig, LaunchConfig
from qupsample.priors import format_priors
from qupsample.resolve import config_entries, resolve
from qupsample.weights import walk_leaves

THRESHOLDS = ["top10pct", "top30pct", "top50pct", "top70pct"]
FLAT = sorted((REPO / "generated").glob("quality_*/*/*.yaml"))
FLAT = [p for p in FLAT if p.parts[-3] in (FAMILY, "quality_thresholds")]


def leaf_weights(config: object, **kwargs: object) -> dict[str, float]:
    """Positive leaf weights of a config, resolved offline."""
    mix = resolve(config, offline=True, **kwargs)  # type: ignore[arg-type]
    return {leaf.leaf: leaf.weight for leaf in mix.leaves if leaf.weight}  # type: ignore[misc]


@pytest.fixture(scope="module")
def priors_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made-up but uneven token counts for every leaf of the widest threshold configs."""
    counts: dict[str, int] = {}
    for profile in PROFILES:
        path = REPO / "generated" / "quality_thresholds" / profile / "top70pct.yaml"
        for name, _ in walk_leaves(config_entries(load_config(path))):
            counts[name] = 10**6 + int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)
    path = tmp_path_factory.mktemp("priors") / "priors.yaml"
    path.write_text(format_priors(counts), encoding="utf-8")
    return path


@pytest.mark.parametrize("config", FLAT, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_round_trip_keeps_every_leaf_weight(config: Path, priors_file: Path) -> None:
    """All 24 flat configs: old and converted resolve alike within 1e-9 (thresholds: priors)."""
    converted = convert(config, priors=priors_file, offline=True)
    data = yaml.safe_load(converted.text)
    LaunchConfig.model_validate(data)
    before = leaf_weights(config, priors=priors_file)
    after = leaf_weights(data)
    assert sorted(after) == sorted(before)
    for name, weight in before.items():
        assert after[name] == pytest.approx(weight, abs=1e-9)
    assert resolve(data, offline=True).mismatches == ()


@pytest.mark.parametrize("scheme", ["aggressive", "gradual"])
def test_convert_keeps_heavy_wiki_wikipedia_at_thirty_percent(scheme: str) -> None:
    """The hand migration's 0.006% cannot happen: wikipedia stays at 0.3."""
    code, out, err = invoke(
        "convert", str(REPO / "generated" / FAMILY / "heavy_wiki" / f"{scheme}.yaml")
    )
    assert code == 0, err
    assert "\n  wikipedia:\n    weight: 0.3\n    repetition_factor: 2.0\n" in out
    assert "\n  arxiv:\n    weight: 0.01\n    repetition_factor: 1.5\n" in out


def test_converted_plan_config_equals_the_generated_launch_config_body() -> None:
    """Converting a plan-era file gives the same launch config the family generates."""
    plan = REPO / "generated" / FAMILY / "heavy_code" / "gradual.yaml"
    generated = (REPO / "generated" / LAUNCH / "heavy_code" / "gradual.yaml").read_text()
    assert yaml.safe_load(convert(plan).text) == yaml.safe_load(generated)


def test_convert_data_has_no_field_current_olmix_ignores() -> None:
    """No weights, max_repetition_factor or max_topic_ratio in the converted data."""
    text = convert(REPO / "generated" / FAMILY / "heavy_adult" / "aggressive.yaml").text
    data = yaml.safe_load(text)["data"]
    for word in ("weight", "max_repetition_factor", "max_topic_ratio"):
        assert word not in yaml.safe_dump(data)


def test_cli_writes_files_and_never_overwrites_an_input(tmp_path: Path) -> None:
    """-o FILE and --out DIR write atomically; an input as destination is refused."""
    source = tmp_path / "old.yaml"
    source.write_bytes(
        (REPO / "generated" / FAMILY / "heavy_code" / "aggressive.yaml").read_bytes()
    )
    before = source.read_bytes()
    code, out, err = invoke("convert", str(source), "-o", str(source))
    assert (code, out) == (2, "")
    assert f"is the input {source}" in err and err.count("\n") == 1
    assert source.read_bytes() == before
    code, _, err = invoke("convert", str(source), "-o", str(tmp_path / "new.yaml"))
    assert code == 0, err
    text = (tmp_path / "new.yaml").read_text()
    assert f"# Usage: olmix launch run --variants {tmp_path / 'new.yaml'}\n" in text
    code, _, err = invoke("convert", str(source), "aggressive:heavy_wiki", "--out", str(tmp_path))
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.glob("quality-*.yaml"))
    assert names == [
        "quality-upsampling-aggressive-heavy-code.yaml",
        "quality-upsampling-aggressive-heavy-wiki.yaml",
    ]
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_refuses_ambiguous_destinations(tmp_path: Path) -> None:
    """Several configs to one -o file, -o with --out, or two configs of one name: one line."""
    one = str(REPO / "generated" / FAMILY / "heavy_code" / "aggressive.yaml")
    two = str(REPO / "generated" / FAMILY / "heavy_wiki" / "aggressive.yaml")
    cases = [
        (["convert", one, two, "-o", str(tmp_path / "x.yaml")], "cannot go to one file"),
        (["convert", one, "-o", str(tmp_path / "x.yaml"), "--out", str(tmp_path)], "exclude"),
        (["convert", one, "aggressive:heavy_code", "--out", str(tmp_path)], "both"),
    ]
    for args, message in cases:
        code, out, err = invoke(*args)
        assert (code, out) == (2, ""), args
        assert message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_convert_to_generation_and_flat(priors_file: Path) -> None:
    """--to generation writes data, priors, swarm and max_tokens; --to flat resolves alike."""
    plan = REPO / "generated" / "quality_thresholds" / "heavy_code" / "top30pct.yaml"
    generation = yaml.safe_load(convert(plan, to="generation", priors=priors_file).text)
    GenerationConfig.model_validate(generation)
    assert generation["max_tokens"] == 138_958_080  # the trainer's olmo3_14m x 0.5
    assert generation["swarm"] == {"seed": 42, "variants": 1, "minimum_weight": 0.0001}
    counts = generation["priors"]["token_counts"]
    assert list(counts) == sorted(counts)
    assert sum(generation["priors"]["relative_sizes"].values()) == pytest.approx(1, abs=1e-12)
    # It carries its own priors and no weights (the swarm samples them): offline, every
    # leaf's weight is its relative size.
    assert leaf_weights(generation) == pytest.approx(generation["priors"]["relative_sizes"])
    flat = yaml.safe_load(convert(plan, to="flat", priors=priors_file).text)
    ExperimentConfig.model_validate(flat)
    assert leaf_weights(flat) == pytest.approx(leaf_weights(plan, priors=priors_file), abs=1e-9)


def test_convert_of_a_launch_config_keeps_its_eval(tmp_path: Path) -> None:
    """A launch config converted again keeps its own eval tasks and its mix."""
    source = yaml.safe_load(
        (REPO / "generated" / LAUNCH / "heavy_code" / "gradual.yaml").read_text()
    )
    source["eval"] = {"type": "inloop", "tasks": {"math": {"gsm8k": "eval/gsm8k"}}}
    again = yaml.safe_load(convert(source).text)
    assert again["eval"] == source["eval"]
    assert again["mix"] == source["mix"]


def test_inclusion_only_offline_without_priors_says_what_to_run() -> None:
    """Thresholds need counts: offline and without priors, one line naming the command."""
    code, out, err = invoke(
        "convert", str(REPO / "generated" / "quality_thresholds" / "heavy_code" / "top10pct.yaml"),
        "--offline",
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert "qupsample priors CONFIG -o priors.yaml" in err and err.count("\n") == 1


def test_several_inputs_name_the_one_that_failed(tmp_path: Path) -> None:
    """A failing input among several is named, and nothing is written."""
    weighted = str(REPO / "generated" / FAMILY / "heavy_code" / "aggressive.yaml")
    threshold = str(REPO / "generated" / "quality_thresholds" / "heavy_code" / "top10pct.yaml")
    code, _, err = invoke("convert", weighted, threshold, "--offline", "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {threshold}: ") and "(nothing was written)" in err
    assert list(tmp_path.iterdir()) == []


def test_keep_zero_applies_to_scheme_profile_pairs() -> None:
    """`convert SCHEME:PROFILE --keep-zero` keeps the weight-0 buckets at weight 0."""
    plain = yaml.safe_load(convert("aggressive:heavy_wiki", root=REPO).text)
    kept = yaml.safe_load(convert("aggressive:heavy_wiki", root=REPO, keep_zero=True).text)
    assert "30-50pct" not in plain["mix"]["all_dressed"]["politics"]
    assert kept["mix"]["all_dressed"]["politics"]["30-50pct"] == {
        "weight": 0.0,
        "repetition_factor": 1.0,
    }


def _older_launch(tmp_path: Path) -> Path:
    """A launch config of the older nested form: weights in data, no mix:, priors and swarm."""
    launch = yaml.safe_load(
        (REPO / "generated" / LAUNCH / "heavy_code" / "gradual.yaml").read_text()
    )
    del launch["mix"]
    launch["data"] = {
        "sources": [
            {"name": "web", "weight": 3, "paths": ["s3://b/web/*.npy"]},
            {"name": "wiki", "weight": 1, "paths": ["s3://b/wiki/*.npy"]},
        ]
    }
    launch["priors"] = {"token_counts": {"web": 3000, "wiki": 1000}}
    launch["swarm"] = {"seed": 7, "variants": 4}
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(launch, sort_keys=False), encoding="utf-8")
    return path


def test_convert_names_the_older_form_and_what_it_leaves_out(tmp_path: Path) -> None:
    """The older nested form is named as such; priors and swarm are listed as not carried."""
    old = _older_launch(tmp_path)
    new = tmp_path / "new.yaml"
    code, out, err = invoke("convert", str(old), "-o", str(new), "--offline")
    assert (code, out) == (0, "")
    assert err == (
        f"wrote {new} ({old}, older launch (weights in data) -> launch)\n"
        f"warning: {old}: not carried over to the launch form: priors, swarm\n"
    )
    text = new.read_text()
    assert (
        "older olmix launch config (`infra`, `training`, weights in `data`, no `mix`)"
        in " ".join(line.removeprefix("# ") for line in text.splitlines())
    )
    assert {"priors", "swarm"}.isdisjoint(yaml.safe_load(text))
    assert resolve(new, offline=True).leaves[0].weight == pytest.approx(0.75)


def test_convert_lists_keys_no_form_models(tmp_path: Path) -> None:
    """A plan-era config's unknown top-level keys are listed on stderr, even to stdout."""
    flat = yaml.safe_load((REPO / "generated" / FAMILY / "heavy_code" / "gradual.yaml").read_text())
    path = tmp_path / "flat.yaml"
    path.write_text(yaml.safe_dump({**flat, "notes": "mine"}, sort_keys=False), encoding="utf-8")
    code, out, err = invoke("convert", str(path), "--offline")
    assert code == 0
    assert out.startswith("# quality-upsampling-gradual-heavy-code\n")
    assert err == f"warning: {path}: not carried over to the launch form: notes\n"
    converted = convert(REPO / "generated" / FAMILY / "heavy_code" / "gradual.yaml", offline=True)
    assert (converted.form, converted.dropped) == ("flat", ())
