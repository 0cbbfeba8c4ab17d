"""An on-disk cache of token counts, one small JSON file per (glob, location, token size).

Files are written atomically (a temporary file in the same folder, then `os.replace`),
so concurrent processes see either the old file or the new one, never half of one.
Any damage to an entry (unreadable, garbled, nested past any parser's depth, huge, a
folder in its place) is reported in `TokenCache.corrupt` and treated as a miss; `put`
then replaces it, so the damage is reported once and never again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qupsample.errors import UserError
from qupsample.files import replace_atomically

FORMAT_VERSION = 1
# An entry is a few hundred bytes (its glob included); anything larger is damage.
MAX_ENTRY_BYTES = 1 << 20
_SUBDIR = f"v{FORMAT_VERSION}"
# Location fields that would carry credentials; storage_location never produces them.
_SECRET_FIELDS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "username",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
)


def default_cache_dir() -> Path:
    """The cache folder.

    $QUPSAMPLE_CACHE_DIR, else the platform's user cache folder (platformdirs): on
    Linux $XDG_CACHE_HOME/qupsample or ~/.cache/qupsample, on macOS
    ~/Library/Caches/qupsample, on Windows the local AppData cache.
    """
    explicit = os.environ.get("QUPSAMPLE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("qupsample", appauthor=False))


def cache_folder(path: Path, where: str) -> Path:
    """`path` as a cache folder; one that exists as something else is a `UserError`."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is not a folder", where=where, fix="give a folder")
    return path


@dataclass(frozen=True)
class CachedCount:
    """A glob's counts as of one listing."""

    objects: int
    bytes: int
    tokens: int
    listed_at: float  # unix time the listing was made


class TokenCache:
    """Token counts on disk, keyed by exact glob, storage location and token size."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.corrupt: list[Path] = []

    def get(self, glob: str, location: Mapping[str, str], token_size: int) -> CachedCount | None:
        """The cached count, or None if absent or unreadable (then listed in `corrupt`)."""
        fields = _key_fields(glob, location, token_size)
        path = self._path(fields)
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_ENTRY_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError):
            # Not a folder: a miss, not a corrupt entry; `put` says why once.
            return None
        except OSError:  # a folder in the entry's place, or unreadable
            self.corrupt.append(path)
            return None
        count = _parse(data, fields) if len(data) <= MAX_ENTRY_BYTES else None
        if count is None:
            self.corrupt.append(path)
        return count

    def put(
        self, glob: str, location: Mapping[str, str], token_size: int, count: CachedCount
    ) -> None:
        """Store `count` atomically, replacing any earlier (or corrupt) entry.

        Raises:
            OSError: the cache folder cannot be written.
        """
        fields = _key_fields(glob, location, token_size)
        path = self._path(fields)
        record = {
            **fields,
            "objects": int(count.objects),
            "bytes": int(count.bytes),
            "tokens": int(count.tokens),
            "listed_at": float(count.listed_at),
        }
        text = json.dumps(record, sort_keys=True, ensure_ascii=False, indent=1) + "\n"
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder")
        _clear_folder(path)
        # Readers (and other writers) only ever see a complete file.
        replace_atomically(path, text)

    def _path(self, fields: Mapping[str, Any]) -> Path:
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return self.directory / _SUBDIR / f"{digest}.json"


def _key_fields(glob: str, location: Mapping[str, str], token_size: int) -> dict[str, Any]:
    if not isinstance(token_size, int) or isinstance(token_size, bool) or token_size < 1:
        raise ValueError(f"token_size must be a positive int, got {token_size!r}")
    leaked = _SECRET_FIELDS.intersection(k.lower() for k in location)
    if leaked:
        raise ValueError(f"a cache location must not hold credentials: {sorted(leaked)}")
    return {
        "version": FORMAT_VERSION,
        "glob": glob,
        "location": {str(k): str(v) for k, v in sorted(location.items())},
        "token_size": token_size,
    }


def _clear_folder(path: Path) -> None:
    """Move a folder that sits where an entry file goes out of the way.

    An empty one is removed; one with files in it is renamed aside (hidden, marked
    `.damaged`), since what it holds is not ours to delete.

    Raises:
        OSError: it cannot be moved (the cache folder is not writable).
    """
    if path.is_symlink() or not path.is_dir():
        return
    try:
        path.rmdir()
    except OSError:
        path.rename(path.with_name(f".{path.name}.{secrets.token_hex(4)}.damaged"))


def _parse(data: bytes, fields: Mapping[str, Any]) -> CachedCount | None:
    """A CachedCount from a file's bytes, or None if it is not a valid entry for `fields`."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # garbled, or nested too deep for the parser
        return None
    if not isinstance(record, dict):
        return None
    if any(record.get(name) != value for name, value in fields.items()):
        return None
    numbers = [record.get(name) for name in ("objects", "bytes", "tokens")]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        return None
    listed_at = record.get("listed_at")
    if not isinstance(listed_at, int | float) or isinstance(listed_at, bool):
        return None
    if not math.isfinite(listed_at):
        return None
    objects, size, tokens = numbers
    assert isinstance(objects, int) and isinstance(size, int) and isinstance(tokens, int)
    return CachedCount(objects=objects, bytes=size, tokens=tokens, listed_at=float(listed_at))
