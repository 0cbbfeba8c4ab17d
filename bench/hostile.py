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
- the second round (issue 16; `--second-round` runs only these): YAML nested 100,000
  levels (flow and block), a mix key of 200,000 parts, a priors file of 2.5 million keys,
  a poisoned cache entry.
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


SECOND_ROUND = "### Second round (issue 16)"


def second_round_rows(workdir: Path) -> list[str]:
    """Hostile inputs of the second round: exit code, wall, peak RSS, stderr length."""
    flat = ROOT / "generated" / "quality_upsampling" / "heavy_code" / "aggressive.yaml"
    launch = yaml.safe_load(
        (
            ROOT / "generated" / "quality_upsampling_launch" / "heavy_code" / "aggressive.yaml"
        ).read_text(encoding="utf-8")
    )
    cases: list[tuple[str, str, list[str]]] = []
    flow = workdir / "flow.yaml"
    flow.write_text("[" * 100_000 + "]" * 100_000)
    cases.append(("flow `[` nested 100,000 levels", str(flow), ["--offline"]))
    block = workdir / "block.yaml"
    block.write_text("".join(" " * i + "a:\n" for i in range(20_000)))
    cases.append(("block mapping nested 20,000 levels", str(block), ["--offline"]))
    mixkey = workdir / "mixkey.yaml"
    mixkey.write_text(yaml.safe_dump({**launch, "mix": {":".join(["a"] * 200_000): 1}}))
    cases.append(("mix key of 200,000 parts", str(mixkey), ["--offline"]))
    priors = workdir / "priors.yaml"
    key = "all_dressed:science_math_and_technology:vigintile_{:07d}: 123456789\n"
    with priors.open("w") as handle:
        handle.write("priors:\n  token_counts:\n")
        handle.writelines("    " + key.format(i) for i in range(2_500_000))
    cases.append(
        ("priors file of 2,500,000 keys", str(flat), ["--offline", "--priors", str(priors)])
    )
    small = workdir / "priors-small.yaml"
    with small.open("w") as handle:
        handle.write("priors:\n  token_counts:\n")
        handle.writelines("    " + key.format(i) for i in range(55_000))
    cases.append(
        (
            "priors file of 55,000 keys (under 4 MiB)",
            str(flat),
            ["--offline", "--priors", str(small)],
        )
    )
    rows = [
        "| input (`resolve ... --offline`) | file MB | exit | wall s | peak RSS MB"
        " | stderr chars |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for label, config, extra in cases:
        path = Path(extra[-1]) if "--priors" in extra else Path(config)
        code, wall, rss, err = measure_err(["resolve", config, *extra], workdir)
        rows.append(
            f"| {label} | {path.stat().st_size / 2**20:.1f} | {code} | {wall:.2f} | {rss:.0f}"
            f" | {len(err)} |"
        )
    return rows


def measure_err(args: Sequence[str], workdir: Path) -> tuple[int, float, float, str]:
    """`measure`, keeping stderr."""
    peak = workdir / "peak.txt"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(peak), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    return result.returncode, wall, int(peak.read_text()) / 1024, result.stderr


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


SECOND_NOTES = """\
Notes:

- Nesting: the document is composed from parser events with the open collections in a
  list, and the 101st level stops the parse; libyaml's own limit (1,000) can come first
  for flow brackets, which it scans ahead. Either way one line, exit 2.
- The mix key's error line is cut in the middle; URL redaction is linear (the scheme is
  at most 32 characters, each run's delimiter is found once).
- Priors files over 4 MiB are refused after reading 4 MiB + 1 bytes, before parsing
  (the issue's 71 MB file took 47 s and 2.37 GB). Under the bound a key costs about
  1.2 KB at peak (nodes, dict, validation: 55,000 keys, 99 MB against 36 MB for a tiny
  input), so a priors file never costs much over 100 MB.
- The 20,000-level block document is 191 MB of indentation: its peak is the text read
  and decoded (about twice its size), not the parse, which stops at level 101.
"""


def write_subsection(results: Path, lines: list[str]) -> None:
    """Replace the subsection `lines[0]` heads, else add it at the end of the section."""
    text = results.read_text(encoding="utf-8")
    start = text.find(lines[0])
    if start >= 0:
        ends = [i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i >= 0]
        end = min(ends) + 1 if ends else len(text)
    else:
        section = text.find(HEADING)
        following = text.find("\n## ", section + 1) if section >= 0 else -1
        start = end = following + 1 if following >= 0 else len(text)
    before, after = text[:start].rstrip("\n"), text[end:]
    block = "\n".join(lines) + "\n"
    results.write_text(before + "\n\n" + block + ("\n" + after if after else ""), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 throttled runs instead of 20")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument(
        "--second-round", action="store_true", help="only the second round's inputs"
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as workdir:
        log("second round ...")
        second = [
            SECOND_ROUND,
            "",
            *second_round_rows(Path(workdir)),
            "",
            *SECOND_NOTES.splitlines(),
        ]
    if args.second_round:
        write_subsection(args.out, second)
        print("\n".join(second))
        return

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
        "",
        *second,
    ]
    write_section(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
