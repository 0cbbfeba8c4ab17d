"""The weight maths of a mix, on plain data: a tree and token counts in, shares out.

A mix is a tree: sources -> (topics ->) (quality buckets). An `Entry` with `paths` is a
leaf (a bucket, or a source or topic with plain paths); every other entry has children.

One rule holds at every sibling group (the sources, the topics of a source, the buckets
of a topic):

- If every sibling has a `weight`, the weights are normalized across the group.
- If no sibling has a weight, the parent's share is split in proportion to the
  siblings' token counts (the total tokens of all paths below each sibling).
- Some siblings with a weight and some without is ambiguous (is the other 0, or its
  share by tokens?) and refused (`unweighted_siblings`, `mixed_weights_message`).

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from qupsample.errors import WeightError, short_repr, shown_names

__all__ = [
    "Entry",
    "LeafShare",
    "PathShare",
    "below_minimum",
    "largest_budget",
    "needed_paths",
    "over_limit",
    "repetition_factor",
    "resolve_shares",
    "round_group",
    "shares_from_leaf_weights",
    "split_group",
    "unweighted_siblings",
    "walk_leaves",
]

_ROOT = "mix"
_MAX_DECIMALS = 12
# Fractions handed to round_group may drift from 1 by accumulated float error only.
_SUM_TOLERANCE = 1e-6


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


def needed_paths(
    entries: Sequence[Entry],
    leaf_tokens: Mapping[str, int] | None = None,
    *,
    leaf_weights_only: bool = False,
) -> list[str]:
    """Lists the paths whose token counts `resolve_shares` needs.

    Subtrees that cannot get a positive share are skipped: a sibling with weight 0, or
    with weight None in a group where some sibling has a weight. Below a group that is
    split by token counts every path is needed, pruned or not, because a sibling's
    count is the total of all the paths below it. Leaves counted in `leaf_tokens`
    need none of their paths.

    Args:
        entries: The sources of the mix.
        leaf_tokens: Token counts already known per leaf (`source:topic:bucket`).
        leaf_weights_only: Only what the leaves' weights need: no paths of a leaf whose
            weight is explicit (they would only split it among its paths).

    Returns:
        Paths in tree order, each once.

    Raises:
        WeightError: The tree is malformed or holds an invalid weight.
    """
    check_tree(entries)
    found: dict[str, None] = {}
    _collect_needed(entries, (), found, leaf_tokens or {}, leaf_weights_only)
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
    return [float(f) for f in _split(weights, tokens, where="sibling group", kind="sibling")]


def resolve_shares(
    entries: Sequence[Entry],
    tokens: Mapping[str, int] | None,
    leaf_tokens: Mapping[str, int] | None = None,
    *,
    partial: bool = False,
) -> list[LeafShare]:
    """Computes every leaf's and path's share of the whole mix.

    Args:
        entries: The sources of the mix.
        tokens: Token count per path, covering at least
            `needed_paths(entries, leaf_tokens)`; None to work offline with explicit
            weights and `leaf_tokens` only.
        leaf_tokens: Token counts per leaf (olmix's priors). A leaf counted here needs
            no path counts; its paths split its share by path counts where all are
            known, else they get None (one path gets the whole share).
        partial: `tokens` covers only what the leaf weights need
            (`needed_paths(..., leaf_weights_only=True)`): a path count missing
            elsewhere leaves that leaf's tokens unknown instead of being an error.

    Returns:
        All leaves in tree order, zero-share leaves included with weight 0.0.

    Raises:
        WeightError: Invalid weights, nothing to sample in a group, or a needed token
            count is missing.
    """
    check_tree(entries)
    leaves: list[LeafShare] = []
    counts = _Counts(tokens, leaf_tokens or {}, partial)
    _resolve_group(entries, (), Fraction(1), 1.0, counts, leaves)
    return leaves


def shares_from_leaf_weights(
    entries: Sequence[Entry],
    weights: Mapping[str, float],
    factors: Mapping[str, float],
    tokens: Mapping[str, int] | None,
    leaf_tokens: Mapping[str, int] | None = None,
    *,
    partial: bool = False,
) -> list[LeafShare]:
    """Leaf shares given outright (an olmix `mix:` block), not derived from the tree.

    Args:
        entries: The data tree: its leaves, in order, are the rows.
        weights: Weight per leaf name; a leaf not named gets 0 (olmix drops it).
        factors: Allowed repetition per leaf name; default 1.0.
        tokens: Token count per path where known (splits a leaf among its paths).
        leaf_tokens: Token counts per leaf.
        partial: `tokens` may miss paths (as in `resolve_shares`).

    Returns:
        All leaves in tree order.
    """
    check_tree(entries)
    counts = _Counts(tokens, leaf_tokens or {}, partial)
    return [
        _resolve_leaf(entry, name, _exact(weights.get(name, 0.0)), factors.get(name, 1.0), counts)
        for name, entry in walk_leaves(entries)
    ]


def round_group(fractions: Sequence[float], decimals: int = 6) -> list[int]:
    """Rounds one group's fractions to units of 10**-decimals, keeping the sum exact.

    Largest-remainder rounding in exact arithmetic: every fraction gets its floor, and
    the units left over go to the largest remainders. Equal fractions are rounded
    alike, so equal weights print as equal numbers, unless that cannot sum to the
    whole (three thirds): then ties are broken, earlier positions first.

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
    # Equal fractions (equal weights in a spec) take leftover units together, so they
    # print as equal numbers; a tie group that does not fit in what is left is passed
    # over for the next remainder. Only when no group fits is a tie broken, earlier
    # positions first (three thirds cannot be written exactly in decimals).
    ties: dict[Fraction, list[int]] = {}
    for i, value in enumerate(scaled):
        ties.setdefault(value, []).append(i)
    groups = sorted(ties.values(), key=lambda g: (-(scaled[g[0]] - units[g[0]]), g[0]))
    for group in groups:
        if 0 < len(group) <= leftover and scaled[group[0]] != units[group[0]]:
            for i in group:
                units[i] += 1
            leftover -= len(group)
    if leftover:
        by_remainder = sorted(
            (i for i in range(len(units)) if scaled[i] > units[i]),
            key=lambda i: (-(scaled[i] - units[i]), i),
        )
        for i in by_remainder[:leftover]:
            units[i] += 1
    return units


# --- tree checks ---------------------------------------------------------------------


def check_tree(entries: Sequence[Entry]) -> None:
    """Raises `WeightError` for a malformed tree (names, shape, weights, factors)."""
    if not entries:
        raise WeightError("has no sources", where=_ROOT, fix="add at least one source")
    _check_group(entries, ())


def _check_group(group: Sequence[Entry], prefix: tuple[str, ...]) -> None:
    where = _where(prefix)
    seen: set[str] = set()
    for entry in group:
        if not entry.name or ":" in entry.name:
            raise WeightError(
                f"entry name {entry.name!r} must be non-empty and free of ':'",
                where=where,
                fix="rename the entry",
            )
        if entry.name in seen:
            raise WeightError(
                f"two children are named {entry.name!r}",
                where=where,
                fix="give siblings distinct names",
            )
        seen.add(entry.name)
        name = ":".join((*prefix, entry.name))
        if bool(entry.children) == bool(entry.paths):
            what = "has both children and paths" if entry.paths else "has no children or paths"
            raise WeightError(what, where=name, fix="give it exactly one of the two")
        if entry.weight is not None and (problem := number_problem(entry.weight)):
            raise WeightError(problem, where=name, field="weight")
        factor = entry.max_repetition_factor
        if factor is not None and (problem := number_problem(factor, positive=True)):
            raise WeightError(problem, where=name, field="max_repetition_factor")
        if entry.children:
            _check_group(entry.children, (*prefix, entry.name))


def _check_decimals(decimals: int) -> None:
    # Beyond ~12 decimals units / 10**decimals no longer prints back as the same units.
    if not 0 <= decimals <= _MAX_DECIMALS:
        raise WeightError(f"decimals must be between 0 and {_MAX_DECIMALS}, got {decimals!r}")


def number_problem(value: object, *, positive: bool = False) -> str | None:
    """Why `value` is not a finite number >= 0 (> 0 with `positive`), or None: the one
    statement of the rule for weights, repetition factors and the like."""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if (
        number is not None
        and math.isfinite(number)
        and (number > 0 or (number == 0 and not positive))
    ):
        return None
    return f"must be a finite number {'>' if positive else '>='} 0, got {short_repr(value)}"


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


def _collect_needed(
    group: Sequence[Entry],
    prefix: tuple[str, ...],
    found: dict[str, None],
    leaf_tokens: Mapping[str, int],
    weights_only: bool,
) -> None:
    weighted = _has_weights(group)
    for entry in group:
        if weighted and not (entry.weight is not None and entry.weight > 0):
            continue
        name = (*prefix, entry.name)
        if entry.paths:
            if ":".join(name) not in leaf_tokens and not (weighted and weights_only):
                found.update(dict.fromkeys(entry.paths))
        elif weighted:
            _collect_needed(entry.children, name, found, leaf_tokens, weights_only)
        else:
            # Split by counts: every leaf below counts, weighted or not.
            for leaf, child in walk_leaves(entry.children, name):
                if leaf not in leaf_tokens:
                    found.update(dict.fromkeys(child.paths))


def _has_weights(group: Sequence[Entry]) -> bool:
    return any(entry.weight is not None for entry in group)


def unweighted_siblings(weights: Mapping[str, float | None]) -> list[str]:
    """The siblings without a weight in a group where some have one (the ambiguous case)."""
    if all(weight is None for weight in weights.values()):
        return []
    return [name for name, weight in weights.items() if weight is None]


def mixed_weights_message(
    kind: str, weights: Mapping[str, float | None] | Sequence[float | None]
) -> str:
    """Why a group with some weights missing is refused, and the two ways to fix it."""
    if not isinstance(weights, Mapping):
        weights = {f"#{i + 1}": weight for i, weight in enumerate(weights)}
    missing = unweighted_siblings(weights)
    given = [name for name, weight in weights.items() if weight is not None]
    return (
        f"{shown_names(missing)} {'has' if len(missing) == 1 else 'have'} no weight while"
        f" {'its' if len(missing) == 1 else 'their'} sibling{'' if len(given) == 1 else 's'}"
        f" {shown_names(given)}"
        f" {'has' if len(given) == 1 else 'have'} one — give every {kind} a weight, or"
        f" drop the weights of all to split by token counts"
    )


# --- shares --------------------------------------------------------------------------


def _exact(value: float) -> Fraction:
    """A weight as the exact decimal it was written as (0.7 is 7/10, not its float)."""
    return Fraction(value) if isinstance(value, int) else Fraction(repr(float(value)))


def _split(
    weights: Sequence[float | None],
    tokens: Sequence[int | None] | None,
    *,
    where: str,
    kind: str,
) -> list[Fraction]:
    # Exact arithmetic: shares are converted to float once, at the end, so equal
    # weights give equal shares and 0.04 stays 0.04.
    if not weights:
        raise WeightError(f"has no {kind}s", where=where, fix=f"add at least one {kind}")
    if any(weight is not None for weight in weights):
        if None in weights:
            raise WeightError(mixed_weights_message(kind, weights), where=where)
        values: list[Fraction] = []
        for weight in weights:
            if weight is not None and (problem := number_problem(weight)):
                raise WeightError(problem, where=where, field=f"{kind} weight")
            values.append(Fraction(0) if weight is None else _exact(weight))
        total = sum(values, Fraction(0))
        if total == 0:
            raise WeightError(
                f"{kind} weights are all 0",
                where=where,
                fix=f"give at least one {kind} a positive weight",
            )
        return [value / total for value in values]
    if tokens is None:
        raise WeightError(
            f"no {kind} has a weight, so the split needs token counts",
            where=where,
            fix=f"pass token counts or give the {kind}s weights",
        )
    if len(tokens) != len(weights):
        raise WeightError(
            f"got {len(tokens)} token counts for {len(weights)} {kind}s",
            where=where,
            fix="pass one count per sibling",
        )
    counts: list[int] = []
    for count in tokens:
        if count is None or count < 0:
            raise WeightError(
                f"must be a known count >= 0, got {count!r}", where=where, field=f"{kind} tokens"
            )
        counts.append(count)
    total_tokens = sum(counts)
    if total_tokens == 0:
        raise WeightError(
            f"no {kind} has a weight and their token counts are all 0",
            where=where,
            fix=f"give at least one {kind} a positive weight or check that its paths hold data",
        )
    return [Fraction(count, total_tokens) for count in counts]


@dataclass(frozen=True)
class _Counts:
    """Token counts per path (None: offline, none listed) and per leaf (priors)."""

    paths: Mapping[str, int] | None
    leaves: Mapping[str, int]
    partial: bool = False

    def leaf(self, entry: Entry, name: str) -> int | None:
        """A leaf's tokens; None when unknown offline (or partial); else an error."""
        if name in self.leaves:
            count = self.leaves[name]
            if count < 0:
                raise WeightError(f"token count must be >= 0, got {count}", where=name)
            return count
        if self.paths is None:
            return None
        if self.partial and any(path not in self.paths for path in entry.paths):
            return None
        return sum(_path_tokens(path, name, self.paths) for path in entry.paths)

    def subtree(self, entry: Entry, prefix: tuple[str, ...]) -> int | None:
        """The tokens of every leaf below `entry`; None if one is unknown."""
        total = 0
        for name, leaf in walk_leaves([entry], prefix):
            count = self.leaf(leaf, name)
            if count is None:
                return None
            total += count
        return total


def _resolve_group(
    group: Sequence[Entry],
    prefix: tuple[str, ...],
    share: Fraction | None,
    factor: float,
    counts: _Counts,
    out: list[LeafShare],
) -> None:
    where, kind = _where(prefix), _kind(group, len(prefix))
    shares: list[Fraction | None]
    if share == 0:
        shares = [Fraction(0)] * len(group)
    elif _has_weights(group):
        named = {entry.name: entry.weight for entry in group}
        if unweighted_siblings(named):
            raise WeightError(mixed_weights_message(kind, named), where=where)
        # An unknown parent share (offline) is treated as possibly positive, so an
        # all-zero group fails early instead of only once counts are in.
        fractions = _split([entry.weight for entry in group], None, where=where, kind=kind)
        shares = [_scale(share, fraction) for fraction in fractions]
    else:
        sizes = [counts.subtree(entry, prefix) for entry in group]
        if any(size is None for size in sizes):
            shares = [None] * len(group)
        else:
            fractions = _split([None] * len(group), sizes, where=where, kind=kind)
            shares = [_scale(share, fraction) for fraction in fractions]
    for entry, entry_share in zip(group, shares, strict=True):
        entry_factor = (
            factor if entry.max_repetition_factor is None else entry.max_repetition_factor
        )
        name = (*prefix, entry.name)
        if entry.paths:
            out.append(_resolve_leaf(entry, ":".join(name), entry_share, entry_factor, counts))
        else:
            _resolve_group(entry.children, name, entry_share, entry_factor, counts, out)


def _scale(share: Fraction | None, fraction: Fraction) -> Fraction | None:
    if fraction == 0:
        return Fraction(0)
    return None if share is None else share * fraction


def _resolve_leaf(
    entry: Entry,
    name: str,
    share: Fraction | None,
    factor: float,
    counts: _Counts,
) -> LeafShare:
    known = [None if counts.paths is None else counts.paths.get(path) for path in entry.paths]
    total: int | None
    if share and counts.paths is not None:
        total = counts.leaf(entry, name)  # online, a missing count is an error
    else:
        total = counts.leaves.get(name)
        if total is None and all(count is not None for count in known):
            total = sum(count for count in known if count is not None)
    if share and float(share) == 0:
        raise WeightError(
            f"its share (about {_tiny(share)}) is too small for a float",
            where=name,
            fix="make the weights of its group closer in size, or give it weight 0",
        )
    weights: list[Fraction | None]
    if share == 0:
        weights = [Fraction(0)] * len(entry.paths)
    elif share is not None and total == 0:
        raise WeightError(
            "has a positive share but its paths hold 0 tokens",
            where=name,
            fix="check the paths, or give it weight 0",
        )
    elif share is None or any(count is None for count in known):
        weights = [share] if len(entry.paths) == 1 else [None] * len(entry.paths)
    else:
        path_counts = [count or 0 for count in known]
        fractions = _split([None] * len(path_counts), path_counts, where=name, kind="path")
        weights = [share * fraction for fraction in fractions]
    return LeafShare(
        leaf=name,
        weight=None if share is None else float(share),
        tokens=total,
        max_repetition_factor=factor,
        paths=tuple(
            PathShare(path=path, weight=None if weight is None else float(weight), tokens=count)
            for path, weight, count in zip(entry.paths, weights, known, strict=True)
        ),
        needs_counts=share is None,
    )


def _tiny(value: Fraction) -> str:
    # The exponent of a share too small for a float: 10 to the power of the digit gap.
    exponent = len(str(value.numerator)) - len(str(value.denominator))
    return f"1e{exponent}"


def _path_tokens(path: str, leaf: str, tokens: Mapping[str, int]) -> int:
    count = tokens.get(path)
    if count is None:
        raise WeightError(
            f"no token count for {path}",
            where=leaf,
            fix="count the tokens of every path in needed_paths() first",
        )
    if count < 0:
        raise WeightError(f"token count of {path} must be >= 0, got {count}", where=leaf)
    return count


def walk_leaves(
    group: Sequence[Entry], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, Entry]]:
    """Every leaf below `group` with its olmix name (`source:topic:bucket`), in order."""
    for entry in group:
        name = (*prefix, entry.name)
        if entry.paths:
            yield ":".join(name), entry
        else:
            yield from walk_leaves(entry.children, name)


# --- repetition and feasibility -------------------------------------------------------

# Relative slack before a repetition factor counts as over its limit (float noise).
REPETITION_TOLERANCE = 1e-9


def repetition_factor(requested: float | None, tokens: int | None) -> float | None:
    """How many times a leaf's tokens are read: requested / available (None: unknown)."""
    if requested is None or tokens is None:
        return None
    if tokens == 0:
        return 0.0 if requested == 0 else None
    return requested / tokens


def over_limit(repetition: float | None, limit: float) -> bool:
    """Whether a leaf would be repeated more than its `max_repetition_factor` allows."""
    return repetition is not None and repetition > limit * (1 + REPETITION_TOLERANCE)


def largest_budget(leaves: Iterable[tuple[float | None, int | None, float]]) -> float | None:
    """The most training tokens with no leaf over its limit, from (weight, tokens, limit).

    None when it is unknown: a leaf that may be sampled has no weight or no token count
    (the counted leaves alone would overstate it).
    """
    budgets = []
    for weight, tokens, limit in leaves:
        if weight == 0:
            continue
        if weight is None or tokens is None:
            return None  # a sampled leaf of unknown share or size: the answer is unknown
        budgets.append(tokens * limit / weight)
    return min(budgets) if budgets else None


def below_minimum(weight: float | None, minimum: float | None) -> bool:
    """Whether olmix drops a leaf: a positive weight under the config's `minimum_weight`."""
    return bool(minimum) and weight is not None and 0 < weight < (minimum or 0.0)
