"""`qupsample init`: a researcher's own spec repo, ready for `qupsample generate`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qupsample.errors import UserError
from qupsample.specs import SCHEMES_DIR, TEMPLATES_DIR, builtin_root

MAKEFILE = """\
# A qupsample project: specs in schemes/, templates in templates/, configs in generated/.
#   make generate   write every config (and each family's README.md and batch_run.sh)
#   make check      fail when generated/ is out of date with the specs
QUPSAMPLE ?= qupsample

.PHONY: generate check

generate:
\t$(QUPSAMPLE) generate

check:
\t$(QUPSAMPLE) generate --check
"""

README = """\
# Quality-upsampling experiments

Weighting schemes and topic profiles as small YAML specs (`schemes/`), expanded by
qupsample into olmix configs (`generated/`).

```bash
make generate   # or: qupsample generate
make check      # or: qupsample generate --check (the pre-commit hook runs it)
```

Add a scheme: a file in `schemes/weighting/`; a profile: a file in `schemes/profiles/`;
then `make generate`. `qupsample list` shows what the project holds, and
`qupsample resolve generated/<family>/<profile>/<scheme>.yaml` what a config samples.
"""

PRE_COMMIT = """\
# Refuse commits whose generated/ configs are out of date with the specs.
repos:
  - repo: local
    hooks:
      - id: qupsample-check
        name: qupsample generate --check
        entry: qupsample generate --check
        language: system
        pass_filenames: false
        files: ^(schemes|templates|generated)/
"""

FILES = {"Makefile": MAKEFILE, "README.md": README, ".pre-commit-config.yaml": PRE_COMMIT}


def init_project(folder: Path | str) -> list[Path]:
    """Create a project in `folder`: the built-in specs and templates, a Makefile, a README
    and a pre-commit config. Everything is staged first and moved into place at the end.

    Returns:
        The paths created, in order.

    Raises:
        UserError: `folder` is a file, or already holds any of the paths to create
            (nothing is overwritten).
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise UserError("is a file", where=str(target), fix="pass a folder for the project")
    names = [SCHEMES_DIR, TEMPLATES_DIR, "generated", *FILES]
    for name in names:
        if (target / name).exists() or (target / name).is_symlink():
            raise UserError(
                "already exists; init never overwrites a project",
                where=str(target / name),
                fix="choose an empty folder, e.g. `qupsample init my-experiments`",
            )
    source = builtin_root()
    try:
        target.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=target, prefix=".qupsample-init-"))
    except OSError as exc:
        raise UserError(f"cannot create: {exc.strerror or exc}", where=str(target)) from None
    created: list[Path] = []
    try:
        for name in (SCHEMES_DIR, TEMPLATES_DIR):
            shutil.copytree(
                source / name, stage / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        for name, text in FILES.items():
            (stage / name).write_text(text, encoding="utf-8")
        for name in (SCHEMES_DIR, TEMPLATES_DIR, *FILES):
            (stage / name).rename(target / name)
            created.append(target / name)
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror or exc}", where=str(target)) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return created


__all__ = ["init_project"]
