"""The weight maths of a mix, on plain data: a tree and token counts in, shares out.

A mix is a tree: sources -> (topics ->) (quality buckets). An `Entry` with `paths` is a
leaf (a bucket, or a source or topic with plain paths); every other entry has children.

One rule holds at every sibling group (the sources, the topics of a source, the buckets
of a topic):

- If at least one sibling has a `weight`, the weights are normalized across the group
  and a sibling whose weight is None counts as 0.
- If no sibling has a weight, the parent's share is split in proportion to the
  siblings' token counts (the total tokens of all paths below each sibling).

The several paths of one leaf split the leaf's share in proportion to their token
counts. Weights must be finite and >= 0. Under a parent with a positive share, a group
whose weights are all 0 (or whose token counts are all 0, when split by tokens) is an
error naming the parent: there would be nothing to sample. An entry whose share is 0
gets 0, and so does everything below it, with no error and no token counts needed.

A leaf's effective `max_repetition_factor` is the one set on the nearest node (the leaf
itself, then its ancestors); the default is 1.0. Leaves are named like olmix does:
`source:topic:bucket`, `source:topic` or `source`.

Whenever the token counts are known, the per-path weights sum to 1. Offline (no token
counts), only what explicit weights allow is computed: a group without weights needs
counts, so every leaf below it gets weight None (`needs_counts`); a leaf with one path
passes its weight to that path; the paths of a leaf with several paths get None.

Nothing here does I/O: token counts come in as a mapping from path to count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from qupsample.errors import WeightError, located
from qupsample.yamltext import yaml_scalar

__all__ = [
    "Entry",
    "LeafShare",
    "PathShare",
    "format_mix_block",
    "needed_paths",
    "olmix_mix",
    "resolve_shares",
    "round_group",
    "split_group",
]

_ROOT = "mix"
_MAX_DECIMALS = 12
# Fractions handed to round_group may drift from 1 by accumulated float error only.
_SUM_TOLERANCE = 1e-6
_RESERVED_KEYS = frozenset({"weight", "repetition_factor"})


@dataclass(frozen=True)
class Entry:
    """One node of a mix: a source, topic or quality bucket."""

    name: str
    weight: float | None = None
    max_repetition_factor: float | None = None
    children: tuple[Entry, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathShare:
    """One path of a leaf and its share of the whole mix."""

    path: str
    weight: float | None
    tokens: int | None


@dataclass(frozen=True)
class LeafShare:
    """One leaf of a mix and its share of the whole mix."""

    leaf: str
    weight: float | None
    tokens: int | None
    max_repetition_factor: float
    paths: tuple[PathShare, ...]
    needs_counts: bool


def needed_paths(entries: Sequence[Entry]) -> list[str]:
    """Lists the paths whose token counts `resolve_shares` needs.

    Subtrees that cannot get a positive share are skipped: a sibling with weight 0, or
    with weight None in a group where some sibling has a weight. Below a group that is
    split by token counts every path is needed, pruned or not, because a sibling's
    count is the total of all the paths below it.

    Args:
        entries: The sources of the mix.

    Returns:
        Paths in tree order, each once.

    Raises:
        WeightError: The tree is malformed or holds an invalid weight.
    """
    _check_tree(entries)
    found: dict[str, None] = {}
    _collect_needed(entries, found)
    return list(found)


def split_group(
    weights: Sequence[float | None], tokens: Sequence[int | None] | None
) -> list[float]:
    """Applies the sibling-group rule: fractions of the parent's share.

    Args:
        weights: One weight per sibling (None = no weight).
        tokens: One token count per sibling; only read when no sibling has a weight.

    Returns:
        One fraction per sibling, summing to 1.

    Raises:
        WeightError: A weight is negative or not finite, everything is 0, or counts
            are needed but missing or invalid.
    """
    return _split(weights, tokens, where="sibling group", kind="sibling")


def resolve_shares(entries: Sequence[Entry], tokens: Mapping[str, int] | None) -> list[LeafShare]:
    """Computes every leaf's and path's share of the whole mix.

    Args:
        entries: The sources of the mix.
        tokens: Token count per path, covering at least `needed_paths(entries)`;
            None to work offline with explicit weights only.

    Returns:
        All leaves in tree order, zero-share leaves included with weight 0.0.

    Raises:
        WeightError: Invalid weights, nothing to sample in a group, or a needed token
            count is missing.
    """
    _check_tree(entries)
    leaves: list[LeafShare] = []
    _resolve_group(entries, (), 1.0, 1.0, tokens, leaves)
    return leaves


def round_group(fractions: Sequence[float], decimals: int = 6) -> list[int]:
    """Rounds one group's fractions to units of 10**-decimals, keeping the sum exact.

    Largest-remainder rounding in exact arithmetic: every fraction gets its floor, and
    the units left over go to the largest remainders, earlier positions first on ties.

    Args:
        fractions: Non-negative fractions summing to 1 within float error.
        decimals: Number of decimals of one unit.

    Returns:
        Integer units summing to exactly 10**decimals.

    Raises:
        WeightError: Empty input, a negative or non-finite fraction, a sum far from 1,
            or decimals out of range.
    """
    _check_decimals(decimals)
    if not fractions:
        raise WeightError("round_group: no fractions to round — pass at least one")
    for value in fractions:
        if not math.isfinite(value) or value < 0:
            raise WeightError(f"round_group: fractions must be finite numbers >= 0, got {value!r}")
    total_float = math.fsum(fractions)
    if abs(total_float - 1.0) > _SUM_TOLERANCE:
        raise WeightError(f"round_group: fractions must sum to 1, got {total_float!r}")
    scale = 10**decimals
    exact = [Fraction(value) for value in fractions]
    total = sum(exact, Fraction(0))
    # Renormalizing exactly makes the scaled values sum to exactly `scale`, so the
    # leftover is always fewer than len(fractions) units.
    scaled = [value / total * scale for value in exact]
    units = [math.floor(value) for value in scaled]
    leftover = scale - sum(units)
    by_remainder = sorted(range(len(units)), key=lambda i: (-(scaled[i] - units[i]), i))
    for i in by_remainder[:leftover]:
        units[i] += 1
    return units


def olmix_mix(
    entries: Sequence[Entry], leaves: Sequence[LeafShare], decimals: int = 6
) -> dict[str, Any]:
    """Builds the nested `mix:` block that newer olmix reads.

    Each weight is the entry's share within its parent (a source's share of the whole
    mix), rounded per sibling group with `round_group`. Leaves also carry their
    effective `repetition_factor`. Entries with an exact share of 0 are left out.

    Args:
        entries: The sources of the mix.
        leaves: `resolve_shares(entries, ...)` for the same entries.
        decimals: Decimals kept in each weight.

    Returns:
        `{source: {"weight": w, topic: {"weight": w, bucket: {"weight": w,
        "repetition_factor": r}}}}` with keys in tree order.

    Raises:
        WeightError: A leaf's weight is unknown (offline), every share is 0, or an
            entry is named like a reserved key.
        ValueError: `leaves` were not resolved from `entries`.
    """
    _check_tree(entries)
    _check_decimals(decimals)
    expected = [leaf for leaf, _ in _walk_leaves(entries, ())]
    if [share.leaf for share in leaves] != expected:
        raise ValueError("olmix_mix: leaves do not match entries; pass resolve_shares(entries)")
    for share in leaves:
        if share.weight is None:
            raise WeightError(
                located(
                    share.leaf,
                    None,
                    "weight is unknown without token counts",
                    "resolve the shares with token counts before writing the mix block",
                )
            )
    nodes = _share_tree(entries, iter(leaves))
    total = math.fsum(node.share for node in nodes)
    if total <= 0:
        raise WeightError(
            located(_ROOT, None, "every share is 0", "give at least one source a positive weight")
        )
    return _mix_group(nodes, total, (), decimals)


def format_mix_block(mix: Mapping[str, Any], decimals: int = 6) -> str:
    """Writes a mix (as built by `olmix_mix`) as YAML under a top-level `mix:` key.

    Numbers are printed in fixed point with exactly `decimals` decimals, indentation is
    two spaces, and names are double-quoted only when a plain scalar would be unsafe.

    Args:
        mix: Nested mapping of names to mappings or numbers.
        decimals: Decimals printed for every number.

    Returns:
        YAML text ending with exactly one newline.

    Raises:
        WeightError: A number is not finite, or decimals is out of range.
        TypeError: A key is not a string or a value is neither a mapping nor a number.
    """
    _check_decimals(decimals)
    lines: list[str] = []
    _format_entry("mix", mix, 0, decimals, lines)
    return "\n".join(lines) + "\n"


# --- tree checks ---------------------------------------------------------------------


def _check_tree(entries: Sequence[Entry]) -> None:
    if not entries:
        raise WeightError(located(_ROOT, None, "has no sources", "add at least one source"))
    _check_group(entries, ())


def _check_group(group: Sequence[Entry], prefix: tuple[str, ...]) -> None:
    where = _where(prefix)
    seen: set[str] = set()
    for entry in group:
        if not entry.name or ":" in entry.name:
            raise WeightError(
                located(
                    where,
                    None,
                    f"entry name {entry.name!r} must be non-empty and free of ':'",
                    "rename the entry",
                )
            )
        if entry.name in seen:
            raise WeightError(
                located(
                    where,
                    None,
                    f"two children are named {entry.name!r}",
                    "give siblings distinct names",
                )
            )
        seen.add(entry.name)
        name = ":".join((*prefix, entry.name))
        if bool(entry.children) == bool(entry.paths):
            what = "has both children and paths" if entry.paths else "has no children or paths"
            raise WeightError(located(name, None, what, "give it exactly one of the two"))
        if entry.weight is not None and not _is_weight(entry.weight):
            raise WeightError(
                located(name, "weight", f"must be a finite number >= 0, got {entry.weight!r}")
            )
        factor = entry.max_repetition_factor
        if factor is not None and not (math.isfinite(factor) and factor > 0):
            raise WeightError(
                located(
                    name, "max_repetition_factor", f"must be a finite number > 0, got {factor!r}"
                )
            )
        if entry.children:
            _check_group(entry.children, (*prefix, entry.name))


def _check_decimals(decimals: int) -> None:
    # Beyond ~12 decimals units / 10**decimals no longer prints back as the same units.
    if not 0 <= decimals <= _MAX_DECIMALS:
        raise WeightError(f"decimals must be between 0 and {_MAX_DECIMALS}, got {decimals!r}")


def _is_weight(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _where(prefix: tuple[str, ...]) -> str:
    return ":".join(prefix) if prefix else _ROOT


def _kind(group: Sequence[Entry], depth: int) -> str:
    # A source's leaf children may be topics with paths or quality buckets; the schema
    # cannot tell them apart, hence the neutral word.
    if depth == 0:
        return "source"
    if any(entry.children for entry in group):
        return "topic"
    return "bucket" if depth >= 2 else "child"


# --- needed paths --------------------------------------------------------------------


def _collect_needed(group: Sequence[Entry], found: dict[str, None]) -> None:
    if _has_weights(group):
        for entry in group:
            if entry.weight is not None and entry.weight > 0:
                if entry.paths:
                    found.update(dict.fromkeys(entry.paths))
                else:
                    _collect_needed(entry.children, found)
    else:
        for entry in group:
            found.update(dict.fromkeys(_all_paths(entry)))


def _all_paths(entry: Entry) -> Iterator[str]:
    yield from entry.paths
    for child in entry.children:
        yield from _all_paths(child)


def _has_weights(group: Sequence[Entry]) -> bool:
    return any(entry.weight is not None for entry in group)


# --- shares --------------------------------------------------------------------------


def _split(
    weights: Sequence[float | None],
    tokens: Sequence[int | None] | None,
    *,
    where: str,
    kind: str,
) -> list[float]:
    if not weights:
        raise WeightError(located(where, None, f"has no {kind}s", f"add at least one {kind}"))
    if any(weight is not None for weight in weights):
        values: list[float] = []
        for weight in weights:
            if weight is not None and not _is_weight(weight):
                raise WeightError(
                    located(
                        where, f"{kind} weight", f"must be a finite number >= 0, got {weight!r}"
                    )
                )
            values.append(0.0 if weight is None else float(weight))
        largest = max(values)
        if largest == 0:
            raise WeightError(
                located(
                    where,
                    None,
                    f"{kind} weights are all 0",
                    f"give at least one {kind} a positive weight",
                )
            )
        # Dividing by the largest weight first keeps the sum of huge weights finite.
        relative = [value / largest for value in values]
        total = math.fsum(relative)
        return [value / total for value in relative]
    if tokens is None:
        raise WeightError(
            located(
                where,
                None,
                f"no {kind} has a weight, so the split needs token counts",
                f"pass token counts or give the {kind}s weights",
            )
        )
    if len(tokens) != len(weights):
        raise WeightError(
            located(
                where,
                None,
                f"got {len(tokens)} token counts for {len(weights)} {kind}s",
                "pass one count per sibling",
            )
        )
    counts: list[int] = []
    for count in tokens:
        if count is None or count < 0:
            raise WeightError(
                located(where, f"{kind} tokens", f"must be a known count >= 0, got {count!r}")
            )
        counts.append(count)
    total_tokens = sum(counts)
    if total_tokens == 0:
        raise WeightError(
            located(
                where,
                None,
                f"no {kind} has a weight and their token counts are all 0",
                f"give at least one {kind} a positive weight or check that its paths hold data",
            )
        )
    return [count / total_tokens for count in counts]


def _resolve_group(
    group: Sequence[Entry],
    prefix: tuple[str, ...],
    share: float | None,
    factor: float,
    tokens: Mapping[str, int] | None,
    out: list[LeafShare],
) -> None:
    where, kind = _where(prefix), _kind(group, len(prefix))
    shares: list[float | None]
    if share == 0:
        shares = [0.0] * len(group)
    elif _has_weights(group):
        # An unknown parent share (offline) is treated as possibly positive, so an
        # all-zero group fails early instead of only once counts are in.
        fractions = _split([entry.weight for entry in group], None, where=where, kind=kind)
        shares = [_scale(share, fraction) for fraction in fractions]
    elif tokens is None:
        shares = [None] * len(group)
    else:
        counts: list[int | None] = [_subtree_tokens(entry, prefix, tokens) for entry in group]
        fractions = _split([None] * len(group), counts, where=where, kind=kind)
        shares = [_scale(share, fraction) for fraction in fractions]
    for entry, entry_share in zip(group, shares, strict=True):
        entry_factor = (
            factor if entry.max_repetition_factor is None else entry.max_repetition_factor
        )
        name = (*prefix, entry.name)
        if entry.paths:
            out.append(_resolve_leaf(entry, ":".join(name), entry_share, entry_factor, tokens))
        else:
            _resolve_group(entry.children, name, entry_share, entry_factor, tokens, out)


def _scale(share: float | None, fraction: float) -> float | None:
    if fraction == 0:
        return 0.0
    return None if share is None else share * fraction


def _resolve_leaf(
    entry: Entry,
    name: str,
    share: float | None,
    factor: float,
    tokens: Mapping[str, int] | None,
) -> LeafShare:
    known = [None if tokens is None else tokens.get(path) for path in entry.paths]
    weights: list[float | None]
    if share == 0:
        weights = [0.0] * len(entry.paths)
    elif share is None or tokens is None:
        weights = [share] if len(entry.paths) == 1 else [None] * len(entry.paths)
    else:
        counts = [_path_tokens(path, name, tokens) for path in entry.paths]
        if sum(counts) == 0:
            raise WeightError(
                located(
                    name,
                    None,
                    "has a positive share but its paths hold 0 tokens",
                    "check the paths, or give it weight 0",
                )
            )
        fractions = _split([None] * len(counts), counts, where=name, kind="path")
        weights = [share * fraction for fraction in fractions]
    counted = [count for count in known if count is not None]
    total = sum(counted) if len(counted) == len(known) else None
    return LeafShare(
        leaf=name,
        weight=share,
        tokens=total,
        max_repetition_factor=factor,
        paths=tuple(
            PathShare(path=path, weight=weight, tokens=count)
            for path, weight, count in zip(entry.paths, weights, known, strict=True)
        ),
        needs_counts=share is None,
    )


def _subtree_tokens(entry: Entry, prefix: tuple[str, ...], tokens: Mapping[str, int]) -> int:
    name = (*prefix, entry.name)
    if entry.paths:
        return sum(_path_tokens(path, ":".join(name), tokens) for path in entry.paths)
    return sum(_subtree_tokens(child, name, tokens) for child in entry.children)


def _path_tokens(path: str, leaf: str, tokens: Mapping[str, int]) -> int:
    count = tokens.get(path)
    if count is None:
        raise WeightError(
            located(
                leaf,
                None,
                f"no token count for {path}",
                "count the tokens of every path in needed_paths() first",
            )
        )
    if count < 0:
        raise WeightError(located(leaf, None, f"token count of {path} must be >= 0, got {count}"))
    return count


def _walk_leaves(group: Sequence[Entry], prefix: tuple[str, ...]) -> Iterator[tuple[str, Entry]]:
    for entry in group:
        name = (*prefix, entry.name)
        if entry.paths:
            yield ":".join(name), entry
        else:
            yield from _walk_leaves(entry.children, name)


# --- the mix block -------------------------------------------------------------------


@dataclass(frozen=True)
class _ShareNode:
    entry: Entry
    share: float
    leaf: LeafShare | None
    children: tuple[_ShareNode, ...] = ()


def _share_tree(group: Sequence[Entry], leaves: Iterator[LeafShare]) -> list[_ShareNode]:
    nodes: list[_ShareNode] = []
    for entry in group:
        if entry.paths:
            leaf = next(leaves)
            nodes.append(_ShareNode(entry, leaf.weight or 0.0, leaf))
        else:
            children = tuple(_share_tree(entry.children, leaves))
            share = math.fsum(_leaf_weights(children))
            nodes.append(_ShareNode(entry, share, None, children))
    return nodes


def _leaf_weights(nodes: Sequence[_ShareNode]) -> Iterator[float]:
    for node in nodes:
        if node.leaf is not None:
            yield node.share
        else:
            yield from _leaf_weights(node.children)


def _mix_group(
    nodes: Sequence[_ShareNode], parent_share: float, prefix: tuple[str, ...], decimals: int
) -> dict[str, Any]:
    positive = [node for node in nodes if node.share > 0]
    units = round_group([node.share / parent_share for node in positive], decimals)
    scale = 10**decimals
    block: dict[str, Any] = {}
    for node, unit in zip(positive, units, strict=True):
        name = node.entry.name
        if name in _RESERVED_KEYS:
            raise WeightError(
                located(
                    ":".join((*prefix, name)),
                    None,
                    "is a reserved key of the mix block",
                    "rename the entry",
                )
            )
        body: dict[str, Any] = {"weight": unit / scale}
        if node.leaf is not None:
            body["repetition_factor"] = node.leaf.max_repetition_factor
        else:
            body.update(_mix_group(node.children, node.share, (*prefix, name), decimals))
        block[name] = body
    return block


def _format_entry(key: str, value: object, depth: int, decimals: int, lines: list[str]) -> None:
    head = "  " * depth + _yaml_key(key) + ":"
    if isinstance(value, Mapping):
        if not value:
            lines.append(head + " {}")
            return
        lines.append(head)
        for child_key, child in value.items():
            _format_entry(child_key, child, depth + 1, decimals, lines)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise WeightError(located(key, None, f"must be a finite number, got {value!r}"))
        lines.append(f"{head} {value:.{decimals}f}")
    else:
        raise TypeError(f"mix block: {key!r} holds {type(value).__name__}, not a mapping or number")


def _yaml_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"mix block: keys must be strings, got {key!r}")
    return yaml_scalar(key)
