"""olmix's `mix:` block, both ways: written from resolved shares, read as olmix reads it.

Writing: each weight is the entry's share within its parent, rounded per sibling group
(`weights.round_group`) so that every group sums to exactly 1 as printed and equal
shares print alike; leaves carry their allowed `repetition_factor`.

Reading (`flatten_mix`) follows olmix: a leaf's weight is the product of the weights on
its path, a node without `weight` counts as 1, `repetition_factor` is inherited from
the nearest ancestor that sets it, a scalar child is shorthand for a weight, and flat
keys (`source:topic:bucket`) name a path at once. Nothing is renormalized.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qupsample.errors import SpecError, WeightError, short_repr
from qupsample.weights import Entry, LeafShare, check_tree, round_group, walk_leaves
from qupsample.yamltext import yaml_block

__all__ = [
    "MIX_DECIMALS",
    "MixLeaf",
    "flatten_mix",
    "format_mix_block",
    "olmix_mix",
    "rounding_note",
]

# Ten decimals per level keep a leaf's product within 1e-9 of its exact share over
# three levels, while every sibling group still sums to exactly 1 as printed.
MIX_DECIMALS = 10
RESERVED_KEYS = frozenset({"weight", "repetition_factor"})
# Deeper than any olmix data tree (source, topic, bucket) by far; bounds recursion.
_MAX_DEPTH = 16


def rounding_note(decimals: int = MIX_DECIMALS) -> str:
    """How the mix block's numbers were rounded, for a generated file's header."""
    return (
        f"each weight is its share within its parent, rounded to {decimals} decimals"
        " so that every sibling group sums to exactly 1 (largest remainder; equal"
        " shares print alike)"
    )


def olmix_mix(
    entries: Sequence[Entry],
    leaves: Sequence[LeafShare],
    decimals: int = MIX_DECIMALS,
    *,
    keep_zero: bool = False,
) -> dict[str, Any]:
    """Builds the nested `mix:` mapping olmix reads.

    Each weight is the entry's share within its parent (a source's share of the whole
    mix), rounded per sibling group with `round_group`. Leaves also carry their
    effective `repetition_factor`.

    Args:
        entries: The sources of the mix.
        leaves: `resolve_shares(entries, ...)` (or any shares) for the same entries.
        decimals: Decimals kept in each weight.
        keep_zero: Keep entries whose share is 0, with weight 0.0; by default they are
            left out.

    Returns:
        `{source: {"weight": w, topic: {"weight": w, bucket: {"weight": w,
        "repetition_factor": r}}}}` with keys in tree order, weights as floats.

    Raises:
        WeightError: A leaf's weight is unknown (offline), every share is 0, or an
            entry is named like a reserved key.
        ValueError: `leaves` were not resolved from `entries`.
    """
    check_tree(entries)
    expected = [name for name, _ in walk_leaves(entries)]
    if [share.leaf for share in leaves] != expected:
        raise ValueError("olmix_mix: leaves do not match entries; pass resolve_shares(entries)")
    for share in leaves:
        if share.weight is None:
            raise WeightError(
                "weight is unknown without token counts",
                where=share.leaf,
                fix="resolve the shares with token counts before writing the mix block",
            )
    nodes = _share_tree(entries, iter(leaves))
    total = math.fsum(node.share for node in nodes)
    if total <= 0:
        raise WeightError(
            "every share is 0", where="mix", fix="give at least one source a positive weight"
        )
    return _mix_group(nodes, total, (), decimals, keep_zero)


def format_mix_block(mix: Mapping[str, Any]) -> str:
    """A mix (as built by `olmix_mix`) as YAML under a top-level `mix:` key.

    Weights are written in fixed point, exactly as rounded (`0.3623188406`, `0.5`).
    """
    if not mix:
        return "mix: {}\n"
    return yaml_block({"mix": dict(mix)}, fixed=True)


@dataclass(frozen=True)
class MixLeaf:
    """One entry of a flattened mix: its weight and allowed repetition (if set)."""

    weight: float
    repetition_factor: float | None


def flatten_mix(mix: Any, where: str = "mix") -> dict[str, MixLeaf]:
    """Flattens an olmix `mix:` block (nested, flat-keyed or mixed) into its leaves.

    Args:
        mix: The parsed `mix:` value.
        where: The file (or name) to show in errors.

    Returns:
        Leaf name -> `MixLeaf`, in the block's order.

    Raises:
        SpecError: The block is not a mapping, a weight is not a finite number >= 0, a
            repetition factor not one > 0, or a leaf is named twice.
    """
    if not isinstance(mix, Mapping):
        raise SpecError(
            "must be a mapping of names to weights or nested entries", where=where, field="mix"
        ).at("mix")
    out: dict[str, MixLeaf] = {}
    for name, leaf in _flatten(mix, (), 1.0, None, where):
        if name in out:
            raise SpecError(
                "names one leaf twice", where=where, field=f"mix.{name}", fix="keep one of the two"
            ).at(f"mix.{name}")
        out[name] = leaf
    return out


# --- reading -------------------------------------------------------------------------


def _number(value: Any, where: str, field: str, positive: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    number = math.nan
    if ok:
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float, e.g. 10**400
            ok = False
        ok = ok and math.isfinite(number) and (number > 0 if positive else number >= 0)
    if not ok:
        bound = "> 0" if positive else ">= 0"
        what = f"must be a finite number {bound}, got {short_repr(value)}"
        raise SpecError(what, where=where, field=field).at(field)
    return number


def _product(weight: float, own: float, where: str, field: str) -> float:
    # Each weight is finite, but a path of huge ones (1e200 x 1e200) overflows to inf.
    share = weight * own
    if not math.isfinite(share):
        raise SpecError(
            "the product of the weights along the path overflows",
            where=where,
            field=field,
            fix="weights are shares within their parent (at most 1)",
        ).at(field)
    return share


def _flatten(
    node: Mapping[Any, Any],
    prefix: tuple[str, ...],
    weight: float,
    factor: float | None,
    where: str,
) -> Iterator[tuple[str, MixLeaf]]:
    for key, value in node.items():
        if not prefix and key in RESERVED_KEYS:
            raise SpecError(
                "the mix itself has no weight",
                where=where,
                field=f"mix.{key}",
                fix="nest it under a name",
            ).at(f"mix.{key}")
        if prefix and key in RESERVED_KEYS:
            continue
        if not isinstance(key, str) or not key or any(not part for part in key.split(":")):
            raise SpecError(
                f"bad name {short_repr(key)}",
                where=where,
                field="mix",
                fix="use names like source:topic:bucket",
            ).at("mix")
        path = (*prefix, *key.split(":"))
        field = "mix." + ".".join(path)
        if len(path) > _MAX_DEPTH:
            what = f"nested deeper than {_MAX_DEPTH} levels"
            raise SpecError(what, where=where, field=field).at(field)
        if not isinstance(value, Mapping):
            share = _product(weight, _number(value, where, field, positive=False), where, field)
            yield ":".join(path), MixLeaf(share, factor)
            continue
        own = value.get("weight", 1.0)
        own_field = f"{field}.weight"
        share = _product(weight, _number(own, where, own_field, False), where, own_field)
        rf = value.get("repetition_factor")
        inherited = factor if rf is None else _number(rf, where, f"{field}.repetition_factor", True)
        if any(child not in RESERVED_KEYS for child in value):
            yield from _flatten(value, path, share, inherited, where)
        else:
            yield ":".join(path), MixLeaf(share, inherited)


# --- writing -------------------------------------------------------------------------


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
    nodes: Sequence[_ShareNode],
    parent_share: float,
    prefix: tuple[str, ...],
    decimals: int,
    keep_zero: bool,
) -> dict[str, Any]:
    positive = [node for node in nodes if node.share > 0]
    units = dict(
        zip(
            (id(node) for node in positive),
            round_group([node.share / parent_share for node in positive], decimals)
            if positive
            else [],
            strict=True,
        )
    )
    scale = 10**decimals
    block: dict[str, Any] = {}
    for node in nodes:
        if node.share <= 0 and not keep_zero:
            continue
        name = node.entry.name
        if name in RESERVED_KEYS:
            raise WeightError(
                "is a reserved key of the mix block",
                where=":".join((*prefix, name)),
                fix="rename the entry",
            )
        body: dict[str, Any] = {"weight": units.get(id(node), 0) / scale}
        if node.leaf is not None:
            body["repetition_factor"] = float(node.leaf.max_repetition_factor)
        else:
            body.update(_mix_group(node.children, node.share, (*prefix, name), decimals, keep_zero))
        block[name] = body
    return block
