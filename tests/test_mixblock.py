"""Tests for qupsample.mixblock: writing olmix's `mix:` block and reading it as olmix does."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from trees import by_leaf, leaf, mixes, node

from qupsample.errors import SpecError, WeightError
from qupsample.mixblock import MixLeaf, flatten_mix, format_mix_block, olmix_mix
from qupsample.weights import Entry, resolve_shares, round_group

HEAVY_WIKI_TOPICS = {
    "science_math_and_technology": 25,
    "software_development": 20,
    "education_and_jobs": 15,
    "politics": 3,
    "adult_content": 1,
    "art_and_design": 5,
}


def heavy_wiki() -> list[Entry]:
    """The facts file's heavy_wiki profile, each topic with two weighted buckets."""
    topics = [
        node(
            topic,
            leaf("top10pct", f"{topic}/0018", f"{topic}/0020", weight=0.7),
            leaf("rest", f"{topic}/0001", weight=0.3),
            weight=weight,
        )
        for topic, weight in HEAVY_WIKI_TOPICS.items()
    ]
    return [
        node("all_dressed", *topics, weight=69),
        leaf("arxiv", "arxiv/*.npy", weight=1, mrf=1.5),
        leaf("wikipedia", "wikipedia/*.npy", weight=30, mrf=2.0),
    ]


def test_heavy_wiki_mix_keeps_wikipedia_at_thirty_percent() -> None:
    """Source weights 69/1/30 print as 0.69/0.01/0.3, not a 0.006% wikipedia."""
    entries = heavy_wiki()
    mix = olmix_mix(entries, resolve_shares(entries, None))
    text = format_mix_block(mix)
    assert list(mix) == ["all_dressed", "arxiv", "wikipedia"]
    assert "  all_dressed:\n    weight: 0.69\n    science_math_and_technology:\n" in text
    assert "  arxiv:\n    weight: 0.01\n    repetition_factor: 1.5\n" in text
    assert text.endswith("  wikipedia:\n    weight: 0.3\n    repetition_factor: 2.0\n")
    # Topic weights within all_dressed: k/69 to 10 decimals, largest remainders first.
    topic_units = [3623188406, 2898550725, 2173913043, 434782609, 144927536, 724637681]
    assert sum(topic_units) == 10**10
    for topic, units in zip(HEAVY_WIKI_TOPICS, topic_units, strict=True):
        assert mix["all_dressed"][topic]["weight"] == units / 10**10
        assert mix["all_dressed"][topic]["top10pct"] == {"weight": 0.7, "repetition_factor": 1.0}


def test_equal_spec_weights_print_as_equal_numbers() -> None:
    """Two topics of weight 5 print the same number even where one spare unit is left."""
    topics = {"a": 20, "b": 50, "c": 15, "d": 5, "e": 3, "f": 5}
    entries = [node("src", *(leaf(t, weight=w) for t, w in topics.items()), weight=1)]
    mix = olmix_mix(entries, resolve_shares(entries, None), decimals=6)
    assert mix["src"]["d"]["weight"] == mix["src"]["f"]["weight"]
    assert sum(round(mix["src"][t]["weight"] * 10**6) for t in topics) == 10**6


@pytest.mark.parametrize(
    ("fractions", "decimals", "units"),
    [
        # The tie has the largest remainder but two members for one spare unit: the
        # unit goes to the next remainder instead of splitting the tie.
        ([1 / 7, 1 / 7, 5 / 7], 1, [1, 1, 8]),
        # Ties that fit take the spare units together.
        ([1 / 6, 1 / 6, 2 / 3], 3, [167, 167, 666]),
        # Three thirds cannot be equal and sum to 1: the tie is broken, first first.
        ([1 / 3, 1 / 3, 1 / 3], 2, [34, 33, 33]),
    ],
)
def test_round_group_keeps_ties_together(
    fractions: list[float], decimals: int, units: list[int]
) -> None:
    """Equal fractions round alike unless no rounding of them can sum to the whole."""
    assert round_group(fractions, decimals) == units


def small_mix() -> tuple[list[Entry], dict[str, int]]:
    """A small tree with a pruned source and a name that needs quoting."""
    entries = [
        node(
            "web",
            node("code", leaf("hi", weight=2), leaf("lo", weight=1), weight=1),
            leaf("yes", weight=1),
            weight=3,
        ),
        node("drop", leaf("gone"), weight=0),
        leaf("wiki", weight=1, mrf=2.0),
    ]
    return entries, {"hi.npy": 100, "lo.npy": 100, "yes.npy": 100, "wiki.npy": 100}


SMALL_MIX_TEXT = """\
mix:
  web:
    weight: 0.75
    code:
      weight: 0.5
      hi:
        weight: 0.6666666667
        repetition_factor: 1.0
      lo:
        weight: 0.3333333333
        repetition_factor: 1.0
    "yes":
      weight: 0.5
      repetition_factor: 1.0
  wiki:
    weight: 0.25
    repetition_factor: 2.0
"""


def test_small_mix_block_exact_text() -> None:
    """The mix block of a small tree is byte-for-byte the expected YAML."""
    entries, tokens = small_mix()
    text = format_mix_block(olmix_mix(entries, resolve_shares(entries, tokens)))
    assert text == SMALL_MIX_TEXT
    loaded = yaml.safe_load(text)
    assert list(loaded["mix"]["web"]) == ["weight", "code", "yes"]


def test_keep_zero_writes_zero_shares() -> None:
    """With keep_zero, entries of share 0 stay in the block with weight 0."""
    entries, tokens = small_mix()
    mix = olmix_mix(entries, resolve_shares(entries, tokens), keep_zero=True)
    assert mix["drop"] == {"weight": 0.0, "gone": {"weight": 0.0, "repetition_factor": 1.0}}
    assert "drop" not in olmix_mix(entries, resolve_shares(entries, tokens))


def test_olmix_mix_decimals() -> None:
    """Fewer decimals round each group to fewer units, still summing to 1."""
    entries, tokens = small_mix()
    mix = olmix_mix(entries, resolve_shares(entries, tokens), decimals=2)
    assert mix["web"]["code"]["hi"]["weight"] == 0.67
    assert mix["web"]["code"]["lo"]["weight"] == 0.33
    assert "        weight: 0.67\n" in format_mix_block(mix)


def test_olmix_mix_needs_known_weights() -> None:
    """Offline shares with unknown leaves cannot be written as a mix block."""
    entries = [leaf("a", weight=1), node("b", leaf("x"), leaf("y"), weight=1)]
    with pytest.raises(WeightError, match=r"^b:x: weight is unknown without token counts"):
        olmix_mix(entries, resolve_shares(entries, None))


def test_olmix_mix_rejects_rows_of_another_tree() -> None:
    """Rows resolved from a different tree are a programming error."""
    entries, tokens = small_mix()
    rows = resolve_shares(entries, tokens)
    with pytest.raises(ValueError, match="leaves do not match entries"):
        olmix_mix(entries, rows[1:])


def test_olmix_mix_rejects_reserved_names() -> None:
    """An entry named like a mix-block key would clash with it."""
    entries = [node("s", leaf("weight", weight=1), leaf("b", weight=1), weight=1)]
    with pytest.raises(WeightError, match=r"^s:weight: is a reserved key"):
        olmix_mix(entries, resolve_shares(entries, None))


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("top10pct", "top10pct"),
        ("_a.b-c", "_a.b-c"),
        ("yes", '"yes"'),
        ("No", '"No"'),
        ("NULL", '"NULL"'),
        ("off", '"off"'),
        ("10-30pct", "10-30pct"),
        ("1e5", '"1e5"'),
        ("a b", '"a b"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("line\u2028break", '"line\\u2028break"'),
    ],
)
def test_format_mix_block_quotes_only_unsafe_names(name: str, printed: str) -> None:
    """Plain-safe names print bare; others print double-quoted with escapes."""
    text = format_mix_block({name: {"weight": 1.0}})
    assert text == f"mix:\n  {printed}:\n    weight: 1.0\n"
    assert yaml.safe_load(text) == {"mix": {name: {"weight": 1.0}}}


def test_format_mix_block_edge_cases() -> None:
    """Empty blocks, tiny weights in fixed point, and non-finite values."""
    assert format_mix_block({}) == "mix: {}\n"
    assert format_mix_block({"a": {"weight": 1e-7}}) == "mix:\n  a:\n    weight: 0.0000001\n"
    with pytest.raises(ValueError, match="cannot write nan"):
        format_mix_block({"a": {"weight": math.nan}})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_format_mix_block_names_round_trip(name: str) -> None:
    """Any name printed as a key reads back as the same string."""
    text = format_mix_block({name: {"weight": 0.5, "repetition_factor": 1.5}})
    assert yaml.safe_load(text) == {"mix": {name: {"weight": 0.5, "repetition_factor": 1.5}}}


def printed_leaves(
    block: dict[str, Any], prefix: str = "", product: Decimal = Decimal(1)
) -> Iterator[tuple[str, Decimal, str]]:
    """Checks each printed group sums to 1; yields leaf, weight product, repetition."""
    children = {k: v for k, v in block.items() if k not in ("weight", "repetition_factor")}
    assert sum(Decimal(child["weight"]) for child in children.values()) == 1
    for name, child in children.items():
        weight = product * Decimal(child["weight"])
        if "repetition_factor" in child:
            yield f"{prefix}{name}", weight, child["repetition_factor"]
        else:
            yield from printed_leaves(child, f"{prefix}{name}:", weight)


@settings(max_examples=60, deadline=None)
@given(mixes())
def test_printed_mix_groups_sum_to_one(mix: tuple[tuple[Entry, ...], dict[str, int]]) -> None:
    """Printed sibling weights sum to exactly 1; products match the leaves within 1e-9."""
    entries, tokens = mix
    rows = by_leaf(resolve_shares(entries, tokens))
    text = format_mix_block(olmix_mix(entries, list(rows.values())))
    parsed = yaml.load(text, Loader=yaml.BaseLoader)
    printed = {name: (weight, rf) for name, weight, rf in printed_leaves(parsed["mix"])}
    assert set(printed) == {name for name, row in rows.items() if row.weight}
    for name, (weight, repetition) in printed.items():
        row = rows[name]
        assert row.weight is not None
        assert abs(float(weight) - row.weight) < 1e-9
        assert float(repetition) == row.max_repetition_factor
    # Read back the way olmix reads it: the same leaves and products.
    flat = flatten_mix(yaml.safe_load(text)["mix"])
    assert {k: v.weight for k, v in flat.items()} == pytest.approx(
        {k: float(w) for k, (w, _) in printed.items()}, abs=1e-15
    )


# --- reading: olmix's flatten rule ---------------------------------------------------


def test_flatten_nested_multiplies_along_the_path() -> None:
    """A leaf's weight is the product of the weights on its path; rf is inherited."""
    mix = {
        "web": {
            "weight": 0.8,
            "repetition_factor": 1.5,
            "code": {"weight": 0.5, "hi": {"weight": 0.25}, "lo": {"weight": 0.75}},
            "news": {"weight": 0.5, "repetition_factor": 3.0},
        },
        "wiki": {"weight": 0.2},
    }
    assert flatten_mix(mix) == {
        "web:code:hi": MixLeaf(0.8 * 0.5 * 0.25, 1.5),
        "web:code:lo": MixLeaf(0.8 * 0.5 * 0.75, 1.5),
        "web:news": MixLeaf(0.8 * 0.5, 3.0),
        "wiki": MixLeaf(0.2, None),
    }


def test_flatten_scalar_shorthand_flat_keys_and_missing_weight() -> None:
    """A scalar child is a weight, `a:b` keys name a path, a node without weight is 1."""
    mix = {
        "web": {"code": 0.5, "news": {"hi": 0.25, "lo": {"weight": 0.25}}},
        "wiki:en": {"weight": 0.1, "repetition_factor": 2},
        "books": 0.4,
    }
    assert flatten_mix(mix) == {
        "web:code": MixLeaf(0.5, None),
        "web:news:hi": MixLeaf(0.25, None),
        "web:news:lo": MixLeaf(0.25, None),
        "wiki:en": MixLeaf(0.1, 2.0),
        "books": MixLeaf(0.4, None),
    }


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ([1, 2], r"mix: must be a mapping"),
        ({"a": -0.1}, r"mix\.a: must be a finite number >= 0, got -0\.1"),
        ({"a": {"weight": "x"}}, r"mix\.a\.weight: must be a finite number >= 0"),
        ({"a": {"weight": 1, "repetition_factor": 0}}, r"repetition_factor: must be .* > 0"),
        ({"a": True}, r"mix\.a: must be a finite number"),
        ({"a": float("inf")}, r"mix\.a: must be a finite number"),
        ({"a:b": 0.5, "a": {"b": 0.5}}, r"mix\.a:b: names one leaf twice"),
        ({"weight": 1}, r"the mix itself has no weight"),
        ({"a::b": 1}, r"bad name 'a::b'"),
        ({3: 1}, r"bad name 3"),
        ({"a": "x" * 500}, r"got 'x+\.\.\.x+'$"),
    ],
)
def test_flatten_rejects_bad_blocks_in_one_line(mix: Any, message: str) -> None:
    """Malformed mix blocks are one SpecError line naming the field."""
    with pytest.raises(SpecError, match=message) as caught:
        flatten_mix(mix, "cfg.yaml")
    assert str(caught.value).startswith("cfg.yaml: ")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_flatten_bounds_nesting_depth() -> None:
    """A mix nested absurdly deep is refused instead of exhausting the stack."""
    mix: dict[str, Any] = {"leaf": 1.0}
    for i in range(40):
        mix = {f"n{i}": mix}
    with pytest.raises(SpecError, match="nested deeper than 16 levels"):
        flatten_mix(mix)
