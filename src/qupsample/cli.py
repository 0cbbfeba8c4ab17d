"""The `qupsample` command: parse, make one library call, print. No logic here."""

from __future__ import annotations

import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

try:
    import typer
    from typer.core import TyperGroup
    from typer.exceptions import TyperException

    from qupsample.errors import QupsampleError, UserError
except KeyboardInterrupt:  # Ctrl-C while the command starts up: no traceback either
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from qupsample.diff import MixDiff
    from qupsample.resolve import Mix

EXIT_CODES = """\
Exit codes: 0 ok; 1 differences found (generate --check, diff); 2 user error (one line on
stderr: error: <file>: <field>: <what> — <how to fix>); 3 mix not feasible (a leaf
over its max_repetition_factor); 70 internal error (a traceback: please report it);
130 interrupted (Ctrl-C)."""
INTERRUPTED = 130


class _Group(TyperGroup):
    """Maps qupsample's exceptions to exit codes: the CLI's one error wrapper."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context's base is typer's vendored click
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except QupsampleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            # Work in flight was cancelled on the way up; no traceback for a Ctrl-C.
            _interrupted()
        except Exception:
            traceback.print_exc()
            typer.echo("internal error: this is a bug in qupsample, please report it", err=True)
            raise typer.Exit(70) from None


def _interrupted() -> None:
    typer.echo("interrupted", err=True)
    raise typer.Exit(INTERRUPTED) from None


app = typer.Typer(
    cls=_Group,
    name="qupsample",
    help="Quality-upsampling data-mixing configs for olmix: specs in, launch configs and "
    "resolved mixture weights out.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Project folder holding schemes/ and templates/ "
        "[default: nearest one at or above the current folder, else the built-in specs].",
        file_okay=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a setting or data_root, e.g. --set data_root=/mnt/mirror "
        "--set chinchilla_multiple=1. Repeatable.",
    ),
]
TemplateOption = Annotated[
    str | None,
    typer.Option(
        "--template",
        help="Template of templates/ instead of the family's, e.g. olmix-mix "
        "(the config plus its nested mix: block).",
    ),
]
OfflineMixOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="With a mix: block template, list no storage (every weight must be explicit).",
    ),
]
KeepZeroOption = Annotated[
    bool,
    typer.Option("--keep-zero", help="Write weight-0 buckets explicitly (weight: 0)."),
]


def _overrides(items: list[str] | None) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set: {item!r}: expected KEY=VALUE — e.g. --set seed=7")
        overrides[key.strip()] = value
    return overrides


def _sweep(item: str | None) -> tuple[str, list[str]] | None:
    if item is None:
        return None
    key, sep, values = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--sweep: {item!r}: expected KEY=V1,V2,... — e.g. --sweep seed=1,2,3")
    return key.strip(), [v.strip() for v in values.split(",")]


def _storage_options(endpoint_url: str | None, profile: str | None, anon: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if profile:
        options["profile"] = profile
    if anon:
        options["anon"] = True
    return options


EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="S3 endpoint URL [default: $AWS_ENDPOINT_URL, else AWS]."),
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="AWS profile [default: $AWS_PROFILE].")
]
AnonOption = Annotated[bool, typer.Option("--anon", help="Read S3 anonymously (public buckets).")]


@app.command("list")
def list_command(root: RootOption = None) -> None:
    """List the families, schemes and profiles found, one line each."""
    from qupsample.specs import list_specs

    rows = list_specs(root)
    width = max(len(row.name) for row in rows)
    kind = ""
    for row in rows:
        if row.kind != kind:
            kind = row.kind
            typer.echo(f"{kind}:")
        typer.echo(f"  {row.name:<{width}}  {row.description}")


@app.command()
def render(
    scheme: Annotated[str, typer.Argument(metavar="SCHEME", help="Scheme name, e.g. aggressive.")],
    profile: Annotated[
        str, typer.Argument(metavar="PROFILE", help="Profile name, e.g. heavy_code.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file (atomically) instead of stdout."),
    ] = None,
    set_: SetOption = None,
    keep_zero: KeepZeroOption = False,
    family: Annotated[
        str | None, typer.Option(help="Family, where the pair is in several.")
    ] = None,
    template: TemplateOption = None,
    offline: OfflineMixOption = False,
    root: RootOption = None,
) -> None:
    """Print the olmix launch config of SCHEME x PROFILE (the bytes generate writes)."""
    from qupsample.renderer import render as render_config

    text = render_config(
        scheme,
        profile,
        root=root,
        overrides=_overrides(set_),
        keep_zero=keep_zero,
        family=family,
        out=output,
        template=template,
        offline=offline,
    )
    if output is None:
        sys.stdout.write(text)


@app.command()
def generate(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder [default: generated/ in the project]."),
    ] = None,
    set_: SetOption = None,
    keep_zero: KeepZeroOption = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; list stale, missing and orphaned files and exit 1 if any.",
        ),
    ] = False,
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            metavar="KEY=V1,V2,...",
            help="One config per value of a setting, e.g. proxy_model_id=olmo3_14m,olmo3_60m: "
            "each into <family>/<KEY>-<V>/ under generated/sweeps/, names suffixed with V.",
        ),
    ] = None,
    template: TemplateOption = None,
    offline: OfflineMixOption = False,
    family: Annotated[
        str | None, typer.Option("--family", help="Generate this family only [default: all].")
    ] = None,
    root: RootOption = None,
) -> None:
    """Write every family's configs, README.md and batch_run.sh."""
    from qupsample.generator import generate as generate_all

    report = generate_all(
        out,
        root=root,
        overrides=_overrides(set_),
        keep_zero=keep_zero,
        check=check,
        sweep=_sweep(sweep),
        template=template,
        offline=offline,
        family=family,
    )
    for label, paths in (
        ("stale", report.stale),
        ("missing", report.missing),
        ("orphaned" if check else "removed", report.orphaned),
        ("wrote", report.written),
    ):
        for path in paths:
            typer.echo(f"{label}: {report.out / path}")
    total = len(report.unchanged) + len(report.written) + len(report.stale) + len(report.missing)
    if check and report.differs:
        typer.echo(
            f"{report.out}: out of date — run `qupsample generate` (or `make generate`)", err=True
        )
        raise typer.Exit(1)
    verb = "up to date" if check else f"{len(report.written)} written"
    typer.echo(f"{report.out}: {total} files, {verb}", err=True)


class Format(StrEnum):
    """Output formats of `resolve`."""

    table = "table"
    json = "json"
    csv = "csv"
    mix = "mix"


@app.command()
def resolve(
    config: Annotated[
        str,
        typer.Argument(
            help="A launch config file, or SCHEME:PROFILE to resolve a config rendered from specs."
        ),
    ],
    format_: Annotated[
        Format, typer.Option("--format", "-f", help="table, json, csv (path rows) or mix.")
    ] = Format.table,
    training_tokens: Annotated[
        int | None,
        typer.Option(
            "--training-tokens",
            min=1,
            help="Training budget in tokens "
            "[default: 20 x parameters(proxy_model_id) x chinchilla_multiple].",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Touch no storage: leaf weights from explicit weights only."
        ),
    ] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="List storage again, ignoring cached counts.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the token-count cache.")
    ] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Cache folder [default: $QUPSAMPLE_CACHE_DIR, $XDG_CACHE_HOME/qupsample "
            "or ~/.cache/qupsample].",
        ),
    ] = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            "--max-attempts",
            min=1,
            max=100,
            help="Attempts per storage request on throttling, 5xx answers, resets and cut-off "
            "answers, with exponential backoff and jitter in between [default: 10].",
        ),
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(
            "--deadline",
            min=0.1,
            metavar="SECONDS",
            help="Give up when listing storage takes longer than this in all [default: 120].",
        ),
    ] = None,
    allow_repetition: Annotated[
        bool,
        typer.Option(
            "--allow-repetition", help="Exit 0 even when a leaf is over its repetition limit."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no warnings.")
    ] = False,
    root: RootOption = None,
) -> None:
    """Resolve CONFIG into per-leaf and per-path weights, token counts and repetition."""
    from qupsample.cache import cache_folder
    from qupsample.resolve import resolve as resolve_mix

    options = _storage_options(endpoint_url, profile, anon)
    budget = {"max_attempts": max_attempts, "deadline": deadline}
    options.update({key: value for key, value in budget.items() if value is not None})
    with _progress(quiet or offline) as progress:
        mix = resolve_mix(
            config,
            training_tokens=training_tokens,
            storage_options=options,
            cache=not no_cache,
            refresh=refresh,
            offline=offline,
            cache_dir=cache_folder(cache_dir, "--cache-dir") if cache_dir else None,
            progress=progress,
            root=root,
        )
    _print_mix(mix, format_)
    if not quiet:
        for warning in mix.warnings:
            typer.echo(f"warning: {warning}", err=True)
    if not allow_repetition:
        mix.check_feasible()


class DiffFormat(StrEnum):
    """Output formats of `diff`."""

    table = "table"
    json = "json"


@app.command()
def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="A config file or SCHEME:PROFILE.")],
    b: Annotated[str, typer.Argument(metavar="B", help="Another config file or SCHEME:PROFILE.")],
    format_: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="table or json.")
    ] = DiffFormat.table,
    tokens: Annotated[
        bool, typer.Option("--tokens", help="Also compare each leaf's tokens (lists storage).")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Touch no storage (explicit weights only).")
    ] = False,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    anon: AnonOption = False,
    root: RootOption = None,
) -> None:
    """Compare two configs leaf by leaf; exit 0 when equal, 1 when they differ."""
    from qupsample.diff import diff as diff_mixes

    result = diff_mixes(
        a,
        b,
        tokens=tokens,
        offline=offline,
        storage_options=_storage_options(endpoint_url, profile, anon),
        root=root,
    )
    if format_ is DiffFormat.json:
        sys.stdout.write(result.to_json())
    else:
        _print_diff(result, tokens)
    if not result.equal:
        raise typer.Exit(1)


def _percent(weight: float | None) -> str:
    return "?" if weight is None else f"{weight * 100:.3f}"


def _print_diff(result: MixDiff, tokens: bool) -> None:
    if result.equal:
        typer.echo(f"{result.a} and {result.b}: same mix ({len(result.leaves)} leaves)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.a} -> {result.b}", title_justify="left")
    table.add_column("leaf")
    for column in ("A %", "B %", "change (points)"):
        table.add_column(column, justify="right")
    if tokens:
        table.add_column("A tokens", justify="right")
        table.add_column("B tokens", justify="right")
    for leaf in result.changes:
        delta = (leaf.weight_b or 0.0) - (leaf.weight_a or 0.0)
        cells = [leaf.leaf, _percent(leaf.weight_a), _percent(leaf.weight_b), f"{delta * 100:+.3f}"]
        if tokens:
            cells += [
                "" if leaf.tokens_a is None else f"{leaf.tokens_a:,}",
                "" if leaf.tokens_b is None else f"{leaf.tokens_b:,}",
            ]
        table.add_row(*cells)
    table.caption = f"{len(result.changes)} of {len(result.leaves)} leaves differ"
    table.caption_justify = "left"
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@app.command()
def plot(
    configs: Annotated[
        list[str],
        typer.Argument(
            metavar="CONFIG...", help="Config files or SCHEME:PROFILE pairs, one bar each."
        ),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The picture to write: FILE.png or FILE.svg.")
    ],
    title: Annotated[str | None, typer.Option(help="Title above the bars.")] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Touch no storage (explicit weights only).")
    ] = False,
    root: RootOption = None,
) -> None:
    """Draw one stacked bar per config (topics x quality buckets, weights in %)."""
    from qupsample.plot import plot_mixes, require_matplotlib
    from qupsample.resolve import resolve as resolve_mix

    # Before any storage is listed: a missing extra should not cost a resolve first.
    require_matplotlib()
    mixes = [resolve_mix(config, offline=offline, root=root) for config in configs]
    path = plot_mixes(mixes, output, title=title)
    typer.echo(f"wrote {path}", err=True)


@app.command()
def demo(
    folder: Annotated[
        Path, typer.Argument(help="Folder for the synthetic corpus and config.", file_okay=False)
    ] = Path("demo"),
    root: RootOption = None,
) -> None:
    """Write a small synthetic corpus with the real layout and resolve a config on it."""
    from qupsample.demo import run_demo

    corpus, config, mix = run_demo(folder, root=root)
    typer.echo(
        f"wrote {corpus.files} .npy files ({corpus.tokens:,} tokens) in {corpus.folders} folders"
        f" under {corpus.data_root}",
        err=True,
    )
    typer.echo(f"rendered {config} (data_root retargeted there)", err=True)
    typer.echo(
        f"training budget {mix.training_tokens:,} tokens: 80% of the most this corpus can feed"
        " (real runs: 20 x parameters x chinchilla_multiple)",
        err=True,
    )
    _print_mix(mix, Format.table)
    typer.echo(
        f"next: qupsample resolve {config} --training-tokens {mix.training_tokens} --format json",
        err=True,
    )


@contextmanager
def _progress(hidden: bool) -> Iterator[Callable[[int, int], None] | None]:
    if hidden or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("listing folders"), BarColumn(), MofNCompleteColumn(), transient=True
    ) as bar:
        task = bar.add_task("listing", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _print_mix(mix: Mix, format_: Format) -> None:
    if format_ is Format.json:
        sys.stdout.write(mix.to_json())
    elif format_ is Format.csv:
        sys.stdout.write(mix.to_csv())
    elif format_ is Format.mix:
        sys.stdout.write(mix.to_mix_block())
    else:
        _print_table(mix)


def _age(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


def _print_table(mix: Mix) -> None:
    from rich.console import Console
    from rich.table import Table

    from qupsample.renderer import human_count

    table = Table(title=mix.name, title_justify="left")
    for column in ("source", "topic", "bucket"):
        table.add_column(column)
    for column in ("tokens", "weight %", "requested", "repetition", "max"):
        table.add_column(column, justify="right")
    table.add_column("")
    low = mix.minimum_weight or 0.0
    for leaf in mix.leaves:
        parts = [*leaf.leaf.split(":"), "", ""][:3]
        flag = ""
        if leaf.over_limit:
            flag = "OVER LIMIT"
        elif leaf.weight is not None and 0 < leaf.weight < low:
            flag = "below minimum_weight"
        table.add_row(
            *parts,
            "?" if leaf.tokens is None else f"{leaf.tokens:,}",
            "?" if leaf.weight is None else f"{leaf.weight * 100:.3f}",
            "?" if leaf.requested_tokens is None else human_count(leaf.requested_tokens),
            "?" if leaf.repetition_factor is None else f"{leaf.repetition_factor:.3f}x",
            f"{leaf.max_repetition_factor:g}x",
            flag,
            style="bold red" if leaf.over_limit else None,
        )
    notes = [f"training tokens {mix.training_tokens:,}"]
    if mix.offline:
        notes.append("offline: no token counts")
    elif mix.oldest_listing is not None:
        notes.append(f"counts listed {_age(time.time() - mix.oldest_listing)}")
    if mix.max_training_tokens is not None:
        notes.append(f"feasible up to {human_count(mix.max_training_tokens)} tokens")
    table.caption = "; ".join(notes)
    table.caption_justify = "left"
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)


def main() -> None:
    """Entry point of the `qupsample` command."""
    # Like other Unix tools, stop quietly when the reader goes away (`qupsample ... | head`).
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        app()
    except KeyboardInterrupt:  # outside a command, e.g. while the options are parsed
        typer.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)
    finally:
        # The work is done (or abandoned): a Ctrl-C now must not turn the exit code
        # into death by SIGINT while the interpreter shuts down.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
