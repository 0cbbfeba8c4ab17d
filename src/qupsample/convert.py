"""Convert any olmix config to another form: above all, plan-era flat -> current launch.

The mix written is exactly what `resolve` says the input means (source weights
honoured, weightless groups split by token counts), so a hand migration's mistakes
(heavy_wiki's 30% wikipedia turned into 0.006%) cannot happen here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qupsample.counts import Counting
from qupsample.dialects import (
    FORMS,
    ConfigInput,
    Dialect,
    OlmixConfig,
    config_entries,
    flat_document,
    generation_document,
    launch_document,
    load_config,
)
from qupsample.errors import Hint, UserError, shown_names
from qupsample.files import Inputs, write_output
from qupsample.mixblock import rounding_note
from qupsample.olmixmodels import ExperimentConfig, GenerationConfig, LaunchConfig
from qupsample.priors import PriorsInput, priors_block, priors_counts
from qupsample.resolve import config_training_tokens, mix_tree
from qupsample.specmodels import safe_name
from qupsample.specs import (
    Project,
    ProjectInput,
    command_inputs,
    load_eval_suite,
    only_family,
    open_project,
)
from qupsample.weights import walk_leaves
from qupsample.yamltext import comment_text, yaml_block


@dataclass(frozen=True)
class Converted:
    """One converted config: its name, input form and YAML text.

    `form` names the input's form for people (`launch`, or `older launch (weights in
    data)`); `dropped` lists the input's top-level parts the output does not carry.
    """

    name: str
    source: str
    dialect: Dialect
    text: str
    form: str = ""
    dropped: tuple[str, ...] = ()


# An older olmix launch config: the nested form, weights in `data`, no `mix:` block.
OLDER_LAUNCH = "older launch (weights in data)"
_OLDER_LAUNCH_FORM = "older olmix launch config (`infra`, `training`, weights in `data`, no `mix`)"
# Top-level parts each written form has no place for (name, settings, data and weights
# are carried by every form).
_NO_PLACE = {
    Dialect.LAUNCH: frozenset({"priors", "swarm", "max_tokens"}),
    Dialect.GENERATION: frozenset({"description", "infra", "eval", "mix", "group_id"}),
    Dialect.FLAT: frozenset({"priors", "swarm", "max_tokens", "eval", "group_id"}),
}
_MODELLED = {
    Dialect.FLAT: frozenset({*ExperimentConfig.model_fields, "priors"}),
    Dialect.LAUNCH: frozenset({*LaunchConfig.model_fields, "priors"}),
    Dialect.GENERATION: frozenset(GenerationConfig.model_fields),
}


def input_form(loaded: OlmixConfig) -> tuple[str, str]:
    """The input's form: a short label and the words of the converted file's header."""
    if loaded.dialect is Dialect.LAUNCH and loaded.mix is None:
        return OLDER_LAUNCH, _OLDER_LAUNCH_FORM
    return loaded.dialect.value, FORMS[loaded.dialect]


def not_carried(loaded: OlmixConfig, target: Dialect) -> tuple[str, ...]:
    """The input's top-level keys the `target` form leaves out: those it has no place
    for, and those no form models (olmix ignores them)."""
    modelled = _MODELLED[loaded.dialect]
    return tuple(sorted(k for k in loaded.keys if k in _NO_PLACE[target] or k not in modelled))


def convert(
    config: ConfigInput,
    *,
    to: Dialect | str = Dialect.LAUNCH,
    keep_zero: bool = False,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    priors: PriorsInput | None = None,
    root: ProjectInput = None,
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
    target = Dialect(to)
    project = open_project(root)
    loaded = load_config(config, root=project, keep_zero=keep_zero)
    counting = Counting(storage_options, offline, priors, cache, refresh, cache_dir)
    if target is Dialect.GENERATION:
        body = yaml_block(_generation(loaded, project, counting))
        note = "olmix's generation config (olmix generate --config FILE --base BASE)"
    elif target is Dialect.FLAT:
        mix = mix_tree(loaded, project, keep_zero=keep_zero, counting=counting)
        body = yaml_block(flat_document(loaded.experiment, mix), fixed=True)
        note = "a plan-era flat experiment config (olmix launch run --config FILE)"
    else:
        mix = mix_tree(loaded, project, keep_zero=keep_zero, counting=counting)
        body = yaml_block(_launch(loaded, project, mix), fixed=True)
        note = "current olmix's launch config"
    form, form_words = input_form(loaded)
    text = _header(loaded, target, form_words, note, usage_path) + "\n\n" + body
    dropped = not_carried(loaded, target)
    return Converted(loaded.name, loaded.where, loaded.dialect, text, form, dropped)


def _generation(loaded: OlmixConfig, project: Project, counting: Counting) -> dict[str, Any]:
    """olmix's generation config: every data leaf's count from the config, priors or
    (not offline) storage listings."""
    from qupsample.priors import compute_priors

    counts = {**(loaded.token_counts or {}), **(priors_counts(counting.priors) or {})}
    leaves = [name for name, _ in walk_leaves(config_entries(loaded))]
    if not set(leaves) <= set(counts):
        if counting.offline:
            missing = sorted(set(leaves) - set(counts))
            raise UserError(
                f"no token count for {shown_names(missing, 3)}",
                Hint("pass {}", "--priors FILE", 'priors="FILE"'),
                Hint("or drop {} so storage is listed", "--offline", "offline=True"),
                where=loaded.where,
                field="priors",
            )
        counts = compute_priors(loaded, root=project, **counting.listing_kwargs())
    experiment = loaded.experiment
    budget = loaded.max_tokens or config_training_tokens(experiment, project.proxies, loaded.where)
    return generation_document(
        experiment,
        priors_block({name: counts[name] for name in leaves}),
        max_tokens=budget,
        swarm=loaded.swarm,
        proxies=project.proxies,
    )


def _launch(loaded: OlmixConfig, project: Project, mix: Mapping[str, Any]) -> dict[str, Any]:
    """Current olmix's launch config: the input's eval, else the project's in-loop suite."""
    if loaded.eval is not None:
        tasks, kind = loaded.eval.tasks, loaded.eval.type
    else:
        suite = load_eval_suite(project, "inloop").spec
        tasks, kind = suite.tasks, suite.type
    return launch_document(
        loaded.experiment, mix, tasks, eval_type=kind, where=loaded.where, proxies=project.proxies
    )


def _header(
    loaded: OlmixConfig, target: Dialect, form_words: str, note: str, usage_path: str
) -> str:
    """The comment lines above a converted config: what it was, what it is, how to run it."""
    experiment = loaded.experiment
    words = f"Converted by qupsample from {loaded.where} ({form_words}) to {note}."
    if target is not Dialect.GENERATION:
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
    if target is Dialect.LAUNCH:
        header += ["#", f"# Usage: olmix launch run --variants {comment_text(usage_path)}"]
    return "\n".join(header)


def convert_files(
    configs: Sequence[str | Path],
    *,
    output: Path | str | None = None,
    out: Path | str | None = None,
    to: Dialect | str = Dialect.LAUNCH,
    keep_zero: bool = False,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    priors: PriorsInput | None = None,
    root: ProjectInput = None,
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
    family: str | None = None,
) -> list[tuple[Converted, Path | None]]:
    """Convert several configs; write each to `output`, to `out/<name>.yaml`, or nowhere.

    Everything is converted in memory first, then written atomically, so an error
    leaves no file half-done. No input file is ever overwritten. `family` picks the
    family of a `SCHEME:PROFILE` pair in several.

    Returns:
        Each converted config with the path it was written to (None: not written).

    Raises:
        UserError: both or a misused destination, a name unfit for a file name, two
            configs with one name, a destination that is an input, or any error of
            `convert`.
    """
    if output is not None and out is not None:
        raise UserError(
            "a single output file and an output folder exclude each other",
            Hint("pass {} or --out, not both", "-o", "output or out"),
            where="convert",
        )
    if output is not None and len(configs) > 1:
        raise UserError(
            f"{len(configs)} configs cannot go to one file",
            Hint("use {} (one file per config)", "--out DIR", 'out="DIR"'),
            where=str(output),
        )
    project = only_family(open_project(root), family, "convert")
    inputs = command_inputs(configs, project, priors if isinstance(priors, str | Path) else None)
    priors = priors_counts(priors)  # read a priors file once for every config
    results: list[tuple[Converted, Path | None]] = []
    for config in configs:
        destination = _destination(config, project, output, out)
        try:
            converted = convert(
                config,
                to=to,
                keep_zero=keep_zero,
                offline=offline,
                storage_options=storage_options,
                priors=priors,
                root=project,
                usage_path=str(destination) if destination is not None else "FILE",
                cache=cache,
                refresh=refresh,
                cache_dir=cache_dir,
            )
        except UserError as exc:
            # Several inputs: say which one failed (nothing is written then).
            if len(configs) == 1:
                raise
            raise exc.within(str(config), " (nothing was written)") from None
        results.append((converted, destination))
    _check_destinations(results, inputs)
    for converted, destination in results:
        if destination is not None:
            write_output(destination, converted.text, inputs)
    return results


def _destination(
    config: str | Path, project: Project, output: Path | str | None, out: Path | str | None
) -> Path | None:
    """Where one converted config goes: `output`, `out/<name>.yaml`, or nowhere."""
    if out is None:
        return Path(output) if output is not None else None
    name = load_config(config, root=project).name
    if not safe_name(name):
        raise UserError(
            f"{name!r} is not usable as a file name",
            Hint("convert it alone with {}", "-o FILE", 'output="FILE"'),
            where=str(config),
            field="name",
        )
    return Path(out) / f"{name}.yaml"


def _check_destinations(results: Sequence[tuple[Converted, Path | None]], inputs: Inputs) -> None:
    """No destination is an input, and no two configs go to one file."""
    seen: dict[Path, str] = {}
    for converted, destination in results:
        if destination is None:
            continue
        inputs.check(destination)
        resolved = destination.resolve()
        if resolved in seen:
            raise UserError(
                f"both {seen[resolved]} and {converted.source} convert to this file",
                Hint("convert them separately with {}", "-o FILE", 'output="FILE"'),
                where=str(destination),
            )
        seen[resolved] = converted.source


__all__ = ["Converted", "convert", "convert_files"]
