"""Tests for qupsample.weights: the mix's weight maths on plain numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trees import by_leaf, leaf, mixes, node

from qupsample.errors import WeightError
from qupsample.weights import (
    Entry,
    LeafShare,
    needed_paths,
    resolve_shares,
    round_group,
    split_group,
)

EXACT = 1e-12
FAST = settings(max_examples=60, deadline=None)


def path_weights(rows: Sequence[LeafShare]) -> dict[str, float | None]:
    """Maps every path to its weight."""
    return {share.path: share.weight for row in rows for share in row.paths}


# --- the worked example --------------------------------------------------------------


def worked_example() -> tuple[list[Entry], dict[str, int]]:
    """Two sources (3:1); web has topics 1:1, one weighted 70/30, one split by tokens."""
    entries = [
        node(
            "web",
            node(
                "code",
                leaf("hi", "hi-1.npy", "hi-2.npy", weight=70),
                leaf("lo", "lo.npy", weight=30),
                weight=1,
            ),
            node("news", leaf("x", "x.npy"), leaf("y", "y.npy"), weight=1),
            weight=3,
        ),
        leaf("wiki", "wiki.npy", weight=1, mrf=2.0),
    ]
    tokens = {
        "hi-1.npy": 100,
        "hi-2.npy": 300,
        "lo.npy": 50,
        "x.npy": 600,
        "y.npy": 200,
        "wiki.npy": 1000,
    }
    return entries, tokens


def test_worked_example_leaf_weights() -> None:
    """Every leaf of the worked example gets the share computed by hand."""
    entries, tokens = worked_example()
    rows = resolve_shares(entries, tokens)
    assert [row.leaf for row in rows] == [
        "web:code:hi",
        "web:code:lo",
        "web:news:x",
        "web:news:y",
        "wiki",
    ]
    # web = 3/4 = 0.75, wiki = 1/4 = 0.25; code = news = 0.75 / 2 = 0.375.
    # code: hi = 0.375 * 0.7 = 0.2625, lo = 0.375 * 0.3 = 0.1125.
    # news (no weights, tokens 600:200): x = 0.375 * 0.75 = 0.28125, y = 0.375 * 0.25 = 0.09375.
    expected = {
        "web:code:hi": 0.2625,
        "web:code:lo": 0.1125,
        "web:news:x": 0.28125,
        "web:news:y": 0.09375,
        "wiki": 0.25,
    }
    for row in rows:
        assert row.weight is not None
        assert abs(row.weight - expected[row.leaf]) < EXACT
        assert not row.needs_counts
    assert [row.tokens for row in rows] == [400, 50, 600, 200, 1000]
    assert [row.max_repetition_factor for row in rows] == [1.0, 1.0, 1.0, 1.0, 2.0]


def test_worked_example_path_weights() -> None:
    """The multi-path bucket splits its share by tokens, and all paths sum to 1."""
    entries, tokens = worked_example()
    weights = path_weights(resolve_shares(entries, tokens))
    # hi = 0.2625 split 100:300 -> 0.065625 and 0.196875.
    expected = {
        "hi-1.npy": 0.065625,
        "hi-2.npy": 0.196875,
        "lo.npy": 0.1125,
        "x.npy": 0.28125,
        "y.npy": 0.09375,
        "wiki.npy": 0.25,
    }
    assert weights.keys() == expected.keys()
    for path, weight in weights.items():
        assert weight is not None
        assert abs(weight - expected[path]) < EXACT
    assert abs(math.fsum(w for w in weights.values() if w is not None) - 1) < 1e-9


# --- the sibling rule ----------------------------------------------------------------


def test_explicit_bucket_weights_are_normalized() -> None:
    """Bucket weights 1:3 give 1/4 and 3/4 of the topic, whatever the token counts."""
    entries = [node("src", node("topic", leaf("a", weight=1), leaf("b", weight=3)))]
    rows = by_leaf(resolve_shares(entries, {"a.npy": 999, "b.npy": 1}))
    assert rows["src:topic:a"].weight == pytest.approx(0.25, abs=EXACT)
    assert rows["src:topic:b"].weight == pytest.approx(0.75, abs=EXACT)


def test_no_bucket_weights_split_by_tokens() -> None:
    """Without bucket weights the topic's share follows the buckets' token counts."""
    entries = [
        node("src", node("t1", leaf("a"), leaf("b"), weight=1), leaf("t2", weight=1), weight=1)
    ]
    rows = by_leaf(resolve_shares(entries, {"a.npy": 10, "b.npy": 30, "t2.npy": 5}))
    assert rows["src:t1:a"].weight == pytest.approx(0.5 * 0.25, abs=EXACT)
    assert rows["src:t1:b"].weight == pytest.approx(0.5 * 0.75, abs=EXACT)
    assert rows["src:t2"].weight == pytest.approx(0.5, abs=EXACT)


def test_no_source_weights_split_by_total_tokens_below() -> None:
    """Without source weights each source's share is its total tokens over all sources."""
    entries = [
        node("big", node("t", leaf("a", weight=1), leaf("b", weight=0))),
        leaf("small", "s1.npy", "s2.npy"),
    ]
    # big holds 60 + 20 = 80 tokens (the weight-0 bucket still counts), small 10 + 10.
    tokens = {"a.npy": 60, "b.npy": 20, "s1.npy": 10, "s2.npy": 10}
    rows = by_leaf(resolve_shares(entries, tokens))
    assert rows["big:t:a"].weight == pytest.approx(0.8, abs=EXACT)
    assert rows["big:t:b"].weight == 0.0
    assert rows["small"].weight == pytest.approx(0.2, abs=EXACT)


def test_a_sibling_without_weight_among_weighted_ones_is_refused() -> None:
    """Some siblings weighted, one not: ambiguous (0, or by tokens?), so an error naming both
    fixes, never a silent 0."""
    entries = [node("src", leaf("a", weight=2), leaf("b"), leaf("c", weight=6), weight=1)]
    with pytest.raises(WeightError) as caught:
        resolve_shares(entries, {"a.npy": 1, "b.npy": 1, "c.npy": 1})
    assert str(caught.value) == (
        "src: b has no weight while its siblings a, c have one — give every child a weight,"
        " or drop the weights of all to split by token counts"
    )
    with pytest.raises(WeightError, match="b has no weight"):
        resolve_shares(entries, None)


def test_multi_path_leaf_splits_by_path_tokens() -> None:
    """A leaf's paths share its weight in proportion to their token counts."""
    entries = [leaf("only", "p1", "p2", "p3")]
    rows = resolve_shares(entries, {"p1": 1, "p2": 0, "p3": 3})
    assert rows[0].weight == 1.0
    assert rows[0].tokens == 4
    assert [(p.path, p.tokens) for p in rows[0].paths] == [("p1", 1), ("p2", 0), ("p3", 3)]
    assert [p.weight for p in rows[0].paths] == pytest.approx([0.25, 0.0, 0.75], abs=EXACT)


def test_plain_path_sources_are_leaves_named_by_source() -> None:
    """Sources with plain paths are leaves named after the source alone."""
    entries = [leaf("arxiv", weight=1, mrf=1.5), leaf("wikipedia", weight=3, mrf=2.0)]
    rows = resolve_shares(entries, {"arxiv.npy": 5, "wikipedia.npy": 5})
    assert [(r.leaf, r.max_repetition_factor) for r in rows] == [
        ("arxiv", 1.5),
        ("wikipedia", 2.0),
    ]
    assert [r.weight for r in rows] == pytest.approx([0.25, 0.75], abs=EXACT)


def test_max_repetition_factor_comes_from_nearest_setter() -> None:
    """The leaf's own factor wins, then the nearest ancestor's, else 1.0."""
    entries = [
        node(
            "src",
            node("t", leaf("own", mrf=4.0), leaf("inherits")),
            node("u", leaf("from_src")),
            mrf=2.5,
        ),
        node("other", node("t", leaf("from_topic"), mrf=1.5), node("u", leaf("default"))),
    ]
    rows = resolve_shares(entries, None)
    assert {r.leaf: r.max_repetition_factor for r in rows} == {
        "src:t:own": 4.0,
        "src:t:inherits": 2.5,
        "src:u:from_src": 2.5,
        "other:t:from_topic": 1.5,
        "other:u:default": 1.0,
    }


def test_split_group_known_cases() -> None:
    """split_group normalizes weights, and falls back to tokens where none has one."""
    assert split_group([3, 1], None) == pytest.approx([0.75, 0.25], abs=EXACT)
    assert split_group([0, 2.0, 0], [5, 5, 5]) == pytest.approx([0, 1, 0], abs=EXACT)
    assert split_group([None, None], [1, 3]) == pytest.approx([0.25, 0.75], abs=EXACT)
    assert split_group([1e308, 1e308], None) == pytest.approx([0.5, 0.5], abs=EXACT)


# --- errors --------------------------------------------------------------------------


def test_all_zero_bucket_weights_under_positive_topic_name_the_topic() -> None:
    """Buckets weighted all 0 under a topic with a share leave nothing to sample."""
    entries = [
        node(
            "all_dressed",
            node("software_development", leaf("a", weight=0), leaf("b", weight=0)),
        )
    ]
    with pytest.raises(WeightError) as caught:
        resolve_shares(entries, {"a.npy": 1, "b.npy": 1})
    message = str(caught.value)
    assert message.startswith("all_dressed:software_development: bucket weights are all 0")
    assert "give at least one bucket a positive weight" in message
    assert "\n" not in message


def test_all_zero_source_weights_are_an_error() -> None:
    """Sources weighted all 0 leave the mix empty."""
    with pytest.raises(WeightError, match=r"^mix: source weights are all 0"):
        resolve_shares([leaf("a", weight=0), leaf("b", weight=0)], None)


def test_all_zero_tokens_under_positive_parent_are_an_error() -> None:
    """A group split by tokens whose counts are all 0 names its parent."""
    entries = [node("src", node("t", leaf("a"), leaf("b"), weight=1), weight=1)]
    with pytest.raises(WeightError, match=r"^src:t: no bucket has a weight and their token"):
        resolve_shares(entries, {"a.npy": 0, "b.npy": 0})


def test_positive_leaf_without_tokens_is_an_error() -> None:
    """A leaf given a positive weight whose paths hold no tokens cannot be sampled."""
    entries = [leaf("a", weight=1), leaf("b", weight=1)]
    with pytest.raises(WeightError, match=r"^b: has a positive share but its paths hold 0"):
        resolve_shares(entries, {"a.npy": 5, "b.npy": 0})


def test_all_zero_groups_under_zero_parent_are_fine() -> None:
    """Under a share of 0 all-zero groups get 0 and need no token counts."""
    entries = [
        node("keep", leaf("a"), weight=1),
        node("drop", node("t", leaf("z1", weight=0), leaf("z2", weight=0)), weight=0),
        node("unset", node("t", leaf("u1"), leaf("u2")), weight=0),
    ]
    rows = by_leaf(resolve_shares(entries, {"a.npy": 7}))
    assert rows["keep:a"].weight == 1.0
    for name in ("drop:t:z1", "drop:t:z2", "unset:t:u1", "unset:t:u2"):
        assert rows[name].weight == 0.0
        assert rows[name].tokens is None
        assert [p.weight for p in rows[name].paths] == [0.0]


def test_missing_token_count_is_an_error() -> None:
    """A needed path without a count is named in the error."""
    entries = [leaf("a", "p1", "p2")]
    with pytest.raises(WeightError, match=r"^a: no token count for p2"):
        resolve_shares(entries, {"p1": 3})


@pytest.mark.parametrize("bad", [-1.0, -1e-300, math.nan, math.inf, -math.inf])
def test_invalid_weights_are_errors(bad: float) -> None:
    """Negative and non-finite weights are rejected wherever they sit."""
    bucket = [node("src", node("t", leaf("a", weight=bad), leaf("b", weight=1)))]
    with pytest.raises(WeightError, match=r"^src:t:a: weight: must be a finite number >= 0"):
        resolve_shares(bucket, None)
    pruned = [leaf("a", weight=1), node("src", leaf("b", weight=bad), weight=0)]
    with pytest.raises(WeightError, match=r"^src:b: weight: must be a finite number >= 0"):
        needed_paths(pruned)
    with pytest.raises(WeightError, match=r"must be a finite number >= 0"):
        split_group([1.0, bad], None)


@pytest.mark.parametrize("bad", [0.0, -2.0, math.nan, math.inf])
def test_invalid_max_repetition_factor_is_an_error(bad: float) -> None:
    """A repetition factor must be a finite positive number."""
    with pytest.raises(WeightError, match=r"^s:a: max_repetition_factor: must be a finite"):
        resolve_shares([node("s", leaf("a", mrf=bad))], None)


@pytest.mark.parametrize(
    ("weights", "tokens", "message"),
    [
        ([], None, "has no siblings"),
        ([0, 0.0, 0], [1, 1, 1], "sibling weights are all 0"),
        ([0, 1.0, None], [1, 1, 1], "#3 has no weight while its siblings #1, #2 have one"),
        ([None, None], None, "needs token counts"),
        ([None, None], [1, None], "must be a known count >= 0, got None"),
        ([None, None], [1, -1], "must be a known count >= 0, got -1"),
        ([None, None], [0, 0], "token counts are all 0"),
        ([None, None], [1], "got 1 token counts for 2 siblings"),
    ],
)
def test_split_group_errors(
    weights: list[float | None], tokens: list[int | None] | None, message: str
) -> None:
    """split_group raises WeightError, never ValueError, for groups it cannot split."""
    with pytest.raises(WeightError, match=message):
        split_group(weights, tokens)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], r"^mix: has no sources"),
        ([Entry("a", paths=("p",), children=(leaf("b"),))], r"^a: has both children and"),
        ([Entry("a")], r"^a: has no children or paths"),
        ([leaf("a"), leaf("a")], r"^mix: two children are named 'a'"),
        ([node("s", leaf("a:b"))], r"^s: entry name 'a:b' must be non-empty"),
        ([node("s", leaf(""))], r"^s: entry name '' must be non-empty"),
    ],
)
def test_malformed_trees_are_errors(entries: list[Entry], message: str) -> None:
    """Trees that cannot be named or resolved unambiguously are rejected."""
    with pytest.raises(WeightError, match=message):
        resolve_shares(entries, None)
    with pytest.raises(WeightError, match=message):
        needed_paths(entries)


# --- needed paths --------------------------------------------------------------------


def test_needed_paths_skip_pruned_subtrees() -> None:
    """Weight-0 subtrees and unweighted siblings of weighted ones need no counts."""
    entries = [
        node(
            "src",
            node(
                "t",
                leaf("hi", "hi1", "hi2", weight=1),
                leaf("off", weight=0),
                leaf("unset"),
                weight=1,
            ),
            node("gone", leaf("g1"), leaf("g2"), weight=0),
            weight=1,
        ),
        node("unset_source", leaf("u")),
        leaf("wiki", "wiki", "hi1", weight=1),
    ]
    assert needed_paths(entries) == ["hi1", "hi2", "wiki"]


def test_needed_paths_take_everything_below_a_token_split() -> None:
    """Siblings split by tokens need the counts of all their paths, pruned ones too."""
    entries = [
        node("a", node("t", leaf("x", weight=1), leaf("y", weight=0))),
        leaf("b"),
    ]
    assert needed_paths(entries) == ["x.npy", "y.npy", "b.npy"]
    rows = resolve_shares(entries, dict.fromkeys(needed_paths(entries), 1))
    assert [r.weight for r in rows] == pytest.approx([2 / 3, 0, 1 / 3], abs=EXACT)


def test_needed_paths_are_enough_to_resolve_the_worked_example() -> None:
    """Counts for exactly the needed paths resolve the worked example."""
    entries, tokens = worked_example()
    needed = needed_paths(entries)
    assert needed == list(tokens)
    resolve_shares(entries, {path: tokens[path] for path in needed})


# --- offline -------------------------------------------------------------------------


def test_offline_explicit_weights_resolve_without_counts() -> None:
    """With weights at every level the leaf weights need no token counts."""
    entries = [
        node("src", node("t", leaf("a", weight=1), leaf("b", weight=3), weight=1), weight=4),
        leaf("wiki", weight=1, mrf=2.0),
    ]
    rows = resolve_shares(entries, None)
    assert [r.weight for r in rows] == pytest.approx([0.2, 0.6, 0.2], abs=EXACT)
    assert [r.tokens for r in rows] == [None, None, None]
    assert [r.needs_counts for r in rows] == [False, False, False]
    assert [(p.path, p.weight, p.tokens) for p in rows[2].paths] == [
        ("wiki.npy", rows[2].weight, None)
    ]


def test_offline_groups_without_weights_need_counts() -> None:
    """Leaves below a group without weights are unknown offline and flagged."""
    entries = [
        node("src", node("t", leaf("a"), leaf("b"), weight=1), weight=1),
        node("other", leaf("c", weight=1), leaf("d", weight=0), weight=1),
        leaf("zero", weight=0),
    ]
    rows = by_leaf(resolve_shares(entries, None))
    for name in ("src:t:a", "src:t:b"):
        assert rows[name].weight is None
        assert rows[name].needs_counts
        assert [p.weight for p in rows[name].paths] == [None]
    assert rows["other:c"].weight == pytest.approx(0.5, abs=EXACT)
    assert rows["other:d"].weight == 0.0
    assert rows["zero"].weight == 0.0
    assert not any(rows[name].needs_counts for name in ("other:c", "other:d", "zero"))


def test_offline_weight_zero_is_known_below_an_unknown_share() -> None:
    """A weight-0 sibling gets 0 even when its parent's share awaits token counts."""
    entries = [node("split", leaf("e", weight=1), leaf("f", weight=0)), leaf("g")]
    rows = by_leaf(resolve_shares(entries, None))
    assert (rows["split:e"].weight, rows["split:e"].needs_counts) == (None, True)
    assert (rows["split:f"].weight, rows["split:f"].needs_counts) == (0.0, False)
    assert (rows["g"].weight, rows["g"].needs_counts) == (None, True)


def test_offline_multi_path_leaf_has_unknown_path_weights() -> None:
    """A leaf with a known weight but several paths cannot split it offline."""
    rows = resolve_shares([leaf("a", "p1", "p2", weight=1), leaf("b", weight=1)], None)
    assert rows[0].weight == 0.5
    assert not rows[0].needs_counts
    assert [p.weight for p in rows[0].paths] == [None, None]
    assert [p.weight for p in rows[1].paths] == [0.5]


def test_offline_all_zero_group_under_unknown_share_fails_early() -> None:
    """An all-zero group is reported offline even though its parent's share is unknown."""
    entries = [node("src", node("t", leaf("a", weight=0)))]
    with pytest.raises(WeightError, match=r"^src:t: bucket weights are all 0"):
        resolve_shares(entries, None)


# --- rounding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fractions", "decimals", "units"),
    [
        ([1 / 3, 1 / 3, 1 / 3], 6, [333334, 333333, 333333]),
        ([2 / 3, 1 / 3], 6, [666667, 333333]),
        ([1.0], 6, [1000000]),
        ([0.0, 1.0], 6, [0, 1000000]),
        ([0.5, 0.5], 0, [1, 0]),
        ([0.25, 0.25, 0.25, 0.25], 1, [3, 3, 2, 2]),
        ([0.1, 0.2, 0.7], 2, [10, 20, 70]),
        ([1 / 6, 1 / 6, 2 / 3], 3, [167, 167, 666]),
    ],
)
def test_round_group_known_cases(fractions: list[float], decimals: int, units: list[int]) -> None:
    """Largest remainders get the leftover units, earlier positions first on ties."""
    assert round_group(fractions, decimals) == units


@pytest.mark.parametrize(
    ("fractions", "decimals", "message"),
    [
        ([], 6, "no fractions"),
        ([-0.1, 1.1], 6, "finite numbers >= 0"),
        ([math.nan, 1.0], 6, "finite numbers >= 0"),
        ([0.5], 6, "must sum to 1"),
        ([1.0], -1, "decimals must be between 0 and 12"),
        ([1.0], 13, "decimals must be between 0 and 12"),
    ],
)
def test_round_group_errors(fractions: list[float], decimals: int, message: str) -> None:
    """round_group rejects input that is not a set of fractions of one whole."""
    with pytest.raises(WeightError, match=message):
        round_group(fractions, decimals)


# --- properties ----------------------------------------------------------------------


def group_addresses(
    entries: Sequence[Entry], address: tuple[int, ...] = ()
) -> Iterator[tuple[int, ...]]:
    """Yields the index path of every sibling group, the sources first."""
    yield address
    for i, entry in enumerate(entries):
        if entry.children:
            yield from group_addresses(entry.children, (*address, i))


def map_group(
    entries: Sequence[Entry],
    address: tuple[int, ...],
    change: Callable[[tuple[Entry, ...]], tuple[Entry, ...]],
) -> tuple[Entry, ...]:
    """Returns the tree with the group at `address` replaced by `change(group)`."""
    if not address:
        return change(tuple(entries))
    first, rest = address[0], address[1:]
    updated = replace(entries[first], children=map_group(entries[first].children, rest, change))
    return (*entries[:first], updated, *entries[first + 1 :])


def group_at(entries: Sequence[Entry], address: tuple[int, ...]) -> tuple[Entry, ...]:
    """Returns the sibling group at `address`."""
    for i in address:
        entries = entries[i].children
    return tuple(entries)


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    """Compares two optional weights with a relative tolerance."""
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


@FAST
@given(mixes())
def test_path_weights_sum_to_one(mix: tuple[tuple[Entry, ...], dict[str, int]]) -> None:
    """With counts known, all path weights are known and sum to 1."""
    entries, tokens = mix
    rows = resolve_shares(entries, tokens)
    weights = [p.weight for r in rows for p in r.paths]
    assert all(w is not None and w >= 0 for w in weights)
    assert abs(math.fsum(w for w in weights if w is not None) - 1) < 1e-9
    for row in rows:
        assert row.weight is not None
        assert math.isclose(
            math.fsum(p.weight for p in row.paths if p.weight is not None),
            row.weight,
            rel_tol=1e-12,
            abs_tol=1e-300,
        )


@FAST
@given(mixes(), st.data())
def test_scaling_a_group_changes_nothing(
    mix: tuple[tuple[Entry, ...], dict[str, int]], data: st.DataObject
) -> None:
    """Multiplying one group's weights (or all token counts) by c > 0 keeps every share."""
    entries, tokens = mix
    before = resolve_shares(entries, tokens)
    weighted = [
        a
        for a in group_addresses(entries)
        if any(e.weight is not None for e in group_at(entries, a))
    ]
    if weighted:
        address = data.draw(st.sampled_from(weighted))
        factor = data.draw(st.floats(min_value=1e-3, max_value=1e3))
        entries = map_group(
            entries,
            address,
            lambda g: tuple(
                replace(e, weight=None if e.weight is None else e.weight * factor) for e in g
            ),
        )
    else:
        multiple = data.draw(st.integers(2, 1000))
        tokens = {path: count * multiple for path, count in tokens.items()}
    after = resolve_shares(entries, tokens)
    assert [r.leaf for r in after] == [r.leaf for r in before]
    for old, new in zip(before, after, strict=True):
        assert close(old.weight, new.weight)
        assert all(close(p.weight, q.weight) for p, q in zip(old.paths, new.paths, strict=True))


def pruned(entries: Sequence[Entry], blocked: bool = False) -> Iterator[tuple[str, bool]]:
    """Yields each leaf name and whether it or an ancestor is excluded by the weights."""
    has_weights = any(e.weight is not None for e in entries)
    for entry in entries:
        out = blocked or (has_weights and not entry.weight)
        if entry.paths:
            yield entry.name, out
        else:
            yield from ((f"{entry.name}:{n}", b) for n, b in pruned(entry.children, out))


@FAST
@given(mixes())
def test_weight_zero_stays_zero(mix: tuple[tuple[Entry, ...], dict[str, int]]) -> None:
    """Leaves under a weight of 0 (or None among weighted siblings) get exactly 0."""
    entries, tokens = mix
    rows = by_leaf(resolve_shares(entries, tokens))
    for name, out in pruned(entries):
        if out:
            assert rows[name].weight == 0.0
            assert all(p.weight == 0.0 for p in rows[name].paths)
        else:
            weight = rows[name].weight
            assert weight is not None
            assert weight > 0


@FAST
@given(mixes(), st.data())
def test_permuting_siblings_permutes_rows(
    mix: tuple[tuple[Entry, ...], dict[str, int]], data: st.DataObject
) -> None:
    """Reordering one sibling group reorders the rows and changes no values."""
    entries, tokens = mix
    address = data.draw(st.sampled_from(list(group_addresses(entries))))
    order = data.draw(st.permutations(range(len(group_at(entries, address)))))
    shuffled = map_group(entries, address, lambda g: tuple(g[i] for i in order))
    before = by_leaf(resolve_shares(entries, tokens))
    after = resolve_shares(shuffled, tokens)
    assert [r.leaf for r in after] == [name for name, _ in pruned(shuffled)]
    assert sorted(before) == sorted(r.leaf for r in after)
    for row in after:
        old = before[row.leaf]
        assert close(row.weight, old.weight, rel=1e-12)
        assert (row.tokens, row.max_repetition_factor) == (old.tokens, old.max_repetition_factor)
        assert [p.path for p in row.paths] == [p.path for p in old.paths]


@FAST
@given(mixes())
def test_offline_agrees_with_online(mix: tuple[tuple[Entry, ...], dict[str, int]]) -> None:
    """Whatever offline resolution knows equals the online value."""
    entries, tokens = mix
    online = resolve_shares(entries, tokens)
    offline = resolve_shares(entries, None)
    for on, off in zip(online, offline, strict=True):
        assert off.needs_counts == (off.weight is None)
        assert off.weight is None or close(on.weight, off.weight, rel=1e-12)
        for p, q in zip(on.paths, off.paths, strict=True):
            assert q.weight is None or close(p.weight, q.weight, rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=20).filter(
        lambda ws: sum(ws) > 0
    ),
    st.integers(0, 9),
)
def test_round_group_sums_exactly(raw: list[float], decimals: int) -> None:
    """Rounded units sum to exactly 10**decimals and stay within 1 of the exact value."""
    total = math.fsum(raw)
    fractions = [w / total for w in raw]
    units = round_group(fractions, decimals)
    assert sum(units) == 10**decimals
    for fraction, unit in zip(fractions, units, strict=True):
        assert abs(unit - fraction * 10**decimals) <= 1


def test_shares_are_exact_decimals_without_float_noise() -> None:
    """Decimal weights multiply exactly and convert to float once: 0.98 x 50/98 x 0.7 = 0.35."""
    entries = [
        node(
            "web",
            node("code", leaf("top", weight=0.7), leaf("mid", weight=0.3), weight=50),
            node("news", leaf("top", weight=0.1), leaf("mid", weight=0.9), weight=48),
            weight=98,
        ),
        leaf("wiki", weight=1),
        leaf("arxiv", weight=1),
    ]
    weights = [row.weight for row in resolve_shares(entries, None)]
    assert weights == [0.35, 0.15, 0.048, 0.432, 0.01, 0.01]
    assert [repr(w) for w in weights] == ["0.35", "0.15", "0.048", "0.432", "0.01", "0.01"]
