"""Build a config model from the specs: targets, `--set` overrides, scheme x profile.

This layer turns names (`aggressive`, `heavy_code`, `SCHEME:PROFILE`) into the
`ExperimentConfig` model; it writes no text. Rendering (`renderer`) and resolving
(`resolve`) both build on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from qupsample.errors import Hint, RenderError
from qupsample.olmixmodels import ExperimentConfig, QualityConfig, SourceConfig, TopicConfig
from qupsample.specmodels import FamilyOutput, Settings, placeholders, vigintile_label
from qupsample.specs import FamilySpecs, Project, check_proxy, check_tokenizer, only_family, suggest
from qupsample.yamlfiles import load_scalar, validation_error

OUTPUT_DIR = "generated"
DATA_ROOT = "data_root"


# -------------------------------------------------------------- overrides


def _coerce(key: str, raw: Any) -> Any:
    if key == DATA_ROOT or not isinstance(raw, str):
        return raw
    if Settings.model_fields[key].annotation is str:
        return raw
    try:
        value = load_scalar(raw)
    except yaml.YAMLError:
        return raw
    return value if isinstance(value, int | float | bool | str) else raw


def apply_overrides(
    project: Project, overrides: Mapping[str, Any] | None, where: str = "--set"
) -> tuple[Settings, str]:
    """The project's settings and data root with `--set KEY=VALUE` overrides applied.

    String values are read as YAML scalars for non-string settings (`1` is a number),
    then type-checked by the settings model.
    """
    data_root = project.layout.data_root
    values = project.settings.model_dump(exclude_none=True)
    known = [DATA_ROOT, *Settings.model_fields]
    for key, raw in (overrides or {}).items():
        if key not in known:
            raise RenderError("unknown key", where=where, field=key, fix=suggest(key, known))
        value = _coerce(key, raw)
        if key == DATA_ROOT:
            if not isinstance(value, str) or not value:
                raise RenderError(f"must be a path or URL, got {value!r}", where=where, field=key)
            data_root = value
        else:
            values[key] = value
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise validation_error(RenderError, where, exc, Settings) from None
    check_proxy(project.proxies, settings.proxy_model_id, where, "proxy_model_id")
    check_tokenizer(project.proxies, settings.tokenizer, where, "tokenizer")
    # "/" becomes "" so that "{data_root}/x" stays "/x".
    return settings, data_root.rstrip("/")


# ---------------------------------------------------------------- configs


@dataclass(frozen=True)
class Target:
    """One config of a family: which scheme crosses which profile, and where it goes."""

    family: FamilySpecs
    scheme: str
    profile: str
    # A sweep's variant: its sub-folder of the family's output and its name suffix.
    variant: str = ""
    suffix: str = ""
    prefix: str = OUTPUT_DIR
    # A folder of the output folder that holds the form's folder (`sweeps` for the
    # family's declared sweeps).
    base: str = ""
    # Which of the family's forms (`Family.outputs`): 0 is its own, then `also`.
    form_index: int = 0
    # Where the file really goes when not under `prefix` (render -o FILE).
    usage: str | None = None

    @property
    def form(self) -> FamilyOutput:
        """The form written: output folder and templates."""
        return self.family.spec.outputs[self.form_index]

    @property
    def folder(self) -> str:
        """The form's output folder (or the variant's) inside the output folder."""
        output = f"{self.base}/{self.form.output}" if self.base else self.form.output
        return f"{output}/{self.variant}" if self.variant else output

    @property
    def path(self) -> str:
        """The config's path inside the output folder."""
        return f"{self.folder}/{self.profile}/{self.scheme}.yaml"

    @property
    def canonical_path(self) -> str:
        """The config's path as its usage line shows it: where the file really is."""
        return self.usage or f"{self.prefix}/{self.path}"

    @property
    def config_name(self) -> str:
        """The config's `name`: the family's pattern, plus the sweep value if any."""
        name = self.family.spec.config_name.format(**self.names())
        return f"{name}-{self.suffix}" if self.suffix else name

    def names(self) -> dict[str, str]:
        """Values of the family's name and description placeholders."""
        return {
            "family": self.family.name,
            "scheme": self.scheme,
            "profile": self.profile,
            "profile_dashed": self.profile.replace("_", "-"),
            "profile_words": self.profile.replace("_", " "),
        }


def find_target(
    project: Project,
    scheme: str,
    profile: str,
    family: str | None = None,
    template: str | None = None,
    where: str | None = None,
) -> Target:
    """The family config for a scheme and profile; unknown names suggest the closest.

    With `template`, the family's form written with that template (if it has one)
    gives the config's place, so `render` shows the path `generate` writes. `where`
    names the pair in errors (default `SCHEME:PROFILE`).
    """
    pair = where is None
    where = where or f"{scheme}:{profile}"
    families = only_family(project, family, where).families
    with_scheme = [f for f in families.values() if scheme in f.schemes]
    if not with_scheme:
        known = [s for f in families.values() for s in f.schemes]
        fix = _swapped(families.values(), scheme, profile, pair) or suggest(scheme, known)
        raise RenderError("not found", where=where, field=f"scheme {scheme!r}", fix=fix)
    candidates = [f for f in with_scheme if profile in f.profiles]
    if not candidates:
        known = [p for f in with_scheme for p in f.profiles]
        raise RenderError(
            "not found", where=where, field=f"profile {profile!r}", fix=suggest(profile, known)
        )
    if len(candidates) > 1:
        names = ", ".join(f.name for f in candidates)
        first = candidates[0].name
        raise RenderError(
            f"is in several families ({names})",
            Hint("choose one with {}", f"--family {first}", f"family={first!r}"),
            where=where,
        )
    chosen = candidates[0]
    forms = [form.template for form in chosen.spec.outputs]
    index = forms.index(template) if template in forms else 0
    return Target(chosen, scheme, profile, form_index=index)


def _swapped(families: Iterable[FamilySpecs], scheme: str, profile: str, pair: bool) -> str | None:
    """The fix when the scheme and the profile were given the other way round."""
    if not any(profile in f.schemes and scheme in f.profiles for f in families):
        return None
    swapped = f"{profile}:{scheme}" if pair else f"qupsample render {profile} {scheme}"
    return f"{scheme!r} is a profile and {profile!r} a scheme: the scheme comes first, `{swapped}`"


def _format_path(pattern: str, data_root: str, topic: str = "", vigintile: int = 0) -> str:
    return pattern.format(data_root=data_root, topic=topic, vigintile=vigintile_label(vigintile))


def build_config(
    project: Project, target: Target, settings: Settings, data_root: str, keep_zero: bool = False
) -> ExperimentConfig:
    """The olmix launch config for a target, as a model (before any text is written)."""
    scheme = target.family.schemes[target.scheme].spec
    profile = target.family.profiles[target.profile].spec
    names = target.names()

    def quality(pattern: str, topic: str) -> list[QualityConfig]:
        return [
            QualityConfig(
                name=name,
                weight=bucket.weight,
                max_repetition_factor=bucket.max_repetition_factor,
                paths=[_format_path(pattern, data_root, topic, v) for v in bucket.members],
            )
            for name, bucket in scheme.buckets.items()
            if keep_zero or bucket.weight != 0
        ]

    sources = []
    for name, source in profile.sources.items():
        pattern = project.layout.sources[name]
        fields = placeholders(pattern)
        entry: dict[str, Any] = {}
        if source.topics:
            entry["topics"] = [
                TopicConfig(
                    name=topic,
                    weight=spec.weight,
                    max_repetition_factor=spec.max_repetition_factor,
                    max_topic_ratio=spec.max_topic_ratio,
                    **(
                        {"quality": quality(pattern, topic)}
                        if "vigintile" in fields
                        else {"paths": [_format_path(pattern, data_root, topic)]}
                    ),
                )
                for topic, spec in source.topics.items()
            ]
        elif "vigintile" in fields:
            entry["quality"] = quality(pattern, "")
        else:
            entry["paths"] = [_format_path(pattern, data_root)]
        repetition = source.max_repetition_factor
        if repetition is None:
            repetition = project.layout.max_repetition_factor.get(name)
        sources.append(
            SourceConfig(
                name=name,
                weight=source.weight,
                max_repetition_factor=repetition,
                **entry,
            )
        )
    spec = target.family.spec
    return ExperimentConfig(
        name=target.config_name,
        description=spec.config_description.format(**names),
        sources=sources,
        **settings.model_dump(exclude_none=True),
    )
