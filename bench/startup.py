"""Start-up cost of the `qupsample` command next to a bare interpreter, and what it imports."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Modules `--help` and `render` must never load (the storage stack).
FORBIDDEN = ("s3fs", "botocore", "aiobotocore", "boto3")


@dataclass(frozen=True)
class Startup:
    """Wall times of one command, and (for qupsample commands) its imports."""

    label: str
    command: tuple[str, ...]
    seconds: tuple[float, ...]
    packages: tuple[tuple[str, float], ...]  # (top-level package, cumulative import ms)
    forbidden: tuple[str, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_command(
    command: Sequence[str], runs: int, cwd: Path, env: Mapping[str, str]
) -> list[float]:
    """Wall seconds of `runs` runs of `command` (after one unmeasured warm-up run)."""
    times = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(
            command, cwd=cwd, env=dict(env), check=True, stdout=subprocess.DEVNULL, timeout=120
        )
        if attempt:
            times.append(time.perf_counter() - started)
    return times


def import_profile(
    command: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> tuple[list[tuple[str, float]], list[str]]:
    """Top-level packages `command` imports with their cumulative ms, and forbidden ones.

    Uses `PYTHONPROFILEIMPORTTIME`: one line per module, children before parents,
    nesting shown by indentation.
    """
    run = subprocess.run(
        command,
        cwd=cwd,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    lines = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        stripped = name.lstrip(" ")
        level = (len(name) - len(stripped) - 1) // 2
        lines.append((level, stripped.strip(), int(cumulative)))
    # Walking backwards turns the children-first listing into parents-first: a package's
    # time counts where its parent is another package (or nothing).
    totals: Counter[str] = Counter()
    stack: list[tuple[int, str]] = []
    seen: set[str] = set()
    for level, name, cumulative in reversed(lines):
        root = name.split(".")[0]
        seen.add(root)
        while stack and stack[-1][0] >= level:
            stack.pop()
        if not stack or stack[-1][1] != root:
            totals[root] += cumulative
        stack.append((level, root))
    packages = [(name, us / 1000) for name, us in totals.most_common()]
    return packages, sorted(m for m in FORBIDDEN if m in seen)


def measure(root: Path, env: Mapping[str, str], runs: int) -> list[Startup]:
    """Time `python -c pass`, `qupsample --help`, `qupsample render gradual heavy_code`."""
    python = sys.executable
    script = str(Path(python).parent / "qupsample")
    commands = [
        ("python -c pass", (python, "-c", "pass")),
        ("qupsample --help", (script, "--help")),
        ("qupsample render gradual heavy_code", (script, "render", "gradual", "heavy_code")),
    ]
    results = []
    for label, command in commands:
        seconds = time_command(command, runs, root, env)
        packages: list[tuple[str, float]] = []
        forbidden: list[str] = []
        if label.startswith("qupsample"):
            packages, forbidden = import_profile(command, root, env)
        results.append(Startup(label, command, tuple(seconds), tuple(packages), tuple(forbidden)))
    return results


def heavy(packages: Sequence[tuple[str, float]], threshold_ms: float = 1.0) -> list[str]:
    """Packages outside the standard library that took at least `threshold_ms` to import.

    Times are cumulative: a package's time includes what it imports in turn.
    """
    return [
        f"{name} {ms:.0f} ms"
        for name, ms in packages
        if name not in sys.stdlib_module_names and not name.startswith("_") and ms >= threshold_ms
    ]


if __name__ == "__main__":
    for item in measure(Path(__file__).resolve().parents[1], dict(os.environ), runs=5):
        print(f"{item.label}: {item.median * 1000:.0f} ms; {', '.join(heavy(item.packages))}")
        if item.forbidden:
            print(f"  FORBIDDEN: {', '.join(item.forbidden)}")
