"""YAML files in, validated models out: one bounded loader for every spec and config.

The loader rejects duplicate keys, refuses alias bombs, deep nesting and huge files,
and turns YAML and pydantic errors into one `file: field: what — fix` line each.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from qupsample.errors import SpecError, UserError, more, short_repr, shorten, shown_names

M = TypeVar("M", bound=BaseModel)


# libyaml's parser when PyYAML was built with it (about 10x faster), else PyYAML's own.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Hostile-input bounds of every spec and config file.
MAX_FILE_BYTES_ENV = "QUPSAMPLE_MAX_FILE_BYTES"
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
# Nodes that aliases may add once expanded: a "billion laughs" file is a few hundred
# bytes whose aliases expand to 10**9 nodes.
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 100
# libyaml's words for a document past its own nesting limit (PyYAML's scanner, which
# has none, would take quadratic time to scan such a document again).
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type, misc]
    """A safe loader that rejects duplicate mapping keys (PyYAML keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {short_repr(key)}", key_node.start_mark
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


class _LastKeyLoader(_UniqueKeyLoader):
    """Reads duplicate keys as olmix does (the last one wins); a linter reports them."""


_LastKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node, deep=True),
)


def _compose_node(loader: _UniqueKeyLoader) -> yaml.Node | None:
    """The document's node graph, built from parser events without recursion.

    PyYAML's composer (and libyaml's) recurses once per level, so a document nested
    thousands of levels deep exhausts the stack before any bound is checked. Here the
    open collections are a list, and the one past `MAX_DEPTH` stops the parse at once:
    time and memory stay bounded by the first `MAX_DEPTH` levels.
    """
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # document start
    anchors: dict[str, yaml.Node] = {}
    open_nodes: list[tuple[yaml.CollectionNode, list[yaml.Node]]] = []
    while True:
        event = loader.get_event()
        node: yaml.Node
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                mark = cast(yaml.Mark | None, event.start_mark)
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", mark
                )
            node = anchors[event.anchor]
        elif isinstance(event, yaml.CollectionEndEvent):
            collection, children = open_nodes.pop()
            collection.end_mark = event.end_mark
            if isinstance(collection, yaml.MappingNode):
                collection.value = list(zip(children[::2], children[1::2], strict=True))
            node = collection
        else:
            node = _start_node(loader, event)
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise yaml.composer.ComposerError(
                        f"found duplicate anchor {event.anchor!r}; first occurrence",
                        anchors[event.anchor].start_mark,
                        "second occurrence",
                        node.start_mark,
                    )
                anchors[event.anchor] = node
            if isinstance(node, yaml.CollectionNode):
                if len(open_nodes) >= MAX_DEPTH:
                    raise _BoundError(f"nested deeper than {MAX_DEPTH} levels")
                open_nodes.append((node, node.value if isinstance(node, yaml.SequenceNode) else []))
                continue
        if not open_nodes:
            break
        open_nodes[-1][1].append(node)
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        raise yaml.composer.ComposerError(
            "expected a single document in the stream",
            node.start_mark,
            "but found another document",
            cast(yaml.Mark | None, loader.get_event().start_mark),
        )
    return node


def _start_node(loader: _UniqueKeyLoader, event: yaml.Event) -> yaml.Node:
    """A scalar node, or an empty collection node, for a scalar or start event."""
    # libyaml's marks stand in for PyYAML's (the stubs tell them apart).
    start = cast(yaml.Mark | None, event.start_mark)
    if isinstance(event, yaml.ScalarEvent):
        tag = event.tag
        if tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        end = cast(yaml.Mark | None, event.end_mark)
        return yaml.ScalarNode(tag, event.value, start, end, style=event.style)
    assert isinstance(event, yaml.CollectionStartEvent), event
    kind: type[yaml.SequenceNode | yaml.MappingNode] = (
        yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
    )
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(kind, None, event.implicit)
    return kind(tag, [], start, None, flow_style=event.flow_style)


def _load(text: str, loader_class: type[_UniqueKeyLoader] = _UniqueKeyLoader) -> Any:
    """Parse one YAML document within the bounds, without expanding aliases first."""
    return _compose(text, loader_class)[1]


def _compose(text: str, loader_class: type[_UniqueKeyLoader]) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (with marks) and its data, within the bounds."""
    loader = loader_class(text)
    try:
        node = _compose_node(loader)
        if node is None:
            return None, None
        _check_bounds(node)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _python_syntax_error(text: str) -> yaml.MarkedYAMLError | None:
    """PyYAML's own wording of a syntax error, which is clearer than libyaml's.

    Only for files small enough to parse twice quickly. Events only: PyYAML's parser
    does not recurse, its composer would.
    """
    if _SafeLoader is yaml.SafeLoader or len(text) > 1_000_000:
        return None
    try:
        for _ in yaml.parse(text, Loader=yaml.SafeLoader):
            pass
    except yaml.MarkedYAMLError as exc:
        return exc
    return None


def max_file_bytes(default: int = DEFAULT_MAX_FILE_BYTES) -> int:
    """The largest file read: $QUPSAMPLE_MAX_FILE_BYTES, else `default` (256 MiB)."""
    raw = os.environ.get(MAX_FILE_BYTES_ENV, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SpecError(f"must be a positive int, got {shorten(raw)!r}", where=MAX_FILE_BYTES_ENV)
    return value


def _too_large(where: str, size: str, limit: int, fix: str = "split it") -> SpecError:
    return SpecError(
        f"is larger than {size} ({limit:,} bytes)",
        where=where,
        fix=f"{fix}, or raise the limit with {MAX_FILE_BYTES_ENV}",
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
    return _parse(text, where, _UniqueKeyLoader)[1]


def parse_yaml_nodes(text: str, where: str) -> tuple[yaml.Node | None, Any]:
    """Like `parse_yaml`, with the node tree (line and column marks) beside the data.

    Duplicate keys are read as olmix reads them (the last one wins), so a linter can
    report them from the nodes and check the rest.
    """
    return _parse(text, where, _LastKeyLoader)


def _parse(
    text: str, where: str, loader_class: type[_UniqueKeyLoader]
) -> tuple[yaml.Node | None, Any]:
    limit = max_file_bytes()
    if len(text) > limit:
        raise _too_large(where, "the limit", limit)
    try:
        return _compose(text, loader_class)
    except _BoundError as exc:
        raise SpecError(str(exc), where=where, fix="write the values out") from None
    except yaml.MarkedYAMLError as error:
        if error.problem == _LIBYAML_TOO_DEEP:
            # libyaml scans ahead of the events, so its own limit (1000) can come first.
            what = f"nested deeper than {MAX_DEPTH} levels"
            raise SpecError(what, where=where, fix="write the values out") from None
        syntax = _python_syntax_error(text) or error
        mark = syntax.problem_mark or syntax.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = shorten(syntax.problem or syntax.context or "invalid YAML", 200)
        failure = SpecError(problem, where=f"{where}{line}", fix="fix the YAML syntax")
        raise failure.at(line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise SpecError(shorten(str(exc), 200), where=where, fix="fix the YAML syntax") from None
    except (ValueError, TypeError) as exc:
        # PyYAML's constructors: an integer too long for Python to read (over 4300
        # digits), or a key that cannot be a mapping key (`? [a, b]`).
        what = shorten(" ".join(str(exc).split()), 120)
        raise SpecError(f"cannot read a value: {what}", where=where, fix="fix it") from None


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for arg in getattr(field.annotation, "__args__", ()) or (field.annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _field_names(arg)
    return names


def _parent(data: Any, loc: tuple[Any, ...]) -> Mapping[Any, Any] | None:
    """The mapping at `loc` in parsed data, if the path leads to one."""
    for part in loc:
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_list or (isinstance(data, Mapping) and part in data)):
            return None
        data = data[part]
    return data if isinstance(data, Mapping) else None


def _misindented(errors: list[Any], data: Any) -> tuple[str, str, str] | None:
    """Keys right after an empty one, as lines not indented under it read.

    `buckets:` followed by `top10pct: 70` at the same indent is an empty `buckets`
    and an unknown field `top10pct`: say to indent them.
    """
    unknown = [e["loc"] for e in errors if e["type"] == "extra_forbidden"]
    for loc in unknown:
        parent = _parent(data, loc[:-1])
        if parent is None:
            continue
        keys = list(parent)
        strays = {u[-1] for u in unknown if u[:-1] == loc[:-1]}
        before = keys[: keys.index(loc[-1])] if loc[-1] in keys else []
        empty = next((k for k in reversed(before) if k not in strays), None)
        if empty is None or parent[empty] is not None:
            continue
        beside = [k for k in keys[keys.index(empty) + 1 :] if k in strays]
        names = shown_names([shorten(str(k)) for k in beside], 3)
        field = ".".join(shorten(str(part)) for part in (*loc[:-1], empty))
        return (
            field,
            f"is empty, and {names} below it {'is' if len(beside) == 1 else 'are'} unknown",
            f"indent {'it' if len(beside) == 1 else 'them'} under `{shorten(str(empty))}:`",
        )
    return None


def validation_errors(exc: ValidationError) -> list[ErrorDetails]:
    """A pydantic error's parts, unknown fields first: a misspelt key also makes its
    real name "missing", and the misspelling is what the user has to fix."""
    return sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")


def describe_error(
    error: ErrorDetails, model: type[BaseModel]
) -> tuple[str | None, str, str | None]:
    """One part of a pydantic error as (dotted field, what, fix)."""
    # Input values (and keys, which are input too) are shown short, never in full.
    field = ".".join(shorten(str(part)) for part in error["loc"]) or None
    kind = error["type"]
    fix: str | None
    if kind == "extra_forbidden":
        unknown = str(error["loc"][-1])
        close = difflib.get_close_matches(unknown, sorted(_field_names(model)), n=1)
        what = "unknown field"
        fix = f"did you mean {close[0]!r}?" if close else "remove it"
    elif kind == "missing":
        what, fix = "required field is missing", "add it"
    else:
        # A spec model's validator can hand pydantic only a string: it writes `what — fix`
        # (the one place text is split into an error's parts, at pydantic's boundary).
        message = str(error["msg"]).removeprefix("Value error, ")
        what, _, fix_part = message.partition(" — ")
        what, fix = shorten(what, 200), shorten(fix_part, 200) or None
        if "input" in error and kind not in {"value_error", "assertion_error"}:
            what = f"{what}, got {short_repr(error['input'])}"
    return field, what, fix


E = TypeVar("E", bound=UserError)


def validation_error(
    error: type[E],
    where: str,
    exc: ValidationError,
    model: type[BaseModel],
    data: Any = None,
    within: str | None = None,
) -> E:
    """A pydantic error as one `error` (its first part; the count of the others).

    With the `data` validated, keys that should have been indented under an empty one
    are said to be so. `within` is the field the data sits in, in its file.
    """
    errors = validation_errors(exc)
    parts = _misindented(list(errors), data)
    field, what, fix = parts or describe_error(errors[0], model)
    if not parts:
        what += more(len(errors) - 1)
    full = ".".join(part for part in (within, field) if part) or None
    return error(what, where=where, field=full, fix=fix)


def validate(data: Any, model: type[M], where: str, field: str | None = None) -> M:
    """Validate parsed data against `model`; errors become one-line `SpecError`s.

    `field` names where the data sits in its file (`priors`, `data`); errors are then
    located below it. A whole file (no `field`) that is empty counts as an empty mapping.
    """
    if data is None and field is None:
        data = {}
    if not isinstance(data, Mapping):
        what = "must be a mapping" if field else "expected a mapping at the top level"
        raise SpecError(what, where=where, field=field)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(SpecError, where, exc, model, data, within=field) from None


def read_text(
    path: Path,
    where: str,
    fix: str = "check the path",
    *,
    limit: int | None = None,
    shrink: str = "split it",
) -> str:
    """A UTF-8 text file's contents; a missing, unreadable or too large file is a `SpecError`.

    At most `limit` bytes (default `max_file_bytes()`) are read, so a huge file (or an
    endless one, such as a device) is refused without being read whole; `shrink` says
    how to make it smaller.
    """
    limit = max_file_bytes() if limit is None else limit
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise SpecError("file not found", where=where, fix=fix) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc}", where=where) from None
    if len(data) > limit:
        raise _too_large(where, f"{limit / 2**20:g} MiB", limit, shrink)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"cannot read: {exc}", where=where) from None
