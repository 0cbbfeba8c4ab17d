"""Generate at scale: a family of 20 schemes x 20 profiles against PyYAML reading it back.

Target: `generate` costs at most 1.5x the time PyYAML (its pure-Python SafeLoader, as a
reader of these files would use) takes to parse the files it writes, measured in the
same run. Writes the "Generate at scale" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from hostile import write_section

from qupsample.generator import generate

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HEADING = "## Generate at scale"
TARGET = 1.5


def make_project(root: Path, schemes: int, profiles: int) -> None:
    """The repo's specs with `schemes` weighting schemes and `profiles` profiles."""
    shutil.copytree(REPO / "schemes", root / "schemes")
    shutil.copytree(REPO / "templates", root / "templates")
    base = (REPO / "schemes" / "weighting" / "aggressive.yaml").read_text(encoding="utf-8")
    for i in range(schemes - 2):
        text = re.sub(r"weight: 70", f"weight: {40 + i}", base)
        (root / "schemes" / "weighting" / f"scheme{i:02d}.yaml").write_text(text, encoding="utf-8")
    profile = (REPO / "schemes" / "profiles" / "heavy_code.yaml").read_text(encoding="utf-8")
    for i in range(profiles - 4):
        text = re.sub(r"weight: 98", f"weight: {60 + i}", profile)
        (root / "schemes" / "profiles" / f"profile{i:02d}.yaml").write_text(text, encoding="utf-8")


def measure(schemes: int, profiles: int, runs: int) -> dict[str, float]:
    """Median generate and parse-back times over `runs` fresh outputs."""
    generate_s, parse_s, files = [], [], 0
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        make_project(root, schemes, profiles)
        for _ in range(runs):
            shutil.rmtree(root / "generated", ignore_errors=True)
            started = time.perf_counter()
            report = generate(root=root)
            generate_s.append(time.perf_counter() - started)
            configs = sorted((root / "generated").rglob("*.yaml"))
            files = len(report.written)
            started = time.perf_counter()
            for path in configs:
                yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
            parse_s.append(time.perf_counter() - started)
    return {
        "files": files,
        "configs": len(configs),
        "generate_s": statistics.median(generate_s),
        "parse_s": statistics.median(parse_s),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args(argv)
    result = measure(20, 20, args.runs)
    ratio = result["generate_s"] / result["parse_s"]
    met = "met" if ratio <= TARGET else "MISSED"
    lines = [
        f"Run by `bench/generate_scale.py` (`make bench`): the repo's specs with 20 weighting"
        f" schemes x 20 profiles, every family and form, median of {args.runs} runs.",
        "",
        "| files written | of them configs | generate s | PyYAML SafeLoader parse s | ratio |",
        "|--:|--:|--:|--:|--:|",
        f"| {result['files']:,} | {result['configs']:,} | {result['generate_s']:.2f} |"
        f" {result['parse_s']:.2f} | {ratio:.2f}x |",
        "",
        f"Target: generate at most {TARGET}x PyYAML's parse of its output: {met}. The"
        " template environment is built once per project (compiled templates are kept),",
        "and the YAML scalar writer caches its check of each plain name.",
    ]
    write_section(args.out, lines, HEADING)
    print("\n".join(lines))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
