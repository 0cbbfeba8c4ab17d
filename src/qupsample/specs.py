"""Read the spec files under `schemes/` into validated models.

A project root holds `schemes/` (layout.yaml, settings.yaml, families/*.yaml and the
scheme and profile files the families point at) and `templates/`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from qupsample.errors import Hint, SpecError, located, short_repr, shorten
from qupsample.models import EvalSuite, Family, Layout, Profile, Scheme, Settings, placeholders

M = TypeVar("M", bound=BaseModel)

SCHEMES_DIR = "schemes"
TEMPLATES_DIR = "templates"
_BUNDLED = Path(__file__).parent / "_bundled"
_CHECKOUT = Path(__file__).resolve().parents[2]


# libyaml's parser when PyYAML was built with it (about 10x faster), else PyYAML's own.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Hostile-input bounds of every spec and config file.
MAX_FILE_BYTES_ENV = "QUPSAMPLE_MAX_FILE_BYTES"
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
# Nodes that aliases may add once expanded: a "billion laughs" file is a few hundred
# bytes whose aliases expand to 10**9 nodes.
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 100


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type, misc]
    """A safe loader that rejects duplicate mapping keys (PyYAML keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


# YAML 1.1 wants a dot in a float (`1.0e-3`); accept `1e-3` too, as YAML 1.2 does.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_scalar(text: str) -> Any:
    """Read one `--set` value the way spec files are read (YAML, `1e-3` a number)."""
    return _load(text)


class _BoundError(yaml.YAMLError):
    """A document over the alias-expansion or nesting bound."""


def _collections(node: yaml.Node) -> tuple[int, list[yaml.Node]]:
    """A collection's scalar children (counted) and its collection children (listed)."""
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        return 0, []
    nested = [child for child in children if not isinstance(child, yaml.ScalarNode)]
    return len(children) - len(nested), nested


def _check_bounds(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand too far, or that nests too deep.

    Aliases share nodes, so the graph is small even when its expansion is not: one
    pass over the distinct collection nodes sizes the expansion without performing it
    (scalars are only counted, so a list of a million paths costs one quick scan).
    """
    distinct = 0
    expanded: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    visiting: set[int] = set()
    scalars: dict[int, tuple[int, list[yaml.Node]]] = {}
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            visiting.discard(key)
            count, nested = scalars.pop(key)
            size = 1 + count + sum(expanded[id(child)] for child in nested)
            expanded[key] = min(size, 10**12)
            depth[key] = 1 + max((depth[id(child)] for child in nested), default=0)
            if depth[key] > MAX_DEPTH:
                raise _BoundError(f"nested deeper than {MAX_DEPTH} levels")
            continue
        if key in expanded:
            continue
        if key in visiting:
            raise _BoundError("an alias refers to a node that contains it (a recursive alias)")
        visiting.add(key)
        scalars[key] = _collections(node)
        distinct += 1 + scalars[key][0]
        stack.append((node, True))
        stack.extend((child, False) for child in scalars[key][1] if id(child) not in expanded)
    if expanded[id(root)] - distinct > MAX_ALIAS_NODES:
        raise _BoundError(
            f"aliases expand to more than {MAX_ALIAS_NODES:,} extra nodes (an alias bomb?)"
        )


def _load(text: str) -> Any:
    """Parse one YAML document within the bounds, without expanding aliases first."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_bounds(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _python_syntax_error(text: str) -> yaml.MarkedYAMLError | None:
    """PyYAML's own wording of a syntax error, which is clearer than libyaml's.

    Only for files small enough to parse twice quickly.
    """
    if _SafeLoader is yaml.SafeLoader or len(text) > 1_000_000:
        return None
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return exc
    return None


def max_file_bytes() -> int:
    """The largest spec or config file read: $QUPSAMPLE_MAX_FILE_BYTES, else 256 MiB."""
    raw = os.environ.get(MAX_FILE_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FILE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SpecError(
            located(MAX_FILE_BYTES_ENV, None, f"must be a positive int, got {shorten(raw)!r}")
        )
    return value


def _too_large(where: str, size: str, limit: int) -> SpecError:
    return SpecError(
        located(
            where,
            None,
            f"is larger than {size} ({limit:,} bytes)",
            f"split it, or raise the limit with {MAX_FILE_BYTES_ENV}",
        )
    )


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text safely: the one loader of specs and configs.

    Duplicate keys are rejected, and hostile input is bounded: the text's size
    (`max_file_bytes()`), alias expansion (`MAX_ALIAS_NODES`) and nesting (`MAX_DEPTH`).
    Errors are one line naming `where:line`.
    """
    limit = max_file_bytes()
    if len(text) > limit:
        raise _too_large(where, "the limit", limit)
    try:
        return _load(text)
    except _BoundError as exc:
        raise SpecError(located(where, None, str(exc), "write the values out")) from None
    except yaml.MarkedYAMLError as error:
        syntax = _python_syntax_error(text) or error
        mark = syntax.problem_mark or syntax.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = shorten(syntax.problem or syntax.context or "invalid YAML", 200)
        raise SpecError(located(f"{where}{line}", None, problem, "fix the YAML syntax")) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            located(where, None, shorten(str(exc), 200), "fix the YAML syntax")
        ) from None


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for arg in getattr(field.annotation, "__args__", ()) or (field.annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _field_names(arg)
    return names


def validation_message(where: str, exc: ValidationError, model: type[BaseModel]) -> str:
    """Turn a pydantic error into one line: `where: field.path: what — fix`."""
    # An unknown field first: a misspelt key also makes its real name "missing", and the
    # misspelling is what the user has to fix.
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    # Input values (and keys, which are input too) are shown short, never in full.
    field = ".".join(shorten(str(part)) for part in first["loc"]) or None
    kind = first["type"]
    fix: str | None
    if kind == "extra_forbidden":
        unknown = str(first["loc"][-1])
        close = difflib.get_close_matches(unknown, sorted(_field_names(model)), n=1)
        what = "unknown field"
        fix = f"did you mean {close[0]!r}?" if close else "remove it"
    elif kind == "missing":
        what, fix = "required field is missing", "add it"
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
        what, _, fix_part = message.partition(" — ")
        what, fix = shorten(what, 200), shorten(fix_part, 200) or None
        if "input" in first and kind not in {"value_error", "assertion_error"}:
            what = f"{what}, got {short_repr(first['input'])}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return located(where, field, what + more, fix)


def validate(data: Any, model: type[M], where: str) -> M:
    """Validate parsed data against `model`; errors become one-line `SpecError`s."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(located(where, None, "expected a mapping at the top level"))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_message(where, exc, model)) from None


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

    def describe(self) -> str:
        """Which specs are in use, for a line on stderr."""
        if self.builtin:
            return f"specs: built-in ({self.root}); `qupsample init DIR` makes a project"
        return f"project: {self.root}"

    @property
    def templates(self) -> Path:
        """The folder of Jinja templates."""
        return self.root / TEMPLATES_DIR


def _is_root(folder: Path) -> bool:
    return (folder / SCHEMES_DIR).is_dir() and (folder / TEMPLATES_DIR).is_dir()


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


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_text(path: Path, where: str, fix: str = "check the path") -> str:
    """A UTF-8 text file's contents; a missing, unreadable or too large file is a `SpecError`.

    At most `max_file_bytes()` are read, so a huge file (or an endless one, such as a
    device) is refused without being read whole.
    """
    limit = max_file_bytes()
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise SpecError(located(where, None, "file not found", fix)) from None
    except OSError as exc:
        raise SpecError(located(where, None, f"cannot read: {exc}")) from None
    if len(data) > limit:
        raise _too_large(where, f"{limit / 2**20:g} MiB", limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(located(where, None, f"cannot read: {exc}")) from None


def load_spec(path: Path, model: type[M], root: Path) -> Loaded[M]:
    """Read and validate one spec file."""
    where = _display(path, root)
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


def _check_scheme(scheme: Loaded[Scheme], layout: Layout, layout_file: str) -> None:
    numbering = layout.vigintiles
    for name, bucket in scheme.spec.buckets.items():
        for vigintile in bucket.vigintiles:
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
            close = difflib.get_close_matches(name, list(layout.sources), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SpecError(
                located(
                    profile.file,
                    f"sources.{name}",
                    "unknown source",
                    f"{hint}known sources ({layout_file}): {', '.join(layout.sources)}",
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
                _display(specs / "families", folder),
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
        schemes = _members(family, "schemes", Scheme, folder, seen)
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
    return Project(folder, layout.spec, settings.spec, families, builtin)


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


def suggest(name: str, known: Iterable[str]) -> str:
    """`did you mean 'x'? known: a, b` for an unknown name."""
    options = sorted(set(known))
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known: {', '.join(options)}"


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
