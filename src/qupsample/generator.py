"""Generate every family's configs, README and launch script into `generated/`.

Everything is rendered and validated in memory first; only then are files written,
each atomically, so an error leaves the output folder as it was.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qupsample.build import OUTPUT_DIR, Target, apply_overrides
from qupsample.counts import Counting
from qupsample.errors import Hint, UserError
from qupsample.files import Inputs, write_output
from qupsample.mixblock import rounding_note
from qupsample.priors import PriorsInput, priors_counts
from qupsample.renderer import find_template, render_target, render_template, uses_document
from qupsample.specmodels import Settings, vigintile_label
from qupsample.specs import (
    FamilySpecs,
    Project,
    ProjectInput,
    eval_suite_file,
    load_project,
    only_family,
)


@dataclass(frozen=True)
class OutputFile:
    """A file `generate` writes: its path inside the output folder and its bytes."""

    path: str
    content: str
    executable: bool = False


@dataclass
class GenerateReport:
    """What `generate` wrote or, with `check`, what differs from the specs."""

    out: Path
    project: str = ""
    warnings: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    # Files no spec writes that generate leaves alone (not named as it names files, or
    # outside every family's folder): `check` fails on them until they are removed.
    unexpected: list[str] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        """Whether the output folder differs from what the specs produce."""
        return bool(self.stale or self.missing or self.orphaned or self.unexpected)


SWEEP_DIR = "sweeps"


@dataclass(frozen=True)
class Variant:
    """One set of settings to generate: the plain run, or one value of a sweep."""

    settings: Settings
    data_root: str
    folder: str = ""
    suffix: str = ""
    prefix: str = OUTPUT_DIR
    base: str = ""


def family_targets(family: FamilySpecs, variant: Variant, form_index: int = 0) -> list[Target]:
    """Every config of a family's form for one variant, profile by profile, in name order."""
    return [
        Target(
            family,
            s,
            p,
            variant=variant.folder,
            suffix=variant.suffix,
            prefix=variant.prefix,
            base=variant.base,
            form_index=form_index,
        )
        for p in family.profiles
        for s in family.schemes
    ]


def sweep_variants(
    project: Project,
    overrides: Mapping[str, Any] | None,
    key: str,
    values: Sequence[str],
    prefix: str,
    *,
    base: str = "",
    where: str = "--sweep",
) -> list[Variant]:
    """One variant per value of `key`, each in its own sub-folder `KEY-VALUE`."""
    if not values or any(not v for v in values):
        raise UserError(
            "needs values", where=where, field=key, fix="e.g. --sweep chinchilla_multiple=0.5,1,2"
        )
    if len(set(values)) != len(values):
        raise UserError("a value is listed twice", where=where, field=key)
    variants = []
    for value in values:
        settings, data_root = apply_overrides(
            project, {**(overrides or {}), key: value}, where=where
        )
        safe = value.replace("/", "_")
        variants.append(Variant(settings, data_root, f"{key}-{safe}", safe, prefix, base))
    return variants


def declared_variants(
    project: Project, family: FamilySpecs, overrides: Mapping[str, Any] | None, prefix: str
) -> list[Variant]:
    """The family's declared sweeps (`sweeps:` in its spec), under `sweeps/`."""
    return [
        variant
        for key, values in family.spec.sweeps.items()
        for variant in sweep_variants(
            project, overrides, key, values, prefix, base=SWEEP_DIR, where=f"{family.file}: sweeps"
        )
    ]


def _weight_cell(weight: float | None) -> str:
    return "included" if weight is None else str(weight)


def _family_context(
    project: Project, family: FamilySpecs, targets: list[Target], variant: Variant
) -> dict[str, Any]:
    schemes = list(family.schemes.values())
    bucket_names = list(dict.fromkeys(b for s in schemes for b in s.spec.buckets))
    bucket_rows = []
    for name in bucket_names:
        present = [s.spec.buckets[name] for s in schemes if name in s.spec.buckets]
        vigintiles = dict.fromkeys(
            ", ".join(map(vigintile_label, bucket.members)) for bucket in present
        )
        bucket_rows.append(
            {
                "name": name,
                "vigintiles": " / ".join(vigintiles),
                "weights": [
                    _weight_cell(s.spec.buckets[name].weight) if name in s.spec.buckets else "-"
                    for s in schemes
                ],
            }
        )
    columns: dict[str, None] = {}
    for profile in family.profiles.values():
        for source_name, source in profile.spec.sources.items():
            columns[source_name] = None
            for topic in source.topics or {}:
                columns[f"{source_name}:{topic}"] = None

    def profile_weight(profile_sources: Mapping[str, Any], column: str) -> str:
        source_name, _, topic = column.partition(":")
        source = profile_sources.get(source_name)
        if source is None:
            return "-"
        if not topic:
            return _weight_cell(source.weight)
        spec = (source.topics or {}).get(topic)
        return "-" if spec is None else _weight_cell(spec.weight)

    return {
        "family": {
            "name": family.name,
            "file": family.file,
            "description": family.spec.description,
            "output": family.spec.output,
        },
        "layout": project.layout,
        "data_root": variant.data_root,
        "layout_file": "schemes/layout.yaml",
        "schemes": [
            {"name": s.name, "file": s.file, "description": s.spec.description} for s in schemes
        ],
        "bucket_rows": bucket_rows,
        "profile_columns": list(columns),
        "profiles": [
            {
                "name": p.name,
                "file": p.file,
                "description": p.spec.description,
                "weights": [profile_weight(p.spec.sources, c) for c in columns],
            }
            for p in family.profiles.values()
        ],
        "configs": [
            {
                "profile": t.profile,
                "scheme": t.scheme,
                "path": t.path.removeprefix(f"{t.folder}/"),
                "name": t.config_name,
            }
            for t in targets
        ],
        "settings": list(variant.settings.model_dump(exclude_none=True).items()),
    }


def plan_outputs(
    project: Project,
    variants: Callable[[FamilySpecs], Sequence[Variant]],
    keep_zero: bool = False,
    *,
    template: str | None = None,
    counting: Counting | None = None,
    warnings: list[str] | None = None,
) -> list[OutputFile]:
    """Render every file of every family, form and variant, in memory, in a fixed order.

    `variants` gives each family's variants. `template` replaces each family's own
    template (its first form), not `also` forms.
    """
    files: list[OutputFile] = []
    for family in project.families.values():
        forms = family.spec.outputs
        for index, form in enumerate(forms):
            chosen = find_template(project, template if template and index == 0 else form.template)
            launch = uses_document(project, chosen)
            for variant in variants(family):
                targets = family_targets(family, variant, index)
                for target in targets:
                    text = render_target(
                        project,
                        target,
                        variant.settings,
                        variant.data_root,
                        keep_zero,
                        template=chosen,
                        counting=counting,
                        warnings=warnings,
                    )
                    files.append(OutputFile(target.path, text))
                context = _family_context(project, family, targets, variant)
                folder = targets[0].folder
                depth = folder.count("/") + 1
                context |= {
                    "launch": launch,
                    "eval_file": eval_suite_file(project, family.spec.eval),
                    "rounding": rounding_note(),
                    "siblings": [
                        {
                            "output": other.output,
                            "path": "../" * depth + other.output,
                            "launch": uses_document(
                                project, find_template(project, other.template)
                            ),
                        }
                        for other in forms
                        # The plan-era README stays as the plan wrote it.
                        if other is not form and index > 0 and not variant.folder
                    ],
                }
                for name, template_name, executable in (
                    ("README.md", form.readme_template, False),
                    ("batch_run.sh", form.batch_template, True),
                ):
                    text = render_template(project, template_name, context)
                    files.append(OutputFile(f"{folder}/{name}", text, executable))
    return files


def _is_current(path: Path, file: OutputFile) -> bool:
    try:
        # Only a regular file is read: a FIFO there would block the read for good.
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        if path.read_bytes() != file.content.encode("utf-8"):
            return False
    except OSError:
        return False
    return bool(path.stat().st_mode & 0o100) == file.executable


def generate(
    out: Path | str | None = None,
    *,
    root: ProjectInput = None,
    overrides: Mapping[str, Any] | None = None,
    keep_zero: bool = False,
    check: bool = False,
    sweep: tuple[str, Sequence[str]] | None = None,
    template: str | None = None,
    offline: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    family: str | None = None,
    priors: PriorsInput | None = None,
    cache: bool = True,
    refresh: bool = False,
    cache_dir: Path | str | None = None,
) -> GenerateReport:
    """Generate every family's configs, README.md and batch_run.sh.

    Args:
        out: the output folder; default `generated/` in the project root.
        root: the project (see `qupsample.specs.open_project`).
        overrides: settings or `data_root` to override in every config.
        keep_zero: write weight-0 buckets explicitly instead of omitting them.
        check: write nothing; report stale, missing and orphaned files instead.
        sweep: `(key, values)`: one config per value of a setting (or data_root), each
            family into `<out>/<family>/<key>-<value>/`, names suffixed with the value;
            `out` defaults to `generated/sweeps/`.
        template: a template of `templates/` instead of each family's own, e.g.
            "olmix-launch".
        offline: for current-olmix templates, list no storage.
        storage_options: s3fs options, where a `mix:` block needs token counts.
        family: generate this family only.
        priors: token counts per leaf (a mapping or a priors file) for `mix:` blocks.
        cache, refresh, cache_dir: the token-count cache, as in `resolve`.

    Returns:
        A report of the files written (or, with `check`, the differences found). Files in
        a family's output folder that the specs no longer produce are orphans: `check`
        lists them and a normal run removes them.
    """
    project = only_family(load_project(root), family, "generate")
    folder = _output_folder(project, out, sweep)
    # The usage line of each file shows where it really is: generated/... in the
    # project, else the --out folder as given.
    shown = OUTPUT_DIR if out is None else Path(out).as_posix()
    variants = _variants(project, overrides, sweep, shown)
    warnings: list[str] = []
    files = plan_outputs(
        project,
        variants,
        keep_zero,
        template=template,
        counting=Counting(
            storage_options, offline, priors_counts(priors), cache, refresh, cache_dir
        ),
        warnings=warnings,
    )
    report = GenerateReport(folder, project.describe(), warnings=warnings)
    expected = {file.path for file in files}
    inputs = Inputs([*project.inputs, priors if isinstance(priors, str | Path) else None])
    for file in files:
        _inside(folder, file.path)
        inputs.check(folder / file.path)
    owned = _owned_folders(project, variants)
    if out is None:
        owned = sorted({*owned, *_former_sweeps(folder, project)})
    _find_strays(report, owned, expected, whole=out is None and family is None)
    _apply(report, files, owned, check, inputs)
    return report


def _apply(
    report: GenerateReport,
    files: Sequence[OutputFile],
    owned: Sequence[str],
    check: bool,
    inputs: Inputs,
) -> None:
    """Write what differs and remove the orphans (with `check`, only report them)."""
    folder = report.out
    for file in files:
        path = folder / file.path
        if _is_current(path, file):
            report.unchanged.append(file.path)
        elif check:
            (report.stale if path.exists() else report.missing).append(file.path)
        else:
            write_output(path, file.content, inputs, executable=file.executable, follow=False)
            report.written.append(file.path)
    if not check:
        for relative in report.orphaned:
            (folder / relative).unlink()
        for relative_dir in owned:
            _remove_empty_dirs(folder / relative_dir)
            _remove_empty_parents(folder, relative_dir)


def _output_folder(
    project: Project, out: Path | str | None, sweep: tuple[str, Sequence[str]] | None
) -> Path:
    """Where generate writes: `out`, else the project's generated/ (never built-in specs)."""
    if out is None and project.builtin:
        raise UserError(
            f"no qupsample project at or above {Path.cwd()} (only the built-in specs),"
            " and generate never writes into them",
            Hint("or pass {}", "--out DIR", 'out="DIR"'),
            where="generate",
            fix="run `qupsample init` to start a project here",
        )
    generated = (project.root / OUTPUT_DIR).resolve()
    within = out is None or _within(Path(out).resolve(), generated)
    if sweep is not None and within and not project.builtin:
        raise UserError(
            f"a sweep in {OUTPUT_DIR}/ must be declared, so that `generate --check` sees it",
            Hint("or write this one elsewhere with {}", "--out DIR", 'out="DIR"'),
            where="generate --sweep",
            field=sweep[0],
            fix=f"declare it in the family spec (`sweeps: {{{sweep[0]}: [V1, V2]}}`:"
            f" `generate` then writes it to {OUTPUT_DIR}/{SWEEP_DIR}/)",
        )
    folder = Path(out) if out is not None else project.root / OUTPUT_DIR
    if folder.exists() and not folder.is_dir():
        raise UserError(
            "is not a folder",
            Hint("pass a folder with {}", "--out DIR", 'out="DIR"'),
            where=str(folder),
        )
    return folder


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _variants(
    project: Project,
    overrides: Mapping[str, Any] | None,
    sweep: tuple[str, Sequence[str]] | None,
    shown: str,
) -> Callable[[FamilySpecs], list[Variant]]:
    """Each family's variants: an ad-hoc sweep's, else the plain run and its declared sweeps."""
    if sweep is not None:
        adhoc = sweep_variants(project, overrides, sweep[0], sweep[1], shown)
        return lambda family: adhoc
    plain = Variant(*apply_overrides(project, overrides), prefix=shown)
    declared = {
        name: declared_variants(project, family, overrides, shown)
        for name, family in project.families.items()
    }
    return lambda family: [plain, *declared[family.name]]


def _find_strays(
    report: GenerateReport, owned: Sequence[str], expected: set[str], whole: bool
) -> None:
    """Files no spec writes: in the folders this run owns, and (`whole`: the project's
    generated/ holds only what generate writes) anywhere else under the output folder,
    such as a removed family's folder."""
    for relative_dir in owned:
        orphans, unexpected = _strays(report.out, relative_dir, expected)
        report.orphaned += orphans
        report.unexpected += unexpected
    if whole:
        report.unexpected += _outside(report.out, owned)


def _former_sweeps(folder: Path, project: Project) -> list[str]:
    """The value folders under generated/sweeps/<form>/ of each family: a sweep whose
    values changed leaves them, and generate cleans them like any form folder."""
    found = []
    for family in project.families.values():
        for form in family.spec.outputs:
            base = folder / SWEEP_DIR / form.output
            if base.is_dir() and not base.is_symlink() and not (folder / SWEEP_DIR).is_symlink():
                found += [
                    f"{SWEEP_DIR}/{form.output}/{child.name}"
                    for child in sorted(base.iterdir())
                    if child.is_dir() and not child.is_symlink()
                ]
    return found


def _owned_folders(project: Project, variants: Callable[[FamilySpecs], list[Variant]]) -> list[str]:
    """The folders this run owns: a sweep owns its value folders only, so sweeps of other
    keys beside it are not orphans."""
    return sorted(
        {
            "/".join(part for part in (variant.base, form.output, variant.folder) if part)
            for family_specs in project.families.values()
            for form in family_specs.spec.outputs
            for variant in variants(family_specs)
        }
    )


def _inside(folder: Path, relative: str) -> None:
    """Refuse to write or delete through a symbolic link below the output folder.

    Every folder between `folder` and the file must be a real folder (or not exist yet),
    so nothing generate writes or removes can land outside `folder`.
    """
    current = folder
    for part in relative.split("/")[:-1]:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            what = "is a symbolic link" if current.is_symlink() else "is not a folder"
            raise UserError(
                f"{what}; generate writes only inside {folder}",
                Hint("or pass another {}", "--out DIR", 'out="DIR"'),
                where=str(current),
                fix="remove it, or generate elsewhere",
            )


def _strays(folder: Path, relative_dir: str, expected: set[str]) -> tuple[list[str], list[str]]:
    """Files of a form's folder that no spec produces: (orphans, unexpected).

    Orphans are regular files named as generate names them (`<profile>/<scheme>.yaml`,
    `README.md`, `batch_run.sh`): a normal run removes them. Anything else is unexpected:
    never removed, only reported. Links are never followed or removed.
    """
    _inside(folder, f"{relative_dir}/x")
    base = folder / relative_dir
    if not base.is_dir():
        return [], []
    orphans, unexpected = [], []
    for current, folders, names in os.walk(base, followlinks=False):
        depth = len(Path(current).relative_to(base).parts)
        folders.sort()
        for name in sorted([*names, *(f for f in folders if (Path(current) / f).is_symlink())]):
            path = Path(current) / name
            relative = path.relative_to(folder).as_posix()
            if relative in expected:
                continue
            ours = (depth == 0 and name in _FAMILY_FILES) or (depth == 1 and name.endswith(".yaml"))
            if ours and not path.is_symlink() and path.is_file():
                orphans.append(relative)
            else:
                unexpected.append(relative)
    return orphans, unexpected


def _outside(folder: Path, owned: Sequence[str]) -> list[str]:
    """Files under the output folder outside every folder this run owns."""
    if not folder.is_dir():
        return []
    found = []
    for current, folders, names in os.walk(folder, followlinks=False):
        here = Path(current).relative_to(folder).as_posix()
        inside = here != "." and any(here == o or here.startswith(f"{o}/") for o in owned)
        if inside:
            folders[:] = []
            continue
        folders.sort()
        for name in sorted(names):
            found.append((Path(current) / name).relative_to(folder).as_posix())
    return found


_FAMILY_FILES = frozenset({"README.md", "batch_run.sh"})


def _remove_empty_parents(folder: Path, relative_dir: str) -> None:
    """Remove the folders between `folder` and a removed form folder that are now empty."""
    parent = (folder / relative_dir).parent
    while parent != folder and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _remove_empty_dirs(folder: Path) -> None:
    """Remove the empty profile folders generate left, then the form's folder if empty."""
    if folder.is_symlink() or not folder.is_dir():
        return
    for child in sorted(folder.iterdir()):
        if child.is_dir() and not child.is_symlink() and not any(child.iterdir()):
            child.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
