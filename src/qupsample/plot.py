"""Stacked-bar pictures of resolved mixes: one bar per mix, one segment per leaf.

    from qupsample.plot import plot_mixes
    from qupsample.resolve import resolve
    plot_mixes([resolve("aggressive:heavy_code"), resolve("gradual:heavy_code")], "mix.png")

matplotlib is optional (`pip install 'qupsample[plot]'`) and imported only when a
picture is drawn; `leaf_colours` needs nothing beyond the standard library.

Colours: every `source:topic` (the parent of a `source:topic:bucket` leaf) gets a hue
of Tableau's qualitative palette, in the order first seen across the mixes, and its
quality buckets get darker to lighter shades of it in bucket order. A two-part leaf
(`source:topic` with plain paths, or `source:bucket`; the name cannot tell which) and
a plain `source` get hues of their own.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qupsample.errors import UserError, shown_names
from qupsample.files import Inputs, write_output

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from qupsample.resolve import Mix

SUFFIXES = (".png", ".svg")
INSTALL_HINT = "plot: matplotlib is not installed — pip install 'qupsample[plot]'"

# Tableau 10 (matplotlib's "tab10"), then the darkest shade of each "tab20b" group:
# 15 distinct hues before they repeat.
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
)
# Shades of a hue run from 20% towards black (best bucket) to 55% towards white.
_DARKEST, _LIGHTEST = -0.20, 0.55
# Segments shorter than this (in % of the bar) get no text: it would not fit.
_MIN_LABELLED_PERCENT = 3.0
# Layout, in inches and points.
_BAR_SLOT = 1.15
_MIN_AXES_WIDTH = 3.5
_HEIGHT = 6.0
_LEGEND_ROWS = 28
_FONT_SIZE = 8.0
_DPI = 150


def leaf_colours(mixes: Sequence[Mix]) -> dict[str, str]:
    """Maps every leaf of the mixes to a `#rrggbb` colour, the same in every mix.

    Args:
        mixes: The mixes that share one picture (and so one colour scheme).

    Returns:
        Leaves grouped by hue in first-seen order, buckets in bucket order within a hue.
    """
    groups: dict[str, list[str | None]] = {}
    for mix in mixes:
        seen_in_mix: dict[str, list[str | None]] = {}
        for row in mix.leaves:
            group, bucket = _hue_key(row.leaf)
            seen_in_mix.setdefault(group, []).append(bucket)
        for group, buckets in seen_in_mix.items():
            _merge_order(groups.setdefault(group, []), buckets)
    colours: dict[str, str] = {}
    for index, (group, buckets) in enumerate(groups.items()):
        base = _PALETTE[index % len(_PALETTE)]
        for position, bucket in enumerate(buckets):
            leaf = group if bucket is None else f"{group}:{bucket}"
            if len(buckets) == 1:
                colours[leaf] = base
            else:
                amount = _DARKEST + (_LIGHTEST - _DARKEST) * position / (len(buckets) - 1)
                colours[leaf] = _shade(base, amount)
    return colours


def require_matplotlib() -> None:
    """Raise the install hint as a `UserError` when matplotlib (the `plot` extra) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError(INSTALL_HINT) from None


def bar_labels(names: Sequence[str], sources: Sequence[str | Path] | None = None) -> list[str]:
    """A label per bar: the mix's name, or where names collide, its source (file or pair).

    Sources that share a file name are told apart by as many parent folders as it takes
    (`heavy_code/gradual.yaml`, `heavy_wiki/gradual.yaml`).
    """
    if sources is None:
        return list(names)
    labels = list(names)
    for name in set(names):
        group = [i for i, other in enumerate(names) if other == name]
        if len(group) < 2:
            continue
        parts = [Path(sources[i]).parts or (str(sources[i]),) for i in group]
        for i, own in zip(group, parts, strict=True):
            others = [other for other in parts if other is not own]
            depth = next(
                (d for d in range(1, len(own)) if all(o[-d:] != own[-d:] for o in others)),
                len(own),
            )
            labels[i] = "/".join(own[-depth:])
    return labels


def plot_mixes(
    mixes: Sequence[Mix],
    out: Path | str,
    *,
    title: str | None = None,
    sources: Sequence[str | Path] | None = None,
    inputs: Inputs | None = None,
) -> Path:
    """Draws one stacked bar per mix (% of training tokens per leaf) to a PNG or SVG file.

    Args:
        mixes: Resolved mixes with known leaf weights, one bar each, in this order.
        out: The picture's path; its suffix (`.png` or `.svg`) picks the format.
        title: A title above the bars.
        sources: What each mix was resolved from (file or `SCHEME:PROFILE`): bars
            whose mixes share a name are labelled by these (see `bar_labels`).
        inputs: Files the picture must never replace (the configs drawn).

    Returns:
        The path written (atomically: readers never see half a picture).

    Raises:
        UserError: No mixes, an unsupported suffix, a mix with unknown weights
            (resolved offline without counts), matplotlib missing, or `out` unwritable.
    """
    path = Path(out)
    _check_plottable(path, mixes)
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = bar_labels([mix.name for mix in mixes], sources)
    colours = leaf_colours(mixes)
    slot = _BAR_SLOT
    axes_width = max(_MIN_AXES_WIDTH, slot * len(mixes))
    drawn = _drawn_leaves(mixes, colours)
    columns = max(1, math.ceil(len(drawn) / _LEGEND_ROWS))
    longest = max((len(leaf) for leaf in drawn), default=0)
    # Roughly: a legend character is 0.6 em wide, plus the swatch and padding.
    legend_width = columns * (longest * 0.6 * _FONT_SIZE / 72 + 0.6)
    figure = Figure(figsize=(axes_width + legend_width + 1.0, _HEIGHT), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _draw_bars(axes, mixes, colours)
    axes.set_xticks(
        range(len(mixes)),
        [_wrap(label, slot) for label in labels],
        fontsize=_FONT_SIZE,
    )
    # Every bar gets the same width in inches, however few bars there are.
    centre, half = (len(mixes) - 1) / 2, axes_width / slot / 2
    axes.set_xlim(centre - half, centre + half)
    axes.set_ylim(0, 100)
    axes.set_ylabel("% of training tokens")
    axes.yaxis.grid(True, color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    if title:
        axes.set_title(title)
    _legend(figure, drawn, colours, columns)
    write_output(path, _picture(figure, path.suffix.lower(), labels, title), inputs or Inputs())
    return path


def _check_plottable(path: Path, mixes: Sequence[Mix]) -> None:
    """A known picture format, and mixes whose every weight is known."""
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(
            f"unsupported picture format {path.suffix or '(no suffix)'!r}",
            where=str(path),
            fix=f"use one of {', '.join(SUFFIXES)}",
        )
    if not mixes:
        raise UserError("no mixes to plot", where="plot", fix="pass at least one config")
    for mix in mixes:
        unknown = mix.needs_counts
        if unknown:
            shown = shown_names(unknown, 5)
            raise UserError(
                f"{len(unknown)} leaf weight(s) unknown (resolved offline): {shown}",
                where=mix.name,
                fix="resolve with token counts (not offline) before plotting",
            )


def _legend(figure: Figure, drawn: Sequence[str], colours: dict[str, str], columns: int) -> None:
    from matplotlib.patches import Patch

    # Reversed, so the legend reads top to bottom like the stacks do.
    handles = [Patch(facecolor=colours[leaf], label=leaf) for leaf in reversed(drawn)]
    figure.legend(
        handles=handles,
        loc="outside right upper",
        ncols=columns,
        fontsize=_FONT_SIZE,
        frameon=False,
        title="leaf",
        title_fontsize=_FONT_SIZE,
        alignment="left",
    )


def _picture(figure: Figure, suffix: str, labels: Sequence[str], title: str | None) -> bytes:
    """The figure's bytes: SVG with fixed ids and no date, or PNG without metadata."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    if suffix == ".svg":
        # A fixed salt makes the ids of clip paths and glyphs the same on every run.
        with rc_context({"svg.hashsalt": "qupsample"}):
            figure.savefig(
                buffer,
                format="svg",
                metadata={
                    "Date": None,
                    "Creator": None,
                    # Tick labels are wrapped; this keeps whole mix names searchable.
                    "Description": "mixes: " + ", ".join(labels),
                }
                | ({"Title": title} if title else {}),
            )
    else:
        figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _draw_bars(axes: Axes, mixes: Sequence[Mix], colours: dict[str, str]) -> None:
    # One `bar` call per leaf (not per segment): drawing 24 bars stays fast.
    segments: dict[str, list[tuple[int, float, float]]] = {}
    for x, mix in enumerate(mixes):
        bottom = 0.0
        for row in mix.leaves:
            percent = 100 * (row.weight or 0.0)
            if percent > 0:
                segments.setdefault(row.leaf, []).append((x, bottom, percent))
                bottom += percent
    for leaf, colour in colours.items():
        if leaf not in segments:
            continue
        xs, bottoms, heights = zip(*segments[leaf], strict=True)
        axes.bar(
            xs,
            heights,
            bottom=bottoms,
            width=0.72,
            color=colour,
            edgecolor="white",
            linewidth=0.5,
        )
        for x, bottom, percent in segments[leaf]:
            if percent >= _MIN_LABELLED_PERCENT:
                axes.text(
                    x,
                    bottom + percent / 2,
                    f"{percent:.1f}%",
                    ha="center",
                    va="center",
                    fontsize=_FONT_SIZE - 1,
                    color=_text_colour(colour),
                )


def _drawn_leaves(mixes: Sequence[Mix], colours: dict[str, str]) -> list[str]:
    """Leaves with a positive weight in some mix, in colour order."""
    positive = {row.leaf for mix in mixes for row in mix.leaves if row.weight}
    return [leaf for leaf in colours if leaf in positive]


def _hue_key(leaf: str) -> tuple[str, str | None]:
    """(`source:topic`, bucket) for a three-part leaf, (leaf, None) otherwise."""
    parent, sep, bucket = leaf.rpartition(":")
    return (parent, bucket) if sep and ":" in parent else (leaf, None)


def _merge_order(order: list[str | None], buckets: Sequence[str | None]) -> None:
    """Adds a mix's buckets to the known order, each new one after its predecessor."""
    previous: str | None = None
    for index, bucket in enumerate(buckets):
        if bucket not in order:
            order.insert(order.index(previous) + 1 if index else 0, bucket)
        previous = bucket


def _rgb(colour: str) -> tuple[float, float, float]:
    return (
        int(colour[1:3], 16) / 255,
        int(colour[3:5], 16) / 255,
        int(colour[5:7], 16) / 255,
    )


def _shade(colour: str, amount: float) -> str:
    """Blends towards black (amount < 0) or white (amount > 0)."""
    target = 0.0 if amount < 0 else 1.0
    mixed = (c + (target - c) * abs(amount) for c in _rgb(colour))
    return "#" + "".join(f"{round(c * 255):02x}" for c in mixed)


def _text_colour(background: str) -> str:
    red, green, blue = _rgb(background)
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    return "black" if luminance > 0.55 else "white"


def _wrap(name: str, slot: float) -> str:
    """Wraps a long mix name after `-`, `_` or `/` so neighbouring labels do not collide."""
    width = max(8, int(slot * 72 / (0.6 * _FONT_SIZE)) - 1)
    lines: list[str] = []
    line = ""
    for word in re.findall(r"[^-_/]*[-_/]|[^-_/]+", name):
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = ""
        while len(word) > width:  # a word longer than a line is cut
            lines.append(word[:width])
            word = word[width:]
        line += word
    lines.append(line)
    return "\n".join(part for part in lines if part)


__all__ = ["SUFFIXES", "bar_labels", "leaf_colours", "plot_mixes"]
