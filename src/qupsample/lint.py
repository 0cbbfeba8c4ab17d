"""`qupsample lint`: olmix configs checked without storage, each finding at its line.

    from qupsample.lint import lint
    result = lint(["configs/"])
    print(result.text(), end="")

Every rule lives in `qupsample.rules`, applied where `resolve --strict` applies it
(reading the config, then resolving it offline); lint adds only what a reader of the
file needs and a resolver does not: all problems of a file at once instead of the
first, duplicate keys (which olmix reads as the last one), and the line and column of
each finding's node. Files are read with the same bounded YAML loader as every spec.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from qupsample.dialects import Dialect, OlmixConfig, detect_dialect, read_config
from qupsample.errors import UserError, WeightError
from qupsample.olmixmodels import ExperimentConfig, GenerationConfig, LaunchConfig, Priors
from qupsample.priors import PriorsInput, priors_counts
from qupsample.resolve import resolve
from qupsample.rules import RULES, Finding, Node, key_name, over_repetition
from qupsample.specmodels import Settings
from qupsample.specs import Project, ProjectInput, open_project
from qupsample.yamlfiles import describe_error, parse_yaml_nodes, read_text, validation_errors

__all__ = ["LintFinding", "LintResult", "config_files", "lint", "lint_text", "locate"]

FORMATS = ("text", "json", "github")
SUFFIXES = (".yaml", ".yml")
_MODELS: dict[Dialect, type[BaseModel]] = {
    Dialect.FLAT: ExperimentConfig,
    Dialect.LAUNCH: LaunchConfig,
    Dialect.GENERATION: GenerationConfig,
}
# Top-level keys that make a YAML file found in a folder look like an olmix config
# (other YAML files there, such as CI settings, are skipped).
_CONFIG_KEYS = frozenset({"name", "mix", "priors", "swarm", "max_tokens"})
# Where a launch config keeps the settings a flat config has at its top level.
_SECTIONS = ("training", "infra")


@dataclass(frozen=True, order=True)
class LintFinding:
    """One finding at its place: `path:line:col: CODE message (fix)`."""

    path: str
    line: int
    col: int
    code: str
    message: str
    fix: str | None
    severity: str

    def text(self) -> str:
        """The finding as one line (ruff's shape)."""
        fix = f" ({self.fix})" if self.fix else ""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {_one_line(self.message)}{fix}"

    def github(self) -> str:
        """The finding as a GitHub workflow annotation."""
        fix = f" ({self.fix})" if self.fix else ""
        where = ",".join(
            f"{key}={_escape(str(value), True)}"
            for key, value in (
                ("file", self.path),
                ("line", self.line),
                ("col", self.col),
                ("title", self.code),
            )
        )
        return f"::{self.severity} {where}::{_escape(self.message + fix, False)}"


@dataclass(frozen=True)
class LintResult:
    """The findings of every file linted, sorted by path and line."""

    files: int
    findings: tuple[LintFinding, ...]
    skipped: int = 0

    def text(self) -> str:
        """One line per finding."""
        return "".join(f"{finding.text()}\n" for finding in self.findings)

    def json(self) -> str:
        """A JSON list of objects: path, line, col, code, severity, message, fix."""
        keys = ("path", "line", "col", "code", "severity", "message", "fix")
        rows = [{key: asdict(finding)[key] for key in keys} for finding in self.findings]
        return json.dumps(rows, indent=2) + "\n"

    def github(self) -> str:
        """One GitHub workflow annotation (`::error file=...`) per finding."""
        return "".join(f"{finding.github()}\n" for finding in self.findings)

    def render(self, format_: str) -> str:
        """The findings in one of `FORMATS`."""
        if format_ not in FORMATS:
            raise UserError(f"unknown format {format_!r}", where="--format")
        return str(getattr(self, format_)())

    def summary(self) -> str:
        """`3 findings in 2 of 5 files` (or that all are clean)."""
        skipped = f"; {self.skipped} skipped (no olmix config)" if self.skipped else ""
        if not self.findings:
            return f"{self.files} file(s) checked: no findings{skipped}"
        paths = len({finding.path for finding in self.findings})
        return f"{len(self.findings)} finding(s) in {paths} of {self.files} file(s){skipped}"


def lint(
    paths: Sequence[str | Path],
    *,
    root: ProjectInput = None,
    priors: PriorsInput | None = None,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
) -> LintResult:
    """Lint config files and folders (recursively, `*.yaml` and `*.yml`); no storage.

    Args:
        paths: files and folders; a folder's YAML files that are plainly not olmix
            configs (no olmix top-level key) are skipped, a file named is never.
        root: the project whose proxy models and tokenizers the trainer rules use.
        priors: token counts per leaf (a mapping or a priors file) for every config,
            beside each config's own `priors:`: leaves over their repetition limit.
        select: codes or code prefixes to report (default all), e.g. `M`, `T003`.
        ignore: codes or code prefixes not to report.

    Raises:
        UserError: a path does not exist, an unknown code, or an unreadable priors file.
    """
    chosen = _codes(select, "--select") if select else set(RULES)
    chosen -= _codes(ignore, "--ignore")
    project = open_project(root)
    counts = priors_counts(priors)
    results = [lint_file(path, project, counts, named) for path, named in config_files(paths)]
    checked = [result for result in results if result is not None]
    found = [finding for result in checked for finding in result if finding.code in chosen]
    return LintResult(len(checked), tuple(sorted(set(found))), len(results) - len(checked))


def _codes(items: Iterable[str], option: str) -> set[str]:
    codes: set[str] = set()
    for item in (part.strip().upper() for text in items for part in text.split(",")):
        matched = {code for code in RULES if code.startswith(item)} if item else set()
        if not matched:
            raise UserError(
                f"no rule code starts with {item!r}",
                where=option,
                fix="codes are F, M, T, P and R followed by 3 digits (docs/lint.md)",
            )
        codes |= matched
    return codes


def config_files(paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """The files to lint, each with whether it was named (not found in a folder).

    Raises:
        UserError: a path does not exist.
    """
    files: dict[Path, bool] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for found in _yaml_files(path):
                files.setdefault(found, False)
        elif path.exists() or path.is_symlink():
            files[path] = True
        else:
            raise UserError(
                "no such file or folder", where=str(given), fix="pass config files or folders"
            )
    return sorted(files.items())


def _yaml_files(folder: Path) -> Iterator[Path]:
    """The YAML files under `folder`, skipping hidden folders (.git, .venv)."""
    for top, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if name.endswith(SUFFIXES) and not name.startswith("."):
                yield Path(top) / name


def lint_file(
    path: Path, project: Project, priors: Mapping[str, int] | None = None, named: bool = True
) -> list[LintFinding] | None:
    """The findings of one file (an unreadable file is a finding of its own); None for a
    file that is no olmix config (skipped)."""
    where = str(path)
    try:
        text = read_text(path, where)
    except UserError as exc:
        return [_place(_error_finding("F001", exc, where), None)]
    return lint_text(text, where, project, priors, named)


def lint_text(
    text: str,
    where: str,
    project: Project,
    priors: Mapping[str, int] | None = None,
    named: bool = True,
) -> list[LintFinding] | None:
    """The findings of one config's text, shown as `where`; None when it is no olmix
    config (a qupsample spec, or a YAML file found in a folder with no olmix key)."""
    try:
        root, data = parse_yaml_nodes(text, where)
    except UserError as exc:
        return [_place(_error_finding("F002", exc, where), None, exc.line)]
    if _is_spec(data):
        return None  # a qupsample spec (profile, scheme, family, layout...)
    try:
        dialect = detect_dialect(data, where)
    except UserError as exc:
        if not named and not (isinstance(data, Mapping) and _CONFIG_KEYS & set(data)):
            return None
        return [_place(_error_finding("F003", exc, where), root)]
    form = _form(data, dialect, where)
    found: list[Finding | LintFinding] = [*_duplicates(root, where), *form]
    if not form:  # a config that does not validate cannot be read further
        found += _read(data, where, project, priors)
    return [item if isinstance(item, LintFinding) else _place(item, root) for item in found]


def _is_spec(data: Any) -> bool:
    """Whether parsed YAML is one of qupsample's own spec files, not an olmix config."""
    if not isinstance(data, Mapping):
        return False
    keys = set(data)
    return (
        isinstance(data.get("sources"), Mapping)  # a profile or the layout
        or {"schemes", "profiles", "output"} <= keys  # a family
        or bool(keys & {"buckets", "proxy_models"})  # a scheme, the proxy models
        or ("tasks" in keys and not keys & {"data", "infra", "training"})  # an eval suite
        or (bool(keys) and keys <= set(Settings.model_fields) and "name" not in keys)
    )


def _form(data: Mapping[str, Any], dialect: Dialect, where: str) -> list[Finding]:
    """Every validation error of the config's form (and its `priors:`), not only the first."""
    found = _validation(data, _MODELS[dialect], where, ())
    if "priors" in data:
        found += _validation(data["priors"], Priors, where, ("priors",))
    return found


def _validation(
    data: Any, model: type[BaseModel], where: str, prefix: tuple[str, ...]
) -> list[Finding]:
    if not isinstance(data, Mapping):
        return [Finding("F008", where, ".".join(prefix), "must be a mapping", at=prefix)]
    try:
        model.model_validate(data)
    except ValidationError as exc:
        found = []
        for error in validation_errors(exc):
            field, what, fix = describe_error(error, model)
            code = {"missing": "F007", "extra_forbidden": "F005"}.get(error["type"], "F008")
            dotted = ".".join(filter(None, (*prefix, field)))
            found.append(Finding(code, where, dotted, what, fix, (*prefix, *error["loc"])))
        return found
    return []


def _read(
    data: Any, where: str, project: Project, priors: Mapping[str, int] | None
) -> list[Finding]:
    """The findings `resolve --strict` reports (offline), and leaves over their limit."""
    try:
        loaded = read_config(data, where, project)
    except UserError as exc:
        return [_error_finding("F008", exc, where)]
    return [*loaded.notes, *_resolved(loaded, project, priors)]


def _resolved(
    loaded: OlmixConfig, project: Project, priors: Mapping[str, int] | None
) -> list[Finding]:
    model = loaded.experiment
    # Without a model size there is no budget (T001 says why): weights are still checked.
    sized = loaded.max_tokens is not None or model.proxy_model_id in project.proxies.proxy_models
    try:
        mix = resolve(
            loaded,
            root=project,
            offline=True,
            weights_only=True,
            priors=priors,
            training_tokens=None if sized else 1,
        )
    except WeightError as exc:
        return [replace(_error_finding("M009", exc, loaded.where), at=("data", "sources"))]
    except UserError as exc:
        return [_error_finding("F008", exc, loaded.where)]
    found = list(mix.findings[len(loaded.notes) :])
    if sized:
        found += [
            over_repetition(
                loaded.where,
                leaf.leaf,
                leaf.requested_tokens or 0.0,
                leaf.tokens or 0,
                leaf.repetition_factor or 0.0,
                leaf.max_repetition_factor,
                loaded.mix is not None,
            )
            for leaf in mix.leaves
            if leaf.over_limit
        ]
    return found


def _error_finding(code: str, exc: UserError, where: str) -> Finding:
    """A user error as a finding: its field, what and fix, read from the error's data."""
    inner = exc.where if exc.where not in (None, where) else None
    if inner is not None and inner.startswith(f"{where}:"):
        inner = None  # the file with a line number (`file:12`): the line says it
    what = f"{inner}: {exc.what}" if inner else exc.what
    return Finding(code, where, exc.field, what, exc.fix)


def _duplicates(root: yaml.Node | None, where: str) -> list[LintFinding]:
    """Keys given twice in one mapping: olmix (PyYAML) silently keeps the last one."""
    found = []
    seen_nodes: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    name = (key.tag, key.value)
                    if name in first:
                        finding = Finding(
                            "F004",
                            where,
                            None,
                            f"duplicate key {key_name(key.value)!r} (first on line"
                            f" {first[name]}): olmix keeps only the last one",
                            "keep one of them",
                        )
                        found.append(_place(finding, None, key.start_mark.line + 1, key))
                    first.setdefault(name, key.start_mark.line + 1)
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return found


def _place(
    finding: Finding,
    root: yaml.Node | None,
    line: int | None = None,
    node: yaml.Node | None = None,
) -> LintFinding:
    if node is not None:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
    elif line is not None:
        col = 1
    else:
        line, col = locate(root, finding.node) if root is not None else (1, 1)
    rule = RULES[finding.code]
    return LintFinding(
        finding.where, line, col, finding.code, finding.message, finding.fix, rule.severity
    )


def locate(root: yaml.Node, node: Node) -> tuple[int, int]:
    """The 1-based line and column of a node of the document, or of its nearest parent.

    The path holds mapping keys, list indices, and names: a data entry (`sources`,
    `topics` and `quality` items by `name`) or a mix leaf split at `:` (nested, flat
    `a:b` keys, or both). A flat setting missing at the top is looked up in a launch
    config's `training` and `infra`.
    """
    current, mark, parts = root, root.start_mark, list(node)
    while parts:
        step = _step(current, parts, top=current is root)
        if step is None:
            break
        current, mark, used = step
        del parts[:used]
    return mark.line + 1, mark.column + 1


def _step(
    node: yaml.Node, parts: list[str | int], top: bool
) -> tuple[yaml.Node, yaml.Mark, int] | None:
    """One step down the path: the child, the mark to show, and the parts it used."""
    part = parts[0]
    if isinstance(node, yaml.SequenceNode):
        if isinstance(part, int):
            return (
                (node.value[part], node.value[part].start_mark, 1)
                if part < len(node.value)
                else None
            )
        item = _named(node, str(part))
        return (item, item.start_mark, 1) if item is not None else None
    if not isinstance(node, yaml.MappingNode):
        return None
    for used in range(len(parts), 0, -1):  # `a:b` flat mix keys first, then `a`
        key = ":".join(str(p) for p in parts[:used])
        for key_node, value in reversed(node.value):  # a duplicate key: the last one wins
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value, key_node.start_mark, used
    for field in ("sources", "topics", "quality"):
        child = _value(node, field)
        item = _named(child, str(part)) if isinstance(child, yaml.SequenceNode) else None
        if item is not None:
            return item, item.start_mark, 1
    if top and part == "data":  # a flat config's sources are at the top
        return node, node.start_mark, 1
    if top:
        for section in _SECTIONS:
            child = _value(node, section)
            if child is not None and _value(child, str(part)) is not None:
                return child, child.start_mark, 0
    return None


def _value(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key_node, value in reversed(pairs):
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value
    return None


def _named(node: yaml.SequenceNode, name: str) -> yaml.Node | None:
    items: list[yaml.Node] = node.value
    for item in items:
        found = _value(item, "name")
        if isinstance(found, yaml.ScalarNode) and found.value == name:
            return item
    return None


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _escape(text: str, property_: bool) -> str:
    """GitHub's workflow-command escaping (properties also escape `:` and `,`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_ else text
