"""Render a scheme x profile into an olmix launch config (YAML text).

The config is first built as a model from the specs; the Jinja template only lays it
out. The rendered text is parsed back and must equal the model, so no name or path,
whatever characters it holds, can change the config's structure.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml
from pydantic import ValidationError

from qupsample.errors import RenderError, located
from qupsample.files import write_atomic
from qupsample.models import (
    PROXY_MODEL_PARAMETERS,
    ExperimentConfig,
    QualityConfig,
    Settings,
    SourceConfig,
    TopicConfig,
    placeholders,
    training_tokens,
)
from qupsample.specs import (
    FamilySpecs,
    Project,
    load_project,
    load_scalar,
    parse_yaml,
    suggest,
    validation_message,
)
from qupsample.yamltext import comment_text, yaml_quoted, yaml_scalar

OUTPUT_DIR = "generated"
DATA_ROOT = "data_root"


def human_count(count: float) -> str:
    """`140M`, `1.5B`, `93.24M`: a token or parameter count for a header comment."""
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(count) >= size:
            return f"{count / size:.4g}{unit}"
    return f"{count:.4g}"


def template_environment(templates: Path) -> jinja2.Environment:
    """The Jinja environment over a `templates/` folder: strict, no HTML escaping."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yaml"] = yaml_scalar
    env.filters["q"] = yaml_quoted
    env.filters["human"] = human_count
    env.filters["text"] = comment_text
    env.filters["sh"] = shlex.quote
    return env


@contextmanager
def _template_errors(name: str) -> Iterator[None]:
    """Template mistakes (syntax, undefined variables, missing files) as `RenderError`s."""
    where = f"templates/{name}"
    try:
        yield
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(
            located(f"{where}:{exc.lineno}", None, exc.message or "syntax error")
        ) from None
    except jinja2.UndefinedError as exc:
        raise RenderError(
            located(where, None, str(exc), "fix the template or the variable name")
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(located(f"templates/{exc.name}", None, "template not found")) from None


def render_template(project: Project, name: str, context: Mapping[str, Any]) -> str:
    """Render one template of the project; template errors become `RenderError`s."""
    with _template_errors(name):
        text = template_environment(project.templates).get_template(name).render(context)
    # One `\n` per line and exactly one trailing newline, whatever the template did.
    return text.replace("\r\n", "\n").rstrip("\n") + "\n"


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
            raise RenderError(located(where, key, "unknown key", suggest(key, known)))
        value = _coerce(key, raw)
        if key == DATA_ROOT:
            if not isinstance(value, str) or not value:
                raise RenderError(located(where, key, f"must be a path or URL, got {value!r}"))
            data_root = value
        else:
            values[key] = value
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise RenderError(validation_message(where, exc, Settings)) from None
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

    @property
    def folder(self) -> str:
        """The family's output folder (or the variant's) inside the output folder."""
        output = self.family.spec.output
        return f"{output}/{self.variant}" if self.variant else output

    @property
    def path(self) -> str:
        """The config's path inside the output folder."""
        return f"{self.folder}/{self.profile}/{self.scheme}.yaml"

    @property
    def canonical_path(self) -> str:
        """The config's path in a project checkout, as the usage line shows it."""
        return f"{self.prefix}/{self.path}"

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


def find_target(project: Project, scheme: str, profile: str, family: str | None = None) -> Target:
    """The family config for a scheme and profile; unknown names suggest the closest."""
    families = project.families
    if family is not None:
        if family not in families:
            raise RenderError(
                located("--family", family, "unknown family", suggest(family, families))
            )
        families = {family: families[family]}
    with_scheme = [f for f in families.values() if scheme in f.schemes]
    if not with_scheme:
        known = [s for f in families.values() for s in f.schemes]
        raise RenderError(
            located("render", f"scheme {scheme!r}", "not found", suggest(scheme, known))
        )
    candidates = [f for f in with_scheme if profile in f.profiles]
    if not candidates:
        known = [p for f in with_scheme for p in f.profiles]
        raise RenderError(
            located("render", f"profile {profile!r}", "not found", suggest(profile, known))
        )
    if len(candidates) > 1:
        names = ", ".join(f.name for f in candidates)
        raise RenderError(
            located(
                "render",
                f"{scheme} {profile}",
                f"is in several families ({names})",
                "choose one with --family",
            )
        )
    return Target(candidates[0], scheme, profile)


def _format_path(pattern: str, data_root: str, topic: str = "", vigintile: int = 0) -> str:
    return pattern.format(data_root=data_root, topic=topic, vigintile=f"{vigintile:04d}")


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
                paths=[_format_path(pattern, data_root, topic, v) for v in bucket.vigintiles],
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
        sources.append(
            SourceConfig(
                name=name,
                weight=source.weight,
                max_repetition_factor=source.max_repetition_factor,
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


def _check_rendered(text: str, expected: ExperimentConfig, where: str) -> None:
    data = parse_yaml(text, where)
    try:
        parsed = ExperimentConfig.model_validate(data)
    except (ValidationError, TypeError) as exc:
        detail = (
            validation_message(where, exc, ExperimentConfig)
            if isinstance(exc, ValidationError)
            else located(where, None, "not a mapping")
        )
        raise RenderError(f"rendered config is invalid: {detail}") from None
    for field in type(expected).model_fields:
        want, got = getattr(expected, field), getattr(parsed, field)
        if want is not None and want != got:
            raise RenderError(
                located(
                    where,
                    field,
                    "the rendered config does not match the specs",
                    "the template must write every field of `config` unchanged",
                )
            )
    # Top-level keys pass through the model, so a key the specs did not write means
    # something (a name or path in a comment, say) broke out of its scalar.
    extra = sorted(set(parsed.model_extra or {}) - set(expected.model_extra or {}))
    if extra:
        raise RenderError(
            located(
                where,
                str(extra[0]),
                "the rendered config has a key the specs do not",
                "write every value through the `yaml`, `q` or `text` filter",
            )
        )


def find_template(project: Project, name: str) -> str:
    """A template's file name in `templates/`: `olmix-mix` finds `olmix-mix.yaml.j2`."""
    for candidate in (name, f"{name}.yaml.j2", f"{name}.j2"):
        if "/" not in candidate and (project.templates / candidate).is_file():
            return candidate
    known = sorted(p.name for p in project.templates.glob("*.yaml.j2"))
    raise RenderError(
        located("--template", name, "no such template in templates/", suggest(name, known))
    )


def _uses(project: Project, template: str, variable: str) -> bool:
    env = template_environment(project.templates)
    assert env.loader is not None
    with _template_errors(template):
        source = env.loader.get_source(env, template)[0]
        return variable in jinja2.meta.find_undeclared_variables(env.parse(source))


def mix_block(
    config: ExperimentConfig,
    *,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """The nested `mix:` block of a config, from explicit weights where they suffice.

    Token counts are listed only where some weight needs them (a group without weights);
    with `offline`, that is an error naming the leaves.
    """
    from qupsample.resolve import resolve

    mix = resolve(config, offline=True)
    if mix.needs_counts:
        if offline:
            raise RenderError(
                located(
                    config.name,
                    "mix",
                    f"needs token counts for {', '.join(mix.needs_counts)}",
                    "drop --offline so storage is listed, or give those buckets weights",
                )
            )
        mix = resolve(config, storage_options=storage_options)
    return mix.to_mix_block()


def render_target(
    project: Project,
    target: Target,
    settings: Settings,
    data_root: str,
    keep_zero: bool = False,
    *,
    template: str | None = None,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Render one target to YAML text, validated against the model it came from.

    A template that uses `mix_block` gets the config's nested `mix:` block (see
    `mix_block`; `offline` and `storage_options` apply there).
    """
    template = find_template(project, template or target.family.spec.template)
    config = build_config(project, target, settings, data_root, keep_zero)
    scheme = target.family.schemes[target.scheme]
    buckets = [
        {
            "name": name,
            "weight": bucket.weight,
            "vigintiles": ", ".join(f"{v:04d}" for v in bucket.vigintiles),
            "omitted": bucket.weight == 0 and not keep_zero,
        }
        for name, bucket in scheme.spec.buckets.items()
    ]
    settings_items = [(key, value) for key, value in settings.model_dump(exclude_none=True).items()]
    header = {
        "family": target.family.name,
        "family_file": target.family.file,
        "scheme": target.scheme,
        "scheme_file": scheme.file,
        "profile": target.profile,
        "profile_file": target.family.profiles[target.profile].file,
        "buckets": buckets,
        "parameters": PROXY_MODEL_PARAMETERS[settings.proxy_model_id],
        "training_tokens": training_tokens(settings.proxy_model_id, settings.chinchilla_multiple),
        "canonical_path": target.canonical_path,
    }
    context: dict[str, Any] = {"config": config, "settings": settings_items, "header": header}
    if _uses(project, template, "mix_block"):
        context["mix_block"] = mix_block(config, offline=offline, storage_options=storage_options)
    text = render_template(project, template, context)
    _check_rendered(text, config, f"templates/{template}")
    return text


def render(
    scheme: str,
    profile: str,
    *,
    root: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    keep_zero: bool = False,
    family: str | None = None,
    out: Path | str | None = None,
    template: str | None = None,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Render the launch config of `scheme` x `profile`: exactly the bytes `generate` writes.

    Args:
        scheme: a scheme name (its file's stem), e.g. "aggressive".
        profile: a profile name, e.g. "heavy_code".
        root: the project folder; default: found from the current folder, else bundled.
        overrides: settings or `data_root` to override, e.g. {"data_root": "/mnt/mirror"}.
        keep_zero: write weight-0 buckets explicitly instead of omitting them.
        family: the family, where the scheme and profile are in several.
        out: also write the config to this file, atomically.
        template: a template of `templates/` instead of the family's, e.g. "olmix-mix"
            (the config plus its nested `mix:` block).
        offline: for a template with a `mix:` block, list no storage (every weight
            must then be explicit).
        storage_options: s3fs options, where a `mix:` block needs token counts.

    Returns:
        The config as YAML text.
    """
    project = load_project(root)
    settings, data_root = apply_overrides(project, overrides)
    target = find_target(project, scheme, profile, family)
    text = render_target(
        project,
        target,
        settings,
        data_root,
        keep_zero,
        template=template,
        offline=offline,
        storage_options=storage_options,
    )
    if out is not None:
        write_atomic(Path(out), text)
    return text


__all__ = ["Target", "build_config", "find_target", "render", "render_target"]
