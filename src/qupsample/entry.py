"""The `qupsample` executable, and the one place a Ctrl-C is handled.

Loading the command's libraries takes a moment; an interrupt then has nothing to
cancel, so it ends the process at once. Once a command runs, Ctrl-C raises
KeyboardInterrupt, so work in flight (listings, temporary files) is cancelled on the
way up; the command then exits 130 (the CLI's error wrapper maps the interrupt), and
this module says `interrupted`, once, and leaves before the interpreter's shutdown,
where a pending interrupt could still turn the exit into death by SIGINT.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from qupsample.errors import INTERRUPTED


def _leave(signum: int | None = None, frame: object = None) -> None:
    """Say `interrupted` and exit 130 now."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
            stream.flush()
    os.write(2, b"interrupted\n")
    os._exit(INTERRUPTED)


def main() -> None:
    """Entry point of the `qupsample` command."""
    signal.signal(signal.SIGINT, _leave)
    from qupsample.cli import app

    # Like other Unix tools, stop quietly when the reader goes away (`qupsample ... | head`).
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except KeyboardInterrupt:  # outside a command, e.g. while the options are parsed
        _leave()
    except SystemExit as exit_:
        # A command interrupted, or typer's own silent 130 for a Ctrl-C while it parses.
        if exit_.code == INTERRUPTED:
            _leave()
        raise
    finally:
        # The work is done (or abandoned): a Ctrl-C now must not change the exit code.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
