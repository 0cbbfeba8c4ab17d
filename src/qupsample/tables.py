"""Tables a person reads (rich): a resolved mix and a diff, fit to the terminal.

Leaves are shown as an indented tree (source, then topic, then bucket), so the name
column stays narrow; numbers never wrap or get cut, and a name is never broken: one
too long for its column goes on a line of its own above its numbers. The text has no
trailing spaces.
"""

from __future__ import annotations

import io
import re
import textwrap
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qupsample.errors import shown_names

if TYPE_CHECKING:
    from qupsample.diff import MixDiff
    from qupsample.resolve import Mix
    from qupsample.specs import SpecRow

__all__ = ["diff_table", "human_count", "list_text", "mix_table"]


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


Row = tuple[Sequence[str], str | None]
# The narrowest a description column of `list` gets before it moves under the name.
_MIN_DESCRIPTION = 30
# Where a name too long for one line may break: after a path separator, a colon or a
# space, never inside a word.
_BREAKS = re.compile(r"(?<=[/:])|(?<= )")


def fold(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, broken only after `/`, `:` or a space.

    Leading spaces stay; a piece longer than the width (no break in it) stays whole.
    """
    lines: list[str] = []
    line = ""
    for piece in _BREAKS.split(text):
        if line.strip() and len(line) + len(piece.rstrip()) > width:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _split_long_names(
    rows: Sequence[Row], room: int, blank: list[str]
) -> tuple[list[Row], dict[int, str]]:
    """Rows for the grid, and the full-width lines (by row index) of names too long."""
    grid: list[Row] = []
    own_lines: dict[int, str] = {}
    for cells, style in rows:
        label = cells[0]
        if len(label) <= room:
            grid.append((cells, style))
            continue
        # The name on a line of its own (it may run over the number columns); its
        # numbers, if any, on the next line.
        own_lines[len(grid)] = label
        grid.append((blank, None))
        if any(cells[1:]):
            grid.append((["", *cells[1:]], style))
    return grid, own_lines


def _text(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Row],
    caption: str,
    width: int,
) -> str:
    """Lay out rows (cells, style) under `columns`: numbers at full width, names whole."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    # A column never narrower than its longest cell: no number is ever cut.
    widths = [
        max([len(column), *(len(cells[i]) for cells, _ in rows)])
        for i, column in enumerate(columns)
    ]
    # A line is an edge space, the names, then 3 spaces (padding, rule, padding) before
    # each number column.
    room = max(width - 1 - sum(w + 3 for w in widths[1:]), len(columns[0]))
    grid, own_lines = _split_long_names(rows, room, [""] * len(columns))
    name_width = max([len(columns[0]), *(len(cells[0]) for cells, _ in grid)])
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, expand=False)
    table.add_column(columns[0], no_wrap=True, min_width=name_width)
    for column, widest in zip(columns[1:], widths[1:], strict=True):
        table.add_column(column, justify="right", no_wrap=True, min_width=widest)
    for cells, style in grid:
        table.add_row(*cells, style=style)
    console = Console(
        file=io.StringIO(), width=10_000, color_system=None, force_terminal=False, soft_wrap=False
    )
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    lines = [line.rstrip() for line in out.splitlines()]
    # The blank top edge, header and rule come first, then one line per grid row (no
    # cell wraps).
    for index, label in own_lines.items():
        lines[3 + index] = "\n".join(fold(" " + label, width))
    # Title and caption wrapped to the terminal rather than to the table.
    titles = [line for part in title.split("\n") for line in fold(part, width)]
    captions = textwrap.wrap(caption, width, break_long_words=False, break_on_hyphens=False)
    return "\n".join([*titles, *lines, *captions]) + "\n"


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
    if not any(cells[-1] for cells, _ in rows):
        # No leaf has a note: the room goes to the names.
        columns.pop()
        rows = [(cells[:-1], style) for cells, style in rows]
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
    title = f"{result.a} -> {result.b}"
    if len(title) > width:
        title = f"{result.a} ->\n{result.b}"
    return _text(title, columns, rows, caption, width)


def list_text(rows: Sequence[SpecRow], width: int | None = None) -> str:
    """`qupsample list`: a heading per kind, then one name and description per line.

    With a `width` (a terminal's), a description runs on under itself rather than past
    it; where the names leave it too little room, it starts on the next line.
    """
    name_width = max((len(row.name) for row in rows), default=0)
    indent = 2 + name_width + 2
    if width is not None and width - indent < _MIN_DESCRIPTION:
        indent = 6
    lines: list[str] = []
    kind = ""
    for row in rows:
        if row.kind != kind:
            kind = row.kind
            lines.append(f"{kind}:")
        text = [row.description]
        if width is not None:
            text = textwrap.wrap(
                row.description, width - indent, break_long_words=False, break_on_hyphens=False
            ) or [""]
        first = f"  {row.name:<{name_width}}  {text[0]}"
        if width is not None and len(first) > width:
            lines.append(f"  {row.name}")
            first = " " * indent + text[0]
        lines.append(first.rstrip())
        lines.extend(" " * indent + line for line in text[1:])
    return "".join(line + "\n" for line in lines)
