"""Atomic file writes: readers see the old bytes or the new ones, never a mix."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from qupsample.errors import UserError


def replace_atomically(path: Path, content: str | bytes, executable: bool = False) -> None:
    """Write `content` to `path` through a temporary file in the same folder.

    Raises:
        OSError: the file or its folder cannot be created or written (no temporary
            file is left behind).
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    # The name is known before the file exists, so an interrupt (Ctrl-C) at any point
    # after its creation still finds and removes it.
    temp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temp.chmod(0o755 if executable else 0o644)
        temp.replace(path)
    except FileExistsError:  # only os.open raises it: the name is someone else's file
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, content: str | bytes, executable: bool = False) -> None:
    """`replace_atomically` for a path the user chose (-o, --out).

    Raises:
        UserError: the file or its folder cannot be created or written.
    """
    try:
        replace_atomically(path, content, executable)
    except OSError as exc:
        # A path the user chose that cannot be written is theirs to fix, not a bug.
        raise UserError(
            f"cannot write: {exc.strerror or exc}", where=str(path), fix="choose another path"
        ) from None
