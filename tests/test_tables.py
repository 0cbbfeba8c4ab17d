"""Tests for qupsample.tables: the resolve and diff tables at 80 and 120 columns."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from helpers import REPO, invoke

from qupsample.demo import write_demo_corpus
from qupsample.diff import diff
from qupsample.renderer import render
from qupsample.resolve import Mix, resolve
from qupsample.specs import SpecRow, list_specs
from qupsample.tables import diff_table, fold, human_count, list_text, mix_table


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


# --- a real terminal ---------------------------------------------------------------------


def in_terminal(width: int, *args: str) -> tuple[int, list[str]]:
    """Runs the installed `qupsample` with stdout on a pty `width` columns wide."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    script = Path(sys.executable).with_name("qupsample")
    process = subprocess.Popen(
        [str(script), *args], stdout=child, stderr=subprocess.DEVNULL, env=env, cwd=REPO
    )
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal (EIO on Linux)
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    code = process.wait(timeout=60)
    return code, out.decode().replace("\r\n", "\n").splitlines()


def whole(names: set[str], lines: list[str], width: int) -> None:
    """Every name is on one line, unbroken, and no line is wider than the terminal."""
    assert lines
    assert max(len(line) for line in lines) <= width
    words = {word for line in lines for word in re.split(r"[\s\[\],]+", line)}
    assert names <= words, sorted(names - words)


def leaf_names(mix: Mix) -> set[str]:
    """Every source, topic and bucket name of a mix."""
    return {part for leaf in mix.leaves for part in leaf.leaf.split(":")}


@pytest.mark.parametrize("width", [80, 120])
def test_resolve_in_a_terminal_keeps_names_whole(mixes: tuple[Mix, Path, Path], width: int) -> None:
    """`resolve` at 80 and 120 columns: with and without OVER LIMIT, no name breaks."""
    mix, config, _ = mixes
    code, lines = in_terminal(
        width, "resolve", str(config), "-q", "--training-tokens", "4000000", "--allow-repetition"
    )
    assert code == 0
    assert any("OVER LIMIT" in line for line in lines)
    whole(leaf_names(mix) | {mix.name}, lines, width)
    code, lines = in_terminal(width, "resolve", "aggressive:heavy_code", "--offline")
    assert code == 0
    assert not any("OVER LIMIT" in line for line in lines)
    whole(leaf_names(mix) - {"30-50pct"}, lines, width)


@pytest.mark.parametrize("width", [80, 120])
def test_diff_in_a_terminal_keeps_file_names_whole(
    mixes: tuple[Mix, Path, Path], width: int
) -> None:
    """`diff` at 80 and 120 columns: each file name whole in the title, topics whole."""
    _, a, b = mixes
    code, lines = in_terminal(width, "diff", str(a), str(b), "--offline", "--tokens")
    assert code == 1
    whole({str(a), str(b), "science_math_and_technology", "software_development"}, lines, width)


@pytest.mark.parametrize("width", [80, 120])
def test_list_in_a_terminal_fits(width: int) -> None:
    """`list` at 80 and 120 columns: every line fits, every name and word whole."""
    code, lines = in_terminal(width, "list", "--root", str(REPO))
    assert code == 0
    rows = list_specs(REPO)
    words = {word for row in rows for word in [row.name, *re.split(r"[\s\[\],]+", row.description)]}
    whole(words - {""}, lines, width)


def test_a_name_too_long_for_its_column_gets_a_line_of_its_own() -> None:
    """A leaf with numbers whose name leaves no room: name above, numbers below, unbroken."""
    name = "a_source_with_a_very_long_name_indeed:and_a_topic_with_a_long_name_too"
    mix = resolve(
        {
            "name": "long-names",
            "proxy_model_id": "olmo3_14m",
            "tokenizer": "dolma2",
            "sources": [
                {
                    "name": name.split(":")[0],
                    "weight": 1,
                    "topics": [
                        {"name": name.split(":")[1], "weight": 1, "paths": ["s3://b/x/*.npy"]}
                    ],
                }
            ],
        },
        offline=True,
        root=REPO,
    )
    lines = mix_table(mix, 50).splitlines()
    assert max(len(line) for line in lines) <= 50
    at = lines.index("   and_a_topic_with_a_long_name_too")
    assert lines[at - 1] == " a_source_with_a_very_long_name_indeed"
    assert lines[at + 1].split()[:2] == ["?", "100.000"]


def test_fold_breaks_only_between_words() -> None:
    """Lines break after `/`, `:` or a space; a piece longer than the width stays whole."""
    assert fold("/data/one/two/three.yaml", 12) == ["/data/one/", "two/", "three.yaml"]
    assert fold("  abc def", 6) == ["  abc", "def"]
    assert fold("abcdefghij", 4) == ["abcdefghij"]


def test_list_text_piped_is_one_line_each() -> None:
    """Without a terminal width, `list` keeps one line per spec (for grep)."""
    rows = [SpecRow("schemes", "steep", "word " * 40)]
    assert list_text(rows) == f"schemes:\n  steep  {('word ' * 40).rstrip()}\n"
    wrapped = list_text(rows, 40).splitlines()
    assert len(wrapped) > 2
    assert all(len(line) <= 40 for line in wrapped)
