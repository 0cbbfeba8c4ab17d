"""YAML scalars written by hand: plain where that is safe, else double-quoted.

Every name, path and number that goes into generated YAML passes through here, so no
value, whatever characters it holds, can change the structure around it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import yaml

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./\-]*$")
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _printable(char: str) -> bool:
    # YAML's printable set, minus the characters PyYAML treats as line breaks.
    code = ord(char)
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or code >= 0x10000
    ) and char not in "\u2028\u2029"


# Printable ASCII without `"` or `\`: quoted as it is (the common case, e.g. paths).
_PLAIN_QUOTABLE = re.compile(r"[ !#-\[\]-~]*")


def yaml_quoted(value: str) -> str:
    """A YAML double-quoted scalar for any string: escapes everything that could break out."""
    if _PLAIN_QUOTABLE.fullmatch(value):
        return f'"{value}"'
    out = []
    for char in value:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif _printable(char):
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def comment_text(value: Any) -> str:
    """Text for a comment: as is when printable on one line, else as a quoted scalar."""
    text = str(value)
    if all(_printable(char) for char in text):
        return text
    return yaml_quoted(text)


@functools.lru_cache(maxsize=4096)
def _plain_is_safe(value: str) -> bool:
    # YAML 1.1 readers other than PyYAML take y/n (any case) for booleans too.
    # YAML 1.2 readers take 1e5 or 0o17 for numbers where PyYAML reads strings.
    # Names repeat across configs, hence the cache: reading a value back is the cost.
    number_like = re.fullmatch(r"[0-9+\-._eExXoO]+", value) is not None
    if not _PLAIN.match(value) or value.lower() in {"y", "n"} or number_like:
        return False
    try:
        return bool(yaml.safe_load(value) == value)
    except yaml.YAMLError:
        return False


def yaml_scalar(value: Any) -> str:
    """A YAML scalar for a value: numbers as written, strings plain only when that is safe."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        # YAML 1.1 reads `1e+20` as a string: it wants a dot in the mantissa.
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    if isinstance(value, str):
        return value if _plain_is_safe(value) else yaml_quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} as a YAML scalar")


def _fixed(value: float) -> str:
    # Fixed point from the float's shortest repr: 0.3623188406, 1.0, 0.0000001.
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else f"{text}.0"


def _value_text(value: Any, fixed: bool) -> str:
    if fixed and isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} in a mix")
        return _fixed(value)
    return yaml_scalar(value)


def _block(value: Any, depth: int, fixed: bool, lines: list[str]) -> None:
    pad = "  " * depth
    if isinstance(value, Mapping):
        for key, child in value.items():
            head = f"{pad}{yaml_scalar(key)}:"
            if isinstance(child, Mapping | list) and not child:
                lines.append(f"{head} {'{}' if isinstance(child, Mapping) else '[]'}")
            elif isinstance(child, Mapping | list):
                lines.append(head)
                _block(child, depth + 1, fixed, lines)
            else:
                lines.append(f"{head} {_value_text(child, fixed)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping | list) and item:
                start = len(lines)
                _block(item, depth + 1, fixed, lines)
                # The item's first line carries the dash: "  - name: x".
                lines[start] = f"{pad}- {lines[start][len(pad) + 2 :]}"
            elif isinstance(item, Mapping | list):
                lines.append(f"{pad}- {'{}' if isinstance(item, Mapping) else '[]'}")
            else:
                lines.append(f"{pad}- {_value_text(item, fixed)}")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as a YAML block")


def yaml_block(value: Mapping[str, Any] | list[Any], *, depth: int = 0, fixed: bool = False) -> str:
    """Block-style YAML for nested mappings and lists, every scalar via `yaml_scalar`.

    Deterministic (keys in the mapping's order, two-space indents, one trailing
    newline). With `fixed`, floats are written in fixed point (`0.0000001`, `1.0`), as
    mix weights are.
    """
    lines: list[str] = []
    _block(value, depth, fixed, lines)
    return "\n".join(lines) + "\n"
