"""The `qupsample` executable's first step: Ctrl-C while it starts up exits at once.

Loading the command's libraries takes a moment; an interrupt then has nothing to
cancel, so it ends the process with exit code 130 and one line, before any Python
traceback can start. Once a command runs, `cli.main` hands Ctrl-C back to Python, so
work in flight is cancelled cleanly.
"""

from __future__ import annotations

import os
import signal


def _leave(signum: int, frame: object) -> None:
    os.write(2, b"interrupted\n")
    os._exit(130)


def main() -> None:
    """Entry point of the `qupsample` command."""
    signal.signal(signal.SIGINT, _leave)
    from qupsample.cli import main as run

    run()
