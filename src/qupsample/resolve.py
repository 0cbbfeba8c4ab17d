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

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qupsample.cache import CachedCount
from qupsample.configs import ExperimentConfig, Priors, QualityConfig
from qupsample.counts import Counting, count_globs
from qupsample.dialects import (
    ConfigInput,
    Dialect,
    OlmixConfig,
    dtype_of,
    load_config,
    read_priors,
)
from qupsample.errors import (
    Hint,
    StorageError,
    UserError,
    WeightError,
    located,
)
from qupsample.mix import LeafRow, Mix, PathRow
from qupsample.mixblock import MixLeaf, flatten_mix
from qupsample.models import DTYPE_SIZES, MAX_TOKENS
from qupsample.specs import load_proxies
from qupsample.weights import (
    Entry,
    LeafShare,
    needed_paths,
    repetition_factor,
    resolve_shares,
    shares_from_leaf_weights,
    walk_leaves,
)
from qupsample.yamlfiles import validate

PriorsInput = Mapping[str, int] | Path | str
# How far olmix's leaf weights may sum from 1, and data weights differ from the mix.
MIX_TOLERANCE = 1e-6


# ----------------------------------------------------------------- config


def _quality_entries(buckets: Sequence[QualityConfig]) -> tuple[Entry, ...]:
    return tuple(
        Entry(b.name, b.weight, b.max_repetition_factor, paths=tuple(b.paths)) for b in buckets
    )


def config_entries(config: ExperimentConfig | OlmixConfig) -> tuple[Entry, ...]:
    """The config's sources as a weight tree (`qupsample.weights.Entry`)."""
    if isinstance(config, OlmixConfig):
        config = config.experiment
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
        elif source.quality is not None:
            children = _quality_entries(source.quality)
        else:
            children = ()
        entries.append(
            Entry(
                source.name,
                source.weight,
                source.max_repetition_factor,
                children,
                paths=tuple(source.paths or ()) if not children else (),
            )
        )
    return tuple(entries)


def token_size(config: ExperimentConfig, root: Path | str | None = None) -> int:
    """Bytes per token: the config's `dtype`, else its tokenizer's, else uint32."""
    return DTYPE_SIZES[dtype_of(config, load_proxies(root))]


def config_training_tokens(
    config: ExperimentConfig, where: str | None = None, root: Path | str | None = None
) -> int:
    """Training tokens: tokens_per_parameter x parameters(proxy_model_id) x chinchilla_multiple.

    The proxy models come from the project's `schemes/proxies.yaml` (see `root`).

    Raises:
        UserError: no known proxy model, or a budget that rounds to 0 tokens.
    """
    where = where or config.name
    proxy = config.proxy_model_id
    proxies = load_proxies(root)
    if proxy is None or proxy not in proxies.proxy_models:
        what = "has no proxy_model_id" if proxy is None else f"unknown proxy model {proxy!r}"
        raise UserError(
            located(
                where,
                "proxy_model_id",
                what,
                f"known proxies: {', '.join(proxies.proxy_models)}",
            ),
            Hint("or pass {}", "--training-tokens N", "training_tokens=N"),
        )
    multiple = config.chinchilla_multiple if config.chinchilla_multiple is not None else 1
    budget = proxies.training_tokens(proxy, multiple)
    if budget <= 0:
        raise UserError(
            located(
                where,
                "chinchilla_multiple",
                f"{multiple!r} x {proxies.tokens_per_parameter} x"
                f" {proxies.proxy_models[proxy]:,} parameters rounds to 0 training tokens",
                "give a larger chinchilla_multiple",
            ),
            Hint("or pass {}", "--training-tokens N", "training_tokens=N"),
        )
    return budget


def priors_counts(given: PriorsInput | None) -> dict[str, int] | None:
    """Token counts per leaf from a mapping or a priors file (None stays None)."""
    if given is None:
        return None
    if isinstance(given, Mapping):
        return dict(validate({"token_counts": dict(given)}, Priors, "priors").token_counts)
    return read_priors(given)


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


def _has_data_weights(entries: Sequence[Entry]) -> bool:
    return any(e.weight is not None or _has_data_weights(e.children) for e in entries)


def _shown(names: Sequence[str], limit: int = 4) -> str:
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_mix(
    where: str,
    entries: Sequence[Entry],
    mix: Mapping[str, MixLeaf],
    implied: Sequence[LeafShare] | None,
) -> list[str]:
    """What olmix will silently do with a `mix:` block, one line per kind of problem.

    Args:
        where: the config, as shown in messages.
        entries: the config's data tree.
        mix: the flattened mix block.
        implied: the leaf shares the data's own weights give (None: the data has no
            weights), compared with the mix.
    """
    leaves = [name for name, _ in walk_leaves(entries)]
    known = set(leaves)
    lines = []
    missing = [name for name in leaves if name not in mix]
    zero = [name for name in leaves if name in mix and mix[name].weight == 0]
    if missing:
        lines.append(
            located(
                where,
                "mix",
                f"no entry for data leaf {_shown(missing)}",
                "olmix drops those leaves silently; add them to the mix",
            )
        )
    if zero:
        lines.append(
            located(
                where,
                "mix",
                f"weight 0 for data leaf {_shown(zero)}",
                "olmix drops those leaves silently",
            )
        )
    stray = [name for name in mix if name not in known]
    if stray:
        lines.append(
            located(
                where,
                "mix",
                f"{_shown(stray)} names no data leaf",
                "olmix ignores it; fix the name or add the data",
            )
        )
    total = math.fsum(mix[name].weight for name in leaves if name in mix)
    if abs(total - 1.0) > MIX_TOLERANCE:
        lines.append(
            located(
                where,
                "mix",
                f"data leaf weights sum to {total:.9g}, not 1",
                "olmix does not renormalize; make them sum to 1",
            )
        )
    if implied is not None:
        differ = [
            share.leaf
            for share in implied
            if share.weight is not None
            and abs(share.weight - (mix[share.leaf].weight if share.leaf in mix else 0.0))
            > MIX_TOLERANCE
        ]
        if differ:
            lines.append(
                located(
                    where,
                    "data",
                    f"weights disagree with the mix for {_shown(differ)}",
                    "olmix uses the mix; drop the data weights or fix them",
                )
            )
    return lines


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
    priors: PriorsInput | None = None,
    weights_only: bool = False,
) -> Mix:
    """Compute the share of each leaf and path of any olmix config.

    A config with a `mix:` block (current olmix) resolves to what olmix will sample:
    each data leaf's weight is its flattened mix weight, not renormalized, and
    `Mix.mismatches` says where the mix and the data disagree. Otherwise the weights in
    the data tree are normalized level by level (token counts where none are given).

    Args:
        config: a config file's path (any olmix form), a `SCHEME:PROFILE` pair, a
            parsed config (dict), an `ExperimentConfig` or an `OlmixConfig`.
        training_tokens: the training budget; default the config's `max_tokens`, else
            20 x parameters x chinchilla_multiple.
        storage_options: s3fs options (endpoint_url, profile, anon, ...) for remote paths.
        cache: read and write the on-disk token-count cache.
        refresh: list storage again even where the cache has counts (and update it).
        offline: touch no storage: weights from explicit weights and priors only.
        cache_dir: the cache folder; default $QUPSAMPLE_CACHE_DIR, $XDG_CACHE_HOME/qupsample
            or ~/.cache/qupsample.
        progress: called as `progress(done, total)` while folders are listed.
        root: the project whose specs build a `SCHEME:PROFILE` pair.
        priors: token counts per leaf (a mapping, or a priors file), on top of the
            config's own `priors:`; a counted leaf needs no listing.
        weights_only: list storage only where a leaf's weight needs counts (a group
            without weights), not for tokens and repetition: explicit weights and a
            `mix:` block then need no storage at all.

    Returns:
        The `Mix`. It is returned even when infeasible: see `Mix.infeasible` and
        `Mix.check_feasible()`.

    Raises:
        UserError: the config is invalid, weights cannot be normalized, a leaf has no
            count in the priors offline, or storage fails (a glob matching nothing,
            denied, unreachable, no credentials).
    """
    loaded = load_config(config, root=root)
    model = loaded.experiment
    entries = config_entries(model)
    size = token_size(model, root)
    if training_tokens is not None:
        if not 0 < training_tokens <= MAX_TOKENS:
            raise UserError(
                located(
                    "training_tokens",
                    None,
                    f"must be between 1 and {MAX_TOKENS:.0e}, got {training_tokens}",
                )
            )
        budget = training_tokens
    elif loaded.max_tokens is not None:
        budget = loaded.max_tokens
    else:
        budget = config_training_tokens(model, loaded.where, root)
    given = priors_counts(priors)
    with_priors = loaded.token_counts is not None or given is not None
    leaf_counts = {**(loaded.token_counts or {}), **(given or {})}
    flat_mix = flatten_mix(loaded.mix, loaded.where) if loaded.mix is not None else None
    warnings: list[str] = []

    if flat_mix is not None:
        globs = [
            path
            for name, entry in walk_leaves(entries)
            if name in flat_mix and flat_mix[name].weight > 0 and name not in leaf_counts
            for path in entry.paths
            if not weights_only
        ]
    else:
        globs = needed_paths(entries, leaf_counts, leaf_weights_only=weights_only)
    counts = {}
    if not offline and globs:
        counts = count_globs(
            globs,
            size,
            storage_options=storage_options,
            cache=cache,
            refresh=refresh,
            cache_dir=cache_dir,
            progress=progress,
            warnings=warnings,
        )
    warnings += empty_leaf_warnings(loaded.where, entries, counts)
    path_tokens = None if offline else {g: c.tokens for g, c in counts.items()}
    mismatches: list[str] = []
    try:
        if flat_mix is not None:
            shares = shares_from_leaf_weights(
                entries,
                {name: leaf.weight for name, leaf in flat_mix.items()},
                {name: leaf.repetition_factor or 1.0 for name, leaf in flat_mix.items()},
                path_tokens,
                leaf_counts,
                partial=weights_only,
            )
            implied = (
                resolve_shares(entries, None, leaf_counts) if _has_data_weights(entries) else None
            )
            mismatches = check_mix(loaded.where, entries, flat_mix, implied)
            if loaded.dialect is Dialect.FLAT:
                mismatches.append(
                    located(
                        loaded.where,
                        "mix",
                        "a plan-era config's mix: block is read here, but plan-era olmix"
                        " ignores it and current olmix refuses the config",
                        "convert it with `qupsample convert`",
                    )
                )
        else:
            shares = resolve_shares(entries, path_tokens, leaf_counts, partial=weights_only)
    except WeightError as exc:
        # The weight maths names leaves; say which config they belong to.
        raise WeightError(f"{loaded.where}: {exc.message}", *exc.hints) from None
    if flat_mix is None:
        unknown = [s.leaf for s in shares if s.weight is None and s.leaf not in leaf_counts]
        if unknown and with_priors and offline:
            raise UserError(
                located(
                    loaded.where,
                    "priors",
                    f"no token count for {_shown(unknown)}",
                    "count it with `qupsample priors CONFIG -o FILE` (or qupsample.priors)",
                ),
                Hint("or drop {} to list storage", "--offline", "offline=True"),
            )

    leaves: list[LeafRow] = []
    paths: list[PathRow] = []
    for share in shares:
        requested = None if share.weight is None else share.weight * budget
        if requested is not None and not math.isfinite(requested):
            raise UserError(
                located(
                    loaded.where,
                    share.leaf,
                    f"weight {share.weight!r} x {budget:,} training tokens is not a finite"
                    " number of tokens",
                    "leaf weights are shares of the mix: keep them between 0 and 1",
                )
            )
        leaves.append(
            LeafRow(
                share.leaf,
                share.weight,
                share.tokens,
                requested,
                repetition_factor(requested, share.tokens),
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
        low = [leaf.leaf for leaf in leaves if leaf.below(minimum)]
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
        loaded.dialect.value,
        (*loaded.notes, *mismatches),
    )


_PRIORS_HINT = Hint(
    "count them once (`qupsample priors CONFIG -o priors.yaml`) and pass {}",
    "--priors priors.yaml",
    'priors="priors.yaml" (from qupsample.priors.compute_priors)',
)


def mix_tree(
    config: ConfigInput,
    *,
    keep_zero: bool = False,
    counting: Counting | None = None,
    root: Path | str | None = None,
) -> dict[str, Any]:
    """The nested `mix:` block of a config (`Mix.to_olmix_mix`), from weights alone.

    Explicit weights (or the config's own `mix:`) need no storage. A group without
    weights needs token counts: from the config's own priors or `counting` (priors,
    cache, storage listings; never storage with `offline`).

    Raises:
        UserError: counts are needed and cannot be had (the message says what to run).
    """
    counting = counting or Counting()
    try:
        mix = resolve(config, root=root, weights_only=True, **counting.as_kwargs())
    except StorageError as exc:
        # Counts were needed and storage failed: a priors file is the way around it.
        raise StorageError(exc.message, *exc.hints, _PRIORS_HINT) from None
    if mix.needs_counts:
        shown = _shown(mix.needs_counts, 3)
        hints = [_PRIORS_HINT]
        if counting.offline:
            hints.append(Hint("or drop {} so storage is listed", "--offline", "offline=True"))
        raise UserError(located(mix.name, "mix", f"needs token counts for {shown}"), *hints)
    return mix.to_olmix_mix(keep_zero=keep_zero)


__all__ = [
    "LeafRow",
    "Mix",
    "PathRow",
    "check_mix",
    "config_entries",
    "load_config",
    "mix_tree",
    "resolve",
    "token_size",
]
