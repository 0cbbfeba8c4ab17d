"""Token counts per data leaf, as `olmix priors compute` prints them, for any dialect.

    from qupsample.priors import compute_priors, format_priors
    print(format_priors(compute_priors("generated/quality_thresholds/heavy_code/top10pct.yaml")))

Counts come from folder listings (object size / token size) through the token-count
cache: no request per object. Where olmix logs a read error and counts the whole leaf
as 0, this fails, naming the leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from qupsample.counts import count_globs, empty_leaf_warnings
from qupsample.dialects import ConfigInput, config_entries, load_config, token_size
from qupsample.errors import SpecError, StorageError
from qupsample.olmixmodels import Priors
from qupsample.specs import ProjectInput, only_family, open_project
from qupsample.weights import walk_leaves
from qupsample.yamlfiles import max_file_bytes, parse_yaml, read_text, validate

PriorsInput = Mapping[str, int] | Path | str
# The largest priors file read (unless $QUPSAMPLE_MAX_FILE_BYTES says otherwise).
MAX_PRIORS_BYTES = 4 * 1024 * 1024


def priors_counts(given: PriorsInput | None) -> dict[str, int] | None:
    """Token counts per leaf from a mapping or a priors file (None stays None)."""
    if given is None:
        return None
    if isinstance(given, Mapping):
        return dict(validate({"token_counts": dict(given)}, Priors, "priors").token_counts)
    return read_priors(given)


def read_priors(path: Path | str) -> dict[str, int]:
    """Token counts per leaf from a priors file (`qupsample priors` or olmix's output).

    The file holds a top-level `priors:` block (as `olmix priors compute` prints it, or
    any config carrying one), or the block's contents directly.
    """
    where = str(path)
    # A count per leaf: a few hundred lines for any real config. The bound keeps a huge
    # file from costing 30 times its size in memory (a node, a key and a number each).
    text = read_text(
        Path(path),
        where,
        limit=max_file_bytes(MAX_PRIORS_BYTES),
        shrink="keep only this config's leaves (`qupsample priors CONFIG -o FILE`)",
    )
    data = parse_yaml(text, where)
    if isinstance(data, Mapping) and "priors" in data:
        block, field = data["priors"], "priors"
    else:
        block, field = data, None
    if not isinstance(block, Mapping) or "token_counts" not in block:
        raise SpecError(
            "has no token_counts",
            where=where,
            field=field,
            fix="write it with `qupsample priors CONFIG -o FILE` (or olmix priors compute)",
        )
    return dict(validate(block, Priors, where, field).token_counts)


def priors_block(token_counts: Mapping[str, int]) -> dict[str, Any]:
    """olmix's priors: relative sizes (count / total) and token counts, keys sorted."""
    total = sum(token_counts.values())
    names = sorted(token_counts)
    return {
        "relative_sizes": {k: (token_counts[k] / total if total else 0.0) for k in names},
        "token_counts": {k: int(token_counts[k]) for k in names},
    }


def compute_priors(
    config: ConfigInput,
    *,
    storage_options: Mapping[str, Any] | None = None,
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    root: ProjectInput = None,
    warnings: list[str] | None = None,
    family: str | None = None,
) -> dict[str, int]:
    """Token counts of every data leaf of a config, keyed as olmix names leaves.

    Args:
        config: any olmix config (file, mapping or model) or a `SCHEME:PROFILE` pair.
        storage_options: s3fs options (endpoint_url, profile, anon, ...).
        cache: read and write the on-disk token-count cache.
        refresh: list storage again even where the cache has counts.
        cache_dir: the cache folder (default: see `cache.default_cache_dir`).
        progress: called as `progress(done, total)` while folders are listed.
        root: the project (see `qupsample.specs.open_project`): its specs build a
            `SCHEME:PROFILE` pair, its tokenizers give the bytes per token.
        warnings: where to add warnings (an unwritable or corrupt cache, empty leaves).
        family: the family a `SCHEME:PROFILE` pair is built from, where it is in several.

    Returns:
        Leaf name (`source:topic:bucket`, `source:topic`, `source:bucket`, `source`) ->
        tokens (the sum over the leaf's paths), sorted by name.

    Raises:
        StorageError: a path cannot be listed or matches nothing (names the leaf).
    """
    project = only_family(open_project(root), family, "priors")
    loaded = load_config(config, root=project)
    entries = config_entries(loaded.experiment)
    leaves = list(walk_leaves(entries))
    globs = list(dict.fromkeys(path for _, entry in leaves for path in entry.paths))
    try:
        counts = count_globs(
            globs,
            token_size(loaded.experiment, project.proxies),
            storage_options=storage_options,
            cache=cache,
            refresh=refresh,
            cache_dir=cache_dir,
            progress=progress,
            warnings=warnings,
        )
    except StorageError as exc:
        # A storage error names the glob that failed: say whose leaf it is.
        leaf = next((name for name, entry in leaves if exc.where in entry.paths), None)
        if leaf is None:
            raise
        raise exc.within(f"{loaded.where}: leaf {leaf}") from None
    if warnings is not None:
        warnings += empty_leaf_warnings(loaded.where, entries, counts)
    return {
        name: sum(counts[path].tokens for path in entry.paths)
        for name, entry in sorted(leaves, key=lambda item: item[0])
    }


def format_priors(token_counts: Mapping[str, int]) -> str:
    """The `priors:` block exactly as `olmix priors compute` prints it (keys sorted).

    The one place that writes YAML with PyYAML rather than `yamltext`: olmix prints
    this block with `yaml.dump(..., default_flow_style=False, sort_keys=True)`, and
    files meant to be compared with (or swapped for) olmix's own must match it byte for
    byte, float repr and quoting included. Every other file qupsample writes goes
    through `yamltext`, whose scalars cannot break out and whose floats are fixed.
    """
    text: str = yaml.dump(
        {"priors": priors_block(token_counts)}, default_flow_style=False, sort_keys=True
    )
    return text


__all__ = ["compute_priors", "format_priors"]
