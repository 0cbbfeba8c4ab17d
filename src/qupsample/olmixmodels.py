"""Pydantic models of every olmix config form qupsample reads and writes.

The plan-era flat experiment config (`ExperimentConfig`, with its sources, topics and
quality buckets), and current olmix's `LaunchConfig` and generation config. Entries
(source, topic, quality) forbid unknown fields; olmix's own sections keep the knobs
qupsample does not model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

from qupsample.errors import shorten
from qupsample.specmodels import (
    MAX_TOKENS,
    ChinchillaMultiple,
    Dtype,
    Name,
    Number,
    PositiveInt,
    PositiveNumber,
    Spec,
    TokenCount,
    Weight,
    repeated_values,
)


def _exactly_one(entry: BaseModel, fields: tuple[str, ...]) -> None:
    given = [f for f in fields if getattr(entry, f) is not None]
    if len(given) != 1:
        got = " and ".join(given) if given else "none"
        raise ValueError(f"needs exactly one of {', '.join(fields)} (got {got})")


def _unique_names(entries: list[Any] | None, what: str) -> None:
    seen: set[str] = set()
    for entry in entries or ():
        if entry.name in seen:
            raise ValueError(f"{what} {entry.name!r} appears twice — names must be unique")
        seen.add(entry.name)


def _distinct(paths: list[str]) -> list[str]:
    repeated = repeated_values(paths)
    if repeated:
        # Paths are long and differ at the end: show them whole, up to a sane length.
        shown = shorten(repr(min(repeated)), 300)
        raise ValueError(f"{shown} is listed twice — list each path once")
    return paths


Paths = Annotated[list[Name], Field(min_length=1), AfterValidator(_distinct)]


class QualityConfig(Spec):
    """A quality bucket of a topic (or source): its globs and optional weight."""

    name: Name
    paths: Paths
    weight: Weight | None = None
    max_repetition_factor: PositiveNumber | None = None


class TopicConfig(Spec):
    """A topic of a source: plain paths or quality buckets."""

    name: Name
    weight: Weight | None = None
    max_repetition_factor: PositiveNumber | None = None
    max_topic_ratio: PositiveNumber | None = None
    paths: Paths | None = None
    quality: list[QualityConfig] | None = None

    @model_validator(mode="after")
    def _check(self) -> TopicConfig:
        _exactly_one(self, ("paths", "quality"))
        _unique_names(self.quality, "quality bucket")
        return self


class SourceConfig(Spec):
    """A source of the mix: plain paths, topics or quality buckets."""

    name: Name
    weight: Weight | None = None
    max_repetition_factor: PositiveNumber | None = None
    paths: Paths | None = None
    topics: list[TopicConfig] | None = None
    quality: list[QualityConfig] | None = None

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        _exactly_one(self, ("paths", "topics", "quality"))
        _unique_names(self.topics, "topic")
        _unique_names(self.quality, "quality bucket")
        return self


DataNode = SourceConfig | TopicConfig | QualityConfig


def children_of(node: DataNode) -> tuple[str, Sequence[DataNode]] | None:
    """A node's children and their field (`topics` or `quality`); None for paths."""
    if isinstance(node, SourceConfig) and node.topics is not None:
        return "topics", node.topics
    if isinstance(node, SourceConfig | TopicConfig) and node.quality is not None:
        return "quality", node.quality
    return None


def walk_data(sources: Sequence[SourceConfig]) -> Iterator[tuple[str, DataNode]]:
    """Every node of a data tree (source, topic, quality bucket) with its dotted name,
    parents first."""
    stack: list[tuple[str, DataNode]] = [(s.name, s) for s in reversed(sources)]
    while stack:
        name, node = stack.pop()
        yield name, node
        kids = children_of(node)
        stack += [(f"{name}.{k.name}", k) for k in reversed(kids[1])] if kids else []


T = TypeVar("T")
# build(path of names, node, children's field or None for paths, children's results)
Builder = Callable[[tuple[str, ...], DataNode, str | None, list[T]], T | None]


def fold_data(sources: Sequence[SourceConfig], build: Builder[T]) -> list[T]:
    """One value per node of the source -> topic -> quality tree, children first: the
    one walk that reads (`resolve`), writes (`dialects`) and checks (`rules`) configs
    share. A node whose `build` returns None is left out of its parent's children."""

    def visit(path: tuple[str, ...], node: DataNode) -> T | None:
        kids = children_of(node)
        results = [
            result
            for child in (kids[1] if kids else ())
            if (result := visit((*path, child.name), child)) is not None
        ]
        return build(path, node, kids[0] if kids else None, results)

    return [result for s in sources if (result := visit((s.name,), s)) is not None]


class ExperimentConfig(BaseModel):
    """An olmix experiment (launch) config; olmix's other knobs pass through unchanged."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Name
    description: str = ""
    budget: str | None = None
    workspace: str | None = None
    cluster: str | None = None
    priority: str | None = None
    proxy_model_id: str | None = None
    tokenizer: str | None = None
    chinchilla_multiple: ChinchillaMultiple | None = None
    nodes: PositiveInt | None = None
    gpus: PositiveInt | None = None
    global_batch_size: PositiveInt | None = None
    variants: PositiveInt | None = None
    seed: StrictInt | None = None
    minimum_weight: Weight | None = None
    dtype: Dtype | None = None
    sequence_length: PositiveInt | None = None
    preemptible: bool | None = None
    sources: list[SourceConfig] = Field(min_length=1)
    mix: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        _unique_names(self.sources, "source")
        return self


# ------------------------------------------------ current olmix (read and written)

Priority = Literal["low", "normal", "high", "urgent"]
NonNegativeInt = TokenCount


class _Open(BaseModel):
    """olmix's own sections keep knobs qupsample does not model (passed through)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class InfraConfig(_Open):
    """`infra:` of a current olmix launch config: where and on what the run goes."""

    budget: Name
    workspace: Name
    cluster: Name
    priority: Priority = "normal"
    preemptible: bool = True
    nodes: PositiveInt = 1
    gpus: PositiveInt
    weka: bool = False
    shared_filesystem: bool = False
    wandb_debug: bool = False


class TrainingConfig(_Open):
    """`training:` of a current olmix launch config: the proxy run."""

    proxy_model_id: Name
    tokenizer: Name
    chinchilla_multiple: ChinchillaMultiple
    seed: StrictInt
    device_batch_size: PositiveInt = 4
    global_batch_size: PositiveInt | None = None
    checkpoint_path: str | None = None
    train_type: Literal["pretrain", "anneal"] = "pretrain"
    eval_interval: PositiveInt = 1000
    no_eval: bool = False
    instance_filter: Any = None


class DataConfig(Spec):
    """`data:` of current olmix configs: the sources (weights live in `mix:`)."""

    sources: list[SourceConfig] = Field(min_length=1)
    dtype: Dtype = "uint32"

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        _unique_names(self.sources, "source")
        return self


class EvalConfig(_Open):
    """`eval:` of a current olmix launch config: in-loop task families."""

    type: Name = "inloop"
    tasks: dict[Name, dict[Name, Name]] = {}


class LaunchConfig(_Open):
    """A current olmix launch config (`olmix launch run --variants FILE`)."""

    name: Name
    description: str = ""
    infra: InfraConfig
    training: TrainingConfig
    data: DataConfig
    # Required by olmix; read without it (older configs), with a finding.
    eval: EvalConfig | None = None
    mix: dict[str, Any] | None = None
    group_id: str | None = None


class Priors(Spec):
    """olmix's `priors:` block: token counts (and relative sizes) per data leaf."""

    relative_sizes: dict[Name, Number] = Field(default_factory=dict)
    token_counts: dict[Name, NonNegativeInt] = Field(default_factory=dict)


class GenerationConfig(_Open):
    """olmix's generation config (`olmix generate --config FILE`)."""

    name: Name
    data: DataConfig
    priors: Priors | None = None
    swarm: dict[str, Any] | None = None
    max_tokens: Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS)] | None = None
