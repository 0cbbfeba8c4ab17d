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

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from qupsample.configs import (
    EvalConfig,
    ExperimentConfig,
    GenerationConfig,
    LaunchConfig,
    Priors,
    QualityConfig,
    SourceConfig,
    TopicConfig,
)
from qupsample.errors import SpecError, located, short_repr
from qupsample.models import DEFAULT_DTYPE, Proxies
from qupsample.specs import load_proxies
from qupsample.yamlfiles import (
    max_file_bytes,
    parse_yaml,
    read_text,
    validate,
    validation_message,
)

M = TypeVar("M", bound=BaseModel)
# The largest priors file read (unless $QUPSAMPLE_MAX_FILE_BYTES says otherwise).
MAX_PRIORS_BYTES = 4 * 1024 * 1024


class Dialect(StrEnum):
    """The olmix config forms qupsample reads and writes."""

    FLAT = "flat"
    LAUNCH = "launch"
    GENERATION = "generation"


FORMS = {
    Dialect.FLAT: "plan-era experiment config (top-level `sources`)",
    Dialect.LAUNCH: "current olmix launch config (`infra`, `training`, `data`, `eval`, `mix`)",
    Dialect.GENERATION: "olmix generation config (`data`, `priors`, `swarm`, `max_tokens`)",
}
_LAUNCH_KEYS = frozenset({"infra", "training", "eval"})
_GENERATION_KEYS = frozenset({"swarm", "max_tokens"})
# Where a flat setting lives in the launch config.
INFRA_FIELDS = ("budget", "workspace", "cluster", "priority", "nodes", "gpus", "preemptible")
TRAINING_FIELDS = (
    "proxy_model_id",
    "tokenizer",
    "chinchilla_multiple",
    "seed",
    "global_batch_size",
)
# Fields of data entries the plan-era form had and current olmix ignores.
IGNORED_DATA_FIELDS = ("max_repetition_factor", "max_topic_ratio")


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
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The config's `name`."""
        return self.experiment.name


ConfigInput = str | Path | Mapping[str, Any] | ExperimentConfig | OlmixConfig
_PAIR = re.compile(r"^[^:/\\]+:[^:/\\]+$")


def load_config(
    config: ConfigInput, *, root: Path | str | None = None, keep_zero: bool = False
) -> OlmixConfig:
    """Any olmix config from a file path, a `SCHEME:PROFILE` pair, a mapping, or a model.

    A `SCHEME:PROFILE` string that is not an existing file is built in memory from the
    specs of the project at `root` (found from the current folder by default), with its
    weight-0 buckets when `keep_zero`.

    Raises:
        SpecError: the file is missing or not YAML, is none of the known forms, or
            does not validate as the form its keys say it is.
    """
    if isinstance(config, OlmixConfig):
        return config
    if isinstance(config, ExperimentConfig):
        return OlmixConfig(Dialect.FLAT, config.name, config, mix=config.mix)
    if isinstance(config, Mapping):
        return read_config(dict(config), "config")
    path = Path(config)
    where = str(config)
    if isinstance(config, str) and _PAIR.match(config) and not path.exists():
        return _built(config, root, keep_zero)
    if isinstance(config, str) and ":" not in config and not path.exists():
        raise SpecError(
            located(
                where,
                None,
                "file not found",
                "pass a config file, or SCHEME:PROFILE (e.g. aggressive:heavy_code)",
            )
        )
    return read_config(parse_yaml(read_text(path, where), where), where)


def _built(pair: str, root: Path | str | None, keep_zero: bool = False) -> OlmixConfig:
    from qupsample.build import apply_overrides, build_config, find_target
    from qupsample.specs import load_project

    scheme, profile = pair.split(":")
    project = load_project(root)
    settings, data_root = apply_overrides(project, None)
    target = find_target(project, scheme, profile)
    config = build_config(project, target, settings, data_root, keep_zero)
    return OlmixConfig(Dialect.FLAT, f"{scheme}:{profile}", config)


def detect_dialect(data: Any, where: str) -> Dialect:
    """The form of a parsed config, from its top-level keys."""
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SpecError(located(where, None, f"is {kind}, not an olmix config (a mapping)"))
    keys = set(data)
    if "sources" in keys:
        return Dialect.FLAT
    if keys & _LAUNCH_KEYS:
        return Dialect.LAUNCH
    if "data" in keys:
        return Dialect.GENERATION
    names = sorted(map(_key_name, keys))
    more = f" (and {len(names) - 8} more)" if len(names) > 8 else ""
    found = (", ".join(names[:8]) or "none") + more
    known = "; ".join(FORMS.values())
    raise SpecError(
        located(where, None, f"not an olmix config: top-level keys {found}", f"known: {known}")
    )


def read_config(data: Any, where: str) -> OlmixConfig:
    """A parsed olmix config of any form, validated and read into an `OlmixConfig`."""
    dialect = detect_dialect(data, where)
    priors = validate(data["priors"], Priors, where, "priors") if "priors" in data else None
    counts = dict(priors.token_counts) if priors is not None else None
    if dialect is Dialect.FLAT:
        flat = validate(data, ExperimentConfig, where)
        return OlmixConfig(dialect, where, flat, mix=flat.mix, token_counts=counts)
    if dialect is Dialect.LAUNCH:
        launch = validate(data, LaunchConfig, where)
        infra, training = launch.infra, launch.training
        settings = {f: getattr(infra, f) for f in INFRA_FIELDS if f in infra.model_fields_set}
        settings |= {f: getattr(training, f) for f in TRAINING_FIELDS}
        experiment = validate(
            {
                "name": launch.name,
                "description": launch.description,
                "sources": launch.data.sources,
                "dtype": launch.data.dtype,
                **{k: v for k, v in settings.items() if v is not None},
            },
            ExperimentConfig,
            where,
        )
        notes = _ignored_data_fields(launch.data.sources, where)
        notes += _dtype_note(launch.data.dtype, training.tokenizer, where, launch.data)
        notes += _ignored_top_level(launch, where, allowed={"priors"})
        for section in ("infra", "training", "eval"):
            notes += _ignored_top_level(getattr(launch, section), where, section=section)
        if launch.mix is None:
            notes.append(
                located(
                    where,
                    "mix",
                    "missing: `olmix launch run` refuses a launch config without one",
                    "add it (`qupsample convert` writes it from the data's weights)",
                )
            )
        return OlmixConfig(
            dialect,
            where,
            experiment,
            mix=launch.mix,
            token_counts=counts,
            eval=launch.eval,
            notes=tuple(notes),
        )
    generation = validate(data, GenerationConfig, where)
    swarm = generation.swarm or {}
    minimum = swarm.get("minimum_weight")
    seed = swarm.get("seed")
    if minimum is not None and not (_is_number(minimum) and 0 <= minimum < math.inf):
        raise SpecError(
            located(
                where,
                "swarm.minimum_weight",
                f"must be a finite number >= 0, got {short_repr(minimum)}",
            )
        )
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise SpecError(located(where, "swarm.seed", f"must be an integer, got {short_repr(seed)}"))
    experiment = validate(
        {
            "name": generation.name,
            "sources": generation.data.sources,
            "dtype": generation.data.dtype,
            "minimum_weight": minimum,
            "seed": seed,
        },
        ExperimentConfig,
        where,
        "swarm",
    )
    notes = _ignored_data_fields(generation.data.sources, where)
    notes += _ignored_top_level(generation, where)
    return OlmixConfig(
        dialect,
        where,
        experiment,
        token_counts=counts,
        max_tokens=generation.max_tokens,
        swarm=generation.swarm,
        notes=tuple(notes),
    )


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
            located(
                where,
                field,
                "has no token_counts",
                "write it with `qupsample priors CONFIG -o FILE` (or olmix priors compute)",
            )
        )
    return dict(validate(block, Priors, where, field).token_counts)


def _ignored_top_level(
    model: BaseModel,
    where: str,
    allowed: frozenset[str] | set[str] = frozenset(),
    section: str = "",
) -> list[str]:
    ignored = sorted(set(map(_key_name, model.model_extra or {})) - set(allowed))
    what = (
        f"current olmix ignores this key of {section}:"
        if section
        else ("current olmix ignores this top-level key")
    )
    return [
        located(where, f"{section}.{key}" if section else key, what, "remove it") for key in ignored
    ]


def _key_name(key: Any) -> str:
    # A key with a newline or other control character would break the one-line message.
    text = str(key)
    return text if text.isprintable() else repr(text)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ignored_data_fields(sources: Sequence[SourceConfig], where: str) -> list[str]:
    notes = []
    for source in sources:
        nodes: list[tuple[str, BaseModel]] = [(source.name, source)]
        for topic in source.topics or ():
            nodes.append((f"{source.name}.{topic.name}", topic))
            nodes += [(f"{source.name}.{topic.name}.{q.name}", q) for q in topic.quality or ()]
        nodes += [(f"{source.name}.{q.name}", q) for q in source.quality or ()]
        for name, node in nodes:
            for field in IGNORED_DATA_FIELDS:
                if getattr(node, field, None) is not None:
                    notes.append(
                        located(
                            where,
                            f"data.{name}.{field}",
                            "current olmix ignores it",
                            "set repetition_factor in mix: instead"
                            if field == "max_repetition_factor"
                            else "remove it",
                        )
                    )
    return notes


def _dtype_note(dtype: str, tokenizer: str, where: str, data: BaseModel) -> list[str]:
    expected = load_proxies().tokenizers.get(tokenizer)
    if expected is None or expected == dtype:
        return []
    given = "dtype" in data.model_fields_set
    what = f"is {dtype}" if given else f"is not set (olmix reads {DEFAULT_DTYPE})"
    return [
        located(
            where,
            "data.dtype",
            f"{what} but tokenizer {tokenizer} writes {expected}",
            f"set data.dtype: {expected}",
        )
    ]


# ---------------------------------------------------------------- writing


def data_sources(
    sources: Sequence[SourceConfig], mix: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The `data.sources` of current olmix: names and paths only (weights live in `mix`).

    With `mix` (as `mixblock.olmix_mix` builds it), entries the mix leaves out are left
    out here too, so every data leaf has a mix entry.
    """

    def keep(name: str, within: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if within is None:
            return {}
        child = within.get(name)
        return child if isinstance(child, Mapping) else None

    def buckets(quality: Sequence[QualityConfig], within: Mapping[str, Any] | None) -> list[Any]:
        return [
            {"name": q.name, "paths": list(q.paths)}
            for q in quality
            if keep(q.name, within) is not None
        ]

    def topics(entries: Sequence[TopicConfig], within: Mapping[str, Any] | None) -> list[Any]:
        out = []
        for topic in entries:
            node = keep(topic.name, within)
            if node is None:
                continue
            body: dict[str, Any] = {"name": topic.name}
            if topic.quality is not None:
                body["quality"] = buckets(topic.quality, node if mix is not None else None)
            else:
                body["paths"] = list(topic.paths or ())
            out.append(body)
        return out

    written = []
    for source in sources:
        node = keep(source.name, mix)
        if node is None:
            continue
        within = node if mix is not None else None
        body: dict[str, Any] = {"name": source.name}
        if source.topics is not None:
            body["topics"] = topics(source.topics, within)
        elif source.quality is not None:
            body["quality"] = buckets(source.quality, within)
        else:
            body["paths"] = list(source.paths or ())
        written.append(body)
    return written


def dtype_of(config: ExperimentConfig, proxies: Proxies | None = None) -> str:
    """The token dtype: the config's `dtype`, else its tokenizer's, else uint32."""
    return config.dtype or (proxies or load_proxies()).dtype(config.tokenizer)


def launch_document(
    config: ExperimentConfig,
    mix: Mapping[str, Any],
    eval_tasks: Mapping[str, Mapping[str, str]],
    *,
    eval_type: str = "inloop",
    where: str | None = None,
    proxies: Proxies | None = None,
) -> dict[str, Any]:
    """A current olmix launch config as plain data, checked against olmix's schema.

    Args:
        config: the settings and data tree.
        mix: the nested mix (`mixblock.olmix_mix`); data leaves it omits are omitted.
        eval_tasks: the in-loop task families (`family -> task id -> metric`).
        eval_type: the eval section's `type`.
        where: the name to show in errors (default: the config's name).
        proxies: the project's tokenizer dtypes (default: found from the current folder).

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
    token_counts: Mapping[str, int],
    *,
    max_tokens: int,
    swarm: Mapping[str, Any] | None = None,
    where: str | None = None,
    proxies: Proxies | None = None,
) -> dict[str, Any]:
    """An olmix generation config as plain data: data, priors, swarm, max_tokens.

    `priors` holds the token counts of every data leaf (keys sorted) and their relative
    sizes, as `olmix priors compute` writes them.
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
        "priors": priors_block(token_counts),
        "swarm": swarm_block,
        "max_tokens": max_tokens,
    }
    _check_form(document, GenerationConfig, where or config.name)
    return document


def flat_document(config: ExperimentConfig, mix: Mapping[str, Any]) -> dict[str, Any]:
    """A plan-era flat experiment config: each level's weight is its share in `mix`."""

    def level(node: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"weight": node["weight"]}
        if "repetition_factor" in node and node["repetition_factor"] != 1.0:
            body["max_repetition_factor"] = node["repetition_factor"]
        return body

    def buckets(quality: Sequence[QualityConfig], within: Mapping[str, Any]) -> list[Any]:
        return [
            {"name": q.name, **level(within[q.name]), "paths": list(q.paths)}
            for q in quality
            if q.name in within
        ]

    sources = []
    for source in config.sources:
        if source.name not in mix:
            continue
        node = mix[source.name]
        body: dict[str, Any] = {"name": source.name, **level(node)}
        if source.topics is not None:
            body["topics"] = [
                {"name": t.name, **level(node[t.name])}
                | (
                    {"quality": buckets(t.quality, node[t.name])}
                    if t.quality is not None
                    else {"paths": list(t.paths or ())}
                )
                for t in source.topics
                if t.name in node
            ]
        elif source.quality is not None:
            body["quality"] = buckets(source.quality, node)
        else:
            body["paths"] = list(source.paths or ())
        sources.append(body)
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


def priors_block(token_counts: Mapping[str, int]) -> dict[str, Any]:
    """olmix's priors: relative sizes (count / total) and token counts, keys sorted."""
    total = sum(token_counts.values())
    names = sorted(token_counts)
    return {
        "relative_sizes": {k: (token_counts[k] / total if total else 0.0) for k in names},
        "token_counts": {k: int(token_counts[k]) for k in names},
    }


def _check_form(document: Mapping[str, Any], model: type[BaseModel], where: str) -> None:
    try:
        model.model_validate(document)
    except ValidationError as exc:
        message = validation_message(where, exc, model)
        raise SpecError(f"cannot write the {model.__name__}: {message}") from None


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
    "priors_block",
    "read_config",
    "read_priors",
]
