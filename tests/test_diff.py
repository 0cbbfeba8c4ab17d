"""Tests for qupsample.diff (`qupsample diff`): two mixes compared leaf by leaf."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import REPO, invoke, make_project, table_rows

from qupsample.renderer import render


def test_diff_of_a_file_and_its_pair_is_equal() -> None:
    """A generated file and the SCHEME:PROFILE it came from have the same mix: exit 0."""
    config = REPO / "generated" / "quality_upsampling" / "heavy_code" / "gradual.yaml"
    code, out, err = invoke("diff", str(config), "gradual:heavy_code", "--root", str(REPO))
    assert code == 0, err
    assert out == f"{config} and gradual:heavy_code: same mix (20 leaves)\n"


def test_diff_lists_changed_leaves_and_exits_1() -> None:
    """aggressive vs gradual differs in the top10pct and 30-50pct buckets of every topic."""
    code, out, _ = invoke(
        "diff",
        "aggressive:heavy_code",
        "gradual:heavy_code",
        "--format",
        "json",
        "--root",
        str(REPO),
    )
    assert code == 1
    data = json.loads(out)
    assert data["equal"] is False
    changed = {leaf["leaf"]: leaf for leaf in data["leaves"] if leaf["changed"]}
    assert len(changed) == 12
    leaf = changed["all_dressed:software_development:top10pct"]
    assert leaf["weight_a"] == pytest.approx(0.35, abs=1e-12)
    assert leaf["weight_b"] == pytest.approx(0.25, abs=1e-12)
    assert changed["all_dressed:software_development:30-50pct"]["weight_a"] == 0.0
    assert "all_dressed:software_development:10-30pct" not in changed


def test_diff_table_shows_percentage_point_changes() -> None:
    """The table lists each changed leaf with A %, B % and the change in points."""
    code, out, _ = invoke(
        "diff", "aggressive:heavy_code", "gradual:heavy_code", "--root", str(REPO)
    )
    assert code == 1
    rows = table_rows(out)
    assert rows["all_dressed:software_development:top10pct"] == ["35.000", "25.000", "-10.000"]
    assert "12 of 20 leaves differ" in out


def test_diff_with_tokens_compares_counts(corpus: Path, tmp_path: Path) -> None:
    """With --tokens, leaves whose data differ show up even when weights are equal."""
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text(
        render("aggressive", "heavy_code", root=REPO, overrides={"data_root": str(corpus)})
    )
    other = tmp_path / "other"
    shutil.copytree(corpus, other)
    extra = next(other.rglob("vigintile_0020"))
    (extra / "part-99999.npy").write_bytes(bytes(400))
    b.write_text(render("aggressive", "heavy_code", root=REPO, overrides={"data_root": str(other)}))
    assert invoke("diff", str(a), str(b), "--root", str(REPO))[0] == 0
    code, out, _ = invoke("diff", str(a), str(b), "--tokens", "-f", "json")
    assert code == 1
    changed = [leaf for leaf in json.loads(out)["leaves"] if leaf["changed"]]
    assert len(changed) == 1
    assert changed[0]["tokens_b"] - changed[0]["tokens_a"] == 100


def test_diff_errors_are_one_line() -> None:
    """An unknown pair in diff is a one-line error, exit 2."""
    code, _, err = invoke("diff", "aggresive:heavy_code", "gradual:heavy_code", "--root", str(REPO))
    assert code == 2
    assert err.startswith("error: aggresive:heavy_code: scheme 'aggresive': not found")
    assert len(err.strip().splitlines()) == 1


def test_diff_offline_refuses_weights_that_need_counts() -> None:
    """Offline, threshold configs cannot be compared: one line, exit 2, never 'same mix'."""
    code, out, err = invoke(
        "diff", "top10pct:heavy_code", "top30pct:heavy_code", "--offline", "--root", str(REPO)
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: top10pct:heavy_code: weights need token counts")
    assert "drop --offline" in err


def test_diff_table_groups_each_topic_once() -> None:
    """Buckets only one side has are listed under their topic, not under a repeated one."""
    code, out, _ = invoke(
        "diff", "aggressive:heavy_code", "gradual:heavy_code", "--root", str(REPO)
    )
    assert code == 1
    assert out.count("\n   software_development\n") == 1
    assert "     top10pct " in out.split("   software_development\n")[1].split("\n   ")[0]


def test_a_pair_in_two_families_needs_family_on_resolve_and_diff(tmp_path: Path) -> None:
    """A pair two families share: resolve, diff, plot and convert name --family; with it, work."""
    family = (REPO / "schemes" / "families" / "quality_upsampling.yaml").read_text()
    second = (
        family.replace("output: quality_upsampling\n", "output: second\n")
        .replace("quality_upsampling_launch", "second_launch")
        .replace("config_name: quality-upsampling", "config_name: second")
    )
    root = str(make_project(tmp_path, {"schemes/families/second.yaml": second}))
    several = (
        "error: gradual:heavy_code: is in several families (quality_upsampling, second)"
        " — choose one with --family quality_upsampling\n"
    )
    pair, other = "gradual:heavy_code", "aggressive:heavy_code"
    for command in (
        ["resolve", pair],
        ["diff", pair, other],
        ["convert", pair],
        ["plot", pair, "-o", str(tmp_path / "x.svg")],
    ):
        assert invoke(*command, "--offline", "--root", root) == (2, "", several), command
    assert invoke("priors", pair, "--root", root) == (2, "", several)  # before any listing
    code, out, _ = invoke("resolve", pair, "--offline", "--family", "second", "--root", root)
    assert code == 0
    assert out.startswith("second-gradual-heavy-code\n")
    code, out, _ = invoke("diff", pair, other, "--offline", "--family", "second", "--root", root)
    assert code == 1
    assert out.startswith(f"{pair} -> {other}\n")
    code, _, err = invoke("diff", pair, other, "--offline", "--family", "secnd", "--root", root)
    assert code == 2
    assert err.startswith("error: diff: family 'secnd': unknown family — did you mean 'second'?")
