"""Resolve a launch config into the exact share of training tokens each path supplies.

    from qupsample.resolve import resolve
    mix = resolve("generated/quality_upsampling/heavy_code/aggressive.yaml")
    pandas.DataFrame(mix.to_records())

The rule is the same at every level (sources in the config, topics in a source, quality
buckets in a topic): where at least one sibling has a `weight`, weights are normalized
across the siblings and a sibling without one counts as 0; where no sibling has a
weight, the parent's share is split in proportion to the siblings' token counts. The
several paths of one leaf split its share by token counts. Token counts come from
storage listings (object size / token size), cached on disk.

Training tokens = 20 x parameters(proxy_model_id) x chinchilla_multiple, or an explicit
budget. Each leaf's repetition factor = requested tokens / available tokens; a leaf over
its `max_repetition_factor` (inherited from the nearest ancestor that sets it, default
1.0) makes the mix infeasible.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qupsample.cache import CachedCount, TokenCache, default_cache_dir
from qupsample.errors import InfeasibleMixError, SpecError, UserError, located
from qupsample.models import (
    DEFAULT_DTYPE,
    DTYPE_SIZES,
    PROXY_MODEL_PARAMETERS,
    TOKENIZER_DTYPES,
    ExperimentConfig,
    QualityConfig,
    training_tokens,
)
from qupsample.specs import parse_yaml, read_text, validation_message
from qupsample.weights import (
    Entry,
    LeafShare,
    format_mix_block,
    needed_paths,
    olmix_mix,
    resolve_shares,
)

ConfigInput = str | Path | Mapping[str, Any] | ExperimentConfig
# Relative slack before a repetition factor counts as over its limit (float noise).
_TOLERANCE = 1e-9


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
        return (
            self.repetition_factor is not None
            and self.repetition_factor > self.max_repetition_factor * (1 + _TOLERANCE)
        )


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
    def max_training_tokens(self) -> float | None:
        """The largest budget this mix can train on without any leaf over its limit."""
        limits = [
            leaf.tokens * leaf.max_repetition_factor / leaf.weight
            for leaf in self.leaves
            if leaf.weight and leaf.tokens is not None
        ]
        return min(limits) if limits else None

    def check_feasible(self) -> None:
        """Raise `InfeasibleMixError` naming every leaf over its repetition limit."""
        over = self.infeasible
        if not over:
            return
        worst = sorted(over, key=lambda leaf: -(leaf.repetition_factor or 0))
        details = "; ".join(
            f"{leaf.leaf} needs {leaf.requested_tokens:,.0f} of {leaf.tokens:,} tokens"
            f" ({leaf.repetition_factor:.2f}x, max {leaf.max_repetition_factor:g}x)"
            for leaf in worst[:3]
        )
        if len(worst) > 3:
            details += f" (and {len(worst) - 3} more leaves)"
        raise InfeasibleMixError(
            f"{self.name}: mix not feasible: {details} — lower those weights, raise"
            " max_repetition_factor, train on fewer tokens, or pass --allow-repetition"
        )

    def to_records(self, kind: str = "paths") -> list[dict[str, Any]]:
        """Rows as dicts, ready for `pandas.DataFrame`: `kind` is "paths" or "leaves"."""
        if kind == "paths":
            return [_path_record(row) for row in self.paths]
        if kind == "leaves":
            return [_leaf_record(row) for row in self.leaves]
        raise ValueError(f"kind must be 'paths' or 'leaves', got {kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape: training_tokens, leaves, paths."""
        return {
            "training_tokens": self.training_tokens,
            "leaves": self.to_records("leaves"),
            "paths": self.to_records("paths"),
        }

    def to_json(self) -> str:
        """`to_dict()` as JSON text (2-space indent, one trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        """The path rows as CSV: path, leaf, objects, tokens, weight."""
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["path", "leaf", "objects", "tokens", "weight"], lineterminator="\n"
        )
        writer.writeheader()
        for record in self.to_records("paths"):
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
        return buffer.getvalue()

    def to_olmix_mix(self) -> dict[str, Any]:
        """The nested `mix:` mapping newer olmix reads: weights within their parent.

        Each sibling group is rounded to 6 decimals with largest remainder, so it sums
        to exactly 1 as printed; leaves carry `repetition_factor` (their limit).
        """
        return olmix_mix(self.entries, self.shares)

    def to_mix_block(self) -> str:
        """`to_olmix_mix()` as YAML text under a top-level `mix:` key."""
        return format_mix_block(self.to_olmix_mix())


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


# ----------------------------------------------------------------- config


_PAIR = re.compile(r"^[^:/\\]+:[^:/\\]+$")


def load_config(config: ConfigInput, *, root: Path | str | None = None) -> ExperimentConfig:
    """A launch config from a file path, a `SCHEME:PROFILE` pair, a mapping, or the model.

    A `SCHEME:PROFILE` string that is not an existing file is rendered in memory from
    the specs of the project at `root` (found from the current folder by default).
    """
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, Mapping):
        data: Any = dict(config)
        where = "config"
    else:
        path = Path(config)
        where = str(config)
        if isinstance(config, str) and _PAIR.match(config) and not path.exists():
            from qupsample.renderer import render

            scheme, profile = config.split(":")
            where = f"{scheme}:{profile} (rendered)"
            text = render(scheme, profile, root=root)
            return ExperimentConfig.model_validate(parse_yaml(text, where))
        data = parse_yaml(read_text(path, where), where)
    if not isinstance(data, dict):
        raise SpecError(located(where, None, "expected a mapping (an olmix experiment config)"))
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_message(where, exc, ExperimentConfig)) from None


def _quality_entries(buckets: Sequence[QualityConfig]) -> tuple[Entry, ...]:
    return tuple(
        Entry(b.name, b.weight, b.max_repetition_factor, paths=tuple(b.paths)) for b in buckets
    )


def config_entries(config: ExperimentConfig) -> tuple[Entry, ...]:
    """The config's sources as a weight tree (`qupsample.weights.Entry`)."""
    entries = []
    for source in config.sources:
        if source.topics is not None:
            children = tuple(
                Entry(
                    topic.name,
                    topic.weight,
                    topic.max_repetition_factor,
                    children=_quality_entries(topic.quality) if topic.quality else (),
                    paths=tuple(topic.paths or ()),
                )
                for topic in source.topics
            )
            entries.append(
                Entry(source.name, source.weight, source.max_repetition_factor, children)
            )
        elif source.quality is not None:
            entries.append(
                Entry(
                    source.name,
                    source.weight,
                    source.max_repetition_factor,
                    _quality_entries(source.quality),
                )
            )
        else:
            entries.append(
                Entry(
                    source.name,
                    source.weight,
                    source.max_repetition_factor,
                    paths=tuple(source.paths or ()),
                )
            )
    return tuple(entries)


def token_size(config: ExperimentConfig) -> int:
    """Bytes per token: the config's `dtype`, else its tokenizer's, else uint32."""
    dtype = config.dtype or TOKENIZER_DTYPES.get(config.tokenizer or "", DEFAULT_DTYPE)
    return DTYPE_SIZES[dtype]


def config_training_tokens(config: ExperimentConfig) -> int:
    """Training tokens of a config: 20 x parameters(proxy_model_id) x chinchilla_multiple."""
    proxy = config.proxy_model_id
    if proxy is None or proxy not in PROXY_MODEL_PARAMETERS:
        what = "has no proxy_model_id" if proxy is None else f"unknown proxy model {proxy!r}"
        raise UserError(
            located(
                config.name,
                "proxy_model_id",
                what,
                f"pass --training-tokens N (known proxies: {', '.join(PROXY_MODEL_PARAMETERS)})",
            )
        )
    multiple = config.chinchilla_multiple if config.chinchilla_multiple is not None else 1
    return training_tokens(proxy, multiple)


# ---------------------------------------------------------------- counting


def _count(
    globs: Sequence[str],
    size: int,
    storage_options: Mapping[str, Any] | None,
    cache: TokenCache | None,
    refresh: bool,
    progress: Callable[[int, int], None] | None,
    warnings: list[str],
) -> dict[str, CachedCount]:
    from qupsample.storage import count_tokens, storage_location

    counts: dict[str, CachedCount] = {}
    locations = {glob: storage_location(glob, storage_options) for glob in globs}
    if cache is not None and not refresh:
        for glob in globs:
            hit = cache.get(glob, locations[glob], size)
            if hit is not None:
                counts[glob] = hit
    missing = [glob for glob in globs if glob not in counts]
    if missing:
        listed_at = time.time()
        fresh = count_tokens(
            missing, token_size=size, storage_options=storage_options, progress=progress
        )
        for glob, count in fresh.items():
            counts[glob] = CachedCount(count.objects, count.bytes, count.tokens, listed_at)
            if cache is not None:
                try:
                    cache.put(glob, locations[glob], size, counts[glob])
                except OSError as exc:
                    # The counts are good; an unwritable cache must not throw them away.
                    warnings.append(
                        f"cannot write the token-count cache in {cache.directory}"
                        f" ({exc.strerror or exc}); counts were not cached — set --cache-dir"
                        " or QUPSAMPLE_CACHE_DIR to a writable folder, or pass --no-cache"
                    )
                    cache = None
    return counts


# ---------------------------------------------------------------- resolve


def resolve(
    config: ConfigInput,
    *,
    training_tokens: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    cache: bool = True,
    refresh: bool = False,
    offline: bool = False,
    cache_dir: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    root: Path | str | None = None,
) -> Mix:
    """Compute the normalized share of each leaf and path of a launch config.

    Args:
        config: a config file's path, a `SCHEME:PROFILE` pair, a parsed config (dict),
            or an `ExperimentConfig`.
        training_tokens: the training budget; default 20 x parameters x chinchilla_multiple.
        storage_options: s3fs options (endpoint_url, profile, anon, ...) for remote paths.
        cache: read and write the on-disk token-count cache.
        refresh: list storage again even where the cache has counts (and update it).
        offline: touch no storage: leaf weights from explicit weights only.
        cache_dir: the cache folder; default $QUPSAMPLE_CACHE_DIR, $XDG_CACHE_HOME/qupsample
            or ~/.cache/qupsample.
        progress: called as `progress(done, total)` while folders are listed.
        root: the project whose specs render a `SCHEME:PROFILE` pair.

    Returns:
        The `Mix`. It is returned even when infeasible: see `Mix.infeasible` and
        `Mix.check_feasible()`.

    Raises:
        UserError: the config is invalid, weights cannot be normalized, or storage fails
            (a glob matching nothing, denied, unreachable, no credentials).
    """
    model = load_config(config, root=root)
    entries = config_entries(model)
    size = token_size(model)
    budget = config_training_tokens(model) if training_tokens is None else training_tokens
    if budget <= 0:
        raise UserError(located("--training-tokens", None, f"must be > 0, got {budget}"))
    warnings: list[str] = []
    counts: dict[str, CachedCount] = {}
    if not offline:
        store = TokenCache(Path(cache_dir) if cache_dir else default_cache_dir()) if cache else None
        counts = _count(
            needed_paths(entries), size, storage_options, store, refresh, progress, warnings
        )
        if store is not None and store.corrupt:
            warnings.append(
                f"{len(store.corrupt)} unreadable cache file(s) in {store.directory}"
                f" (e.g. {store.corrupt[0].name}); counted again"
            )
    shares = resolve_shares(entries, None if offline else {g: c.tokens for g, c in counts.items()})

    leaves: list[LeafRow] = []
    paths: list[PathRow] = []
    for share in shares:
        requested = None if share.weight is None else share.weight * budget
        repetition = (
            requested / share.tokens
            if requested is not None and share.tokens
            else (0.0 if requested == 0 and share.tokens is not None else None)
        )
        leaves.append(
            LeafRow(
                share.leaf,
                share.weight,
                share.tokens,
                requested,
                repetition,
                share.max_repetition_factor,
            )
        )
        for path in share.paths:
            count = counts.get(path.path)
            paths.append(
                PathRow(
                    path.path,
                    share.leaf,
                    count.objects if count else None,
                    count.tokens if count else None,
                    path.weight,
                    count.listed_at if count else None,
                )
            )
    minimum = model.minimum_weight
    if minimum:
        low = [leaf.leaf for leaf in leaves if leaf.weight and leaf.weight < minimum]
        if low:
            warnings.append(
                f"{len(low)} leaf weight(s) below minimum_weight {minimum:g} (olmix drops them):"
                f" {', '.join(low)}"
            )
    if offline:
        unknown = [leaf.leaf for leaf in leaves if leaf.weight is None]
        if unknown:
            warnings.append(
                f"offline: {len(unknown)} leaf weight(s) need token counts: {', '.join(unknown)}"
            )
    return Mix(
        model.name,
        budget,
        size,
        tuple(leaves),
        tuple(paths),
        tuple(warnings),
        entries,
        tuple(shares),
        offline,
        minimum,
    )


__all__ = [
    "LeafRow",
    "Mix",
    "PathRow",
    "config_entries",
    "load_config",
    "resolve",
    "token_size",
]
