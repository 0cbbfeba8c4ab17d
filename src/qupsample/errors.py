"""Every exception qupsample raises on purpose.

`UserError` and its subclasses are mistakes a user can fix (bad spec, unknown name,
missing object on storage); the CLI prints them as one line and exits 2. Anything
else that escapes is a bug.
"""

from __future__ import annotations

import copy
import re
import reprlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Self

# `scheme://user:password@` and the query string of an http(s) URL may carry secrets.
# Only http(s) queries go: in `s3://` and local globs `?` is a wildcard. A scheme is at
# most 32 characters, so a long run of letters and dots costs each position 32 steps,
# never a scan to the end of the text (which made redaction quadratic).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://)[^\s/@]+@")
_HTTP = re.compile(r"(?i)\bhttps?://")
_URL_END = re.compile(r"[\s?#`\"'<>]")
_QUERY_END = re.compile(r"[\s`\"'<>]")


def redact(text: str) -> str:
    """Hide the user info and the query string of every URL in `text` (linear time)."""
    return _hide_queries(_USERINFO.sub(r"\1***@", text))


def _hide_queries(text: str) -> str:
    """`text` with the query of each http(s) URL shown as `?***`.

    URLs that share one run of URL characters share its first delimiter, which is found
    once: each character is scanned a bounded number of times.
    """
    parts: list[str] = []
    cursor = 0  # text before this is in `parts`
    scanned = 0  # the run up to here ends with the delimiter found last, not a `?`
    for match in _HTTP.finditer(text):
        if match.start() < max(cursor, scanned):
            continue
        end = _URL_END.search(text, match.end())
        scanned = end.start() if end else len(text)
        if end is None or end.group() != "?":
            continue
        query_end = _QUERY_END.search(text, scanned + 1)
        parts += [text[cursor:scanned], "?***"]
        cursor = query_end.start() if query_end else len(text)
    return "".join(parts) + text[cursor:]


class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr() of a huge int is slow, or refused past 4300 digits
            return f"<an int of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return super().repr_int(x, level)


_SHORT = _ShortRepr()
_SHORT.maxlevel = 2
_SHORT.maxtuple = _SHORT.maxlist = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 40
SHORT_LIMIT = 60
# The parts of a `located` message, and any message as a whole, are cut to these.
WHERE_LIMIT = 160
FIELD_LIMIT = 100
WHAT_LIMIT = 400
MESSAGE_LIMIT = 1000


def short_repr(value: object, limit: int = SHORT_LIMIT) -> str:
    """A short view of any value for a message: bounded work, at most `limit` characters."""
    return shorten(_SHORT.repr(value), limit)


def shown_names(names: Sequence[str], limit: int = 4) -> str:
    """`a, b, c, d (and 3 more)`: a list of names cut to `limit`, the one place lists are cut."""
    return ", ".join(names[:limit]) + more(len(names) - limit)


def more(hidden: int, noun: str = "") -> str:
    """` (and 3 more)` for what a message leaves out (nothing when `hidden` <= 0)."""
    return f" (and {hidden} more{' ' + noun if noun else ''})" if hidden > 0 else ""


def shorten(text: str, limit: int = SHORT_LIMIT) -> str:
    """`text` cut in the middle to `limit` characters, marked with `...` where it was cut.

    Both ends stay: a path's root and its file name, a value's start and end.
    """
    if len(text) <= limit:
        return text
    tail = (limit - 3) // 2
    return text[: limit - 3 - tail] + "..." + (text[-tail:] if tail else "")


@dataclass(frozen=True)
class Hint:
    """A fix that names an option: a flag on the command line, an argument in Python.

    `template` holds `{}` where the option goes, e.g. "pass {} for a public bucket".
    Shown by the CLI only where the command has `cli`; from Python as `api` (a hint
    without `api` is only for the command line).
    """

    template: str
    cli: str
    api: str | None = None

    def render(self, options: Collection[str] | None) -> str | None:
        """The hint for Python (`options` None) or for a command with these options."""
        if options is None:
            return None if self.api is None else self.template.format(self.api)
        return self.template.format(self.cli) if self.cli.split()[0] in options else None


# The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


class QupsampleError(Exception):
    """Root of qupsample's exceptions: one line that never shows URL credentials.

    An error is data: `where` (a file, a config, a URL), `field` (dotted, within it),
    `what` went wrong and how to `fix` it, and `hints` that name options (shown where
    those options exist, see `render`). `message` formats them, in this one place, as
    `where: field: what — fix`. Code adds context with `within` and `with_hints`, never
    by editing or searching the message.
    """

    exit_code = 70

    def __init__(
        self,
        what: str,
        *hints: Hint,
        where: str | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.what, self.where, self.field, self.fix, self.hints = what, where, field, fix, hints
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one line: `where: field: what — fix`, with URL secrets hidden."""
        return shorten(redact(located(self.where, self.field, self.what, self.fix)), MESSAGE_LIMIT)

    def __str__(self) -> str:
        return self.render(None)

    def render(self, options: Collection[str] | None) -> str:
        """The message, with the hints that apply (see `Hint.render`)."""
        shown = [text for hint in self.hints if (text := hint.render(options)) is not None]
        if not shown:
            return self.message
        return self.message + ("; " if self.fix else " — ") + "; ".join(shown)

    def within(self, where: str, what_suffix: str = "") -> Self:
        """The same error inside `where` (a config, an input): `where: <its where>: ...`."""
        inner = self.where if self.where not in (None, where) else None
        where = where if inner is None else f"{where}: {inner}"
        return self._copy(where=where, what=self.what + what_suffix)

    def with_hints(self, *hints: Hint) -> Self:
        """The same error with more hints."""
        return self._copy(hints=(*self.hints, *hints))

    def _copy(self, **changes: object) -> Self:
        error = copy.copy(self)
        error.__dict__.update(changes)
        error.args = (error.message,)
        return error


class UserError(QupsampleError):
    """Something the user can fix: the message says where, what, and how.

    `line` (1-based) says where in its file, when known: a linter points there.
    """

    exit_code = 2
    line: int | None = None

    def at(self, field: str | None = None, line: int | None = None) -> Self:
        """This error, located at `field` or `line` of its file."""
        if field is not None:
            self.field = field
        self.line = line
        return self


class SpecError(UserError):
    """A scheme, profile, family, layout or settings file is invalid."""


class RenderError(UserError):
    """A config cannot be rendered (unknown name, bad override, invalid output)."""


class StorageError(UserError):
    """Storage cannot be listed: missing, denied, unreachable, no credentials."""


class WeightError(UserError):
    """Weights cannot be normalized (all zero, negative, missing token counts)."""


class InfeasibleMixError(QupsampleError):
    """A leaf would be repeated more than its `max_repetition_factor` allows."""

    exit_code = 3


def located(where: str | None, field: str | None, what: str, fix: str | None = None) -> str:
    """Format a user-facing message as `where: field: what — fix`.

    Long parts are cut in the middle (`shorten`), so the line stays short whatever the
    input held: a path of 10,000 parts, a value of a megabyte.
    """
    parts = [shorten(where, WHERE_LIMIT)] if where else []
    if field:
        parts.append(shorten(field, FIELD_LIMIT))
    parts.append(shorten(what, WHAT_LIMIT))
    message = ": ".join(parts)
    return f"{message} — {shorten(fix, WHAT_LIMIT)}" if fix else message
