"""Atomic file writes: readers see the old bytes or the new ones, never a mix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from qupsample.errors import UserError, located


def _cannot_write(path: Path, exc: OSError) -> UserError:
    # A path the user chose (-o, --out) that cannot be written is theirs to fix, not a bug.
    return UserError(
        located(str(path), None, f"cannot write: {exc.strerror or exc}", "choose another path")
    )


def write_atomic(path: Path, content: str | bytes, executable: bool = False) -> None:
    """Write `content` to `path` through a temporary file in the same folder.

    Raises:
        UserError: the file or its folder cannot be created or written.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(temp).chmod(0o755 if executable else 0o644)
        Path(temp).replace(path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise
