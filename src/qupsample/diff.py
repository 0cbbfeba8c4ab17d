"""Compare two configs leaf by leaf: weight (and, with storage, token) changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qupsample.counts import Counting
from qupsample.dialects import ConfigInput
from qupsample.errors import Hint, UserError
from qupsample.priors import PriorsInput, priors_counts
from qupsample.resolve import Mix, resolve
from qupsample.specs import Project, ProjectInput, only_family, open_project

# Weights closer than this are equal: the rounding of a written mix: block (10
# decimals a level) and float noise, far below the printed precision.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class LeafChange:
    """One leaf in either config: its weight (share of the whole mix) in each."""

    leaf: str
    weight_a: float | None
    weight_b: float | None
    tokens_a: int | None = None
    tokens_b: int | None = None

    @property
    def changed(self) -> bool:
        """Whether the leaf's weight (or, where both are counted, tokens) differ."""
        if (
            self.tokens_a is not None
            and self.tokens_b is not None
            and self.tokens_a != self.tokens_b
        ):
            return True
        a, b = self.weight_a or 0.0, self.weight_b or 0.0
        if (self.weight_a is None) != (self.weight_b is None) and (a or b):
            return True
        return abs(a - b) > TOLERANCE


@dataclass(frozen=True)
class MixDiff:
    """The leaf-by-leaf comparison of two configs."""

    a: str
    b: str
    leaves: tuple[LeafChange, ...]

    @property
    def changes(self) -> list[LeafChange]:
        """Only the leaves that differ."""
        return [leaf for leaf in self.leaves if leaf.changed]

    @property
    def equal(self) -> bool:
        """Whether the two mixes are the same."""
        return not self.changes

    def to_json(self) -> str:
        """`{"a", "b", "equal", "leaves": [...]}` as JSON text, every leaf listed."""
        data = {
            "a": self.a,
            "b": self.b,
            "equal": self.equal,
            "leaves": [{**asdict(leaf), "changed": leaf.changed} for leaf in self.leaves],
        }
        return json.dumps(data, indent=2, allow_nan=False) + "\n"


def _resolve(config: ConfigInput, tokens: bool, counting: Counting, project: Project) -> Mix:
    mix = resolve(config, root=project, weights_only=not tokens, **counting.as_kwargs())
    if mix.needs_counts:
        raise UserError(
            f"weights need token counts ({', '.join(mix.needs_counts[:3])}, ...)",
            Hint("pass {}", "--priors FILE", 'priors="FILE"'),
            Hint("or drop {} to compare them", "--offline", "offline=True"),
            where=str(config) if isinstance(config, str | Path) else mix.name,
        )
    return mix


def diff(
    a: ConfigInput,
    b: ConfigInput,
    *,
    tokens: bool = False,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    root: ProjectInput = None,
    priors: PriorsInput | None = None,
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
    family: str | None = None,
) -> MixDiff:
    """Compare the leaf weights of two configs (any olmix form, pairs, dicts).

    Storage is listed only where a weight needs token counts (not counted in `priors`),
    or with `tokens` (which also compares each leaf's available tokens); `offline`
    never lists it. `family` picks the family of a `SCHEME:PROFILE` pair in several.
    """
    counting = Counting(storage_options, offline, priors_counts(priors), cache, refresh, cache_dir)
    project = only_family(open_project(root), family, "diff")
    mix_a = _resolve(a, tokens, counting, project)
    mix_b = _resolve(b, tokens, counting, project)
    rows_a = {leaf.leaf: leaf for leaf in mix_a.leaves}
    rows_b = {leaf.leaf: leaf for leaf in mix_b.leaves}
    names = _tree_order([*rows_a, *rows_b])
    leaves = []
    for name in names:
        row_a, row_b = rows_a.get(name), rows_b.get(name)
        leaves.append(
            LeafChange(
                name,
                row_a.weight if row_a else 0.0,
                row_b.weight if row_b else 0.0,
                row_a.tokens if row_a and tokens else None,
                row_b.tokens if row_b and tokens else None,
            )
        )
    return MixDiff(_label(a, mix_a), _label(b, mix_b), tuple(leaves))


def _tree_order(leaves: list[str]) -> list[str]:
    """Leaves once each, those of one parent together, parents in order of first sight."""
    groups: dict[str, list[str]] = {}
    for leaf in dict.fromkeys(leaves):
        groups.setdefault(leaf.rpartition(":")[0], []).append(leaf)
    return [leaf for group in groups.values() for leaf in group]


def _label(config: ConfigInput, mix: Mix) -> str:
    return str(config) if isinstance(config, str | Path) else mix.name
