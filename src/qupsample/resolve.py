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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    InfeasibleMixError,
    StorageError,
    UserError,
    WeightError,
    located,
)
from qupsample.mixblock import MixLeaf, flatten_mix, format_mix_block, olmix_mix
from qupsample.models import (
    DTYPE_SIZES,
    MAX_TOKENS,
    PROXY_MODEL_PARAMETERS,
    ExperimentConfig,
    QualityConfig,
    training_tokens,
)
from qupsample.weights import (
    Entry,
    LeafShare,
    needed_paths,
    resolve_shares,
    shares_from_leaf_weights,
    walk_leaves,
)

PriorsInput = Mapping[str, int] | Path | str
# How far olmix's leaf weights may sum from 1, and data weights differ from the mix.
MIX_TOLERANCE = 1e-6
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
    dialect: str = "flat"
    mismatches: tuple[str, ...] = ()

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
            " max_repetition_factor, or train on fewer tokens",
            Hint("or pass {} to accept it", "--allow-repetition"),
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

    def to_olmix_mix(self, *, keep_zero: bool = False) -> dict[str, Any]:
        """The nested `mix:` mapping current olmix reads: weights within their parent.

        Each sibling group is rounded to 10 decimals with largest remainder, so it sums
        to exactly 1 as printed; leaves carry `repetition_factor` (their limit). Leaves
        of share 0 are left out, or kept with weight 0 with `keep_zero`.
        """
        return olmix_mix(self.entries, self.shares, keep_zero=keep_zero)

    def to_mix_block(self) -> str:
        """`to_olmix_mix()` as YAML text under a top-level `mix:` key."""
        return format_mix_block(self.to_olmix_mix())

    def to_pandas(self, kind: str = "leaves") -> Any:
        """`to_records(kind)` as a `pandas.DataFrame`: `kind` is "leaves" or "paths".

        Raises:
            UserError: pandas is not installed (the `notebook` extra).
        """
        records = self.to_records(kind)
        try:
            import pandas
        except ImportError:
            raise UserError(
                "to_pandas: pandas is not installed — pip install 'qupsample[notebook]'"
            ) from None
        # Named columns, so that a mix without rows still has them.
        columns = (
            ["path", "leaf", "objects", "tokens", "weight"]
            if kind == "paths"
            else [
                "leaf",
                "weight",
                "tokens",
                "requested_tokens",
                "repetition_factor",
                "max_repetition_factor",
            ]
        )
        return pandas.DataFrame.from_records(records, columns=columns)

    def _feasibility(self) -> str:
        """One phrase: feasible, not feasible (how many over), or unknown (no counts)."""
        over = self.infeasible
        if over:
            return f"not feasible: {len(over)} {'leaf' if len(over) == 1 else 'leaves'} over limit"
        if self.needs_counts:
            return f"{len(self.needs_counts)} weights need token counts"
        if any(leaf.weight and leaf.repetition_factor is None for leaf in self.leaves):
            return "feasibility unknown: no token counts"
        return "feasible"

    def __repr__(self) -> str:
        leaves = len(self.leaves)
        return (
            f"Mix({self.name!r}, {leaves} {'leaf' if leaves == 1 else 'leaves'},"
            f" {self.training_tokens:,} training tokens, {self._feasibility()})"
        )

    def _repr_html_(self) -> str:
        """The leaves as a compact HTML table (weights in %, tokens, repetition, flags)."""
        from html import escape

        def cell(text: str, *, right: bool = True, style: str = "") -> str:
            align = "text-align:right;" if right else "text-align:left;"
            return f'<td style="{align}{style}">{escape(text)}</td>'

        low = self.minimum_weight or 0.0
        header = "".join(
            f'<th style="text-align:{"left" if name in ("leaf", "flag") else "right"}">{name}</th>'
            for name in ("leaf", "weight %", "tokens", "requested", "repetition", "max", "flag")
        )
        rows = []
        for leaf in self.leaves:
            flag, style = "", ""
            if leaf.over_limit:
                flag, style = "OVER LIMIT", "color:#c62828;font-weight:bold;"
            elif leaf.weight is not None and 0 < leaf.weight < low:
                flag, style = "below minimum_weight", "color:#b26a00;"
            requested = leaf.requested_tokens
            rows.append(
                "<tr>"
                + cell(leaf.leaf, right=False, style=style)
                + cell("?" if leaf.weight is None else f"{leaf.weight * 100:.3f}")
                + cell("?" if leaf.tokens is None else f"{leaf.tokens:,}")
                + cell("?" if requested is None else f"{round(requested):,}")
                + cell(
                    "?" if leaf.repetition_factor is None else f"{leaf.repetition_factor:.3f}x",
                    style=style,
                )
                + cell(f"{leaf.max_repetition_factor:g}x")
                + cell(flag, right=False, style=style)
                + "</tr>"
            )
        notes = [f"training tokens {self.training_tokens:,}", self._feasibility()]
        if self.max_training_tokens is not None:
            notes.append(f"largest feasible budget {self.max_training_tokens:,.0f} tokens")
        if self.offline:
            notes.append("offline")
        caption = f"<b>{escape(self.name)}</b>: {escape('; '.join(notes))}"
        remarks = "".join(f"<li>{escape(line)}</li>" for line in (*self.mismatches, *self.warnings))
        return (
            '<table class="qupsample-mix">'
            f'<caption style="text-align:left">{caption}</caption>'
            f"<thead><tr>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>" + (f"<ul>{remarks}</ul>" if remarks else "")
        )


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


def token_size(config: ExperimentConfig) -> int:
    """Bytes per token: the config's `dtype`, else its tokenizer's, else uint32."""
    return DTYPE_SIZES[dtype_of(config)]


def config_training_tokens(config: ExperimentConfig, where: str | None = None) -> int:
    """Training tokens of a config: 20 x parameters(proxy_model_id) x chinchilla_multiple.

    Raises:
        UserError: no known proxy model, or a budget that rounds to 0 tokens.
    """
    where = where or config.name
    proxy = config.proxy_model_id
    if proxy is None or proxy not in PROXY_MODEL_PARAMETERS:
        what = "has no proxy_model_id" if proxy is None else f"unknown proxy model {proxy!r}"
        raise UserError(
            located(
                where,
                "proxy_model_id",
                what,
                f"known proxies: {', '.join(PROXY_MODEL_PARAMETERS)}",
            ),
            Hint("or pass {}", "--training-tokens N", "training_tokens=N"),
        )
    multiple = config.chinchilla_multiple if config.chinchilla_multiple is not None else 1
    budget = training_tokens(proxy, multiple)
    if budget <= 0:
        raise UserError(
            located(
                where,
                "chinchilla_multiple",
                f"{multiple!r} x 20 x {PROXY_MODEL_PARAMETERS[proxy]:,} parameters rounds to 0"
                " training tokens",
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
        counts: dict[str, int] = {}
        for key, value in given.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= MAX_TOKENS
            ):
                raise UserError(
                    located(
                        "priors",
                        str(key),
                        f"must be a token count 0..{MAX_TOKENS:.0e}, got {value!r}",
                    )
                )
            counts[str(key)] = value
        return counts
    return read_priors(given)


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
    size = token_size(model)
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
        budget = config_training_tokens(model, loaded.where)
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
