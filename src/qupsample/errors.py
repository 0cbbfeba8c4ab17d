"""Every exception qupsample raises on purpose.

`UserError` and its subclasses are mistakes a user can fix (bad spec, unknown name,
missing object on storage); the CLI prints them as one line and exits 2. Anything
else that escapes is a bug.
"""

from __future__ import annotations


class QupsampleError(Exception):
    """Root of qupsample's exceptions."""

    exit_code = 70


class UserError(QupsampleError):
    """Something the user can fix: the message says where, what, and how."""

    exit_code = 2


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


def located(where: str, field: str | None, what: str, fix: str | None = None) -> str:
    """Format a user-facing message as `where: field: what — fix`."""
    parts = [where]
    if field:
        parts.append(field)
    parts.append(what)
    message = ": ".join(parts)
    return f"{message} — {fix}" if fix else message
