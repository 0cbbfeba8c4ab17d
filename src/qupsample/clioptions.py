"""The command line's shared options, declared once: what several commands take.

`with_storage` adds the storage and cache options (where token counts come from) to a
command and hands it one `StorageArgs`, so no command lists or forwards them by hand.
Typer only: nothing here loads the library at start-up.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from qupsample.errors import UserError
from qupsample.forms import Dialect

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
FamilyOption = Annotated[
    str | None,
    typer.Option(
        "--family",
        metavar="NAME",
        help="Family a SCHEME:PROFILE pair is built from, where the pair is in several.",
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


StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit 1 on any warning: what olmix would silently drop, ignore or refuse (a data "
        "leaf missing from the mix or at 0, a mix entry naming no leaf, weights not summing "
        "to 1, data weights that differ, fields olmix ignores, no mix: or eval:, a tokenizer "
        "or model the trainer rejects), or counts that match no leaf.",
    ),
]
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


# How every -o FILE is written (files.write_output): the one rule, said once.
OUTPUT_RULE = (
    "atomically; a FIFO or device is written into, a symbolic link is followed (its target "
    "is written); never an input file"
)


# --- options of one command ----------------------------------------------------------


class Format(StrEnum):
    """Output formats of `resolve`."""

    table = "table"
    json = "json"
    csv = "csv"
    csv_leaves = "csv-leaves"
    mix = "mix"


class LintFormat(StrEnum):
    """Output formats of `lint`."""

    text = "text"
    json = "json"
    github = "github"


class DiffFormat(StrEnum):
    """Output formats of `diff`."""

    table = "table"
    json = "json"


RenderOutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        help=f"Write to this file instead of stdout: {OUTPUT_RULE}.",
    ),
]
RenderFamilyOption = Annotated[
    str | None,
    typer.Option("--family", metavar="NAME", help="Family, where the pair is in several."),
]
GenerateOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        help="Output folder [default: generated/ in the project]. A file there that is "
        "an input (spec, template, --priors), a symbolic link or a special file is never "
        "replaced.",
    ),
]
GenerateCheckOption = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Write nothing; list stale, missing, orphaned and unexpected files (anything "
        "generate would not write byte for byte) and exit 1 if any.",
    ),
]
GenerateSweepOption = Annotated[
    str | None,
    typer.Option(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help="One config per value of a setting, e.g. proxy_model_id=olmo3_14m,olmo3_60m: "
        "each into <form>/<KEY>-<V>/ under --out DIR, names suffixed with V (a sweep that "
        "lives in generated/ is declared in its family spec: sweeps:).",
    ),
]
GenerateFamilyOption = Annotated[
    str | None,
    typer.Option("--family", metavar="NAME", help="Generate this family only [default: all]."),
]
ResolveFormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="table, json, csv (path rows), csv-leaves (leaf rows: weight, tokens,"
        " requested tokens, repetition) or mix.",
    ),
]
ResolveTrainingTokensOption = Annotated[
    int | None,
    typer.Option(
        "--training-tokens",
        metavar="N",
        min=1,
        max=10**18,
        help="Training budget in tokens [default: the config's max_tokens, else what the "
        "trainer trains: 20 x non-embedding parameters(model, tokenizer) x "
        "chinchilla_multiple].",
    ),
]
ResolveAllowRepetitionOption = Annotated[
    bool,
    typer.Option(
        "--allow-repetition", help="Exit 0 even when a leaf is over its repetition limit."
    ),
]
ResolveQuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar and no warnings.")
]
LintPathsArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="CONFIG",
        help="Config files and folders (searched for *.yaml and *.yml) [default: .].",
        show_default=False,
    ),
]
LintFormatOption = Annotated[
    LintFormat,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="text (path:line:col: CODE message), json or github (workflow annotations).",
    ),
]
LintSelectOption = Annotated[
    list[str] | None,
    typer.Option(
        "--select", metavar="CODES", help="Report only these codes or families, e.g. M,T003."
    ),
]
LintIgnoreOption = Annotated[
    list[str] | None,
    typer.Option("--ignore", metavar="CODES", help="Do not report these codes or families."),
]
LintPriorsOption = Annotated[
    Path | None,
    typer.Option(
        "--priors",
        metavar="FILE",
        dir_okay=False,
        help="Token counts per leaf (qupsample priors, olmix priors compute) for every "
        "config: leaves over their repetition limit are findings.",
    ),
]
DiffFormatOption = Annotated[
    DiffFormat, typer.Option("--format", "-f", metavar="FORMAT", help="table or json.")
]
DiffTokensOption = Annotated[
    bool, typer.Option("--tokens", help="Also compare each leaf's tokens (lists storage).")
]
PlotOutputOption = Annotated[
    Path,
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        help=f"The picture to write, FILE.png or FILE.svg: {OUTPUT_RULE}.",
    ),
]
PlotTitleOption = Annotated[
    str | None, typer.Option("--title", metavar="TITLE", help="Title above the bars.")
]
PriorsOutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        dir_okay=False,
        help=f"Write to this file: {OUTPUT_RULE}.",
    ),
]
ConvertOutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        dir_okay=False,
        help=f"Write the one converted config to this file: {OUTPUT_RULE}.",
    ),
]
ConvertOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        file_okay=False,
        help="Write each converted config to DIR/<name>.yaml (never over an input).",
    ),
]
ConvertToOption = Annotated[
    Dialect,
    typer.Option(
        "--to",
        metavar="FORM",
        help="launch (current olmix, with mix:), generation (data, priors, swarm) or flat.",
    ),
]
InitFolderArgument = Annotated[
    Path,
    typer.Argument(metavar="DIR", help="Folder for the new project.", file_okay=False),
]
DemoFolderArgument = Annotated[
    Path,
    typer.Argument(
        metavar="DIR", help="Folder for the synthetic corpus and config.", file_okay=False
    ),
]


@dataclass(frozen=True)
class StorageArgs:
    """The storage and cache options as given on the command line."""

    priors: Path | None = None
    offline: bool = False
    refresh: bool = False
    no_cache: bool = False
    cache_dir: Path | None = None
    endpoint_url: str | None = None
    aws_profile: str | None = None
    anon: bool = False
    max_attempts: int | None = None
    deadline: float | None = None

    def kwargs(self) -> dict[str, Any]:
        """The library's keyword arguments: storage_options, offline, priors, cache..."""
        from qupsample.cache import cache_folder

        options: dict[str, Any] = {
            key: value
            for key, value in (
                ("endpoint_url", self.endpoint_url),
                ("profile", self.aws_profile),
                ("anon", self.anon or None),
                ("max_attempts", self.max_attempts),
                ("deadline", self.deadline),
            )
            if value is not None
        }
        return {
            "storage_options": options,
            "offline": self.offline,
            "priors": self.priors,
            "cache": not self.no_cache,
            "refresh": self.refresh,
            "cache_dir": cache_folder(self.cache_dir, "--cache-dir") if self.cache_dir else None,
        }


NO_STORAGE = StorageArgs()  # a command's default; `with_storage` always passes its own

# Each storage option's parameter name and declaration, in the order help shows them.
_STORAGE: tuple[tuple[str, Any, Any], ...] = (
    ("priors", PriorsOption, None),
    ("offline", OfflineOption, False),
    ("refresh", RefreshOption, False),
    ("no_cache", NoCacheOption, False),
    ("cache_dir", CacheDirOption, None),
    ("endpoint_url", EndpointOption, None),
    ("aws_profile", ProfileOption, None),
    ("anon", AnonOption, False),
    ("max_attempts", MaxAttemptsOption, None),
    ("deadline", DeadlineOption, None),
)
F = TypeVar("F", bound=Callable[..., Any])


def with_storage(*, counts: bool = True) -> Callable[[F], F]:
    """Give a command the storage options (before `--root`) as one `storage` argument.

    `counts=False` leaves out --priors and --offline, for a command that always lists.
    """

    def decorate(command: F) -> F:
        hints = get_type_hints(command, include_extras=True)
        own = [
            parameter.replace(annotation=hints[parameter.name])
            for parameter in inspect.signature(command).parameters.values()
            if parameter.name != "storage"
        ]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=annotation)
            for name, annotation, default in _STORAGE
            if counts or name not in ("priors", "offline")
        ]  # fmt: skip
        at = next((i for i, p in enumerate(own) if p.name == "root"), len(own))
        parameters = [
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.default is not p.empty else p
              for p in own[:at]),
            *added,
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own[at:]),
        ]  # fmt: skip
        names = {name for name, _, _ in _STORAGE}

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            given = {key: kwargs.pop(key) for key in list(kwargs) if key in names}
            return command(*args, storage=StorageArgs(**given), **kwargs)

        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run  # type: ignore[return-value]

    return decorate


def parse_set(items: list[str] | None) -> dict[str, str]:
    """`--set KEY=VALUE` items as a mapping."""
    found: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set: {item!r}: expected KEY=VALUE — e.g. --set seed=7")
        found[key.strip()] = value
    return found


def parse_sweep(item: str | None) -> tuple[str, list[str]] | None:
    """`--sweep KEY=V1,V2,...` as (key, values)."""
    if item is None:
        return None
    key, sep, values = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--sweep: {item!r}: expected KEY=V1,V2,... — e.g. --sweep seed=1,2,3")
    return key.strip(), [v.strip() for v in values.split(",")]
