"""A resolved mix: per-leaf and per-path rows, and the ways to show and export them.

`resolve.resolve` builds it; this module only holds the result (records, JSON, CSV,
pandas, an HTML table, olmix's `mix:` block) and the checks on it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from qupsample.errors import Hint, InfeasibleMixError, UserError, more
from qupsample.mixblock import format_mix_block, olmix_mix
from qupsample.rules import Finding, over_detail
from qupsample.weights import Entry, LeafShare, below_minimum, largest_budget, over_limit


@dataclass(frozen=True)
class LeafRow:
    """One leaf of the mix (`source:topic:bucket`, `source:topic` or `source`)."""

    leaf: str
    weight: float | None
    tokens: int | None
    requested_tokens: float | None
    repetition_factor: float | None
    max_repetition_factor: float

    @property
    def over_limit(self) -> bool:
        """Whether the leaf would be repeated more than it may be."""
        return over_limit(self.repetition_factor, self.max_repetition_factor)

    def below(self, minimum: float | None) -> bool:
        """Whether olmix drops this leaf for a weight under `minimum_weight`."""
        return below_minimum(self.weight, minimum)


@dataclass(frozen=True)
class PathRow:
    """One glob of the config: what it matched and its share of the whole mix."""

    path: str
    leaf: str
    objects: int | None
    tokens: int | None
    weight: float | None
    listed_at: float | None = None


@dataclass(frozen=True)
class Mix:
    """The resolved mix: per-leaf and per-path rows, plus warnings."""

    name: str
    training_tokens: int
    token_size: int
    leaves: tuple[LeafRow, ...]
    paths: tuple[PathRow, ...]
    warnings: tuple[str, ...]
    entries: tuple[Entry, ...]
    shares: tuple[LeafShare, ...]
    offline: bool = False
    minimum_weight: float | None = None
    dialect: str = "flat"
    mismatches: tuple[str, ...] = ()
    # The same, as data: one `rules.Finding` each (code, field, what, fix).
    findings: tuple[Finding, ...] = ()

    @property
    def infeasible(self) -> list[LeafRow]:
        """Leaves whose repetition factor is over their limit."""
        return [leaf for leaf in self.leaves if leaf.over_limit]

    @property
    def needs_counts(self) -> list[str]:
        """Offline: leaves whose weight needs token counts."""
        return [leaf.leaf for leaf in self.leaves if leaf.weight is None]

    @property
    def oldest_listing(self) -> float | None:
        """Unix time of the oldest listing the counts come from."""
        times = [p.listed_at for p in self.paths if p.listed_at is not None]
        return min(times) if times else None

    @property
    def below_minimum(self) -> list[LeafRow]:
        """Leaves olmix drops: a positive weight under the config's `minimum_weight`."""
        return [leaf for leaf in self.leaves if leaf.below(self.minimum_weight)]

    @property
    def unknown_tokens(self) -> list[str]:
        """Leaves that may be sampled but have no token count: their repetition, and so
        the mix's feasibility, is unknown."""
        return [leaf.leaf for leaf in self.leaves if leaf.weight != 0 and leaf.tokens is None]

    @property
    def max_training_tokens(self) -> float | None:
        """The largest budget this mix can train on without any leaf over its limit (None
        when it is unknown: see `unknown_tokens`)."""
        return largest_budget(
            (leaf.weight, leaf.tokens, leaf.max_repetition_factor) for leaf in self.leaves
        )

    def check_feasible(self) -> None:
        """Raise `InfeasibleMixError` naming every leaf over its repetition limit."""
        over = self.infeasible
        if not over:
            return
        worst = sorted(over, key=lambda leaf: -(leaf.repetition_factor or 0))
        details = "; ".join(
            over_detail(
                leaf.leaf,
                leaf.requested_tokens or 0.0,
                leaf.tokens or 0,
                leaf.repetition_factor or 0.0,
                leaf.max_repetition_factor,
            )
            for leaf in worst[:3]
        )
        details += more(len(worst) - 3, "leaves")
        raise InfeasibleMixError(
            f"mix not feasible: {details}",
            Hint("train on fewer tokens with {}", "--training-tokens N", "training_tokens=N"),
            Hint("or pass {} to accept it", "--allow-repetition"),
            where=self.name,
            fix="lower those weights or raise max_repetition_factor",
        )

    def to_records(self, kind: str = "paths") -> list[dict[str, Any]]:
        """Rows as dicts, ready for `pandas.DataFrame`: `kind` is "paths" or "leaves"."""
        if kind == "paths":
            return [_path_record(row) for row in self.paths]
        if kind == "leaves":
            return [_leaf_record(row) for row in self.leaves]
        raise ValueError(f"kind must be 'paths' or 'leaves', got {kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape: training_tokens, the largest feasible budget (null when
        unknown) and the leaves without a token count, leaves, paths."""
        largest = self.max_training_tokens
        return {
            "training_tokens": self.training_tokens,
            "max_training_tokens": None if largest is None else math.floor(largest),
            "unknown_tokens": self.unknown_tokens,
            "leaves": self.to_records("leaves"),
            "paths": self.to_records("paths"),
        }

    def to_json(self) -> str:
        """`to_dict()` as JSON text (2-space indent, one trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def to_csv(self, kind: str = "paths") -> str:
        """`to_records(kind)` as CSV, an empty cell where a value is unknown.

        "paths": path, leaf, objects, tokens, weight. "leaves": leaf, weight, tokens,
        requested_tokens, repetition_factor, max_repetition_factor.
        """
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_COLUMNS[kind], lineterminator="\n")
        writer.writeheader()
        for record in self.to_records(kind):
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
        return buffer.getvalue()

    def to_olmix_mix(self, *, keep_zero: bool = False) -> dict[str, Any]:
        """The nested `mix:` mapping current olmix reads: weights within their parent.

        Each sibling group is rounded to 10 decimals with largest remainder, so it sums
        to exactly 1 as printed; leaves carry `repetition_factor` (their limit). Leaves
        of share 0 are left out, or kept with weight 0 with `keep_zero`.
        """
        return olmix_mix(self.entries, self.shares, keep_zero=keep_zero)

    def to_mix_block(self) -> str:
        """`to_olmix_mix()` as YAML text under a top-level `mix:` key."""
        return format_mix_block(self.to_olmix_mix())

    def to_pandas(self, kind: str = "leaves") -> Any:
        """`to_records(kind)` as a `pandas.DataFrame`: `kind` is "leaves" or "paths".

        Raises:
            UserError: pandas is not installed (the `notebook` extra).
        """
        records = self.to_records(kind)
        try:
            import pandas
        except ImportError:
            raise UserError(
                "to_pandas: pandas is not installed — pip install 'qupsample[notebook]'"
            ) from None
        # Named columns, so that a mix without rows still has them.
        return pandas.DataFrame.from_records(records, columns=_COLUMNS[kind])

    def _feasibility(self) -> str:
        """One phrase: feasible, not feasible (how many over), or unknown (no counts)."""
        over = self.infeasible
        if over:
            return f"not feasible: {len(over)} {'leaf' if len(over) == 1 else 'leaves'} over limit"
        if self.needs_counts:
            return f"{len(self.needs_counts)} weights need token counts"
        unknown = self.unknown_tokens
        if len(unknown) == len([leaf for leaf in self.leaves if leaf.weight != 0]) and unknown:
            return "feasibility unknown: no token counts"
        if unknown:
            return f"feasibility unknown: {len(unknown)} leaves without token counts"
        return "feasible"

    def __repr__(self) -> str:
        leaves = len(self.leaves)
        return (
            f"Mix({self.name!r}, {leaves} {'leaf' if leaves == 1 else 'leaves'},"
            f" {self.training_tokens:,} training tokens, {self._feasibility()})"
        )

    def _repr_html_(self) -> str:
        """The leaves as a compact HTML table (weights in %, tokens, repetition, flags)."""
        from html import escape

        def cell(text: str, *, right: bool = True, style: str = "") -> str:
            align = "text-align:right;" if right else "text-align:left;"
            return f'<td style="{align}{style}">{escape(text)}</td>'

        header = "".join(
            f'<th style="text-align:{"left" if name in ("leaf", "flag") else "right"}">{name}</th>'
            for name in ("leaf", "weight %", "tokens", "requested", "repetition", "max", "flag")
        )
        rows = []
        for leaf in self.leaves:
            flag, style = "", ""
            if leaf.over_limit:
                flag, style = "OVER LIMIT", "color:#c62828;font-weight:bold;"
            elif leaf.below(self.minimum_weight):
                flag, style = "below minimum_weight", "color:#b26a00;"
            requested = leaf.requested_tokens
            rows.append(
                "<tr>"
                + cell(leaf.leaf, right=False, style=style)
                + cell("?" if leaf.weight is None else f"{leaf.weight * 100:.3f}")
                + cell("?" if leaf.tokens is None else f"{leaf.tokens:,}")
                + cell("?" if requested is None else f"{round(requested):,}")
                + cell(
                    "?" if leaf.repetition_factor is None else f"{leaf.repetition_factor:.3f}x",
                    style=style,
                )
                + cell(f"{leaf.max_repetition_factor:g}x")
                + cell(flag, right=False, style=style)
                + "</tr>"
            )
        notes = [f"training tokens {self.training_tokens:,}", self._feasibility()]
        if self.max_training_tokens is not None:
            notes.append(f"largest feasible budget {self.max_training_tokens:,.0f} tokens")
        if self.offline:
            notes.append("offline")
        caption = f"<b>{escape(self.name)}</b>: {escape('; '.join(notes))}"
        remarks = "".join(f"<li>{escape(line)}</li>" for line in (*self.mismatches, *self.warnings))
        return (
            '<table class="qupsample-mix">'
            f'<caption style="text-align:left">{caption}</caption>'
            f"<thead><tr>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>" + (f"<ul>{remarks}</ul>" if remarks else "")
        )


# The columns of each kind of row (records, CSV, DataFrame).
_COLUMNS = {
    "paths": ["path", "leaf", "objects", "tokens", "weight"],
    "leaves": [
        "leaf",
        "weight",
        "tokens",
        "requested_tokens",
        "repetition_factor",
        "max_repetition_factor",
    ],
}


def _path_record(row: PathRow) -> dict[str, Any]:
    return {
        "path": row.path,
        "leaf": row.leaf,
        "objects": row.objects,
        "tokens": row.tokens,
        "weight": row.weight,
    }


def _leaf_record(row: LeafRow) -> dict[str, Any]:
    record = asdict(row)
    record["requested_tokens"] = (
        None if row.requested_tokens is None else round(row.requested_tokens)
    )
    return record


__all__ = ["LeafRow", "Mix", "PathRow"]
