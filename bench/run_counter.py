"""Run one token counter against the lab, in a process of its own, and write a JSON result.

    python bench/run_counter.py qupsample --endpoint URL --config C.yaml --cache-dir D --out R
    python bench/run_counter.py priors --endpoint URL --config C.yaml --cache-dir D --out R
    python bench/run_counter.py naive --endpoint URL --globs GLOBS.txt --out R

`priors` runs the `qupsample priors` command (in this process, writing its block with
`-o`) and reports each leaf's count under the leaf's one glob, so it is checked glob by
glob like the others.

`qupsample-raw-timestamps` is `qupsample` given an s3fs session whose parser leaves
timestamps as text: a what-if for a proposed change, not what qupsample ships.

The result holds the tokens per glob, the counting call's wall time (imports of s3fs
included for both counters, since both need it cold), the process's CPU time and peak
RSS (`ru_maxrss`: the whole process, interpreter included).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

# The naive counter lives with the test lab, in tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _qupsample(args: argparse.Namespace, options: dict[str, Any] | None = None) -> dict[str, int]:
    from qupsample.resolve import resolve

    mix = resolve(
        args.config,
        storage_options={"endpoint_url": args.endpoint, **(options or {})},
        cache_dir=args.cache_dir,
    )
    return {row.path: int(row.tokens or 0) for row in mix.paths}


def _qupsample_raw_timestamps(args: argparse.Namespace) -> dict[str, int]:
    # What-if: the same resolve, with an s3fs session whose response parser keeps
    # LastModified as text instead of parsing it with dateutil (qupsample never reads it).
    from aiobotocore.session import AioSession

    session = AioSession()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return _qupsample(args, {"session": session})


def _priors(args: argparse.Namespace) -> dict[str, int]:
    import yaml
    from typer.main import get_command

    from qupsample.cli import app

    written = Path(args.out).with_suffix(".priors.yaml")
    command = ["priors", args.config, "--endpoint-url", args.endpoint]
    command += ["--cache-dir", args.cache_dir, "-o", str(written)]
    # The command's stderr ("wrote FILE") is kept out of the benchmark's log unless it fails.
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = get_command(app).main(args=command, prog_name="qupsample", standalone_mode=False)
    if code:
        raise SystemExit(f"qupsample priors exited with {code}: {stderr.getvalue()}")
    counts = yaml.safe_load(written.read_text(encoding="utf-8"))["priors"]["token_counts"]
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    leaves = _leaf_globs(config["sources"])
    if sorted(counts) != sorted(leaf for leaf, _ in leaves):
        raise SystemExit(f"qupsample priors printed leaves {sorted(counts)[:5]}...")
    return {glob: counts[leaf] for leaf, glob in leaves}


def _leaf_globs(sources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(olmix leaf name, its one glob) of every leaf: the bench config has one path a leaf."""
    found: list[tuple[str, str]] = []

    def walk(entries: list[dict[str, Any]], prefix: str) -> None:
        for entry in entries:
            name = f"{prefix}{entry['name']}"
            if "paths" in entry:
                [glob] = entry["paths"]
                found.append((name, glob))
            walk(entry.get("topics", []) + entry.get("quality", []), f"{name}:")

    walk(sources, "")
    return found


def _naive(args: argparse.Namespace) -> dict[str, int]:
    from naive_counter import count_naive

    globs = Path(args.globs).read_text(encoding="utf-8").split()
    return count_naive(globs, {"endpoint_url": args.endpoint})


COUNTERS = {
    "qupsample": _qupsample,
    "qupsample-raw-timestamps": _qupsample_raw_timestamps,
    "priors": _priors,
    "naive": _naive,
}


def main(argv: list[str] | None = None) -> None:
    """Parse, count once, write the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counter", choices=sorted(COUNTERS))
    parser.add_argument("--endpoint", required=True, help="the proxy's URL")
    parser.add_argument("--config", help="qupsample, priors: the launch config")
    parser.add_argument("--cache-dir", help="qupsample, priors: the token-count cache folder")
    parser.add_argument("--globs", help="naive: a file of globs, one a line")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.counter == "priors":
        # As for resolve: qupsample's own modules first, s3fs comes in during the call.
        import qupsample.cli
        import qupsample.priors
    elif args.counter != "naive":
        # Import qupsample's own modules first: s3fs comes in during the call.
        import qupsample.resolve  # noqa: F401
    count = COUNTERS[args.counter]
    started = time.perf_counter()
    tokens = count(args)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    heavy = sorted(m for m in ("s3fs", "botocore", "aiobotocore") if m in sys.modules)
    result: dict[str, Any] = {
        "counter": args.counter,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "imported": heavy,
        "tokens": tokens,
    }
    Path(args.out).write_text(json.dumps(result, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
