"""The `qupsample` command: parse, make one library call, print. No logic here."""

from __future__ import annotations

import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup
from typer.exceptions import TyperException

from qupsample.clioptions import (
    NO_STORAGE,
    ConfigArgument,
    ConfigsArgument,
    ConvertOutOption,
    ConvertOutputOption,
    ConvertToOption,
    DemoFolderArgument,
    DiffFormat,
    DiffFormatOption,
    DiffTokensOption,
    FamilyOption,
    Format,
    GenerateCheckOption,
    GenerateFamilyOption,
    GenerateOutOption,
    GenerateSweepOption,
    InitFolderArgument,
    KeepZeroOption,
    LintFormat,
    LintFormatOption,
    LintIgnoreOption,
    LintPathsArgument,
    LintPriorsOption,
    LintSelectOption,
    PlotOutputOption,
    PlotTitleOption,
    PriorsOutputOption,
    RenderFamilyOption,
    RenderOutputOption,
    ResolveAllowRepetitionOption,
    ResolveFormatOption,
    ResolveQuietOption,
    ResolveTrainingTokensOption,
    RootOption,
    SetOption,
    StorageArgs,
    StrictOption,
    TemplateOption,
    parse_set,
    parse_sweep,
    with_storage,
)
from qupsample.errors import INTERRUPTED, QupsampleError
from qupsample.forms import Dialect

if TYPE_CHECKING:
    from qupsample.diff import MixDiff
    from qupsample.resolve import Mix

EXIT_CODES = """\
Exit codes: 0 ok; 1 differences or findings (generate --check, diff, lint, resolve
--strict, render --strict); 2 user error (one line on stderr: error: <file>: <field>:
<what> — <how to fix>); 3 mix not feasible (a leaf over its max_repetition_factor); 70
internal error (a traceback: please report it); 130 interrupted (Ctrl-C)."""


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
                message = message.rstrip(".")  # the fix follows: `what — see ...`
                typer.echo(f"error: {command}: {message} — see `{command} --help`", err=True)
                raise typer.Exit(2) from None
            raise
        except (typer.Exit, typer.Abort):
            raise
        except QupsampleError as exc:
            typer.echo(f"error: {_line(exc.render(_options(self, ctx)))}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            # Work in flight was cancelled on the way up; no traceback for a Ctrl-C
            # (`entry` says `interrupted`).
            raise typer.Exit(INTERRUPTED) from None
        except Exception as exc:
            if _interrupted(exc):  # a Ctrl-C that a library wrapped on its way up
                raise typer.Exit(INTERRUPTED) from None
            traceback.print_exc()
            typer.echo("internal error: this is a bug in qupsample, please report it", err=True)
            raise typer.Exit(70) from None


def _interrupted(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among an error's causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _line(text: str) -> str:
    """One line, whatever a name in the message holds (a newline shows as \\n)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _options(group: TyperGroup, ctx: Any) -> set[str]:
    """The option names of the subcommand being run (hints name only those)."""
    name = ctx.invoked_subcommand
    command = group.get_command(ctx, name) if name else None
    params = command.params if command is not None else []
    return {opt for param in params for opt in getattr(param, "opts", [])}


def _version(value: bool) -> None:
    if value:
        import qupsample

        typer.echo(f"qupsample {qupsample.__version__}")
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


# --- commands ---------------------------------------------------------------------------


@command("List the families, schemes and profiles found.", name="list")
def list_command(root: RootOption = None) -> None:
    """List the families, schemes and profiles found, one line each (wrapped on a terminal)."""
    from qupsample.specs import list_specs, load_project
    from qupsample.tables import list_text

    project = load_project(root)
    typer.echo(project.describe(), err=True)
    sys.stdout.write(list_text(list_specs(project), _terminal_width()))


@command("Print the config of SCHEME x PROFILE.")
@with_storage()
def render(
    scheme: Annotated[str, typer.Argument(metavar="SCHEME", help="Scheme name, e.g. aggressive.")],
    profile: Annotated[
        str, typer.Argument(metavar="PROFILE", help="Profile name, e.g. heavy_code.")
    ],
    output: RenderOutputOption = None,
    set_: SetOption = None,
    keep_zero: KeepZeroOption = False,
    family: RenderFamilyOption = None,
    template: TemplateOption = None,
    strict: StrictOption = False,
    root: RootOption = None,
    storage: StorageArgs = NO_STORAGE,
) -> None:
    """Print the olmix config of SCHEME x PROFILE: exactly the bytes generate writes.

    Storage is listed only for buckets without weights (and never with --offline). A
    current-olmix config gets the warnings `resolve --strict` would give it.
    """
    from qupsample.renderer import render as render_config

    warnings: list[str] = []
    text = render_config(
        scheme,
        profile,
        root=root,
        overrides=parse_set(set_),
        keep_zero=keep_zero,
        family=family,
        out=output,
        template=template,
        warnings=warnings,
        **storage.kwargs(),
    )
    if output is None:
        sys.stdout.write(text)
    _warn(warnings, strict, f"{scheme}:{profile}")


@command("Write every family's configs, README.md and batch_run.sh.")
@with_storage()
def generate(
    out: GenerateOutOption = None,
    set_: SetOption = None,
    keep_zero: KeepZeroOption = False,
    check: GenerateCheckOption = False,
    sweep: GenerateSweepOption = None,
    template: TemplateOption = None,
    family: GenerateFamilyOption = None,
    root: RootOption = None,
    storage: StorageArgs = NO_STORAGE,
) -> None:
    """Write every family's configs (each of its forms), README.md and batch_run.sh."""
    from qupsample.generator import generate as generate_all

    report = generate_all(
        out,
        root=root,
        overrides=parse_set(set_),
        keep_zero=keep_zero,
        check=check,
        sweep=parse_sweep(sweep),
        template=template,
        family=family,
        **storage.kwargs(),
    )
    for label, paths in (
        ("stale", report.stale),
        ("missing", report.missing),
        ("orphaned" if check else "removed", report.orphaned),
        ("unexpected", report.unexpected),
        ("wrote", report.written),
    ):
        for path in paths:
            typer.echo(f"{label}: {report.out / path}")
    for warning in report.warnings:
        typer.echo(f"warning: {_line(warning)}", err=True)
    if report.unexpected and not check:
        typer.echo(
            f"{report.out}: {len(report.unexpected)} file(s) no spec writes (unexpected above):"
            " generate leaves them; remove them, or `generate --check` fails",
            err=True,
        )
    total = len(report.unchanged) + len(report.written) + len(report.stale) + len(report.missing)
    if check and report.differs:
        rewrite = report.stale or report.missing or report.orphaned
        fixes = ["run `qupsample generate` (or `make generate`)"] if rewrite else []
        if report.unexpected:
            fixes.append("remove the unexpected files above (generate never removes them)")
        typer.echo(f"{report.out}: out of date — {'; then '.join(fixes)}", err=True)
        raise typer.Exit(1)
    verb = "up to date" if check else f"{len(report.written)} written"
    typer.echo(report.project, err=True)
    typer.echo(f"{report.out}: {total} files, {verb}", err=True)


@command("Per-leaf and per-path weights, tokens and repetition of CONFIG.")
@with_storage()
def resolve(
    config: ConfigArgument,
    format_: ResolveFormatOption = Format.table,
    training_tokens: ResolveTrainingTokensOption = None,
    allow_repetition: ResolveAllowRepetitionOption = False,
    strict: StrictOption = False,
    quiet: ResolveQuietOption = False,
    family: FamilyOption = None,
    root: RootOption = None,
    storage: StorageArgs = NO_STORAGE,
) -> None:
    """Resolve CONFIG (any olmix form) into per-leaf and per-path weights, tokens, repetition.

    With a mix: block (current olmix), each leaf's weight is what olmix will sample.
    """
    from qupsample.resolve import resolve as resolve_mix

    with _progress(quiet or storage.offline) as progress:
        mix = resolve_mix(
            config,
            training_tokens=training_tokens,
            progress=progress,
            root=root,
            family=family,
            **storage.kwargs(),
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


def _warn(warnings: list[str], strict: bool, name: str) -> None:
    """One `warning:` line each; with --strict, exit 1 when there are any."""
    for warning in warnings:
        typer.echo(f"warning: {_line(warning)}", err=True)
    if strict and warnings:
        typer.echo(f"{name}: {len(warnings)} warning(s) (--strict)", err=True)
        raise typer.Exit(1)


@command("Check olmix configs for what olmix would silently drop, ignore or refuse.")
def lint(
    paths: LintPathsArgument = None,
    format_: LintFormatOption = LintFormat.text,
    select: LintSelectOption = None,
    ignore: LintIgnoreOption = None,
    priors: LintPriorsOption = None,
    root: RootOption = None,
) -> None:
    """Check olmix configs (any form) without storage; exit 1 when anything is found.

    Each finding is one line at the offending key: path:line:col: CODE message (fix).
    The rules are those resolve --strict applies; codes are in docs/lint.md.
    """
    from qupsample.lint import lint as lint_paths

    result = lint_paths(
        paths or [Path()], root=root, priors=priors, select=select or (), ignore=ignore or ()
    )
    sys.stdout.write(result.render(format_.value))
    if format_ is LintFormat.text:
        typer.echo(result.summary(), err=True)
    if result.findings:
        raise typer.Exit(1)


@command("Compare two configs leaf by leaf; exit 1 when they differ.")
@with_storage()
def diff(
    a: Annotated[str, typer.Argument(metavar="A", help="A config file or SCHEME:PROFILE.")],
    b: Annotated[str, typer.Argument(metavar="B", help="Another config file or SCHEME:PROFILE.")],
    format_: DiffFormatOption = DiffFormat.table,
    tokens: DiffTokensOption = False,
    family: FamilyOption = None,
    root: RootOption = None,
    storage: StorageArgs = NO_STORAGE,
) -> None:
    """Compare two configs (any olmix form) leaf by leaf; exit 0 when equal, 1 when not."""
    from qupsample.diff import diff as diff_mixes

    result = diff_mixes(
        a,
        b,
        tokens=tokens,
        root=root,
        family=family,
        **storage.kwargs(),
    )
    if format_ is DiffFormat.json:
        sys.stdout.write(result.to_json())
    else:
        _print_diff(result, tokens)
    if not result.equal:
        raise typer.Exit(1)


def _terminal_width() -> int | None:
    """The terminal's width ($COLUMNS first); None when not printing to one."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size((100, 24)).columns
    return None


def _width() -> int:
    """The terminal's width ($COLUMNS first); 100 columns when not printing to one."""
    return _terminal_width() or 100


def _print_diff(result: MixDiff, tokens: bool) -> None:
    if result.equal:
        typer.echo(f"{result.a} and {result.b}: same mix ({len(result.leaves)} leaves)")
        return
    from qupsample.tables import diff_table

    sys.stdout.write(diff_table(result, tokens, _width()))


@command("Draw one stacked bar per config (weights in %).")
@with_storage()
def plot(
    configs: ConfigsArgument,
    output: PlotOutputOption,
    title: PlotTitleOption = None,
    family: FamilyOption = None,
    root: RootOption = None,
    storage: StorageArgs = NO_STORAGE,
) -> None:
    """Draw one stacked bar per config (topics x quality buckets, weights in %).

    Explicit weights need no storage; it is listed only for buckets without weights.
    """
    from qupsample.plot import plot_mixes, require_matplotlib
    from qupsample.resolve import resolve as resolve_mix
    from qupsample.specs import command_inputs, open_project

    # Before any storage is listed: a missing extra should not cost a resolve first.
    require_matplotlib()

    counting = storage.kwargs()
    mixes = [
        resolve_mix(config, root=root, weights_only=True, family=family, **counting)
        for config in configs
    ]
    inputs = command_inputs(configs, open_project(root), storage.priors)
    path = plot_mixes(mixes, output, title=title, sources=configs, inputs=inputs)
    typer.echo(f"wrote {path}", err=True)


@command("Token counts per data leaf, as olmix priors compute prints them.")
@with_storage(counts=False)
def priors(
    config: ConfigArgument,
    output: PriorsOutputOption = None,
    family: FamilyOption = None,
    root: RootOption = None,
    storage: StorageArgs = NO_STORAGE,
) -> None:
    """Print token counts per data leaf, as `olmix priors compute` does (any olmix form).

    Counts come from folder listings through the cache, never a request per object; a
    leaf that cannot be read is an error naming it (olmix would count it as 0).
    """
    from qupsample.counts import Counting
    from qupsample.files import write_output
    from qupsample.priors import compute_priors, format_priors
    from qupsample.specs import command_inputs, open_project

    counting = Counting(**storage.kwargs())
    inputs = command_inputs([config], open_project(root))
    if output is not None:
        inputs.check(output)  # before any listing: nothing is counted for nothing
    warnings: list[str] = []
    with _progress(False) as progress:
        counts = compute_priors(
            config,
            progress=progress,
            root=root,
            warnings=warnings,
            family=family,
            **counting.listing_kwargs(),
        )
    text = format_priors(counts)
    for warning in warnings:
        typer.echo(f"warning: {_line(warning)}", err=True)
    if output is None:
        sys.stdout.write(text)
    else:
        write_output(output, text, inputs)
        typer.echo(f"wrote {output} ({len(counts)} leaves)", err=True)


@command("Convert configs to current olmix's launch form (or --to another).")
@with_storage()
def convert(
    configs: ConfigsArgument,
    output: ConvertOutputOption = None,
    out: ConvertOutOption = None,
    to: ConvertToOption = Dialect.LAUNCH,
    keep_zero: KeepZeroOption = False,
    family: FamilyOption = None,
    root: RootOption = None,
    storage: StorageArgs = NO_STORAGE,
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
        family=family,
        **storage.kwargs(),
    )
    for converted, path in written:
        if path is None:
            sys.stdout.write(converted.text)
        else:
            typer.echo(f"wrote {path} ({converted.source}, {converted.form} -> {to})", err=True)
        if converted.dropped:
            typer.echo(
                f"warning: {_line(converted.source)}: not carried over to the {to} form:"
                f" {', '.join(map(_line, converted.dropped))}",
                err=True,
            )


@command("Start a project of your own in DIR.")
def init(
    folder: InitFolderArgument = Path(),
) -> None:
    """Start a project: the built-in specs and templates, a Makefile and a pre-commit hook."""
    from qupsample.scaffold import init_project

    for path in init_project(folder):
        typer.echo(f"created {path}", err=True)
    where = "" if folder == Path() else f"cd {folder} && "
    typer.echo(f"next: {where}qupsample generate   (then edit schemes/ and run it again)", err=True)


@command("A synthetic corpus with the real layout, and a config resolved on it.")
def demo(
    folder: DemoFolderArgument = Path("demo"),
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
    elif format_ is Format.csv_leaves:
        sys.stdout.write(mix.to_csv("leaves"))
    elif format_ is Format.mix:
        sys.stdout.write(mix.to_mix_block())
    else:
        _print_table(mix)


def _print_table(mix: Mix) -> None:
    from qupsample.tables import mix_table

    sys.stdout.write(mix_table(mix, _width()))
