"""The naive token counter, as common tools do it: glob, then one size request per object.

`fs.info(path, refresh=True)` is a HeadObject: without `refresh`, s3fs would answer
from the listing `fs.glob` just cached, which is what qupsample does on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def count_naive(
    globs: Sequence[str],
    storage_options: Mapping[str, Any],
    token_size: int = 4,
    workers: int = 64,
) -> dict[str, int]:
    """Tokens per glob: `fs.glob` each, then HEAD every match on a `workers`-thread pool."""
    import s3fs

    # As many pooled connections as threads, so the pool is not the bottleneck.
    fs = s3fs.S3FileSystem(**storage_options, config_kwargs={"max_pool_connections": workers})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        matches = dict(zip(globs, pool.map(fs.glob, globs), strict=True))
        paths = [path for found in matches.values() for path in found]
        sizes = dict(
            zip(paths, pool.map(lambda p: fs.info(p, refresh=True)["size"], paths), strict=True)
        )
    return {glob: sum(sizes[p] for p in found) // token_size for glob, found in matches.items()}
