"""The `qupsample` command: parse, make one library call, print. No logic here."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup
from typer.exceptions import TyperException

from qupsample.errors import QupsampleError, UserError

if TYPE_CHECKING:
    from qupsample.diff import MixDiff
    from qupsample.resolve import Mix

EXIT_CODES = """\
Exit codes: 0 ok; 1 differences found (generate --check, diff, resolve --strict); 2 user
error (one line on stderr: error: <file>: <field>: <what> — <how to fix>); 3 mix not
feasible (a leaf over its max_repetition_factor); 70 internal error (a traceback:
please report it); 130 interrupted (Ctrl-C)."""
INTERRUPTED = 130


class _Group(TyperGroup):
    """Maps qupsample's exceptions to exit codes: the CLI's one error wrapper."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context's base is typer's vendored click
        try:
            return super().invoke(ctx)
        except TyperException as exc:
            # click's usage errors (bad option value, unknown command): one line, exit 2.
            if getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message"):
                context = getattr(exc, "ctx", None)
                command = context.command_path if context is not None else "qupsample"
                message = " ".join(str(exc.format_message()).split()).replace("Value error, ", "")
                typer.echo(f"error: {command}: {message} — see `{command} --help`", err=True)
                raise typer.Exit(2) from None
            raise
        except (typer.Exit, typer.Abort):
            raise
        except QupsampleError as exc:
            typer.echo(f"error: {_line(exc.render(_options(self, ctx)))}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            # Work in flight was cancelled on the way up; no traceback for a Ctrl-C.
            _interrupted()
        except Exception:
            traceback.print_exc()
            typer.echo("internal error: this is a bug in qupsample, please report it", err=True)
            raise typer.Exit(70) from None


def _line(text: str) -> str:
    """One line, whatever a name in the message holds (a newline shows as \\n)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


_SAID: set[str] = set()


def _say_interrupted() -> None:
    if "interrupted" not in _SAID:
        _SAID.add("interrupted")
        typer.echo("interrupted", err=True)


def _interrupted() -> None:
    _say_interrupted()
    raise typer.Exit(INTERRUPTED) from None


def _options(group: TyperGroup, ctx: Any) -> set[str]:
    """The option names of the subcommand being run (hints name only those)."""
    name = ctx.invoked_subcommand
    command = group.get_command(ctx, name) if name else None
    params = command.params if command is not None else []
    return {opt for param in params for opt in getattr(param, "opts", [])}


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"qupsample {version('qupsample')}")
        raise typer.Exit()


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


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Quality-upsampling data-mixing configs for olmix."""


def command(
    summary: str, name: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A subcommand with a one-line summary (never cut) and the exit codes in its help."""
    return app.command(name, short_help=summary, epilog=EXIT_CODES)


def _argument_usage(self: Any) -> str:
    name = str(self.display_name_raw)
    return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")


# Help shows arguments by their metavar alone (CONFIG, SCHEME PROFILE, CONFIG...), never
# with a Python type such as <str>; typer has no switch for this, so its argument class
# is adjusted here, in the command-line module only.
TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]


# --- options every command shares -----------------------------------------------------

RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        metavar="DIR",
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
        metavar="NAME",
        help="Template of templates/ instead of the family's, e.g. olmix-launch "
        "(current olmix's launch config, with its mix: block).",
    ),
]
KeepZeroOption = Annotated[
    bool,
    typer.Option(
        "--keep-zero",
        help="Keep weight-0 buckets (plan-era: weight: 0; current olmix: in data, at weight 0 "
        "in mix).",
    ),
]
# Where token counts come from: the same options, and the same rule, everywhere.
PriorsOption = Annotated[
    Path | None,
    typer.Option(
        "--priors",
        metavar="FILE",
        dir_okay=False,
        help="Token counts per leaf (from `qupsample priors` or `olmix priors compute`), "
        "so no storage is listed for them.",
    ),
]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="Touch no storage: weights from explicit weights, mix: blocks and --priors only.",
    ),
]
RefreshOption = Annotated[
    bool, typer.Option("--refresh", help="List storage again, ignoring cached counts.")
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the token-count cache.")
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        metavar="DIR",
        help="Cache folder [default: $QUPSAMPLE_CACHE_DIR, $XDG_CACHE_HOME/qupsample "
        "or ~/.cache/qupsample].",
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        help="S3 endpoint URL [default: $AWS_ENDPOINT_URL, else AWS].",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", metavar="NAME", help="AWS profile [default: $AWS_PROFILE]."),
]
AnonOption = Annotated[bool, typer.Option("--anon", help="Read S3 anonymously (public buckets).")]
MaxAttemptsOption = Annotated[
    int | None,
    typer.Option(
        "--max-attempts",
        metavar="N",
        min=1,
        max=100,
        help="Attempts per storage request on throttling, 5xx answers, resets and cut-off "
        "answers, with exponential backoff and jitter in between [default: 10].",
    ),
]
DeadlineOption = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        min=0.1,
        metavar="SECONDS",
        help="Give up when listing storage takes longer than this in all [default: 120].",
    ),
]


# How every -o FILE is written (files.write_output): the one rule, said once.
OUTPUT_RULE = (
    "atomically; a FIFO or device is written into, a symbolic link is followed (its target "
    "is written); never an input file"
)


def _counting(
    endpoint_url: str | None = None,
    aws_profile: str | None = None,
    anon: bool = False,
    *,
    offline: bool = False,
    priors: Path | None = None,
    refresh: bool = False,
    no_cache: bool = False,
    cache_dir: Path | None = None,
    max_attempts: int | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """The storage and cache options as the library's keyword arguments."""
    from qupsample.cache import cache_folder

    options: dict[str, Any] = {}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if aws_profile:
        options["profile"] = aws_profile
    if anon:
        options["anon"] = True
    if max_attempts is not None:
        options["max_attempts"] = max_attempts
    if deadline is not None:
        options["deadline"] = deadline
    return {
        "storage_options": options,
        "offline": offline,
        "priors": priors,
        "cache": not no_cache,
        "refresh": refresh,
        "cache_dir": cache_folder(cache_dir, "--cache-dir") if cache_dir else None,
    }


_STORAGE_ARGS = (
    "endpoint_url",
    "aws_profile",
    "anon",
    "offline",
    "priors",
    "refresh",
    "no_cache",
    "cache_dir",
    "max_attempts",
    "deadline",
)


def _storage_args(values: dict[str, Any]) -> dict[str, Any]:
    """The shared storage options among a command's arguments (those it has)."""
    return {key: values[key] for key in _STORAGE_ARGS if key in values}


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


ConfigArgument = Annotated[
    str,
    typer.Argument(metavar="CONFIG", help="A config file of any olmix form, or SCHEME:PROFILE."),
]
ConfigsArgument = Annotated[
    list[str],
    typer.Argument(
        metavar="CONFIG", help="Config files of any olmix form, or SCHEME:PROFILE pairs."
    ),
]


# --- commands ---------------------------------------------------------------------------


@command("List the families, schemes and profiles found.", name="list")
def list_command(root: RootOption = None) -> None:
    """List the families, schemes and profiles found, one line each."""
    from qupsample.specs import list_specs, load_project

    project = load_project(root)
    typer.echo(project.describe(), err=True)
    rows = list_specs(project)
    width = max(len(row.name) for row in rows)
    kind = ""
    for row in rows:
        if row.kind != kind:
            kind = row.kind
            typer.echo(f"{kind}:")
        typer.echo(f"  {row.name:<{width}}  {row.description}")


@command("Print the config of SCHEME x PROFILE.")
def render(
    scheme: Annotated[str, typer.Argument(metavar="SCHEME", help="Scheme name, e.g. aggressive.")],
    profile: Annotated[
        str, typer.Argument(metavar="PROFILE", help="Profile name, e.g. heavy_code.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help=f"Write to this file instead of stdout: {OUTPUT_RULE}.",
        ),
    ] = None,
    set_: SetOption = None,
    keep_zero: KeepZeroOption = False,
    family: Annotated[
        str | None,
        typer.Option("--family", metavar="NAME", help="Family, where the pair is in several."),
    ] = None,
    template: TemplateOption = None,
    priors: PriorsOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    no_cache: NoCacheOption = False,
    cache_dir: CacheDirOption = None,
    endpoint_url: EndpointOption = None,
    aws_profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: MaxAttemptsOption = None,
    deadline: DeadlineOption = None,
    root: RootOption = None,
) -> None:
    """Print the olmix config of SCHEME x PROFILE: exactly the bytes generate writes.

    Storage is listed only for buckets without weights (and never with --offline).
    """
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
        **_counting(**_storage_args(locals())),
    )
    if output is None:
        sys.stdout.write(text)


@command("Write every family's configs, README.md and batch_run.sh.")
def generate(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Output folder [default: generated/ in the project]. A file there that is "
            "an input (spec, template, --priors), a symbolic link or a special file is never "
            "replaced.",
        ),
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
    family: Annotated[
        str | None,
        typer.Option("--family", metavar="NAME", help="Generate this family only [default: all]."),
    ] = None,
    priors: PriorsOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    no_cache: NoCacheOption = False,
    cache_dir: CacheDirOption = None,
    endpoint_url: EndpointOption = None,
    aws_profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: MaxAttemptsOption = None,
    deadline: DeadlineOption = None,
    root: RootOption = None,
) -> None:
    """Write every family's configs (each of its forms), README.md and batch_run.sh."""
    from qupsample.generator import generate as generate_all

    report = generate_all(
        out,
        root=root,
        overrides=_overrides(set_),
        keep_zero=keep_zero,
        check=check,
        sweep=_sweep(sweep),
        template=template,
        family=family,
        **_counting(**_storage_args(locals())),
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
    typer.echo(report.project, err=True)
    typer.echo(f"{report.out}: {total} files, {verb}", err=True)


class Format(StrEnum):
    """Output formats of `resolve`."""

    table = "table"
    json = "json"
    csv = "csv"
    mix = "mix"


@command("Per-leaf and per-path weights, tokens and repetition of CONFIG.")
def resolve(
    config: ConfigArgument,
    format_: Annotated[
        Format,
        typer.Option(
            "--format", "-f", metavar="FORMAT", help="table, json, csv (path rows) or mix."
        ),
    ] = Format.table,
    training_tokens: Annotated[
        int | None,
        typer.Option(
            "--training-tokens",
            metavar="N",
            min=1,
            max=10**18,
            help="Training budget in tokens [default: the config's max_tokens, else "
            "20 x parameters(proxy_model_id) x chinchilla_multiple].",
        ),
    ] = None,
    allow_repetition: Annotated[
        bool,
        typer.Option(
            "--allow-repetition", help="Exit 0 even when a leaf is over its repetition limit."
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 1 when olmix would silently drop, ignore or refuse part of the config "
            "(a data leaf missing from the mix, a mix entry naming no leaf, weights not "
            "summing to 1, data weights that differ, fields olmix ignores, no mix:).",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no warnings.")
    ] = False,
    priors: PriorsOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    no_cache: NoCacheOption = False,
    cache_dir: CacheDirOption = None,
    endpoint_url: EndpointOption = None,
    aws_profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: MaxAttemptsOption = None,
    deadline: DeadlineOption = None,
    root: RootOption = None,
) -> None:
    """Resolve CONFIG (any olmix form) into per-leaf and per-path weights, tokens, repetition.

    With a mix: block (current olmix), each leaf's weight is what olmix will sample.
    """
    from qupsample.resolve import resolve as resolve_mix

    with _progress(quiet or offline) as progress:
        mix = resolve_mix(
            config,
            training_tokens=training_tokens,
            progress=progress,
            root=root,
            **_counting(**_storage_args(locals())),
        )
    _print_mix(mix, format_)
    if not quiet:
        for warning in (*mix.warnings, *mix.mismatches):
            typer.echo(f"warning: {_line(warning)}", err=True)
    if not allow_repetition:
        mix.check_feasible()
    if strict and mix.mismatches:
        typer.echo(f"{mix.name}: {len(mix.mismatches)} mix/data mismatch(es) (--strict)", err=True)
        raise typer.Exit(1)


class DiffFormat(StrEnum):
    """Output formats of `diff`."""

    table = "table"
    json = "json"


@command("Compare two configs leaf by leaf; exit 1 when they differ.")
def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="A config file or SCHEME:PROFILE.")],
    b: Annotated[str, typer.Argument(metavar="B", help="Another config file or SCHEME:PROFILE.")],
    format_: Annotated[
        DiffFormat, typer.Option("--format", "-f", metavar="FORMAT", help="table or json.")
    ] = DiffFormat.table,
    tokens: Annotated[
        bool, typer.Option("--tokens", help="Also compare each leaf's tokens (lists storage).")
    ] = False,
    priors: PriorsOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    no_cache: NoCacheOption = False,
    cache_dir: CacheDirOption = None,
    endpoint_url: EndpointOption = None,
    aws_profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: MaxAttemptsOption = None,
    deadline: DeadlineOption = None,
    root: RootOption = None,
) -> None:
    """Compare two configs (any olmix form) leaf by leaf; exit 0 when equal, 1 when not."""
    from qupsample.diff import diff as diff_mixes

    result = diff_mixes(
        a,
        b,
        tokens=tokens,
        root=root,
        **_counting(**_storage_args(locals())),
    )
    if format_ is DiffFormat.json:
        sys.stdout.write(result.to_json())
    else:
        _print_diff(result, tokens)
    if not result.equal:
        raise typer.Exit(1)


def _width() -> int:
    """The terminal's width ($COLUMNS first); 100 columns when not printing to one."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size((100, 24)).columns
    return 100


def _print_diff(result: MixDiff, tokens: bool) -> None:
    if result.equal:
        typer.echo(f"{result.a} and {result.b}: same mix ({len(result.leaves)} leaves)")
        return
    from qupsample.tables import diff_table

    sys.stdout.write(diff_table(result, tokens, _width()))


@command("Draw one stacked bar per config (weights in %).")
def plot(
    configs: ConfigsArgument,
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help=f"The picture to write, FILE.png or FILE.svg: {OUTPUT_RULE}.",
        ),
    ],
    title: Annotated[
        str | None, typer.Option("--title", metavar="TITLE", help="Title above the bars.")
    ] = None,
    priors: PriorsOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    no_cache: NoCacheOption = False,
    cache_dir: CacheDirOption = None,
    endpoint_url: EndpointOption = None,
    aws_profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: MaxAttemptsOption = None,
    deadline: DeadlineOption = None,
    root: RootOption = None,
) -> None:
    """Draw one stacked bar per config (topics x quality buckets, weights in %).

    Explicit weights need no storage; it is listed only for buckets without weights.
    """
    from qupsample.plot import plot_mixes, require_matplotlib
    from qupsample.resolve import resolve as resolve_mix
    from qupsample.specs import command_inputs

    # Before any storage is listed: a missing extra should not cost a resolve first.
    require_matplotlib()
    counting = _counting(**_storage_args(locals()))
    mixes = [resolve_mix(config, root=root, weights_only=True, **counting) for config in configs]
    inputs = command_inputs(configs, root, priors)
    path = plot_mixes(mixes, output, title=title, inputs=inputs)
    typer.echo(f"wrote {path}", err=True)


@command("Token counts per data leaf, as olmix priors compute prints them.")
def priors(
    config: ConfigArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            dir_okay=False,
            help=f"Write to this file: {OUTPUT_RULE}.",
        ),
    ] = None,
    refresh: RefreshOption = False,
    no_cache: NoCacheOption = False,
    cache_dir: CacheDirOption = None,
    endpoint_url: EndpointOption = None,
    aws_profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: MaxAttemptsOption = None,
    deadline: DeadlineOption = None,
    root: RootOption = None,
) -> None:
    """Print token counts per data leaf, as `olmix priors compute` does (any olmix form).

    Counts come from folder listings through the cache, never a request per object; a
    leaf that cannot be read is an error naming it (olmix would count it as 0).
    """
    from qupsample.files import write_output
    from qupsample.priors import compute_priors, format_priors
    from qupsample.specs import command_inputs

    counting = _counting(**_storage_args(locals()))
    inputs = command_inputs([config], root)
    if output is not None:
        inputs.check(output)  # before any listing: nothing is counted for nothing
    warnings: list[str] = []
    with _progress(False) as progress:
        counts = compute_priors(
            config,
            storage_options=counting["storage_options"],
            cache=counting["cache"],
            refresh=refresh,
            cache_dir=counting["cache_dir"],
            progress=progress,
            root=root,
            warnings=warnings,
        )
    text = format_priors(counts)
    for warning in warnings:
        typer.echo(f"warning: {_line(warning)}", err=True)
    if output is None:
        sys.stdout.write(text)
    else:
        write_output(output, text, inputs)
        typer.echo(f"wrote {output} ({len(counts)} leaves)", err=True)


class ConvertTarget(StrEnum):
    """Forms `convert` writes."""

    launch = "launch"
    generation = "generation"
    flat = "flat"


@command("Convert configs to current olmix's launch form (or --to another).")
def convert(
    configs: ConfigsArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            dir_okay=False,
            help=f"Write the one converted config to this file: {OUTPUT_RULE}.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            file_okay=False,
            help="Write each converted config to DIR/<name>.yaml (never over an input).",
        ),
    ] = None,
    to: Annotated[
        ConvertTarget,
        typer.Option(
            "--to",
            metavar="FORM",
            help="launch (current olmix, with mix:), generation (data, priors, swarm) or flat.",
        ),
    ] = ConvertTarget.launch,
    keep_zero: KeepZeroOption = False,
    priors: PriorsOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    no_cache: NoCacheOption = False,
    cache_dir: CacheDirOption = None,
    endpoint_url: EndpointOption = None,
    aws_profile: ProfileOption = None,
    anon: AnonOption = False,
    max_attempts: MaxAttemptsOption = None,
    deadline: DeadlineOption = None,
    root: RootOption = None,
) -> None:
    """Convert configs to current olmix's launch form (or --to another form).

    The mix written is what `resolve` says the input means: source weights honoured.
    Prints to stdout unless -o or --out is given; never overwrites an input file.
    """
    from qupsample.convert import convert_files

    written = convert_files(
        configs,
        output=output,
        out=out,
        to=to.value,
        keep_zero=keep_zero,
        root=root,
        **_counting(**_storage_args(locals())),
    )
    for converted, path in written:
        if path is None:
            sys.stdout.write(converted.text)
        else:
            typer.echo(f"wrote {path} ({converted.source}, {converted.dialect} -> {to})", err=True)


@command("Start a project of your own in DIR.")
def init(
    folder: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Folder for the new project.", file_okay=False),
    ] = Path(),
) -> None:
    """Start a project: the built-in specs and templates, a Makefile and a pre-commit hook."""
    from qupsample.scaffold import init_project

    for path in init_project(folder):
        typer.echo(f"created {path}", err=True)
    where = "" if folder == Path() else f"cd {folder} && "
    typer.echo(f"next: {where}qupsample generate   (then edit schemes/ and run it again)", err=True)


@command("A synthetic corpus with the real layout, and a config resolved on it.")
def demo(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="Folder for the synthetic corpus and config.", file_okay=False
        ),
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
        f"next: {_self()} resolve {config} --training-tokens {mix.training_tokens} --format json",
        err=True,
    )


def _self() -> str:
    """How to run qupsample again: `qupsample` when on PATH, else the path that ran it."""
    if shutil.which("qupsample") or not sys.argv[0].endswith("qupsample"):
        return "qupsample"
    return sys.argv[0]


@contextmanager
def _progress(hidden: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal's stderr, shown once the number of folders is known."""
    if hidden or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("listing folders"), BarColumn(), MofNCompleteColumn(), transient=True)
    tasks: list[Any] = []

    def update(done: int, total: int) -> None:
        # The first call (0, total) comes before any listing ends: the bar starts with
        # its total.
        if not tasks:
            tasks.append(bar.add_task("listing", total=total))
            bar.start()
        bar.update(tasks[0], completed=done, total=total)

    try:
        yield update
    finally:
        bar.stop()


def _print_mix(mix: Mix, format_: Format) -> None:
    if format_ is Format.json:
        sys.stdout.write(mix.to_json())
    elif format_ is Format.csv:
        sys.stdout.write(mix.to_csv())
    elif format_ is Format.mix:
        sys.stdout.write(mix.to_mix_block())
    else:
        _print_table(mix)


def _print_table(mix: Mix) -> None:
    from qupsample.tables import mix_table

    sys.stdout.write(mix_table(mix, _width()))


def main() -> None:
    """Entry point of the `qupsample` command."""
    # Like other Unix tools, stop quietly when the reader goes away (`qupsample ... | head`).
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Ctrl-C from here on raises KeyboardInterrupt, so the command can cancel its work
    # (listings in flight, temporary files) and say `interrupted` (see entry.py).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except KeyboardInterrupt:  # outside a command, e.g. while the options are parsed
        _leave_interrupted()
    except SystemExit as exit_:
        # A command interrupted (or typer's own silent 130 for a Ctrl-C while it parses
        # the options): its work is cancelled and cleaned up by now.
        if exit_.code == INTERRUPTED:
            _leave_interrupted()
        raise
    finally:
        # The work is done (or abandoned): a Ctrl-C now must not turn the exit code
        # into death by SIGINT while the interpreter shuts down.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _leave_interrupted() -> None:
    """Say `interrupted` once and exit 130 now, before the interpreter's shutdown (where a
    pending interrupt could still turn the exit into death by SIGINT)."""
    _say_interrupted()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)
