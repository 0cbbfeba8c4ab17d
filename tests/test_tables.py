"""Tests for qupsample.tables: the resolve and diff tables at 80 and 120 columns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import REPO, invoke

from qupsample.demo import write_demo_corpus
from qupsample.diff import diff
from qupsample.renderer import render
from qupsample.resolve import Mix, resolve
from qupsample.tables import diff_table, human_count, mix_table


@pytest.fixture(scope="module")
def mixes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Mix, Path, Path]:
    """A mix of the demo corpus with leaves over their limit, and two configs to diff."""
    folder = tmp_path_factory.mktemp("tables")
    write_demo_corpus(folder / "data", root=REPO)
    paths = []
    for scheme in ("gradual", "aggressive"):
        path = folder / f"{scheme}.yaml"
        render(
            scheme, "heavy_code", root=REPO, overrides={"data_root": str(folder / "data")}, out=path
        )
        paths.append(path)
    return resolve(paths[0], cache=False, training_tokens=4_000_000), paths[0], paths[1]


def numbers(mix: Mix) -> list[str]:
    """Every number the table must show whole."""
    out = [human_count(mix.training_tokens)]
    for leaf in mix.leaves:
        assert leaf.tokens is not None and leaf.weight is not None
        assert leaf.requested_tokens is not None and leaf.repetition_factor is not None
        out += [
            human_count(leaf.tokens),
            f"{leaf.weight * 100:.3f}",
            human_count(leaf.requested_tokens),
            f"{leaf.repetition_factor:.3f}x of {leaf.max_repetition_factor:g}x",
        ]
    return out


@pytest.mark.parametrize("width", [80, 120])
def test_mix_table_fits_and_cuts_no_number(mixes: tuple[Mix, Path, Path], width: int) -> None:
    """Every number appears whole, lines fit the width, no trailing spaces, every header named."""
    mix = mixes[0]
    text = mix_table(mix, width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines)
    assert all(line == line.rstrip() for line in lines)
    assert "…" not in text
    for number in numbers(mix):
        assert re.search(rf"(^|\s){re.escape(number)}(\s|$|;)", text, re.M), number
    header = next(line for line in lines if "tokens" in line and "weight %" in line)
    assert header.split() == ["leaf", "tokens", "weight", "%", "requested", "repetition", "note"]
    assert text.count("OVER LIMIT") == len(mix.infeasible) > 0
    # Names are whole once the folded pieces are joined.
    joined = "".join(
        line.split("  ")[0].strip() if line.startswith(" ") else line for line in lines
    )
    assert "science_math_and_technology" in "".join(text.split())
    assert joined


def test_mix_table_shows_the_tree(mixes: tuple[Mix, Path, Path]) -> None:
    """At 120 columns each source and topic is a row of its own, buckets indented below."""
    text = mix_table(mixes[0], 120)
    assert "\n all_dressed\n   science_math_and_technology\n     top10pct " in text
    assert re.search(r"\n wikipedia +\S", text)


@pytest.mark.parametrize("width", [80, 120])
def test_diff_table_fits_and_cuts_no_number(mixes: tuple[Mix, Path, Path], width: int) -> None:
    """The diff table keeps every percentage whole at 80 and 120 columns."""
    _, a, b = mixes
    result = diff(a, b, tokens=True)
    text = diff_table(result, True, width)
    assert all(len(line) <= width and line == line.rstrip() for line in text.splitlines())
    for leaf in result.changes:
        delta = (leaf.weight_b or 0.0) - (leaf.weight_a or 0.0)
        assert f"{delta * 100:+.3f}" in text
    assert f"{len(result.changes)} of {len(result.leaves)} leaves differ" in text


def test_cli_table_when_not_a_terminal_has_no_trailing_spaces(
    mixes: tuple[Mix, Path, Path],
) -> None:
    """`resolve` piped: 100 columns, no trailing spaces, no cut numbers."""
    code, out, err = invoke(
        "resolve", str(mixes[1]), "--training-tokens", "4000000", "--allow-repetition"
    )
    assert code == 0, err
    assert all(line == line.rstrip() and len(line) <= 100 for line in out.splitlines())
    assert "…" not in out


def test_cli_table_follows_columns_when_piped(
    mixes: tuple[Mix, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """COLUMNS=80 makes a piped table fit 80 columns, numbers whole."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = invoke(
        "resolve", str(mixes[1]), "--training-tokens", "4000000", "--allow-repetition"
    )
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
