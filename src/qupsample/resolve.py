"""Resolve a launch config into the exact share of training tokens each path supplies.

    from qupsample.resolve import resolve
    mix = resolve("generated/quality_upsampling/heavy_code/aggressive.yaml")
    pandas.DataFrame(mix.to_records())

The weight rule (every sibling weighted, or none and split by token counts) is stated
and enforced once, in `qupsample.weights`. The several paths of one leaf split its
share by token counts. Token counts come from storage listings (object size / token
size), cached on disk, or from priors.

Training tokens are what the trainer trains (`Proxies.budget`: 20 x non-embedding
parameters x chinchilla_multiple), or an explicit budget. Each leaf's repetition factor
= requested tokens / available tokens; a leaf over its `max_repetition_factor`
(inherited from the nearest ancestor that sets it, default 1.0) makes the mix
infeasible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qupsample.cache import CachedCount
from qupsample.counts import Counting, count_globs, empty_leaf_warnings
from qupsample.dialects import (
    ConfigInput,
    Dialect,
    OlmixConfig,
    config_entries,
    load_config,
    token_size,
)
from qupsample.errors import (
    Hint,
    StorageError,
    UserError,
    WeightError,
    shown_names,
)
from qupsample.mix import LeafRow, Mix, PathRow
from qupsample.mixblock import MixLeaf, flatten_mix
from qupsample.olmixmodels import ExperimentConfig
from qupsample.priors import PriorsInput, priors_counts
from qupsample.rules import (
    Finding,
    below_minimum_weight,
    check_mix,
    nominal_budget,
    plan_era_mix,
    stray_priors,
    unreadable_data_weights,
)
from qupsample.specmodels import MAX_TOKENS, Budget, Proxies
from qupsample.specs import Project, ProjectInput, only_family, open_project
from qupsample.weights import (
    Entry,
    LeafShare,
    needed_paths,
    repetition_factor,
    resolve_shares,
    shares_from_leaf_weights,
    walk_leaves,
)

# ----------------------------------------------------------------- config


def config_budget(config: ExperimentConfig, proxies: Proxies, where: str | None = None) -> Budget:
    """The run's training tokens: the trainer's (`Proxies.budget`) and the nominal figure.

    Raises:
        UserError: no known proxy model, or a budget that rounds to 0 tokens.
    """
    where = where or config.name
    proxy = config.proxy_model_id
    if proxy is None or proxy not in proxies.proxy_models:
        what = "has no proxy_model_id" if proxy is None else f"unknown proxy model {proxy!r}"
        raise UserError(
            what,
            Hint("or pass {}", "--training-tokens N", "training_tokens=N"),
            where=where,
            field="proxy_model_id",
            fix=f"known proxies: {', '.join(proxies.proxy_models)}",
        )
    multiple = config.chinchilla_multiple if config.chinchilla_multiple is not None else 1
    budget = proxies.budget(proxy, multiple, config.tokenizer)
    if budget.tokens <= 0:
        raise UserError(
            f"{multiple!r} x {proxies.tokens_per_parameter} x"
            f" {budget.parameters or budget.nominal_parameters:,} parameters rounds to 0"
            " training tokens",
            Hint("or pass {}", "--training-tokens N", "training_tokens=N"),
            where=where,
            field="chinchilla_multiple",
            fix="give a larger chinchilla_multiple",
        )
    return budget


def config_training_tokens(
    config: ExperimentConfig, proxies: Proxies, where: str | None = None
) -> int:
    """The tokens the trainer trains for a config (see `config_budget`)."""
    return config_budget(config, proxies, where).tokens


def _has_data_weights(entries: Sequence[Entry]) -> bool:
    return any(e.weight is not None or _has_data_weights(e.children) for e in entries)


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
    root: ProjectInput = None,
    priors: PriorsInput | None = None,
    weights_only: bool = False,
    family: str | None = None,
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
        root: the project (see `qupsample.specs.open_project`): its specs build a
            `SCHEME:PROFILE` pair, its proxy models and tokenizers size the run.
        priors: token counts per leaf (a mapping, or a priors file), on top of the
            config's own `priors:`; a counted leaf needs no listing.
        weights_only: list storage only where a leaf's weight needs counts (a group
            without weights), not for tokens and repetition: explicit weights and a
            `mix:` block then need no storage at all.
        family: the family of a `SCHEME:PROFILE` pair that is in several.

    Returns:
        The `Mix`. It is returned even when infeasible: see `Mix.infeasible` and
        `Mix.check_feasible()`.

    Raises:
        UserError: the config is invalid, weights cannot be normalized, a leaf has no
            count in the priors offline, or storage fails (a glob matching nothing,
            denied, unreachable, no credentials).
    """
    project = only_family(open_project(root), family, "resolve")
    loaded = load_config(config, root=project)
    model, entries = loaded.experiment, config_entries(loaded.experiment)
    size = token_size(model, project.proxies)
    findings = list(loaded.notes)
    budget = _budget(training_tokens, loaded, project.proxies, findings)
    leaf_counts, with_priors = _leaf_counts(loaded, entries, priors, findings)
    flat_mix = flatten_mix(loaded.mix, loaded.where) if loaded.mix is not None else None
    warnings: list[str] = []
    globs = [] if offline else _globs_to_count(entries, flat_mix, leaf_counts, weights_only)
    counting = Counting(storage_options, offline, None, cache, refresh, cache_dir)
    counts = _count(globs, size, counting, progress, warnings)
    warnings += empty_leaf_warnings(loaded.where, entries, counts)
    path_tokens = None if offline else {g: c.tokens for g, c in counts.items()}
    shares = _shares(loaded, entries, flat_mix, path_tokens, leaf_counts, weights_only, findings)
    if flat_mix is None and with_priors and offline:
        _require_counted(loaded.where, shares, leaf_counts)
    leaves, paths = _rows(loaded.where, shares, counts, budget)
    weights = [(leaf.leaf, leaf.weight) for leaf in leaves]
    minimum = model.minimum_weight
    findings += below_minimum_weight(loaded.where, weights, minimum, flat_mix is not None)
    warnings += _row_warnings(leaves, offline)
    warnings += [] if weights_only else _unknown_feasibility(leaves)
    return Mix(
        model.name, budget, size, tuple(leaves), tuple(paths), tuple(warnings), entries,
        tuple(shares), offline, minimum, loaded.dialect.value, tuple(map(str, findings)),
        tuple(findings),
    )  # fmt: skip


def _count(
    globs: Sequence[str],
    size: int,
    counting: Counting,
    progress: Callable[[int, int], None] | None,
    warnings: list[str],
) -> dict[str, CachedCount]:
    """Token counts of the globs: the cache, then storage listings."""
    if not globs:
        return {}
    return count_globs(
        globs, size, progress=progress, warnings=warnings, **counting.listing_kwargs()
    )


def _budget(
    given: int | None, loaded: OlmixConfig, proxies: Proxies, findings: list[Finding]
) -> int:
    """The training tokens: given, else the config's `max_tokens`, else the trainer's."""
    if given is not None:
        if not 0 < given <= MAX_TOKENS:
            raise UserError(
                f"must be between 1 and {MAX_TOKENS:.0e}, got {given}", where="training_tokens"
            )
        return given
    if loaded.max_tokens is not None:
        return loaded.max_tokens
    budget = config_budget(loaded.experiment, proxies, loaded.where)
    findings += budget_findings(loaded, proxies)
    return budget.tokens


def budget_findings(loaded: OlmixConfig, proxies: Proxies) -> list[Finding]:
    """A finding when the config's budget is olmix's nominal one: the trainer's size of
    its model with its tokenizer is unknown."""
    model = loaded.experiment
    proxy = model.proxy_model_id
    if loaded.max_tokens is not None or proxy is None or proxy not in proxies.proxy_models:
        return []
    multiple = model.chinchilla_multiple if model.chinchilla_multiple is not None else 1
    budget = proxies.budget(proxy, multiple, model.tokenizer)
    if budget.parameters is not None:
        return []
    return [
        nominal_budget(
            loaded.where, proxy, model.tokenizer, budget.nominal, proxies.trainer_tokenizers
        )
    ]


def _leaf_counts(
    loaded: OlmixConfig,
    entries: Sequence[Entry],
    priors: PriorsInput | None,
    findings: list[Finding],
) -> tuple[dict[str, int], bool]:
    """Token counts per leaf from the config's `priors:` and `priors`; whether any given.

    Keys that name no data leaf are findings (a typo would otherwise count nothing).
    """
    given = priors_counts(priors)
    leaves = [name for name, _ in walk_leaves(entries)]
    for counts, field in ((loaded.token_counts, "priors"), (given, "--priors")):
        stray = [key for key in counts or () if key not in set(leaves)]
        if stray:
            findings.append(stray_priors(loaded.where, field, stray, leaves))
    with_priors = loaded.token_counts is not None or given is not None
    return {**(loaded.token_counts or {}), **(given or {})}, with_priors


def _globs_to_count(
    entries: Sequence[Entry],
    flat_mix: Mapping[str, MixLeaf] | None,
    leaf_counts: Mapping[str, int],
    weights_only: bool,
) -> list[str]:
    """The globs whose token counts the shares (or, unless `weights_only`, tokens) need."""
    if flat_mix is None:
        return needed_paths(entries, leaf_counts, leaf_weights_only=weights_only)
    if weights_only:
        return []
    return [
        path
        for name, entry in walk_leaves(entries)
        if name in flat_mix and flat_mix[name].weight > 0 and name not in leaf_counts
        for path in entry.paths
    ]


def _shares(
    loaded: OlmixConfig,
    entries: Sequence[Entry],
    flat_mix: Mapping[str, MixLeaf] | None,
    path_tokens: Mapping[str, int] | None,
    leaf_counts: Mapping[str, int],
    weights_only: bool,
    findings: list[Finding],
) -> list[LeafShare]:
    """Each leaf's share: from the mix block (and its checks), else the data's weights."""
    try:
        if flat_mix is None:
            return resolve_shares(entries, path_tokens, leaf_counts, partial=weights_only)
        shares = shares_from_leaf_weights(
            entries,
            {name: leaf.weight for name, leaf in flat_mix.items()},
            {name: leaf.repetition_factor or 1.0 for name, leaf in flat_mix.items()},
            path_tokens,
            leaf_counts,
            partial=weights_only,
        )
    except WeightError as exc:
        # The weight maths names leaves; say which config they belong to.
        raise exc.within(loaded.where) from None
    findings += mix_findings(loaded, entries, flat_mix, leaf_counts)
    return shares


def mix_findings(
    loaded: OlmixConfig,
    entries: Sequence[Entry],
    flat_mix: Mapping[str, MixLeaf],
    leaf_counts: Mapping[str, int] | None = None,
) -> list[Finding]:
    """What olmix will silently do with a config's `mix:` block (see `check_mix`)."""
    implied = None
    unreadable = []
    if _has_data_weights(entries):
        try:
            implied = resolve_shares(entries, None, leaf_counts)
        except WeightError:
            unreadable.append(unreadable_data_weights(loaded.where))
    findings = [*check_mix(loaded.where, entries, flat_mix, implied, loaded.mix), *unreadable]
    if loaded.dialect is Dialect.FLAT:
        findings.append(plan_era_mix(loaded.where))
    return findings


def config_findings(loaded: OlmixConfig, proxies: Proxies) -> list[Finding]:
    """What `resolve --strict` says of a config from its text alone (no counts)."""
    findings = [*loaded.notes, *budget_findings(loaded, proxies)]
    if loaded.mix is not None:
        entries = config_entries(loaded.experiment)
        findings += mix_findings(loaded, entries, flatten_mix(loaded.mix, loaded.where))
    return findings


def _require_counted(
    where: str, shares: Sequence[LeafShare], leaf_counts: Mapping[str, int]
) -> None:
    """Offline with priors: every leaf whose weight needs counts must be counted."""
    unknown = [s.leaf for s in shares if s.weight is None and s.leaf not in leaf_counts]
    if unknown:
        raise UserError(
            f"no token count for {shown_names(unknown)}",
            Hint("or drop {} to list storage", "--offline", "offline=True"),
            where=where,
            field="priors",
            fix="count it with `qupsample priors CONFIG -o FILE` (or qupsample.priors)",
        )


def _rows(
    where: str, shares: Sequence[LeafShare], counts: Mapping[str, CachedCount], budget: int
) -> tuple[list[LeafRow], list[PathRow]]:
    """The leaf and path rows of the mix."""
    leaves: list[LeafRow] = []
    paths: list[PathRow] = []
    for share in shares:
        requested = None if share.weight is None else share.weight * budget
        if requested is not None and not math.isfinite(requested):
            raise UserError(
                f"weight {share.weight!r} x {budget:,} training tokens is not a finite"
                " number of tokens",
                where=where,
                field=share.leaf,
                fix="leaf weights are shares of the mix: keep them between 0 and 1",
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
            # A leaf of one path counted in priors: that path holds the leaf's tokens.
            alone = share.tokens if len(share.paths) == 1 else None
            paths.append(
                PathRow(
                    path.path,
                    share.leaf,
                    count.objects if count else None,
                    count.tokens if count else alone,
                    path.weight,
                    count.listed_at if count else None,
                )
            )
    return leaves, paths


def _row_warnings(leaves: Sequence[LeafRow], offline: bool) -> list[str]:
    warnings = []
    unknown = [leaf.leaf for leaf in leaves if leaf.weight is None]
    if offline and unknown:
        warnings.append(
            f"offline: {len(unknown)} leaf weight(s) need token counts: {', '.join(unknown)}"
        )
    return warnings


def _unknown_feasibility(leaves: Sequence[LeafRow]) -> list[str]:
    """Where some sampled leaves are counted and others not, say that feasibility is
    unknown (a budget from the counted leaves alone would overstate it)."""
    sampled = [leaf for leaf in leaves if leaf.weight != 0]
    unknown = [leaf.leaf for leaf in sampled if leaf.tokens is None]
    if not unknown or len(unknown) == len(sampled):
        return []
    return [
        f"feasibility unknown: no token count for {len(unknown)} sampled leaf(s):"
        f" {shown_names(unknown)} (count them with `qupsample priors CONFIG -o FILE`)"
    ]


_PRIORS_HINT = Hint(
    "count them once (`qupsample priors CONFIG -o priors.yaml`) and pass {}",
    "--priors priors.yaml",
    'priors="priors.yaml" (from qupsample.priors.compute_priors)',
)


def mix_tree(
    config: ConfigInput,
    project: Project,
    *,
    keep_zero: bool = False,
    counting: Counting | None = None,
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
        mix = resolve(config, root=project, weights_only=True, **counting.as_kwargs())
    except StorageError as exc:
        # Counts were needed and storage failed: a priors file is the way around it.
        raise exc.with_hints(_PRIORS_HINT) from None
    if mix.needs_counts:
        shown = shown_names(mix.needs_counts, 3)
        hints = [_PRIORS_HINT]
        if counting.offline:
            hints.append(Hint("or drop {} so storage is listed", "--offline", "offline=True"))
        raise UserError(f"needs token counts for {shown}", *hints, where=mix.name, field="mix")
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
