"""Every olmix config form, read into one model and written back out.

olmix has spoken three dialects:

- **flat**: the plan-era experiment config: settings, `sources` with weights and
  `max_repetition_factor` at the top level (optionally a `mix:` block).
- **launch**: the current `LaunchConfig` (`olmix launch run --variants FILE`):
  `infra`, `training`, `data`, `eval` and a `mix:` block where the weights live.
- **generation**: olmix's generation config (`olmix generate --config FILE`): `data`,
  `priors` (token counts per leaf), `swarm` and `max_tokens`.

`load_config` detects the form from the top-level keys and reads it into an
`OlmixConfig`: the settings and data tree as an `ExperimentConfig`, plus the form's
`mix`, `priors` token counts, `eval` and budget. `launch_document`,
`generation_document` and `flat_document` write a config in each form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from qupsample.errors import SpecError, short_repr, shown_names
from qupsample.forms import Dialect
from qupsample.olmixmodels import (
    DataNode,
    EvalConfig,
    ExperimentConfig,
    GenerationConfig,
    LaunchConfig,
    Priors,
    SourceConfig,
    fold_data,
)
from qupsample.rules import (
    Finding,
    dtype_findings,
    folder_findings,
    ignored_data_fields,
    ignored_keys,
    key_name,
    missing_eval,
    missing_mix,
    path_findings,
    trainer_findings,
)
from qupsample.specmodels import DTYPE_SIZES, Proxies
from qupsample.specs import Project, ProjectInput, open_project
from qupsample.weights import Entry, number_problem
from qupsample.yamlfiles import parse_yaml, read_text, validate, validation_error

M = TypeVar("M", bound=BaseModel)


FORMS = {
    Dialect.FLAT: "plan-era experiment config (top-level `sources`)",
    Dialect.LAUNCH: "current olmix launch config (`infra`, `training`, `data`, `eval`, `mix`)",
    Dialect.GENERATION: "olmix generation config (`data`, `priors`, `swarm`, `max_tokens`)",
}
_LAUNCH_KEYS = frozenset({"infra", "training", "eval"})
# Where a flat setting lives in the launch config.
INFRA_FIELDS = ("budget", "workspace", "cluster", "priority", "nodes", "gpus", "preemptible")
TRAINING_FIELDS = (
    "proxy_model_id",
    "tokenizer",
    "chinchilla_multiple",
    "seed",
    "global_batch_size",
)


@dataclass(frozen=True)
class OlmixConfig:
    """Any olmix config, read: its form, data tree and settings, and what it adds."""

    dialect: Dialect
    where: str
    experiment: ExperimentConfig
    mix: Mapping[str, Any] | None = None
    token_counts: Mapping[str, int] | None = None
    eval: EvalConfig | None = None
    max_tokens: int | None = None
    swarm: Mapping[str, Any] | None = None
    notes: tuple[Finding, ...] = ()
    # The input's top-level keys (none for a pair built from specs).
    keys: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """The config's `name`."""
        return self.experiment.name


ConfigInput = str | Path | Mapping[str, Any] | ExperimentConfig | OlmixConfig
_PAIR = re.compile(r"^[^:/\\]+:[^:/\\]+$")


def load_config(
    config: ConfigInput, *, root: ProjectInput = None, keep_zero: bool = False
) -> OlmixConfig:
    """Any olmix config from a file path, a `SCHEME:PROFILE` pair, a mapping, or a model.

    A `SCHEME:PROFILE` string that is not an existing file is built in memory from the
    specs of the project `root` (see `open_project`), with its weight-0 buckets when
    `keep_zero`. The project's tokenizers check a launch config's `data.dtype`.

    Raises:
        SpecError: the file is missing or not YAML, is none of the known forms, or
            does not validate as the form its keys say it is.
    """
    if isinstance(config, OlmixConfig):
        return config
    if isinstance(config, ExperimentConfig):
        return OlmixConfig(Dialect.FLAT, config.name, config, mix=config.mix)
    project = open_project(root)
    if isinstance(config, Mapping):
        return read_config(dict(config), "config", project)
    path = Path(config)
    where = str(config)
    if isinstance(config, str) and _PAIR.match(config) and not path.exists():
        return _built(config, project, keep_zero)
    if isinstance(config, str) and ":" not in config and not path.exists():
        raise SpecError(
            "file not found",
            where=where,
            fix="pass a config file, or SCHEME:PROFILE (e.g. aggressive:heavy_code)",
        )
    data = parse_yaml(read_text(path, where), where)
    _refuse_spec_file(data, where, path.stem)
    return read_config(data, where, project)


def _refuse_spec_file(data: Any, where: str, stem: str) -> None:
    """A scheme or profile file where a config was expected: point to `SCHEME:PROFILE`."""
    if not isinstance(data, Mapping) or "name" in data:
        return
    keys = set(data) - {"description"}
    if keys == {"buckets"}:
        kind, pair = "scheme", f"{stem}:PROFILE"
    elif keys == {"sources"}:
        kind, pair = "profile", f"SCHEME:{stem}"
    else:
        return
    raise SpecError(
        f"is a {kind} spec, not an olmix config",
        where=where,
        fix=f"pass the pair {pair} (`qupsample list` names the schemes and profiles)",
    )


def _built(pair: str, project: Project, keep_zero: bool = False) -> OlmixConfig:
    from qupsample.build import apply_overrides, build_config, find_target

    scheme, profile = pair.split(":")
    settings, data_root = apply_overrides(project, None)
    target = find_target(project, scheme, profile)
    config = build_config(project, target, settings, data_root, keep_zero)
    return OlmixConfig(Dialect.FLAT, f"{scheme}:{profile}", config)


def detect_dialect(data: Any, where: str) -> Dialect:
    """The form of a parsed config, from its top-level keys."""
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"is {kind}, not an olmix config (a mapping)", where=where)
    keys = set(data)
    if "sources" in keys:
        return Dialect.FLAT
    if keys & _LAUNCH_KEYS:
        return Dialect.LAUNCH
    if "data" in keys:
        return Dialect.GENERATION
    found = shown_names(sorted(map(key_name, keys)), 8) or "none"
    known = "; ".join(FORMS.values())
    raise SpecError(
        f"not an olmix config: top-level keys {found}", where=where, fix=f"known: {known}"
    )


def read_config(data: Any, where: str, project: Project) -> OlmixConfig:
    """A parsed olmix config of any form, validated and read into an `OlmixConfig`."""
    loaded = _read_config(data, where, project)
    return replace(loaded, keys=frozenset(map(key_name, data)))


def _read_config(data: Any, where: str, project: Project) -> OlmixConfig:
    dialect = detect_dialect(data, where)
    priors = validate(data["priors"], Priors, where, "priors") if "priors" in data else None
    counts = dict(priors.token_counts) if priors is not None else None
    reader = {Dialect.FLAT: _read_flat, Dialect.LAUNCH: _read_launch}.get(dialect, _read_generation)
    return replace(reader(data, where, project.proxies), token_counts=counts)


def _read_flat(data: Any, where: str, proxies: Proxies) -> OlmixConfig:
    flat = validate(data, ExperimentConfig, where)
    notes = folder_findings(proxies, flat, where)
    notes += trainer_findings(proxies, flat, where, section="")
    notes += path_findings(flat, where, "")
    return OlmixConfig(Dialect.FLAT, where, flat, mix=flat.mix, notes=tuple(notes))


def _read_launch(data: Any, where: str, proxies: Proxies) -> OlmixConfig:
    launch = validate(data, LaunchConfig, where)
    infra, training = launch.infra, launch.training
    settings = {f: getattr(infra, f) for f in INFRA_FIELDS if f in infra.model_fields_set}
    settings |= {f: getattr(training, f) for f in TRAINING_FIELDS}
    fields = {
        "name": launch.name,
        "description": launch.description,
        "sources": launch.data.sources,
        "dtype": launch.data.dtype,
        **{k: v for k, v in settings.items() if v is not None},
    }
    experiment = validate(fields, ExperimentConfig, where)
    notes = ignored_data_fields(launch.data.sources, where)
    notes += dtype_findings(proxies, launch.data.dtype, training.tokenizer, where, launch.data)
    notes += trainer_findings(proxies, training, where)
    notes += folder_findings(proxies, experiment, where)
    notes += path_findings(experiment, where, "data")
    notes += ignored_keys(launch, where, allowed={"priors"})
    for section in ("infra", "training", "eval"):
        if getattr(launch, section) is not None:
            notes += ignored_keys(getattr(launch, section), where, section=section)
    notes += [missing_eval(where)] if launch.eval is None else []
    notes += [missing_mix(where)] if launch.mix is None else []
    return OlmixConfig(
        Dialect.LAUNCH, where, experiment, mix=launch.mix, eval=launch.eval, notes=tuple(notes)
    )


def _read_generation(data: Any, where: str, proxies: Proxies) -> OlmixConfig:
    generation = validate(data, GenerationConfig, where)
    swarm = generation.swarm or {}
    minimum = swarm.get("minimum_weight")
    seed = swarm.get("seed")
    if minimum is not None and (problem := number_problem(minimum)):
        raise SpecError(problem, where=where, field="swarm.minimum_weight")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        what = f"must be an integer, got {short_repr(seed)}"
        raise SpecError(what, where=where, field="swarm.seed")
    fields = {
        "name": generation.name,
        "sources": generation.data.sources,
        "dtype": generation.data.dtype,
        "minimum_weight": minimum,
        "seed": seed,
    }
    experiment = validate(fields, ExperimentConfig, where, "swarm")
    notes = ignored_data_fields(generation.data.sources, where)
    notes += path_findings(experiment, where, "data")
    notes += ignored_keys(generation, where)
    return OlmixConfig(
        Dialect.GENERATION,
        where,
        experiment,
        max_tokens=generation.max_tokens,
        swarm=generation.swarm,
        notes=tuple(notes),
    )


def config_entries(config: ExperimentConfig | OlmixConfig) -> tuple[Entry, ...]:
    """The config's sources as a weight tree (`qupsample.weights.Entry`)."""
    if isinstance(config, OlmixConfig):
        config = config.experiment

    def entry(path: tuple[str, ...], node: DataNode, field: str | None, kids: list[Entry]) -> Entry:
        paths = () if kids else tuple(node.paths or ())
        return Entry(node.name, node.weight, node.max_repetition_factor, tuple(kids), paths)

    return tuple(fold_data(config.sources, entry))


def token_size(config: ExperimentConfig, proxies: Proxies) -> int:
    """Bytes per token: the config's `dtype`, else its tokenizer's, else uint32."""
    return DTYPE_SIZES[dtype_of(config, proxies)]


# ---------------------------------------------------------------- writing


def data_sources(
    sources: Sequence[SourceConfig], mix: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The `data.sources` of current olmix: names and paths only (weights live in `mix`).

    With `mix` (as `mixblock.olmix_mix` builds it), entries the mix leaves out are left
    out here too, so every data leaf has a mix entry.
    """

    def body(
        path: tuple[str, ...], node: DataNode, field: str | None, kids: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        if mix is not None and _mix_node(mix, path) is None:
            return None
        return {"name": node.name, **_contents(node, field, kids)}

    return fold_data(sources, body)


def _mix_node(mix: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any] | None:
    """The nested mix's node for a data node's path of names (None: not in the mix)."""
    node: Any = mix
    for name in path:
        node = node.get(name) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def _contents(node: DataNode, field: str | None, kids: list[dict[str, Any]]) -> dict[str, Any]:
    """A data entry's children under their field, or its paths."""
    return {field: kids} if field else {"paths": list(node.paths or ())}


def dtype_of(config: ExperimentConfig, proxies: Proxies) -> str:
    """The token dtype: the config's `dtype`, else its tokenizer's, else uint32."""
    return config.dtype or proxies.dtype(config.tokenizer)


def launch_document(
    config: ExperimentConfig,
    mix: Mapping[str, Any],
    eval_tasks: Mapping[str, Mapping[str, str]],
    *,
    eval_type: str = "inloop",
    proxies: Proxies,
    where: str | None = None,
) -> dict[str, Any]:
    """A current olmix launch config as plain data, checked against olmix's schema.

    Args:
        config: the settings and data tree.
        mix: the nested mix (`mixblock.olmix_mix`); data leaves it omits are omitted.
        eval_tasks: the in-loop task families (`family -> task id -> metric`).
        eval_type: the eval section's `type`.
        where: the name to show in errors (default: the config's name).
        proxies: the project's tokenizer dtypes.

    Raises:
        SpecError: a field current olmix requires is missing (e.g. no `budget`).
    """
    infra = {f: getattr(config, f) for f in INFRA_FIELDS if getattr(config, f) is not None}
    training = {f: getattr(config, f) for f in TRAINING_FIELDS if getattr(config, f) is not None}
    document: dict[str, Any] = {"name": config.name}
    if config.description:
        document["description"] = config.description
    document |= {
        "infra": infra,
        "training": training,
        "data": {"sources": data_sources(config.sources, mix), "dtype": dtype_of(config, proxies)},
        "eval": {"type": eval_type, "tasks": {k: dict(v) for k, v in eval_tasks.items()}},
        "mix": dict(mix),
    }
    _check_form(document, LaunchConfig, where or config.name)
    return document


def generation_document(
    config: ExperimentConfig,
    priors: Mapping[str, Any],
    *,
    max_tokens: int,
    proxies: Proxies,
    swarm: Mapping[str, Any] | None = None,
    where: str | None = None,
) -> dict[str, Any]:
    """An olmix generation config as plain data: data, priors, swarm, max_tokens.

    `priors` is the block as `olmix priors compute` writes it (`priors.priors_block`):
    the token counts of every data leaf (keys sorted) and their relative sizes.
    """
    swarm_block = dict(swarm or {})
    if not swarm_block:
        swarm_block = {"seed": config.seed if config.seed is not None else 42, "variants": 1}
        if config.variants is not None:
            swarm_block["variants"] = config.variants
        if config.minimum_weight is not None:
            swarm_block["minimum_weight"] = config.minimum_weight
    document = {
        "name": config.name,
        "data": {"sources": data_sources(config.sources), "dtype": dtype_of(config, proxies)},
        "priors": dict(priors),
        "swarm": swarm_block,
        "max_tokens": max_tokens,
    }
    _check_form(document, GenerationConfig, where or config.name)
    return document


def flat_document(config: ExperimentConfig, mix: Mapping[str, Any]) -> dict[str, Any]:
    """A plan-era flat experiment config: each level's weight is its share in `mix`."""

    def body(
        path: tuple[str, ...], node: DataNode, field: str | None, kids: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        level = _mix_node(mix, path)
        if level is None:
            return None
        weights: dict[str, Any] = {"weight": level["weight"]}
        if "repetition_factor" in level and level["repetition_factor"] != 1.0:
            weights["max_repetition_factor"] = level["repetition_factor"]
        return {"name": node.name, **weights, **_contents(node, field, kids)}

    sources = fold_data(config.sources, body)
    settings = config.model_dump(
        exclude={"name", "description", "sources", "mix"}, exclude_none=True
    )
    settings = {k: v for k, v in settings.items() if k in ExperimentConfig.model_fields}
    document: dict[str, Any] = {"name": config.name}
    if config.description:
        document["description"] = config.description
    document |= settings
    document["sources"] = sources
    _check_form(document, ExperimentConfig, config.name)
    return document


def _check_form(document: Mapping[str, Any], model: type[BaseModel], where: str) -> None:
    try:
        model.model_validate(document)
    except ValidationError as exc:
        error = validation_error(SpecError, where, exc, model)
        raise error.within(f"cannot write the {model.__name__}") from None


__all__ = [
    "FORMS",
    "ConfigInput",
    "Dialect",
    "OlmixConfig",
    "data_sources",
    "detect_dialect",
    "dtype_of",
    "flat_document",
    "generation_document",
    "launch_document",
    "load_config",
    "read_config",
]
