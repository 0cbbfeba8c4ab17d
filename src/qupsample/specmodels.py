"""Pydantic models of the spec files under `schemes/`, and the number types they share.

Every model forbids unknown fields. The olmix config forms live in `olmixmodels.py`.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from qupsample.errors import short_repr, shorten
from qupsample.weights import mixed_weights_message, number_problem, unweighted_siblings

# Bytes per token of each dtype olmix writes token arrays in.
DTYPE_SIZES: dict[str, int] = {"uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8}
DEFAULT_DTYPE = "uint32"


def _finite_non_negative(value: float) -> float:
    if problem := number_problem(value):
        raise ValueError(problem)
    return value


def _finite_positive(value: float) -> float:
    if problem := number_problem(value, positive=True):
        raise ValueError(problem)
    return value


# Numbers past this are refused rather than overflowing later (1e308 x 20 x params).
LARGEST = 1e300
MAX_CHINCHILLA_MULTIPLE = 1e6
MAX_TOKENS = 10**18


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {short_repr(value)}{_plain_number_fix(value)}")
    if isinstance(value, int) and abs(value) > LARGEST:
        raise ValueError(f"must be at most {LARGEST:g}, got {short_repr(value)}")
    if isinstance(value, float) and math.isfinite(value) and abs(value) > LARGEST:
        raise ValueError(f"must be at most {LARGEST:g}, got {value!r}")
    return value


def _sane_multiple(value: float) -> float:
    if value > MAX_CHINCHILLA_MULTIPLE:
        raise ValueError(f"must be at most {MAX_CHINCHILLA_MULTIPLE:g}, got {value!r}")
    return value


# Ints stay ints and floats stay floats, so numbers are echoed as the spec wrote them.
Number = Annotated[int | float, BeforeValidator(_number)]
Weight = Annotated[Number, AfterValidator(_finite_non_negative)]
PositiveNumber = Annotated[Number, AfterValidator(_finite_positive)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
ChinchillaMultiple = Annotated[PositiveNumber, AfterValidator(_sane_multiple)]
TokenCount = Annotated[StrictInt, Field(ge=0, le=MAX_TOKENS)]
Name = Annotated[StrictStr, Field(min_length=1)]


def repeated_values(values: list[Any]) -> set[Any]:
    """The values listed more than once, in one pass."""
    seen: set[Any] = set()
    repeated: set[Any] = set()
    for value in values:
        if value in seen:
            repeated.add(value)
        seen.add(value)
    return repeated


class Spec(BaseModel):
    """Base of every model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- spec files


class Bucket(Spec):
    """A named quality bucket: a set of vigintiles sampled with one weight."""

    # None: the layout's bucket of that name says (`buckets:` in layout.yaml).
    vigintiles: list[StrictInt] | None = Field(default=None, min_length=1)
    weight: Weight | None = None
    max_repetition_factor: PositiveNumber | None = None

    @property
    def members(self) -> list[int]:
        """The bucket's vigintiles (a loaded project has taken them from the layout)."""
        return self.vigintiles or []

    @field_validator("vigintiles")
    @classmethod
    def _no_repeats(cls, value: list[int] | None) -> list[int] | None:
        repeated = repeated_values(value or [])
        if repeated:
            raise ValueError(f"vigintile {min(repeated)} is listed twice")
        return value


class Scheme(Spec):
    """A weighting scheme: quality buckets and their weights within each topic."""

    description: str = ""
    buckets: dict[Name, Bucket] = Field(min_length=1)

    @field_validator("buckets", mode="before")
    @classmethod
    def _bare_weights(cls, value: Any) -> Any:
        # `top10pct: 70` is shorthand for `top10pct: {weight: 70}`.
        return _weight_shorthand(value)

    # A field validator, so errors are located at `buckets`.
    @field_validator("buckets")
    @classmethod
    def _check_buckets(cls, buckets: dict[str, Bucket]) -> dict[str, Bucket]:
        owner: dict[int, str] = {}
        for name, bucket in buckets.items():
            for vigintile in bucket.vigintiles or ():
                if vigintile in owner:
                    raise ValueError(
                        f"vigintile {vigintile} is in both {owner[vigintile]!r} and {name!r}"
                        " — a vigintile belongs to one bucket"
                    )
                owner[vigintile] = name
        _group_weights({k: b.weight for k, b in buckets.items()}, "bucket")
        return buckets


class TopicSpec(Spec):
    """A topic of a source in a profile."""

    weight: Weight | None = None
    max_repetition_factor: PositiveNumber | None = None
    max_topic_ratio: PositiveNumber | None = None


def _weight_shorthand(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shorthand_entry(k, v) for k, v in value.items()}
    return value


def _shorthand_entry(key: Any, value: Any) -> Any:
    """`name: 70` as `{weight: 70}`; an empty value or a `90%` is a slip, said plainly."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"weight": value}
    name = shorten(str(key), 40)
    if value is None:
        raise ValueError(f"{name} has no value — give it a weight, a plain number: `{name}: 10`")
    if isinstance(value, str):
        raise ValueError(f"{name}: got {short_repr(value)}{_plain_number_fix(value, name)}")
    return value


def _plain_number_fix(value: Any, name: str | None = None) -> str:
    """How to write `value` (`90%`, `"5"`) as a plain number (`weight`: as `name: 90`)."""
    if not isinstance(value, str):
        return ""
    number = value.strip().removesuffix("%").strip()
    try:
        finite = math.isfinite(float(number))
    except ValueError:
        finite = False
    if not finite:  # not a number at all, or nan / inf: no spelling makes it one
        return f" — weights are plain numbers, e.g. `{name}: 10`" if name else ""
    slip = "%" if "%" in value else "quotes"
    if name:
        return f" — weights are plain numbers, without {slip}: `{name}: {number}`"
    return f" — write it as a plain number, without {slip}: {number}"


def _group_weights(weights: Mapping[str, float | None], what: str) -> None:
    """A sibling group's weights: every sibling weighted or none (the rule is stated in
    `qupsample.weights`), and not all 0 (nothing would be sampled)."""
    if unweighted_siblings(weights):
        raise ValueError(mixed_weights_message(what, weights))
    given = [w for w in weights.values() if w is not None]
    if given and not any(given):
        raise ValueError(f"every {what} weight is 0 — give at least one {what} a weight > 0")


class SourceSpec(Spec):
    """A source in a profile, with its topic weights where it is split by topic."""

    weight: Weight | None = None
    max_repetition_factor: PositiveNumber | None = None
    topics: dict[Name, TopicSpec] | None = None

    @field_validator("topics", mode="before")
    @classmethod
    def _bare_weights(cls, value: Any) -> Any:
        # `topic: 50` is shorthand for `topic: {weight: 50}`.
        return _weight_shorthand(value)

    @field_validator("topics")
    @classmethod
    def _some_topic_weight(cls, value: dict[str, TopicSpec] | None) -> dict[str, TopicSpec] | None:
        _group_weights({k: t.weight for k, t in (value or {}).items()}, "topic")
        return value


class Profile(Spec):
    """A topic profile: source weights and, within split sources, topic weights."""

    description: str = ""
    sources: dict[Name, SourceSpec] = Field(min_length=1)

    @field_validator("sources", mode="before")
    @classmethod
    def _bare_weights(cls, value: Any) -> Any:
        # `arxiv: 1` is shorthand for `arxiv: {weight: 1}`.
        return _weight_shorthand(value)

    @field_validator("sources")
    @classmethod
    def _some_source_weight(cls, value: dict[str, SourceSpec]) -> dict[str, SourceSpec]:
        _group_weights({k: s.weight for k, s in value.items()}, "source")
        return value


PLACEHOLDERS = frozenset({"data_root", "topic", "vigintile"})


def _known_placeholders(names: set[str], known: frozenset[str], prefix: str = "") -> None:
    unknown = names - known
    if unknown:
        raise ValueError(
            f"{prefix}unknown placeholder {{{sorted(unknown)[0]}}}"
            f" — use {', '.join('{' + p + '}' for p in sorted(known))}"
        )


def vigintile_label(vigintile: int) -> str:
    """A vigintile as the data names it: 18 -> `0018` (`vigintile_0018`)."""
    return f"{vigintile:04d}"


def placeholders(pattern: str) -> set[str]:
    """Names of the `{placeholders}` in a format pattern."""
    return {field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None}


class Vigintiles(Spec):
    """The vigintile numbering of the data, and the vigintiles that do not exist."""

    first: StrictInt = 1
    last: StrictInt = 20
    missing: list[StrictInt] = []

    @model_validator(mode="after")
    def _check_range(self) -> Vigintiles:
        if self.first > self.last:
            raise ValueError(f"first ({self.first}) is above last ({self.last})")
        return self

    def exists(self, vigintile: int) -> bool:
        """Whether data exists for this vigintile."""
        return self.first <= vigintile <= self.last and vigintile not in self.missing


class Layout(Spec):
    """Where the data lives: one path pattern per source, built on `data_root`."""

    description: str = ""
    data_root: Name
    vigintiles: Vigintiles = Vigintiles()
    sources: dict[Name, Name] = Field(min_length=1)
    # Quality buckets by name, shared by every scheme (a scheme gives their weights).
    buckets: dict[Name, list[StrictInt]] = {}
    # The repetition a source allows unless a profile says otherwise (default 1.0).
    max_repetition_factor: dict[Name, PositiveNumber] = {}
    # The topics each source split by {topic} has: profiles may name only these.
    topics: dict[Name, list[Name]] = {}

    @model_validator(mode="after")
    def _known_sources(self) -> Layout:
        for field in ("max_repetition_factor", "topics"):
            for source in getattr(self, field):
                if source not in self.sources:
                    raise ValueError(
                        f"{field}: {source!r} is not a source — known: {', '.join(self.sources)}"
                    )
        for source in self.topics:
            if "topic" not in placeholders(self.sources[source]):
                raise ValueError(f"topics: {source!r} has no {{topic}} in its path pattern")
        return self

    @field_validator("sources")
    @classmethod
    def _check_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for source, pattern in value.items():
            try:
                names = placeholders(pattern)
            except ValueError as exc:
                raise ValueError(f"{source}: bad pattern: {exc}") from None
            _known_placeholders(names, PLACEHOLDERS, f"{source}: ")
        return value


Dtype = Literal["uint8", "uint16", "uint32", "uint64"]


class Settings(Spec):
    """Standard experiment settings shared by every config of a family."""

    budget: Name
    workspace: Name
    cluster: Name
    priority: Name
    proxy_model_id: Name
    tokenizer: Name
    chinchilla_multiple: ChinchillaMultiple
    nodes: PositiveInt
    gpus: PositiveInt
    global_batch_size: PositiveInt
    variants: PositiveInt
    seed: StrictInt
    minimum_weight: Weight
    dtype: Dtype | None = None
    sequence_length: PositiveInt | None = None
    preemptible: bool | None = None


class ProxyModel(Spec):
    """One proxy model: its nominal size and what the trainer really builds.

    In `proxies.yaml` a model is a number (its nominal parameters) or a mapping of
    `nominal`, optional `builds: false`, and the non-embedding parameters per trainer
    tokenizer (`dolma2: 13_895_808`); here those go to `trainer`.
    """

    nominal: PositiveInt
    builds: bool = True
    trainer: dict[Name, PositiveInt] = {}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, int) and not isinstance(data, bool):
            return {"nominal": data}
        if isinstance(data, dict) and "trainer" not in data:
            fixed = {k: data[k] for k in ("nominal", "builds") if k in data}
            rest = {k: v for k, v in data.items() if k not in ("nominal", "builds")}
            return {**fixed, "trainer": rest}
        return data


class Tokenizer(Spec):
    """A tokenizer: the dtype of its token ids, whether the trainer accepts the name,
    and the folder names its token files live under (`allenai/dolma2-tokenizer`).

    In `proxies.yaml` a tokenizer is a dtype (`llama3: uint32`) or a mapping.
    """

    dtype: Dtype
    trainer: bool = False
    folders: list[Name] = []

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"dtype": data} if isinstance(data, str) else data


@dataclass(frozen=True)
class Budget:
    """A run's training tokens: what the trainer trains, and olmix's nominal figure."""

    tokens: int
    nominal: int
    # The trainer's non-embedding parameters (None: unknown, `tokens` is nominal).
    parameters: int | None
    nominal_parameters: int
    tokens_per_parameter: int
    chinchilla_multiple: float


class Proxies(Spec):
    """olmix's proxy models and tokenizers (`schemes/proxies.yaml`): what sizes a run.

    The trainer trains int(tokens_per_parameter x non-embedding parameters x
    chinchilla_multiple) tokens; its non-embedding parameters depend on the model and
    the tokenizer (the output head's padded vocabulary). olmix's own headers use the
    nominal size instead.
    """

    tokens_per_parameter: PositiveInt
    proxy_models: dict[Name, ProxyModel] = Field(min_length=1)
    tokenizers: dict[Name, Tokenizer] = {}

    @model_validator(mode="after")
    def _trainer_tokenizers(self) -> Proxies:
        for name, model in self.proxy_models.items():
            for tokenizer in model.trainer:
                known = self.tokenizers.get(tokenizer)
                if known is None or not known.trainer:
                    trainers = ", ".join(self.trainer_tokenizers) or "none"
                    raise ValueError(
                        f"proxy_models.{name}.{tokenizer}: not a trainer tokenizer"
                        f" (tokenizers with `trainer: true`: {trainers})"
                    )
        return self

    @property
    def trainer_tokenizers(self) -> list[str]:
        """The tokenizer names the trainer accepts."""
        return [name for name, tokenizer in self.tokenizers.items() if tokenizer.trainer]

    def budget(
        self, proxy_model_id: str, chinchilla_multiple: float, tokenizer: str | None
    ) -> Budget:
        """The training tokens of a run: the trainer's where its size is known."""
        model = self.proxy_models[proxy_model_id]
        per = self.tokens_per_parameter
        nominal = round(per * model.nominal * chinchilla_multiple)
        parameters = model.trainer.get(tokenizer or "")
        # The trainer computes it in floats and truncates: so do we, to the token.
        tokens = int(per * parameters * chinchilla_multiple) if parameters else nominal
        return Budget(tokens, nominal, parameters, model.nominal, per, chinchilla_multiple)

    def training_tokens(
        self, proxy_model_id: str, chinchilla_multiple: float, tokenizer: str | None = None
    ) -> int:
        """The tokens the trainer trains (nominal where its size is unknown)."""
        return self.budget(proxy_model_id, chinchilla_multiple, tokenizer).tokens

    def dtype(self, tokenizer: str | None) -> str:
        """The dtype a tokenizer's token ids are stored in (olmix's default, uint32)."""
        known = self.tokenizers.get(tokenizer or "")
        return known.dtype if known is not None else DEFAULT_DTYPE

    def folder_tokenizer(self, path: str) -> str | None:
        """The tokenizer whose token folder (`/allenai/dolma2-tokenizer/`) a path names."""
        for name, tokenizer in self.tokenizers.items():
            if any(f"/{folder}/" in path for folder in tokenizer.folders):
                return name
        return None


CONFIG_NAME_FIELDS = frozenset({"family", "scheme", "profile", "profile_dashed", "profile_words"})


def _check_name_pattern(value: str) -> str:
    _known_placeholders(placeholders(value), CONFIG_NAME_FIELDS)
    return value


NamePattern = Annotated[Name, AfterValidator(_check_name_pattern)]


class FamilyOutput(Spec):
    """Another form of a family's configs (e.g. current olmix), in its own folder."""

    output: Name
    template: Name
    readme_template: Name = "family-README.md.j2"
    batch_template: Name = "batch_run.sh.j2"

    @field_validator("output")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        return _relative_folder(value)


def _relative_folder(value: str) -> str:
    # A sub-folder of --out, spelled plainly: `quality_upsampling`, `launch/quality`.
    parts = value.split("/")
    if value.startswith("/") or any(not safe_name(part) for part in parts):
        raise ValueError(
            f"must name a sub-folder of the output folder (no '.', '..', leading dots,"
            f" backslashes, NUL or absolute paths), got {short_repr(value)}"
        )
    return value


_CLEAN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def clean_name(name: str) -> bool:
    """Whether a spec's name is a clean identifier for the names it goes into (config
    names, folders, files): letters, digits, `_` and `-`, starting with a letter or digit."""
    return _CLEAN_NAME.fullmatch(name) is not None


def cleaned_name(name: str) -> str:
    """A clean spelling of `name` to suggest: each run of other characters becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-") or "spec"


def safe_name(name: str) -> bool:
    """Whether a name can be one path component: not empty, `.`, `..` or hidden, and
    without a slash, backslash or NUL."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


def _sweep_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"must be a setting's value (text or number), got {short_repr(value)}")
    return str(value)


SweepValue = Annotated[str, BeforeValidator(_sweep_value)]


class Family(Spec):
    """A family of experiments: which schemes cross which profiles, and how to name them."""

    description: str = ""
    schemes: Name
    profiles: Name
    output: Name
    config_name: NamePattern
    config_description: NamePattern
    template: Name = "olmix-experiment.yaml.j2"
    readme_template: Name = "family-README.md.j2"
    batch_template: Name = "batch_run.sh.j2"
    eval: Name = "inloop"
    also: list[FamilyOutput] = []
    # Sweeps that live in generated/sweeps/ (so `generate --check` covers them): one
    # config per value of a setting, e.g. {proxy_model_id: [olmo3_14m, olmo3_60m]}.
    sweeps: dict[Name, list[SweepValue]] = {}

    @field_validator("output")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        return _relative_folder(value)

    @property
    def outputs(self) -> list[FamilyOutput]:
        """Every form the family writes: its own first, then `also`."""
        own = FamilyOutput(
            output=self.output,
            template=self.template,
            readme_template=self.readme_template,
            batch_template=self.batch_template,
        )
        return [own, *self.also]


class EvalSuite(Spec):
    """An olmix in-loop evaluation suite: task families -> task id -> metric name."""

    description: str = ""
    type: Name = "inloop"
    tasks: dict[Name, dict[Name, Name]] = Field(min_length=1)

    @field_validator("tasks")
    @classmethod
    def _no_empty_family(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for family, tasks in value.items():
            if not tasks:
                raise ValueError(f"{family}: lists no tasks — add task_id: metric lines")
        return value
