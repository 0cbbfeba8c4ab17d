"""Lint at scale: `qupsample lint` on a folder of 260 olmix configs, end to end.

The folder holds the 32 generated configs (8 launch, 24 plan-era) copied over and over
under new names, one in ten with a planted mistake. Target: the whole command (start-up
included) under 3 s on this machine. Writes the "Lint at scale" section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostile import write_section

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HEADING = "## Lint at scale"
CONFIGS = 260
TARGET_S = 3.0
# Mistakes planted in every tenth config: (text to find, its replacement).
MISTAKES = [
    ("tokenizer: dolma2", "tokenizer: llama3"),
    ("proxy_model_id: olmo3_14m", "proxy_model_id: olmo3_15m"),
    ("  wikipedia:\n", "  wiki:\n"),
    ("gpus: 1", "gpus: 1\n  gpu: 2"),
]


def make_folder(folder: Path, count: int) -> int:
    """`count` configs under `folder` (in subfolders of 20); the number with a mistake."""
    sources = sorted((REPO / "generated").rglob("*.yaml"))
    planted = 0
    for i in range(count):
        text = sources[i % len(sources)].read_text(encoding="utf-8")
        text = text.replace("\nname: ", f"\nname: copy{i:03d}-", 1)
        if i % 10 == 0:
            old, new = MISTAKES[(i // 10) % len(MISTAKES)]
            planted += old in text
            text = text.replace(old, new, 1)
        target = folder / f"batch{i // 20:02d}" / f"config{i:03d}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return planted


def run(folder: Path) -> tuple[float, int, str]:
    """Wall seconds of one `qupsample lint FOLDER`, its exit code and stderr."""
    command = [str(Path(sys.executable).with_name("qupsample")), "lint", str(folder)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    return time.perf_counter() - started, done.returncode, done.stderr.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir) / "configs"
        planted = make_folder(folder, CONFIGS)
        runs = [run(folder) for _ in range(args.runs)]
    seconds = [wall for wall, _, _ in runs]
    _, code, summary = runs[0]
    median = statistics.median(seconds)
    found = int(summary.split(" of ")[0].split()[-1]) if " of " in summary else 0
    met = "met" if median < TARGET_S and code == 1 and found == planted else "MISSED"
    lines = [
        f"Run by `bench/lint_scale.py` (`make bench`): `qupsample lint` on {CONFIGS} configs"
        f" (copies of the 32 generated ones, {planted} with a planted mistake), the whole"
        f" command with its start-up, median of {args.runs} runs.",
        "",
        "| configs | median s | min s | max s | exit | summary |",
        "|--:|--:|--:|--:|--:|---|",
        f"| {CONFIGS} | {median:.2f} | {min(seconds):.2f} | {max(seconds):.2f} | {code} |"
        f" {summary} |",
        "",
        f"Target: under {TARGET_S:g} s, with a finding in each of the {planted} files with a"
        f" mistake and in no other (exit 1): {met}.",
    ]
    write_section(args.out, lines, HEADING)
    print("\n".join(lines))
    return 0 if met == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
