"""The `qupsample` command: parse, make one library call, print. No logic here."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from qupsample.errors import QupsampleError, UserError

EXIT_CODES = """\
Exit codes: 0 ok; 1 differences found (generate --check); 2 user error (one line on
stderr: error: <file>: <field>: <what> — <how to fix>); 3 mix not feasible (a leaf
over its max_repetition_factor); 70 internal error (a traceback: please report it)."""


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
            raise
        except Exception:
            traceback.print_exc()
            typer.echo("internal error: this is a bug in qupsample, please report it", err=True)
            raise typer.Exit(70) from None


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
    scheme: Annotated[str, typer.Argument(help="Scheme name, e.g. aggressive.")],
    profile: Annotated[str, typer.Argument(help="Profile name, e.g. heavy_code.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file (atomically) instead of stdout."),
    ] = None,
    set_: SetOption = None,
    keep_zero: KeepZeroOption = False,
    family: Annotated[
        str | None, typer.Option(help="Family, where the pair is in several.")
    ] = None,
    root: RootOption = None,
) -> None:
    """Print the olmix launch config of SCHEME x PROFILE (the bytes generate writes)."""
    from qupsample.render import render as render_config

    text = render_config(
        scheme,
        profile,
        root=root,
        overrides=_overrides(set_),
        keep_zero=keep_zero,
        family=family,
        out=output,
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
    root: RootOption = None,
) -> None:
    """Write every family's configs, README.md and batch_run.sh."""
    from qupsample.generate import generate as generate_all

    report = generate_all(
        out, root=root, overrides=_overrides(set_), keep_zero=keep_zero, check=check
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


def main() -> None:
    """Entry point of the `qupsample` command."""
    app()
