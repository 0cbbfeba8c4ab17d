"""Render a scheme x profile into an olmix config (YAML text), in either olmix form.

The config is first built as a model from the specs (`build`); the Jinja template only
lays it out. The rendered text is parsed back and must equal the model, so no name or
path, whatever characters it holds, can change the config's structure.

Two kinds of template: the plan-era flat config lays out `config` itself
(`olmix-experiment.yaml.j2`); a current-olmix template (`olmix-launch.yaml.j2`) writes
a header around `document`, the launch config as the dialect layer writes it, with
the `mix:` block resolved from the specs.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from pydantic import ValidationError

from qupsample.build import Target, apply_overrides, build_config, find_target
from qupsample.counts import Counting
from qupsample.dialects import launch_document, read_config
from qupsample.errors import RenderError
from qupsample.files import Inputs, write_output
from qupsample.mixblock import rounding_note
from qupsample.olmixmodels import ExperimentConfig
from qupsample.priors import PriorsInput
from qupsample.resolve import config_findings, mix_tree
from qupsample.specmodels import Budget, Settings, vigintile_label
from qupsample.specs import Project, ProjectInput, load_eval_suite, load_project, suggest
from qupsample.tables import human_count
from qupsample.yamlfiles import parse_yaml, validation_error
from qupsample.yamltext import comment_text, yaml_block, yaml_quoted, yaml_scalar

# Templates that are gone, and what replaces them.
RETIRED_TEMPLATES = {
    "olmix-mix": "olmix-launch",
}


@functools.lru_cache(maxsize=16)
def template_environment(templates: Path) -> jinja2.Environment:
    """The Jinja environment over a `templates/` folder: strict, no HTML escaping.

    One per folder: Jinja keeps each compiled template (and recompiles a changed file).
    """
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
        raise RenderError(exc.message or "syntax error", where=f"{where}:{exc.lineno}") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(
            str(exc), where=where, fix="fix the template or the variable name"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError("template not found", where=f"templates/{exc.name}") from None


def render_template(project: Project, name: str, context: Mapping[str, Any]) -> str:
    """Render one template of the project; template errors become `RenderError`s."""
    with _template_errors(name):
        text = template_environment(project.templates).get_template(name).render(context)
    # One `\n` per line and exactly one trailing newline, whatever the template did.
    return text.replace("\r\n", "\n").rstrip("\n") + "\n"


def _check_rendered(text: str, expected: ExperimentConfig, where: str) -> Any:
    """The rendered config parsed back, checked against the model it came from."""
    data = parse_yaml(text, where)
    try:
        parsed = ExperimentConfig.model_validate(data)
    except (ValidationError, TypeError) as exc:
        error = (
            validation_error(RenderError, where, exc, ExperimentConfig)
            if isinstance(exc, ValidationError)
            else RenderError("not a mapping", where=where)
        )
        raise error.within("rendered config is invalid") from None
    for field in type(expected).model_fields:
        want, got = getattr(expected, field), getattr(parsed, field)
        if want is not None and want != got:
            raise RenderError(
                "the rendered config does not match the specs",
                where=where,
                field=field,
                fix="the template must write every field of `config` unchanged",
            )
    return data
    # Top-level keys pass through the model, so a key the specs did not write means
    # something (a name or path in a comment, say) broke out of its scalar.
    extra = sorted(set(parsed.model_extra or {}) - set(expected.model_extra or {}))
    if extra:
        raise RenderError(
            "the rendered config has a key the specs do not",
            where=where,
            field=str(extra[0]),
            fix="write every value through the `yaml`, `q` or `text` filter",
        )


def find_template(project: Project, name: str) -> str:
    """A template's file name in `templates/`: `olmix-launch` finds `olmix-launch.yaml.j2`."""
    stem = name.removesuffix(".j2").removesuffix(".yaml")
    if stem in RETIRED_TEMPLATES:
        raise RenderError(
            "retired: no olmix version reads a flat config with a mix: block",
            where="--template",
            field=name,
            fix=f"use --template {RETIRED_TEMPLATES[stem]} (current olmix's launch config)",
        )
    for candidate in (name, f"{name}.yaml.j2", f"{name}.j2"):
        if "/" not in candidate and (project.templates / candidate).is_file():
            return candidate
    known = sorted(p.name for p in project.templates.glob("*.yaml.j2"))
    raise RenderError(
        "no such template in templates/", where="--template", field=name, fix=suggest(name, known)
    )


def uses_document(project: Project, template: str) -> bool:
    """Whether a template writes a current-olmix `document` (else it lays out `config`)."""
    env = template_environment(project.templates)
    assert env.loader is not None
    with _template_errors(template):
        source = env.loader.get_source(env, template)[0]
        return "document" in _variables(env, source)


@functools.lru_cache(maxsize=64)
def _variables(env: jinja2.Environment, source: str) -> frozenset[str]:
    return frozenset(jinja2.meta.find_undeclared_variables(env.parse(source)))


def _check_document(text: str, document: Mapping[str, Any], where: str) -> None:
    if parse_yaml(text, where) != document:
        raise RenderError(
            "the rendered config does not match the specs",
            where=where,
            fix="the template must write `document` unchanged, after comments only",
        )


def budget_line(budget: Budget, proxy: str, tokenizer: str | None) -> str:
    """The header's training tokens: the trainer's figure, with the nominal one beside it."""
    multiple = comment_text(budget.chinchilla_multiple)
    per = budget.tokens_per_parameter
    if budget.parameters is None:
        return (
            f"{multiple} x {per} x {human_count(budget.nominal_parameters)} ="
            f" {human_count(budget.nominal)} (nominal: the trainer's size of {proxy} with"
            f" {tokenizer or 'no tokenizer'} is unknown)"
        )
    return (
        f"{multiple} x {per} x {budget.parameters:,} = {budget.tokens:,}"
        f" (nominal {human_count(budget.nominal)})"
    )


def render_target(
    project: Project,
    target: Target,
    settings: Settings,
    data_root: str,
    keep_zero: bool = False,
    *,
    template: str | None = None,
    counting: Counting | None = None,
    warnings: list[str] | None = None,
) -> str:
    """Render one target to YAML text, validated against the model it came from.

    A current-olmix template (one that uses `document`) gets the launch config with
    its `mix:` block (see `resolve.mix_tree`; `counting` applies there) and the
    family's eval suite. What `resolve --strict` would say of the launch config (e.g.
    leaves at weight 0 with `keep_zero`, a tokenizer the trainer rejects) is added to
    `warnings`.
    """
    template = find_template(project, template or target.form.template)
    config = build_config(project, target, settings, data_root, keep_zero)
    scheme = target.family.schemes[target.scheme]
    buckets = [
        {
            "name": name,
            "weight": bucket.weight,
            "vigintiles": ", ".join(map(vigintile_label, bucket.members)),
            "omitted": bucket.weight == 0 and not keep_zero,
        }
        for name, bucket in scheme.spec.buckets.items()
    ]
    settings_items = [(key, value) for key, value in settings.model_dump(exclude_none=True).items()]
    proxies = project.proxies
    header = {
        "family": target.family.name,
        "family_file": target.family.file,
        "scheme": target.scheme,
        "scheme_file": scheme.file,
        "profile": target.profile,
        "profile_file": target.family.profiles[target.profile].file,
        "buckets": buckets,
        "training_tokens": budget_line(
            proxies.budget(
                settings.proxy_model_id, settings.chinchilla_multiple, settings.tokenizer
            ),
            settings.proxy_model_id,
            settings.tokenizer,
        ),
        "canonical_path": target.canonical_path,
        "rounding": rounding_note(),
    }
    context: dict[str, Any] = {"config": config, "settings": settings_items, "header": header}
    where = f"templates/{template}"
    if not uses_document(project, template):
        text = render_template(project, template, context)
        data = _check_rendered(text, config, where)
    else:
        suite = load_eval_suite(project, target.family.spec.eval)
        mix = mix_tree(config, project, keep_zero=keep_zero, counting=counting)
        data = launch_document(
            config, mix, suite.spec.tasks, eval_type=suite.spec.type, proxies=proxies
        )
        header["eval_file"] = suite.file
        context["document"] = yaml_block(data, fixed=True)
        context["launch"] = data
        text = render_template(project, template, context)
        _check_document(text, data, where)
    if warnings is not None:
        loaded = read_config(data, target.canonical_path, project)
        warnings += map(str, config_findings(loaded, proxies))
    return text


def render(
    scheme: str,
    profile: str,
    *,
    root: ProjectInput = None,
    overrides: Mapping[str, Any] | None = None,
    keep_zero: bool = False,
    family: str | None = None,
    out: Path | str | None = None,
    template: str | None = None,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    priors: PriorsInput | None = None,
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
    warnings: list[str] | None = None,
) -> str:
    """Render the config of `scheme` x `profile`: exactly the bytes `generate` writes.

    Args:
        scheme: a scheme name (its file's stem), e.g. "aggressive".
        profile: a profile name, e.g. "heavy_code".
        root: the project (see `qupsample.specs.open_project`): the folder given, else
            found from the current folder, else the built-in specs.
        overrides: settings or `data_root` to override, e.g. {"data_root": "/mnt/mirror"}.
        keep_zero: keep weight-0 buckets (plan-era: `weight: 0`; current olmix: in `data`
            with weight 0 in `mix`) instead of omitting them.
        family: the family, where the scheme and profile are in several.
        out: also write the config to this file (its usage line then shows this path),
            as `files.write_output` writes: never over a spec or template.
        template: a template of `templates/` instead of the family's, e.g.
            "olmix-launch" (current olmix's launch config, with its `mix:` block).
        offline: for a current-olmix template, list no storage (weights must be
            explicit, or counted in `priors`).
        storage_options: s3fs options, where a `mix:` block needs token counts.
        priors: token counts per leaf (a mapping or a priors file), for inclusion-only
            buckets.
        cache, refresh, cache_dir: the token-count cache, as in `resolve`.
        warnings: where to add what `resolve --strict` would say of the config (a
            current-olmix template only), one line each.

    Returns:
        The config as YAML text.
    """
    project = load_project(root)
    settings, data_root = apply_overrides(project, overrides)
    chosen = find_template(project, template) if template else None
    target = find_target(project, scheme, profile, family, chosen, where="render")
    if out is not None:
        target = replace(target, usage=Path(out).as_posix())
    text = render_target(
        project,
        target,
        settings,
        data_root,
        keep_zero,
        template=chosen,
        counting=Counting(storage_options, offline, priors, cache, refresh, cache_dir),
        warnings=warnings,
    )
    if out is not None:
        given = priors if isinstance(priors, str | Path) else None
        write_output(Path(out), text, Inputs([*project.inputs, given]))
    return text


__all__ = ["Target", "find_target", "render", "render_target", "uses_document"]
