"""Convert any olmix config to another form: above all, plan-era flat -> current launch.

The mix written is exactly what `resolve` says the input means (source weights
honoured, weightless groups split by token counts), so a hand migration's mistakes
(heavy_wiki's 30% wikipedia turned into 0.006%) cannot happen here.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from qupsample.counts import Counting
from qupsample.dialects import (
    FORMS,
    ConfigInput,
    Dialect,
    flat_document,
    generation_document,
    launch_document,
    load_config,
)
from qupsample.errors import Hint, UserError, located
from qupsample.files import write_output
from qupsample.mixblock import rounding_note
from qupsample.resolve import (
    PriorsInput,
    config_entries,
    config_training_tokens,
    mix_tree,
    priors_counts,
)
from qupsample.specs import command_inputs, load_eval_suite, load_project, load_proxies
from qupsample.weights import walk_leaves
from qupsample.yamltext import comment_text, yaml_block


class Target(StrEnum):
    """The form `convert` writes."""

    launch = "launch"
    generation = "generation"
    flat = "flat"


@dataclass(frozen=True)
class Converted:
    """One converted config: its name, input form and YAML text."""

    name: str
    source: str
    dialect: Dialect
    text: str


def convert(
    config: ConfigInput,
    *,
    to: Target | str = Target.launch,
    keep_zero: bool = False,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    priors: PriorsInput | None = None,
    root: Path | str | None = None,
    usage_path: str = "FILE",
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
) -> Converted:
    """Convert a config of any olmix form to `to` (default: current olmix's launch config).

    Args:
        config: a config file (any form), a mapping, a model, or `SCHEME:PROFILE`.
        to: "launch" (current `LaunchConfig` with `mix:`), "generation" (`data`,
            `priors`, `swarm`, `max_tokens`) or "flat" (plan-era).
        keep_zero: keep entries of share 0 (in `data`, at weight 0 in `mix`).
        offline: touch no storage (weightless groups then need priors).
        storage_options: s3fs options, where token counts must be listed.
        priors: token counts per leaf (a mapping or a priors file).
        root: the project whose eval suite (and specs, for a pair) are used.
        usage_path: the path the header's usage line shows.
        cache, refresh, cache_dir: the token-count cache, as in `resolve`.

    Returns:
        The converted config.

    Raises:
        UserError: the input is invalid, counts are needed but unavailable, or the
            input lacks a field the target form requires.
    """
    target = Target(to)
    loaded = load_config(config, root=root, keep_zero=keep_zero)
    experiment = loaded.experiment
    if target is Target.generation:
        from qupsample.priors import compute_priors

        counts = {**(loaded.token_counts or {}), **(priors_counts(priors) or {})}
        leaves = [name for name, _ in walk_leaves(config_entries(loaded))]
        if not set(leaves) <= set(counts):
            if offline:
                missing = sorted(set(leaves) - set(counts))
                raise UserError(
                    located(loaded.where, "priors", f"no token count for {', '.join(missing[:3])}"),
                    Hint("pass {}", "--priors FILE", 'priors="FILE"'),
                    Hint("or drop {} so storage is listed", "--offline", "offline=True"),
                )
            counts = compute_priors(
                loaded,
                storage_options=storage_options,
                cache=cache,
                refresh=refresh,
                cache_dir=cache_dir,
            )
        document = generation_document(
            experiment,
            {name: counts[name] for name in leaves},
            max_tokens=loaded.max_tokens or config_training_tokens(experiment, root=root),
            swarm=loaded.swarm,
            proxies=load_proxies(root),
        )
        body = yaml_block(document)
        note = "olmix's generation config (olmix generate --config FILE --base BASE)"
    else:
        counting = Counting(storage_options, offline, priors, cache, refresh, cache_dir)
        mix = mix_tree(loaded, keep_zero=keep_zero, counting=counting)
        if target is Target.flat:
            body = yaml_block(flat_document(experiment, mix), fixed=True)
            note = "a plan-era flat experiment config (olmix launch run --config FILE)"
        else:
            if loaded.eval is not None:
                tasks, kind = loaded.eval.tasks, loaded.eval.type
            else:
                suite = load_eval_suite(load_project(root), "inloop").spec
                tasks, kind = suite.tasks, suite.type
            body = yaml_block(
                launch_document(
                    experiment,
                    mix,
                    tasks,
                    eval_type=kind,
                    where=loaded.where,
                    proxies=load_proxies(root),
                ),
                fixed=True,
            )
            note = "current olmix's launch config"
    words = f"Converted by qupsample from {loaded.where} ({FORMS[loaded.dialect]}) to {note}."
    if target is not Target.generation:
        words += (
            " Each weight is the entry's share within its parent, as `qupsample resolve`"
            f" reads the input, {rounding_note().split(', ', 1)[1]}."
        )
    header = [
        f"# {comment_text(experiment.name)}",
        *([f"# {comment_text(experiment.description)}"] if experiment.description else []),
        "#",
        *(f"# {line}" for line in textwrap.wrap(comment_text(words), 78, break_long_words=False)),
    ]
    if target is Target.launch:
        header += ["#", f"# Usage: olmix launch run --variants {comment_text(usage_path)}"]
    return Converted(
        experiment.name, loaded.where, loaded.dialect, "\n".join(header) + "\n\n" + body
    )


def convert_files(
    configs: Sequence[str | Path],
    *,
    output: Path | str | None = None,
    out: Path | str | None = None,
    to: Target | str = Target.launch,
    keep_zero: bool = False,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    priors: PriorsInput | None = None,
    root: Path | str | None = None,
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
) -> list[tuple[Converted, Path | None]]:
    """Convert several configs; write each to `output`, to `out/<name>.yaml`, or nowhere.

    Everything is converted in memory first, then written atomically, so an error
    leaves no file half-done. No input file is ever overwritten.

    Returns:
        Each converted config with the path it was written to (None: not written).

    Raises:
        UserError: both or a misused destination, a name unfit for a file name, two
            configs with one name, a destination that is an input, or any error of
            `convert`.
    """
    if output is not None and out is not None:
        raise UserError(
            located(
                "convert", None, "a single output file and an output folder exclude each other"
            ),
            Hint("pass {} or --out, not both", "-o", "output or out"),
        )
    if output is not None and len(configs) > 1:
        raise UserError(
            located(str(output), None, f"{len(configs)} configs cannot go to one file"),
            Hint("use {} (one file per config)", "--out DIR", 'out="DIR"'),
        )
    inputs = command_inputs(configs, root, priors if isinstance(priors, str | Path) else None)
    priors = priors_counts(priors)  # read a priors file once for every config
    results: list[tuple[Converted, Path | None]] = []
    for config in configs:
        destination = Path(output) if output is not None else None
        if out is not None:
            name = load_config(config, root=root).name
            if not _SAFE_NAME.match(name):
                raise UserError(
                    located(
                        str(config),
                        "name",
                        f"{name!r} is not usable as a file name",
                    ),
                    Hint("convert it alone with {}", "-o FILE", 'output="FILE"'),
                )
            destination = Path(out) / f"{name}.yaml"
        try:
            converted = convert(
                config,
                to=to,
                keep_zero=keep_zero,
                offline=offline,
                storage_options=storage_options,
                priors=priors,
                root=root,
                usage_path=str(destination) if destination is not None else "FILE",
                cache=cache,
                refresh=refresh,
                cache_dir=cache_dir,
            )
        except UserError as exc:
            # Several inputs: say which one failed (nothing is written then).
            if len(configs) == 1 or exc.message.startswith(f"{config}: "):
                raise
            message = f"{config}: {exc.message} (nothing was written)"
            raise type(exc)(message, *exc.hints) from None
        results.append((converted, destination))
    seen: dict[Path, str] = {}
    for converted, destination in results:
        if destination is None:
            continue
        inputs.check(destination)
        resolved = destination.resolve()
        if resolved in seen:
            raise UserError(
                located(
                    str(destination),
                    None,
                    f"both {seen[resolved]} and {converted.source} convert to this file",
                ),
                Hint("convert them separately with {}", "-o FILE", 'output="FILE"'),
            )
        seen[resolved] = converted.source
    for converted, destination in results:
        if destination is not None:
            write_output(destination, converted.text, inputs)
    return results


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

__all__ = ["Converted", "Target", "convert", "convert_files"]
