"""Atomic file writes: readers see the old bytes or the new ones, never a mix."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable
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


class Inputs:
    """The files a command reads, which nothing it writes may replace.

    One file can have many names (`./c.yaml`, `sub/../c.yaml`, a symbolic link, a hard
    link), so an output is compared by resolved path and by device and inode.
    """

    def __init__(self, paths: Iterable[Path | str | None] = ()) -> None:
        self.named: dict[Path, str] = {}
        self.inodes: dict[tuple[int, int], str] = {}
        for path in paths:
            if path is not None:
                self.add(Path(path))

    def add(self, path: Path) -> None:
        """Count `path` (a file, or every file under a folder) among the inputs."""
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file():
                    self.add(child)
            return
        self.named.setdefault(path.resolve(), str(path))
        try:
            status = path.stat()
        except OSError:
            return  # not a file (`SCHEME:PROFILE`), or gone: its name still counts
        self.inodes.setdefault((status.st_dev, status.st_ino), str(path))

    def check(self, output: Path) -> None:
        """Refuse an output that is one of the inputs, naming both.

        Raises:
            UserError: `output` names an input file.
        """
        same = self.named.get(output.resolve())
        if same is None:
            try:
                status = output.stat()
            except OSError:
                return
            same = self.inodes.get((status.st_dev, status.st_ino))
        if same is not None:
            raise UserError(
                f"is the input {same}; qupsample never overwrites its input",
                where=str(output),
                fix="write to another path",
            )


def write_output(
    path: Path,
    content: str | bytes,
    inputs: Inputs,
    *,
    executable: bool = False,
    follow: bool = True,
) -> None:
    """Write a file the user named (-o, --out): the one rule of every command that writes.

    Never an input (`Inputs.check`), never a replaced special file. A regular file (or
    a new one) is replaced atomically. With `follow` (-o FILE), a symbolic link is
    followed deliberately (its target is written, the link stays) and a FIFO or a
    character device is written into, as a shell's `>` would; without it (files a
    command names itself, as generate does), a link or a special file is refused.

    Raises:
        UserError: the path is an input, a folder or a special file that is not written
            into, or cannot be written.
    """
    inputs.check(path)
    target = path.resolve() if follow and path.is_symlink() else path
    try:
        mode = target.lstat().st_mode
    except OSError:
        mode = None  # absent (or unreadable: the write says why)
    if mode is None or stat.S_ISREG(mode):
        write_atomic(target, content, executable)
        return
    if follow and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        _write_into(target, content)
        return
    what = _KINDS.get(stat.S_IFMT(mode), "is not a regular file")
    what += "; it is never replaced"
    raise UserError(what, where=str(path), fix="choose another path")


_KINDS = {
    stat.S_IFDIR: "is a folder",
    stat.S_IFLNK: "is a symbolic link",
    stat.S_IFIFO: "is a FIFO",
    stat.S_IFCHR: "is a character device",
    stat.S_IFBLK: "is a block device",
    stat.S_IFSOCK: "is a socket",
}


def _write_into(path: Path, content: str | bytes) -> None:
    """Write to a FIFO or a device in place: it cannot be replaced, only written to."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        # No O_CREAT and no O_TRUNC: the node exists and stays what it is.
        fd = os.open(path, os.O_WRONLY)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise UserError(
            f"cannot write: {exc.strerror or exc}", where=str(path), fix="choose another path"
        ) from None
