"""Read the spec files under `schemes/` into validated models.

A project root holds `schemes/` (layout.yaml, settings.yaml, families/*.yaml and the
scheme and profile files the families point at) and `templates/`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from qupsample.errors import Hint, SpecError, shown_names
from qupsample.files import Inputs
from qupsample.specmodels import (
    EvalSuite,
    Family,
    Layout,
    Profile,
    Proxies,
    Scheme,
    Settings,
    clean_name,
    cleaned_name,
    placeholders,
)
from qupsample.yamlfiles import parse_yaml, read_text, validate

M = TypeVar("M", bound=BaseModel)

SCHEMES_DIR = "schemes"
# Known names a did-you-mean lists before "(and N more)".
SUGGEST_LIMIT = 12
TEMPLATES_DIR = "templates"
_BUNDLED = Path(__file__).parent / "_bundled"
_CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A validated spec with its name (the file's stem) and its file, as shown to users."""

    name: str
    file: str
    spec: M


@dataclass(frozen=True)
class FamilySpecs:
    """A family with the schemes and profiles it crosses, in name order."""

    name: str
    file: str
    spec: Family
    schemes: dict[str, Loaded[Scheme]]
    profiles: dict[str, Loaded[Profile]]


@dataclass(frozen=True)
class Specs:
    """A project's layout, settings and families, validated and cross-checked."""

    layout: Layout
    settings: Settings
    families: dict[str, FamilySpecs]


@dataclass(frozen=True, eq=False)
class Project:
    """One project: its folder, and its specs, each read from that folder on first use.

    `open_project` makes it where a user's call enters; everything below takes this
    object, so no function looks at the current folder.
    """

    root: Path
    # The specs built into qupsample, not a project of the user's: nothing is written
    # into them.
    builtin: bool = False

    def describe(self) -> str:
        """Which specs are in use, for a line on stderr."""
        if self.builtin:
            return f"specs: built-in ({self.root}); `qupsample init DIR` makes a project"
        return f"project: {self.root}"

    @property
    def templates(self) -> Path:
        """The folder of Jinja templates."""
        return self.root / TEMPLATES_DIR

    @functools.cached_property
    def proxies(self) -> Proxies:
        """The proxy models and tokenizers (`schemes/proxies.yaml`, else the built-in)."""
        path = self.root / SCHEMES_DIR / PROXIES_FILE
        if path.is_file():
            return load_spec(path, Proxies, self.shown(path)).spec
        # A project made before the file existed uses the built-in one.
        builtin = builtin_root() / SCHEMES_DIR / PROXIES_FILE
        return load_spec(builtin, Proxies, f"{SCHEMES_DIR}/{PROXIES_FILE}").spec

    def shown(self, path: Path) -> str:
        """A file of the project as messages show it: relative to the project folder."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    @functools.cached_property
    def specs(self) -> Specs:
        """Every spec of the project, validated and cross-checked (read once)."""
        return _load_specs(self)

    @property
    def layout(self) -> Layout:
        """Where the data lives (`schemes/layout.yaml`)."""
        return self.specs.layout

    @property
    def settings(self) -> Settings:
        """The standard settings (`schemes/settings.yaml`)."""
        return self.specs.settings

    @property
    def families(self) -> dict[str, FamilySpecs]:
        """The families, by name."""
        return self.specs.families

    @property
    def inputs(self) -> tuple[Path, Path]:
        """The folders every file of which a command of this project may read."""
        return self.root / SCHEMES_DIR, self.templates

    def with_specs(self, **changes: Any) -> Project:
        """The same project with some specs replaced (`layout`, `settings`, `families`)."""
        project = Project(self.root, self.builtin)
        project.__dict__["proxies"] = self.proxies
        project.__dict__["specs"] = replace(self.specs, **changes)
        return project


ProjectInput = Project | Path | str | None


def open_project(root: ProjectInput = None) -> Project:
    """The project a user's call works in: the one place `root=None` is decided.

    Order: a `Project` as it is; the folder given; else the nearest folder at or
    above the current one holding `schemes/` and `templates/`; else the specs built
    into qupsample. Specs are read on first use.
    """
    if isinstance(root, Project):
        return root
    folder, builtin = locate_root(root)
    return Project(folder.resolve(), builtin)


def command_inputs(
    configs: Iterable[str | Path], project: Project, *others: Path | str | None
) -> Inputs:
    """The files a command that reads `configs` (and `others`) must never overwrite.

    A config that is no file (a `SCHEME:PROFILE` pair) is built from the project's
    specs, so those count as inputs then.
    """
    files = [Path(config) for config in configs]
    inputs = Inputs([*others, *(path for path in files if path.is_file())])
    if not all(path.is_file() for path in files):
        for folder in project.inputs:
            inputs.add(folder)
    return inputs


def _is_root(folder: Path) -> bool:
    return (folder / SCHEMES_DIR).is_dir() and (folder / TEMPLATES_DIR).is_dir()


def _nested(a: str, b: str) -> bool:
    """Whether one output folder lies inside the other (or is it)."""
    pa, pb = a.split("/"), b.split("/")
    shorter = min(len(pa), len(pb))
    return pa[:shorter] == pb[:shorter] and a != b


def builtin_root() -> Path:
    """The specs that ship with qupsample (in a wheel; in a checkout, the checkout's)."""
    for folder in (_BUNDLED, _CHECKOUT):
        if _is_root(folder):
            return folder
    raise SpecError(
        "no schemes/ and templates/ found at or above the current folder, and none built in"
        " — run from a qupsample project or pass --root DIR"
    )


def locate_root(root: Path | str | None = None, start: Path | None = None) -> tuple[Path, bool]:
    """The project root and whether it is the built-in specs (see `find_root`)."""
    if root is not None:
        folder = Path(root)
        if not _is_root(folder):
            raise SpecError(
                "has no schemes/ and templates/ folders",
                Hint("or pass the folder that holds them with {}", "--root DIR", 'root="DIR"'),
                where=str(folder),
                fix="create them with `qupsample init DIR`",
            )
        return folder, False
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_root(folder):
            return folder, False
    return builtin_root(), True


def find_root(root: Path | str | None = None, start: Path | None = None) -> Path:
    """Find the project root.

    Order: the folder given; else the nearest folder at or above `start` (the current
    directory) holding `schemes/` and `templates/`; else the specs built into qupsample.
    """
    return locate_root(root, start)[0]


def load_spec(path: Path, model: type[M], where: str) -> Loaded[M]:
    """Read and validate one spec file (`where`: as messages show it); its name (the
    file's stem) must be a clean identifier (it names generated folders and files)."""
    _check_clean_name(path, where)
    text = read_text(path, where, "create it")
    return Loaded(path.stem, where, validate(parse_yaml(text, where), model, where))


def _check_clean_name(path: Path, where: str) -> None:
    """A spec's name goes into config names and paths: refuse one that is no identifier."""
    if clean_name(path.stem):
        return
    raise SpecError(
        f"the name {path.stem!r} is not a clean identifier, and it goes into generated"
        " config names and paths",
        where=where,
        fix=f"rename the file to {cleaned_name(path.stem) + path.suffix!r}"
        " (letters, digits, '_' and '-' only)",
    )


def _spec_files(folder: Path, pattern: str) -> list[Path]:
    """The files a spec pattern matches; `*.yaml` matches `*.yml` too, as olmix reads both."""
    files = set(folder.glob(pattern))
    if pattern.endswith(".yaml"):
        files.update(folder.glob(pattern.removesuffix(".yaml") + ".yml"))
    return sorted(files)


def _members(
    family: Loaded[Family], field: str, model: type[M], project: Project, seen: dict[Path, Any]
) -> dict[str, Loaded[M]]:
    pattern = getattr(family.spec, field)
    files = _spec_files(project.root / SCHEMES_DIR, pattern)
    if not files:
        raise SpecError(
            f"{pattern!r} matches no files under {SCHEMES_DIR}/",
            where=family.file,
            field=field,
            fix="fix the pattern or add a spec file",
        )
    members: dict[str, Loaded[M]] = {}
    for file in files:
        if file not in seen:
            seen[file] = load_spec(file, model, project.shown(file))
        loaded: Loaded[M] = seen[file]
        if loaded.name in members:
            raise SpecError(
                f"two files are named {loaded.name!r}: {members[loaded.name].file}"
                f" and {loaded.file}",
                where=family.file,
                field=field,
                fix="rename one",
            )
        members[loaded.name] = loaded
    return members


_STATED = re.compile(r"(?<![\w%-])([\w-]+%?)=(\d+(?:\.\d+)?)")


def _resolve_scheme(scheme: Loaded[Scheme], layout: Layout, layout_file: str) -> Loaded[Scheme]:
    """The scheme with each bucket's vigintiles, from the layout where it gives none."""
    buckets: dict[str, Any] = {}
    for name, bucket in scheme.spec.buckets.items():
        data = bucket.model_dump(exclude_none=True)
        if bucket.vigintiles is None:
            if name not in layout.buckets:
                raise SpecError(
                    f"no vigintiles, and {layout_file} has no bucket {name!r}",
                    where=scheme.file,
                    field=f"buckets.{name}",
                    fix=f"give `vigintiles: [...]`, or {suggest(name, layout.buckets, 'known')}",
                )
            data["vigintiles"] = layout.buckets[name]
        buckets[name] = data
    spec = validate({**scheme.spec.model_dump(exclude={"buckets"}), "buckets": buckets}, Scheme,
                    scheme.file)  # fmt: skip
    _check_description(scheme.file, spec)
    return Loaded(scheme.name, scheme.file, spec)


def _check_description(file: str, scheme: Scheme) -> None:
    # A description that restates the weights (`top10%=70, ..., rest=0`) must agree.
    stated: set[str] = set()
    for label, number in _STATED.findall(scheme.description):
        if label == "rest":
            rest = [n for n in scheme.buckets if n not in stated]
            wrong = [n for n in rest if scheme.buckets[n].weight not in (None, 0)]
            if float(number) == 0 and not wrong:
                continue
            what = f"says rest={number}, but {', '.join(wrong) or 'no bucket'} disagrees"
        else:
            name = label.replace("%", "pct")
            bucket = scheme.buckets.get(name)
            stated.add(name)
            if bucket is not None and bucket.weight is not None and bucket.weight == float(number):
                continue
            what = (
                f"says {label}={number}, but there is no bucket {name!r}"
                if bucket is None
                else f"says {label}={number}, but buckets.{name}.weight is {bucket.weight}"
            )
        raise SpecError(what, where=file, field="description", fix="make them agree")


def _check_scheme(scheme: Loaded[Scheme], layout: Layout, layout_file: str) -> None:
    numbering = layout.vigintiles
    for name, bucket in scheme.spec.buckets.items():
        for vigintile in bucket.members:
            if numbering.exists(vigintile):
                continue
            if vigintile in numbering.missing:
                what = f"vigintile {vigintile} does not exist in the data ({layout_file})"
            else:
                what = f"vigintile {vigintile} is outside {numbering.first}-{numbering.last}"
            raise SpecError(
                what, where=scheme.file, field=f"buckets.{name}.vigintiles", fix="remove or fix it"
            )


def _check_profile(profile: Loaded[Profile], layout: Layout, layout_file: str) -> None:
    for name, source in profile.spec.sources.items():
        if name not in layout.sources:
            raise SpecError(
                "unknown source",
                where=profile.file,
                field=f"sources.{name}",
                fix=suggest(name, layout.sources, f"known sources ({layout_file})", ordered=True),
            )
        by_topic = "topic" in placeholders(layout.sources[name])
        if by_topic and not source.topics:
            raise SpecError(
                "needs topics",
                where=profile.file,
                field=f"sources.{name}",
                fix=f"its path pattern in {layout_file} has {{topic}}; list topic weights",
            )
        if not by_topic and source.topics:
            raise SpecError(
                "this source has no topics",
                where=profile.file,
                field=f"sources.{name}.topics",
                fix=f"its path pattern in {layout_file} has no {{topic}}; remove `topics`",
            )
        known = layout.topics.get(name)
        for topic in source.topics or ():
            if known is not None and topic not in known:
                raise SpecError(
                    "unknown topic",
                    where=profile.file,
                    field=f"sources.{name}.topics.{topic}",
                    fix=suggest(topic, known, f"{name}'s topics ({layout_file})", ordered=True)
                    + "; a new one is a line in its `topics:`",
                )


def load_project(root: ProjectInput = None) -> Project:
    """The project at (or found from) `root`, with every spec read and cross-checked."""
    project = open_project(root)
    project.specs  # noqa: B018 - read and check them now, not on first use
    return project


def _load_specs(project: Project) -> Specs:
    specs = project.root / SCHEMES_DIR
    layout = load_spec(specs / "layout.yaml", Layout, project.shown(specs / "layout.yaml"))
    settings = load_spec(specs / "settings.yaml", Settings, project.shown(specs / "settings.yaml"))
    family_files = _spec_files(specs / "families", "*.yaml")
    if not family_files:
        raise SpecError(
            "no family specs (*.yaml)",
            where=project.shown(specs / "families"),
            fix="add one, e.g. families/quality_upsampling.yaml",
        )
    seen: dict[Path, Any] = {}
    families: dict[str, FamilySpecs] = {}
    outputs: dict[str, str] = {}
    for file in family_files:
        family = load_spec(file, Family, project.shown(file))
        _check_outputs(family, outputs)
        schemes = {
            name: _resolve_scheme(scheme, layout.spec, layout.file)
            for name, scheme in _members(family, "schemes", Scheme, project, seen).items()
        }
        profiles = _members(family, "profiles", Profile, project, seen)
        for scheme in schemes.values():
            _check_scheme(scheme, layout.spec, layout.file)
        for profile in profiles.values():
            _check_profile(profile, layout.spec, layout.file)
        _check_templates(family, project.templates)
        families[family.name] = FamilySpecs(
            family.name, family.file, family.spec, schemes, profiles
        )
    check_proxy(project.proxies, settings.spec.proxy_model_id, settings.file, "proxy_model_id")
    check_tokenizer(project.proxies, settings.spec.tokenizer, settings.file, "tokenizer")
    return Specs(layout.spec, settings.spec, families)


def _check_outputs(family: Loaded[Family], outputs: dict[str, str]) -> None:
    """Each family and form writes to a folder of its own (`outputs`: folder -> file)."""
    for form in family.spec.outputs:
        for other, owner in outputs.items():
            if _nested(form.output, other):
                raise SpecError(
                    f"{form.output!r} and {other!r} ({owner}) nest",
                    where=family.file,
                    field="output",
                    fix="give each family and form an output folder of its own, side by side",
                )
        if form.output in outputs:
            raise SpecError(
                f"{form.output!r} is also an output of {outputs[form.output]}",
                where=family.file,
                field="output",
                fix="give each family and form its own output folder",
            )
        outputs[form.output] = family.file


def _check_templates(family: Loaded[Family], templates: Path) -> None:
    for index, form in enumerate(family.spec.outputs):
        for template_field in ("template", "readme_template", "batch_template"):
            name = getattr(form, template_field)
            if not (templates / name).is_file():
                field = template_field if index == 0 else f"also.{index - 1}.{template_field}"
                raise SpecError(
                    f"no template {name!r} in {TEMPLATES_DIR}/",
                    where=family.file,
                    field=field,
                    fix="fix the name or add the template",
                )


PROXIES_FILE = "proxies.yaml"


def load_proxies(root: ProjectInput = None) -> Proxies:
    """The proxy models and tokenizers of a project (`schemes/proxies.yaml`).

    A project without the file (made before it existed) uses the built-in one.
    """
    return open_project(root).proxies


def check_proxy(proxies: Proxies, proxy: str, where: str, field: str) -> None:
    """A known proxy model, or one line naming the file, the field and the known ones."""
    if proxy not in proxies.proxy_models:
        raise SpecError(
            f"unknown proxy model {proxy!r}",
            where=where,
            field=field,
            fix=suggest(
                proxy,
                proxies.proxy_models,
                f"known ({SCHEMES_DIR}/{PROXIES_FILE})",
                ordered=True,
            ),
        )


def check_tokenizer(proxies: Proxies, tokenizer: str | None, where: str, field: str) -> None:
    """A tokenizer the project knows (its dtype decides every token count), or one line."""
    if tokenizer is not None and tokenizer not in proxies.tokenizers:
        raise SpecError(
            f"unknown tokenizer {tokenizer!r}: its token ids' dtype is unknown",
            where=where,
            field=field,
            fix=suggest(
                tokenizer, proxies.tokenizers, f"known ({SCHEMES_DIR}/{PROXIES_FILE})", ordered=True
            )
            + "; a new one is a line there",
        )


EVALS_DIR = "evals"


def eval_suite_file(project: Project, name: str) -> str:
    """Where a project's eval suite `name` is (`.yaml` or `.yml`), as messages show it."""
    found = (
        [] if "/" in name else _spec_files(project.root / SCHEMES_DIR / EVALS_DIR, f"{name}.yaml")
    )
    return project.shown(found[0]) if found else f"{SCHEMES_DIR}/{EVALS_DIR}/{name}.yaml"


def load_eval_suite(project: Project, name: str) -> Loaded[EvalSuite]:
    """The eval suite `schemes/evals/<name>.yaml` (or `.yml`) of a project."""
    folder = project.root / SCHEMES_DIR / EVALS_DIR
    found = [] if "/" in name else _spec_files(folder, f"{name}.yaml")
    path = found[0] if found else folder / f"{name}.yaml"
    if len(found) != 1:
        if len(found) > 1:
            raise SpecError(
                f"both {found[0].name} and {found[1].name} name this suite",
                where=f"{SCHEMES_DIR}/{EVALS_DIR}/{name}.yaml",
                fix="keep one",
            )
        known = sorted(p.stem for p in _spec_files(folder, "*.yaml"))
        raise SpecError(
            "no such eval suite",
            where=f"{SCHEMES_DIR}/{EVALS_DIR}/{name}.yaml",
            fix=suggest(name, known) if known else f"add one under {SCHEMES_DIR}/{EVALS_DIR}/",
        )
    return load_spec(path, EvalSuite, project.shown(path))


def only_family(project: Project, family: str | None, where: str) -> Project:
    """The project narrowed to one family (all of them with None); unknown names suggest."""
    if family is None:
        return project
    if family not in project.families:
        raise SpecError(
            "unknown family",
            where=where,
            field=f"family {family!r}",
            fix=suggest(family, project.families),
        )
    return project.with_specs(families={family: project.families[family]})


def suggest(name: str, known: Iterable[str], label: str = "known", *, ordered: bool = False) -> str:
    """`did you mean 'x'? known: a, b` for an unknown name (sorted unless `ordered`)."""
    options = list(dict.fromkeys(known)) if ordered else sorted(set(known))
    close = closest(name, options)
    hint = f"did you mean {close!r}? " if close is not None else ""
    return f"{hint}{label}: {shown_names(options, SUGGEST_LIMIT)}"


def closest(name: str, options: list[str]) -> str | None:
    """The option most like `name`: fewest edits, then the same length (`olmo3_15m` is
    nearer `olmo3_14m` than `olmo3_1m`), then difflib's likeness; None if none is close."""
    close = difflib.get_close_matches(name, options, n=len(options))
    if not close:
        return None

    def rank(option: str) -> tuple[int, int, float]:
        likeness = difflib.SequenceMatcher(None, name, option).ratio()
        return edits(name, option), abs(len(option) - len(name)), -likeness

    return min(close, key=rank)


def edits(a: str, b: str) -> int:
    """Levenshtein distance: the fewest inserts, deletes and substitutions from a to b."""
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class SpecRow:
    """One line of `qupsample list`."""

    kind: str
    name: str
    description: str


def list_specs(root: ProjectInput = None) -> list[SpecRow]:
    """Families, schemes and profiles of a project, with a short description each."""
    project = load_project(root)
    rows: list[SpecRow] = []
    schemes: dict[str, tuple[str, list[str]]] = {}
    profiles: dict[str, tuple[str, list[str]]] = {}
    for name, family in project.families.items():
        count = f"{len(family.schemes)} schemes x {len(family.profiles)} profiles"
        rows.append(
            SpecRow(
                "families", name, f"{family.spec.description} ({count} -> {family.spec.output}/)"
            )
        )
        for members, into in ((family.schemes, schemes), (family.profiles, profiles)):
            for member in members.values():
                into.setdefault(member.name, (member.spec.description, []))[1].append(name)
    for kind, specs in (("schemes", schemes), ("profiles", profiles)):
        for name, (description, families) in sorted(specs.items()):
            rows.append(SpecRow(kind, name, f"{description} [{', '.join(families)}]"))
    return rows
