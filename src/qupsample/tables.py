"""Tables a person reads (rich): a resolved mix and a diff, fit to the terminal.

Leaves are shown as an indented tree (source, then topic, then bucket), so the name
column stays narrow; numbers never wrap or get cut, and names that do not fit wrap
instead of being cut. The text has no trailing spaces.
"""

from __future__ import annotations

import io
import textwrap
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qupsample.errors import shown_names

if TYPE_CHECKING:
    from qupsample.diff import MixDiff
    from qupsample.resolve import Mix

__all__ = ["diff_table", "human_count", "mix_table"]


def human_count(count: float) -> str:
    """`140M`, `1.5B`, `93.24M`: a token or parameter count, 4 significant digits."""
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(count) >= size:
            return f"{count / size:.4g}{unit}"
    return f"{count:.4g}"


def _tree_names(leaves: Sequence[str]) -> list[tuple[str, int, bool]]:
    """Rows of an indented tree: (name, depth, is_leaf), parents once before children."""
    rows: list[tuple[str, int, bool]] = []
    shown: tuple[str, ...] = ()
    for leaf in leaves:
        parts = tuple(leaf.split(":"))
        common = 0
        while common < min(len(shown), len(parts) - 1) and shown[common] == parts[common]:
            common += 1
        for depth in range(common, len(parts) - 1):
            rows.append((parts[depth], depth, False))
        rows.append((parts[-1], len(parts) - 1, True))
        shown = parts[:-1]
    return rows


def _text(
    title: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str | None]],
    caption: str,
    width: int,
) -> str:
    """Lay out rows (cells, style) under `columns`: numbers at full width, names folded."""
    # Here, not at the top: `render` and `generate` import this module for `human_count`
    # and must not pay rich's start-up time.
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    table.add_column(columns[0], overflow="fold", min_width=12, ratio=1)
    for i, column in enumerate(columns[1:], start=1):
        # A column never narrower than its longest cell: no number is ever cut.
        widest = max([len(column), *(len(cells[i]) for cells, _ in rows)])
        table.add_column(column, justify="right", no_wrap=True, min_width=widest)
    for cells, style in rows:
        table.add_row(*cells, style=style)
    console = Console(
        file=io.StringIO(), width=width, color_system=None, force_terminal=False, soft_wrap=False
    )
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    lines = [line.rstrip() for line in out.splitlines()]
    # The caption below the table, wrapped to the terminal rather than to the table.
    return "\n".join([*lines, *textwrap.wrap(caption, width, break_long_words=False)]) + "\n"


def _age(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


def mix_table(mix: Mix, width: int = 80) -> str:
    """A resolved mix as a table: tokens, weight %, requested tokens, repetition, flags."""
    leaves = iter(mix.leaves)
    rows: list[tuple[list[str], str | None]] = []
    for name, depth, is_leaf in _tree_names([leaf.leaf for leaf in mix.leaves]):
        label = "  " * depth + name
        if not is_leaf:
            rows.append(([label, "", "", "", "", ""], None))
            continue
        leaf = next(leaves)
        note = ""
        if leaf.over_limit:
            note = "OVER LIMIT"
        elif leaf.below(mix.minimum_weight):
            note = "< minimum"
        repetition = (
            "?"
            if leaf.repetition_factor is None
            else f"{leaf.repetition_factor:.3f}x of {leaf.max_repetition_factor:g}x"
        )
        cells = [
            label,
            "?" if leaf.tokens is None else human_count(leaf.tokens),
            "?" if leaf.weight is None else f"{leaf.weight * 100:.3f}",
            "?" if leaf.requested_tokens is None else human_count(leaf.requested_tokens),
            repetition,
            note,
        ]
        rows.append((cells, "bold" if leaf.over_limit else None))
    notes = [f"training tokens {human_count(mix.training_tokens)} ({mix.training_tokens:,})"]
    if mix.offline:
        notes.append("offline")
    elif mix.oldest_listing is not None:
        notes.append(f"counts listed {_age(time.time() - mix.oldest_listing)}")
    if mix.max_training_tokens is not None:
        notes.append(f"feasible up to {human_count(mix.max_training_tokens)} tokens")
    elif mix.unknown_tokens and len(mix.unknown_tokens) < len(mix.leaves):
        notes.append(f"feasibility unknown: no count for {shown_names(mix.unknown_tokens, 2)}")
    columns = ["leaf", "tokens", "weight %", "requested", "repetition", "note"]
    return _text(mix.name, columns, rows, "; ".join(notes), width)


def _percent(weight: float | None) -> str:
    return "?" if weight is None else f"{weight * 100:.3f}"


def diff_table(result: MixDiff, tokens: bool, width: int = 80) -> str:
    """The leaves that differ between two mixes: weights in % and the change in points."""
    columns = ["leaf", "A %", "B %", "change"]
    if tokens:
        columns += ["A tokens", "B tokens"]
    changes = iter(result.changes)
    rows: list[tuple[list[str], str | None]] = []
    for name, depth, is_leaf in _tree_names([leaf.leaf for leaf in result.changes]):
        label = "  " * depth + name
        if not is_leaf:
            rows.append(([label, *([""] * (len(columns) - 1))], None))
            continue
        leaf = next(changes)
        delta = (leaf.weight_b or 0.0) - (leaf.weight_a or 0.0)
        cells = [label, _percent(leaf.weight_a), _percent(leaf.weight_b), f"{delta * 100:+.3f}"]
        if tokens:
            cells += [
                "" if leaf.tokens_a is None else human_count(leaf.tokens_a),
                "" if leaf.tokens_b is None else human_count(leaf.tokens_b),
            ]
        rows.append((cells, None))
    caption = (
        f"{len(result.changes)} of {len(result.leaves)} leaves differ; change in percentage points"
    )
    return _text(f"{result.a} -> {result.b}", columns, rows, caption, width)
