"""Token counts of globs: from the on-disk cache where it has them, else from storage.

The one place that wires `storage` (listings) and `cache` (the count cache) together;
`resolve`, `priors` and the renderer all count through `count_globs`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qupsample.cache import CachedCount, TokenCache, default_cache_dir
from qupsample.errors import located
from qupsample.weights import Entry, walk_leaves


def count_globs(
    globs: Sequence[str],
    token_size: int,
    *,
    storage_options: Mapping[str, Any] | None = None,
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, CachedCount]:
    """Objects, bytes and tokens matched by each glob.

    Args:
        globs: the globs to count.
        token_size: bytes per token.
        storage_options: s3fs options for remote globs.
        cache: read and write the on-disk cache.
        refresh: list storage even where the cache has counts (and update it).
        cache_dir: the cache folder (default: see `cache.default_cache_dir`).
        progress: called as `progress(done, total)` while folders are listed.
        warnings: where to add warnings (an unwritable or corrupt cache).

    Raises:
        StorageError: a glob cannot be listed or matches nothing.
    """
    from qupsample.storage import count_tokens, storage_location

    notes = warnings if warnings is not None else []
    store = TokenCache(Path(cache_dir) if cache_dir else default_cache_dir()) if cache else None
    counts: dict[str, CachedCount] = {}
    locations = {glob: storage_location(glob, storage_options) for glob in globs}
    if store is not None and not refresh:
        for glob in globs:
            hit = store.get(glob, locations[glob], token_size)
            if hit is not None:
                counts[glob] = hit
    missing = [glob for glob in globs if glob not in counts]
    if missing:
        listed_at = time.time()
        fresh = count_tokens(
            missing, token_size=token_size, storage_options=storage_options, progress=progress
        )
        for glob, count in fresh.items():
            counts[glob] = CachedCount(count.objects, count.bytes, count.tokens, listed_at)
            if store is not None:
                try:
                    store.put(glob, locations[glob], token_size, counts[glob])
                except OSError as exc:
                    # The counts are good; an unwritable cache must not throw them away.
                    notes.append(
                        f"cannot write the token-count cache in {store.directory}"
                        f" ({exc.strerror or exc}); counts were not cached — set --cache-dir"
                        " or QUPSAMPLE_CACHE_DIR to a writable folder, or pass --no-cache"
                    )
                    store = None
    if store is not None and store.corrupt:
        notes.append(
            f"{len(store.corrupt)} damaged token-count cache entr(ies) in {store.directory}"
            f" (e.g. {store.corrupt[0].name}); counted again and replaced"
        )
    return counts


@dataclass(frozen=True)
class Counting:
    """Where token counts come from, the same for every command.

    Priors first (a mapping or a priors file), then the on-disk cache, then storage
    listings, never with `offline`. Explicit weights need none of them.
    """

    storage_options: Mapping[str, Any] | None = None
    offline: bool = False
    priors: Mapping[str, int] | Path | str | None = None
    cache: bool = True
    refresh: bool = False
    cache_dir: Path | str | None = None

    def listing_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of a listing (`count_globs`, `priors.compute_priors`)."""
        return {
            "storage_options": self.storage_options,
            "cache": self.cache,
            "refresh": self.refresh,
            "cache_dir": self.cache_dir,
        }

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `resolve.resolve` these settings stand for."""
        return {
            "storage_options": self.storage_options,
            "offline": self.offline,
            "priors": self.priors,
            "cache": self.cache,
            "refresh": self.refresh,
            "cache_dir": self.cache_dir,
        }


def empty_leaf_warnings(
    where: str, entries: Sequence[Entry], counts: Mapping[str, CachedCount]
) -> list[str]:
    """One warning per listed leaf whose objects are all empty (0 bytes, so 0 tokens).

    `priors` and `resolve` both say it, in these words: such a leaf counts 0 tokens,
    which is refused wherever the leaf has a positive weight.
    """
    lines = []
    for name, entry in walk_leaves(entries):
        listed = [counts[path] for path in entry.paths if path in counts]
        objects = sum(count.objects for count in listed)
        if len(listed) == len(entry.paths) and objects and not any(c.bytes for c in listed):
            lines.append(
                located(
                    where,
                    f"leaf {name}",
                    f"its {objects} object(s) are all empty (0 bytes): 0 tokens",
                    "check the paths; a leaf of 0 tokens cannot have a positive weight",
                )
            )
    return lines
