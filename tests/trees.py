"""Weight trees for tests: builders and a hypothesis strategy of random valid mixes."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from qupsample.weights import Entry, LeafShare


def leaf(name: str, *paths: str, weight: float | None = None, mrf: float | None = None) -> Entry:
    """Builds a leaf entry; paths default to one path named after the leaf."""
    return Entry(
        name=name, weight=weight, max_repetition_factor=mrf, paths=paths or (f"{name}.npy",)
    )


def node(
    name: str, *children: Entry, weight: float | None = None, mrf: float | None = None
) -> Entry:
    """Builds an inner entry."""
    return Entry(name=name, weight=weight, max_repetition_factor=mrf, children=children)


def by_leaf(rows: Sequence[LeafShare]) -> dict[str, LeafShare]:
    """Indexes resolved rows by leaf name."""
    return {row.leaf: row for row in rows}


POSITIVE = st.floats(min_value=1e-3, max_value=1e3)


@st.composite
def mixes(draw: st.DrawFn) -> tuple[tuple[Entry, ...], dict[str, int]]:
    """Random valid trees (up to 3 levels) with positive token counts for every path."""
    tokens: dict[str, int] = {}

    def weights(size: int) -> list[float | None]:
        if draw(st.booleans()):
            return [None] * size
        values = draw(st.lists(st.one_of(st.just(0.0), POSITIVE), min_size=size, max_size=size))
        if not any(values):
            values[draw(st.integers(0, size - 1))] = draw(POSITIVE)
        return values

    def group(depth: int, prefix: str) -> tuple[Entry, ...]:
        size = draw(st.integers(1, 3))
        entries = []
        for i, weight in enumerate(weights(size)):
            name = f"{prefix}{i}"
            mrf = draw(st.one_of(st.none(), st.sampled_from([1.0, 1.5, 2.0])))
            if depth < 2 and draw(st.booleans()):
                children = group(depth + 1, f"{name}_")
                entries.append(node(name, *children, weight=weight, mrf=mrf))
            else:
                paths = tuple(f"{name}/p{j}" for j in range(draw(st.integers(1, 3))))
                for path in paths:
                    tokens[path] = draw(st.integers(1, 10**12))
                entries.append(leaf(name, *paths, weight=weight, mrf=mrf))
        return tuple(entries)

    return group(0, "n"), tokens
