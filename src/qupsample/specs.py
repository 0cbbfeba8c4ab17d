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

from qupsample.errors import Hint, SpecError, located
from qupsample.files import Inputs
from qupsample.models import (
    EvalSuite,
    Family,
    Layout,
    Profile,
    Proxies,
    Scheme,
    Settings,
    placeholders,
    safe_name,
)
from qupsample.yamlfiles import parse_yaml, read_text, validate

M = TypeVar("M", bound=BaseModel)

SCHEMES_DIR = "schemes"
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
class Project:
    """Every spec of a project root, validated and cross-checked."""

    root: Path
    layout: Layout
    settings: Settings
    families: dict[str, FamilySpecs]
    # The specs built into qupsample, not a project of the user's: nothing is written
    # into them.
    builtin: bool = False
    proxies: Proxies | None = None

    def describe(self) -> str:
        """Which specs are in use, for a line on stderr."""
        if self.builtin:
            return f"specs: built-in ({self.root}); `qupsample init DIR` makes a project"
        return f"project: {self.root}"

    @property
    def templates(self) -> Path:
        """The folder of Jinja templates."""
        return self.root / TEMPLATES_DIR

    @property
    def inputs(self) -> tuple[Path, Path]:
        """The folders every file of which a command of this project may read."""
        return self.root / SCHEMES_DIR, self.templates


def command_inputs(
    configs: Iterable[str | Path], root: Path | str | None = None, *others: Path | str | None
) -> Inputs:
    """The files a command that reads `configs` (and `others`) must never overwrite.

    A config that is no file (a `SCHEME:PROFILE` pair) is built from the project's
    specs, so those count as inputs then.
    """
    files = [Path(config) for config in configs]
    inputs = Inputs([*others, *(path for path in files if path.is_file())])
    if not all(path.is_file() for path in files):
        folder, _ = locate_root(root)
        inputs.add(folder / SCHEMES_DIR)
        inputs.add(folder / TEMPLATES_DIR)
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
                located(
                    str(folder),
                    None,
                    "has no schemes/ and templates/ folders",
                    "create them with `qupsample init DIR`",
                ),
                Hint("or pass the folder that holds them with {}", "--root DIR", 'root="DIR"'),
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


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def load_spec(path: Path, model: type[M], root: Path) -> Loaded[M]:
    """Read and validate one spec file; its name (the file's stem) must be a safe path part."""
    where = _relative(path, root)
    if not safe_name(path.stem):
        raise SpecError(
            located(
                where,
                None,
                f"the name {path.stem!r} cannot name a folder or file of generated configs",
                "rename the file: no leading dot, '.', '..', backslash or NUL",
            )
        )
    text = read_text(path, where, "create it")
    return Loaded(path.stem, where, validate(parse_yaml(text, where), model, where))


def _members(
    family: Loaded[Family], field: str, model: type[M], root: Path, seen: dict[Path, Any]
) -> dict[str, Loaded[M]]:
    pattern = getattr(family.spec, field)
    files = sorted((root / SCHEMES_DIR).glob(pattern))
    if not files:
        raise SpecError(
            located(
                family.file,
                field,
                f"{pattern!r} matches no files under {SCHEMES_DIR}/",
                "fix the pattern or add a spec file",
            )
        )
    members: dict[str, Loaded[M]] = {}
    for file in files:
        if file not in seen:
            seen[file] = load_spec(file, model, root)
        loaded: Loaded[M] = seen[file]
        if loaded.name in members:
            raise SpecError(
                located(
                    family.file,
                    field,
                    f"two files are named {loaded.name!r}: {members[loaded.name].file}"
                    f" and {loaded.file}",
                    "rename one",
                )
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
                    located(
                        scheme.file,
                        f"buckets.{name}",
                        f"no vigintiles, and {layout_file} has no bucket {name!r}",
                        f"give `vigintiles: [...]`, or {suggest(name, layout.buckets, 'known')}",
                    )
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
        raise SpecError(located(file, "description", what, "make them agree"))


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
                located(scheme.file, f"buckets.{name}.vigintiles", what, "remove or fix it")
            )


def _check_profile(profile: Loaded[Profile], layout: Layout, layout_file: str) -> None:
    for name, source in profile.spec.sources.items():
        if name not in layout.sources:
            raise SpecError(
                located(
                    profile.file,
                    f"sources.{name}",
                    "unknown source",
                    suggest(name, layout.sources, f"known sources ({layout_file})", ordered=True),
                )
            )
        by_topic = "topic" in placeholders(layout.sources[name])
        if by_topic and not source.topics:
            raise SpecError(
                located(
                    profile.file,
                    f"sources.{name}",
                    "needs topics",
                    f"its path pattern in {layout_file} has {{topic}}; list topic weights",
                )
            )
        if not by_topic and source.topics:
            raise SpecError(
                located(
                    profile.file,
                    f"sources.{name}.topics",
                    "this source has no topics",
                    f"its path pattern in {layout_file} has no {{topic}}; remove `topics`",
                )
            )


def load_project(root: Path | str | None = None) -> Project:
    """Load and cross-check every spec of the project at (or found from) `root`."""
    folder, builtin = locate_root(root)
    specs = folder / SCHEMES_DIR
    layout = load_spec(specs / "layout.yaml", Layout, folder)
    settings = load_spec(specs / "settings.yaml", Settings, folder)
    family_files = sorted((specs / "families").glob("*.yaml"))
    if not family_files:
        raise SpecError(
            located(
                _relative(specs / "families", folder),
                None,
                "no family specs (*.yaml)",
                "add one, e.g. families/quality_upsampling.yaml",
            )
        )
    seen: dict[Path, Any] = {}
    families: dict[str, FamilySpecs] = {}
    outputs: dict[str, str] = {}
    for file in family_files:
        family = load_spec(file, Family, folder)
        for form in family.spec.outputs:
            for other, owner in outputs.items():
                if _nested(form.output, other):
                    raise SpecError(
                        located(
                            family.file,
                            "output",
                            f"{form.output!r} and {other!r} ({owner}) nest",
                            "give each family and form an output folder of its own, side by side",
                        )
                    )
            if form.output in outputs:
                raise SpecError(
                    located(
                        family.file,
                        "output",
                        f"{form.output!r} is also an output of {outputs[form.output]}",
                        "give each family and form its own output folder",
                    )
                )
            outputs[form.output] = family.file
        schemes = {
            name: _resolve_scheme(scheme, layout.spec, layout.file)
            for name, scheme in _members(family, "schemes", Scheme, folder, seen).items()
        }
        profiles = _members(family, "profiles", Profile, folder, seen)
        for scheme in schemes.values():
            _check_scheme(scheme, layout.spec, layout.file)
        for profile in profiles.values():
            _check_profile(profile, layout.spec, layout.file)
        for index, form in enumerate(family.spec.outputs):
            for template_field in ("template", "readme_template", "batch_template"):
                name = getattr(form, template_field)
                if not (folder / TEMPLATES_DIR / name).is_file():
                    field = template_field if index == 0 else f"also.{index - 1}.{template_field}"
                    raise SpecError(
                        located(
                            family.file,
                            field,
                            f"no template {name!r} in {TEMPLATES_DIR}/",
                            "fix the name or add the template",
                        )
                    )
        families[family.name] = FamilySpecs(
            family.name, family.file, family.spec, schemes, profiles
        )
    proxies = load_proxies(folder)
    check_proxy(proxies, settings.spec.proxy_model_id, settings.file, "proxy_model_id")
    return Project(folder, layout.spec, settings.spec, families, builtin, proxies)


PROXIES_FILE = "proxies.yaml"


def load_proxies(root: Path | str | None = None) -> Proxies:
    """The proxy models and tokenizers of a project (`schemes/proxies.yaml`).

    A project without the file (made before it existed) uses the built-in one.
    """
    folder = find_root(root)
    path = folder / SCHEMES_DIR / PROXIES_FILE
    if not path.is_file():
        folder, path = builtin_root(), builtin_root() / SCHEMES_DIR / PROXIES_FILE
    return _load_proxies(path, path.stat().st_mtime_ns, folder)


@functools.lru_cache(maxsize=8)
def _load_proxies(path: Path, mtime_ns: int, root: Path) -> Proxies:
    return load_spec(path, Proxies, root).spec


def check_proxy(proxies: Proxies, proxy: str, where: str, field: str) -> None:
    """A known proxy model, or one line naming the file, the field and the known ones."""
    if proxy not in proxies.proxy_models:
        raise SpecError(
            located(
                where,
                field,
                f"unknown proxy model {proxy!r}",
                suggest(
                    proxy,
                    proxies.proxy_models,
                    f"known ({SCHEMES_DIR}/{PROXIES_FILE})",
                    ordered=True,
                ),
            )
        )


EVALS_DIR = "evals"


def load_eval_suite(project: Project, name: str) -> Loaded[EvalSuite]:
    """The eval suite `schemes/evals/<name>.yaml` of a project."""
    folder = project.root / SCHEMES_DIR / EVALS_DIR
    path = folder / f"{name}.yaml"
    if "/" in name or not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise SpecError(
            located(
                f"{SCHEMES_DIR}/{EVALS_DIR}/{name}.yaml",
                None,
                "no such eval suite",
                suggest(name, known) if known else f"add one under {SCHEMES_DIR}/{EVALS_DIR}/",
            )
        )
    return load_spec(path, EvalSuite, project.root)


def only_family(project: Project, family: str | None, where: str) -> Project:
    """The project narrowed to one family (all of them with None); unknown names suggest."""
    if family is None:
        return project
    if family not in project.families:
        raise SpecError(
            located(
                where, f"family {family!r}", "unknown family", suggest(family, project.families)
            )
        )
    return replace(project, families={family: project.families[family]})


def suggest(name: str, known: Iterable[str], label: str = "known", *, ordered: bool = False) -> str:
    """`did you mean 'x'? known: a, b` for an unknown name (sorted unless `ordered`)."""
    options = list(dict.fromkeys(known)) if ordered else sorted(set(known))
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}{label}: {', '.join(options)}"


@dataclass(frozen=True)
class SpecRow:
    """One line of `qupsample list`."""

    kind: str
    name: str
    description: str


def list_specs(root: Project | Path | str | None = None) -> list[SpecRow]:
    """Families, schemes and profiles of a project, with a short description each."""
    project = root if isinstance(root, Project) else load_project(root)
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
