"""Hostile input and faults: how qupsample holds up, measured on this machine.

    .venv/bin/python bench/hostile.py            # `make bench` runs it after bench/run.py
    .venv/bin/python bench/hostile.py --quick    # fewer runs, for a smoke test

Measures, and writes as the "Hostile input and faults" section of bench/RESULTS.md:
- reading a config with 10k / 100k / 1M paths in one leaf: wall time and peak RSS of a
  process that loads and validates it (and of one that finds a repeated path in it);
- an alias bomb (9 levels, 10**9 nodes once expanded) in a config: time and memory;
- the DCLM lab (458 folders) behind the fault-injecting proxy: success rate with 30% of
  listings throttled (503 SlowDown) over 20 cold runs, with the shipped budget; time to
  give up with 100% throttled; time from Ctrl-C to exit while listings are in flight.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "tests"))

from benchlab import LabProcess, Layout  # noqa: E402
from run import counter_env  # noqa: E402
from s3lab import CountingProxy  # noqa: E402

HEADING = "## Hostile input and faults"
# Runs `qupsample ARGS` (or, with `--load`, only load_config) and writes the process's
# own peak RSS to a file at exit. ru_maxrss of a child is no use here: Linux carries the
# parent's high-water mark across fork and exec.
RUNNER = """
import atexit, runpy, sys
out = sys.argv[1]

def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    with open(out, "w") as handle:
        handle.write(peak)

atexit.register(report)
if sys.argv[2] == "--load":
    from qupsample.resolve import load_config
    load_config(sys.argv[3])
else:
    sys.argv = ["qupsample", *sys.argv[2:]]
    runpy.run_module("qupsample", run_name="__main__")
"""


def measure(args: Sequence[str], workdir: Path) -> tuple[int, float, float]:
    """Run RUNNER with `args`; its exit code, wall seconds and own peak RSS in MB."""
    peak = workdir / "peak.txt"
    started = time.monotonic()
    code = subprocess.run(
        [sys.executable, "-c", RUNNER, str(peak), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    ).returncode
    wall = time.monotonic() - started
    return code, wall, int(peak.read_text()) / 1024


def wide_config(paths: int, repeat: bool = False) -> str:
    """A config whose one source has `paths` globs (the last repeats the first if asked)."""
    lines = [f"  - s3://bucket/prefix/part/{i:07d}/*.npy\n" for i in range(paths)]
    if repeat:
        lines[-1] = lines[0]
    return "name: wide\nsources:\n- name: web\n  weight: 1\n  paths:\n" + "".join(lines)


def bomb(levels: int = 9) -> str:
    """A billion-laughs config: the description aliases 10**(levels-1) strings."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    config = {"name": "bomb", "sources": [{"name": "web", "weight": 1, "paths": ["d/*.npy"]}]}
    return "\n".join(lines) + f"\ndescription: *a{levels - 1}\n" + yaml.safe_dump(config)


NOTES = """\
Notes:

- Reading is linear in the paths: libyaml parses, then PyYAML builds a node per value
  (most of the time and memory), then pydantic validates and the repeated-path check
  makes one pass. The alias bomb is refused before anything is expanded.
- At 100% throttling, many folders give up sooner than one: botocore's retry quota (its
  circuit breaker, shared by the client's requests) runs out, while a single folder
  backs off through all its attempts (each wait at most 5 x the 1 s base).
- Ctrl-C cancels the listings on fsspec's event loop, so exiting does not wait for them.
"""


def input_rows(workdir: Path) -> list[str]:
    rows = ["| input | file MB | exit | wall s | peak RSS MB |", "|---|--:|--:|--:|--:|"]
    baseline = workdir / "tiny.yaml"
    baseline.write_text(wide_config(1))
    cases: list[tuple[str, Path]] = [("1 path (baseline)", baseline)]
    for paths in (10_000, 100_000, 1_000_000):
        for repeat in (False, True):
            path = workdir / f"paths-{paths}{'-repeat' if repeat else ''}.yaml"
            path.write_text(wide_config(paths, repeat))
            label = f"{paths:,} paths" + (", last one repeated (error)" if repeat else "")
            cases.append((label, path))
    for label, path in cases:
        code, wall, rss = measure(["--load", str(path)], workdir)
        size = path.stat().st_size / 2**20
        rows.append(f"| {label} | {size:.1f} | {code} | {wall:.2f} | {rss:.0f} |")
    path = workdir / "bomb.yaml"
    path.write_text(bomb())
    code, wall, rss = measure(["resolve", str(path), "--offline"], workdir)
    rows.append(
        f"| alias bomb, 9 levels (`resolve --offline`) | {path.stat().st_size / 2**20:.3f}"
        f" | {code} | {wall:.2f} | {rss:.0f} |"
    )
    return rows


def fault_rows(runs: int, log: Callable[[str], None]) -> list[str]:
    from qupsample.errors import StorageError
    from qupsample.storage import count_tokens

    layout = Layout(files=10)
    expected = layout.expected_tokens()
    globs = layout.globs()
    env = counter_env()
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    rows: list[str] = []
    with (
        LabProcess(layout.files) as lab,
        CountingProxy(lab.endpoint) as proxy,
        tempfile.TemporaryDirectory() as scratch,
    ):
        options: dict[str, Any] = {"endpoint_url": proxy.url}
        count_tokens(globs, token_size=4, storage_options=options)  # warm-up, unmeasured

        exact, walls, retried = 0, [], 0
        for seed in range(runs):
            proxy.clear_faults()
            proxy.inject("slowdown", rate=0.3, seed=seed)
            started = time.monotonic()
            try:
                counts = count_tokens(globs, token_size=4, storage_options=options)
                exact += {g: c.tokens for g, c in counts.items()} == expected
            except StorageError as error:
                log(f"30% run {seed}: {error}")
            walls.append(time.monotonic() - started)
            retried += proxy.injected().get("slowdown", 0)
        rows += [
            f"- 30% of LIST requests throttled (503 SlowDown), {len(globs)} folders, cold,"
            f" shipped budget (10 attempts, backoff base 1 s): **{exact} of {runs} runs exact**;"
            f" wall median {statistics.median(walls):.2f} s (max {max(walls):.2f} s);"
            f" {retried / runs:.0f} throttled requests per run on average.",
        ]

        for label, subset in (("458 folders", globs), ("1 folder", globs[:1])):
            proxy.clear_faults()
            proxy.inject("slowdown", rate=1.0)
            gave_up: list[float] = []
            message = ""
            for _ in range(3):
                started = time.monotonic()
                try:
                    count_tokens(subset, token_size=4, storage_options=options)
                except StorageError as error:
                    message = str(error).split(": ", 1)[1]
                gave_up.append(time.monotonic() - started)
            rows.append(
                f"- 100% throttled, {label}: gave up after {statistics.median(gave_up):.1f} s"
                f" (median of 3, max {max(gave_up):.1f} s): `{message}`"
            )

        proxy.clear_faults()
        proxy.trickle_s = 0.5
        proxy.inject("trickle", rate=1.0)
        config = Path(scratch) / "config.yaml"
        config.write_text(yaml.safe_dump(layout.config()))
        env["QUPSAMPLE_CACHE_DIR"] = str(Path(scratch) / "cache")
        delays: list[float] = []
        outcomes: set[tuple[int, str]] = set()
        for _ in range(max(3, runs // 2)):
            proxy.reset()
            command = ["resolve", str(config), "--no-cache", "--endpoint-url", proxy.url]
            process = subprocess.Popen(
                [sys.executable, "-m", "qupsample", *command],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            while proxy.counts().get("ListObjectsV2", 0) < 32 and process.poll() is None:
                time.sleep(0.01)
            sent = time.monotonic()
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
            delays.append(time.monotonic() - sent)
            outcomes.add((process.returncode, err.strip()))
        rows.append(
            f"- Ctrl-C with 32 listings in flight on a trickling endpoint: exit after"
            f" {statistics.median(delays) * 1000:.0f} ms median, {max(delays) * 1000:.0f} ms max"
            f" ({len(delays)} runs); exit code and stderr: "
            + ", ".join(f"{code} `{err}`" for code, err in sorted(outcomes))
        )
        proxy.clear_faults()
    return rows


def write_section(results: Path, lines: list[str], heading: str = HEADING) -> None:
    """Replace (or append) the section under `heading` in RESULTS.md."""
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + len(heading))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + rest
    section = "\n".join([heading, "", *lines]) + "\n"
    text = text.rstrip("\n") + "\n\n" + section if text.strip() else section
    results.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 throttled runs instead of 20")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as workdir:
        log("hostile input ...")
        inputs = input_rows(Path(workdir))
    log("faults ...")
    faults = fault_rows(4 if args.quick else 20, log)
    lines = [
        "Run by `bench/hostile.py` (`make bench`), on the same machine; every number is one"
        " run's unless stated.",
        "",
        "Reading a config (a process that loads and validates it, or finds a repeated path):",
        "",
        *inputs,
        "",
        "Faults (the lab of `tests/benchlab.py`, F=10, behind the proxy of `tests/s3lab.py`):",
        "",
        *faults,
        "",
        *NOTES.splitlines(),
    ]
    write_section(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
