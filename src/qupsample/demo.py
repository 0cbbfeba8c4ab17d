"""A small synthetic corpus with the real layout, so `resolve` shows real numbers offline.

Every source of `schemes/layout.yaml` gets folders as its path pattern lays them out:
one per topic (the union of the profiles' topics) and existing vigintile, each with a
few `.npy` token files of varied sizes plus non-`.npy` sidecars that globs must skip.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qupsample.files import write_atomic
from qupsample.renderer import render
from qupsample.resolve import Mix, resolve
from qupsample.specmodels import DTYPE_SIZES, placeholders, vigintile_label
from qupsample.specs import Project, ProjectInput, load_project

DEMO_SCHEME = "gradual"
DEMO_PROFILE = "heavy_code"
# The demo trains on this share of the largest budget its corpus can feed.
DEMO_BUDGET_SHARE = 0.8


@dataclass(frozen=True)
class DemoCorpus:
    """What `write_demo_corpus` wrote."""

    data_root: Path
    folders: int
    files: int
    tokens: int


def _folders(project: Project, data_root: Path) -> list[Path]:
    topics = sorted(
        {
            topic
            for family in project.families.values()
            for profile in family.profiles.values()
            for source in profile.spec.sources.values()
            for topic in source.topics or {}
        }
    )
    numbering = project.layout.vigintiles
    vigintiles = [v for v in range(numbering.first, numbering.last + 1) if numbering.exists(v)]
    folders = []
    for pattern in project.layout.sources.values():
        fields = placeholders(pattern)
        folder_pattern = str(PurePosixPath(pattern).parent)
        for topic in topics if "topic" in fields else [""]:
            for vigintile in vigintiles if "vigintile" in fields else [0]:
                relative = folder_pattern.format(
                    data_root="", topic=topic, vigintile=vigintile_label(vigintile)
                )
                folders.append(data_root / relative.lstrip("/"))
    return folders


def write_demo_corpus(data_root: Path, *, root: ProjectInput = None, seed: int = 0) -> DemoCorpus:
    """Write the synthetic corpus under `data_root` (deterministic for a seed)."""
    project = load_project(root)
    itemsize = DTYPE_SIZES["uint32"]
    rng = random.Random(seed)
    files = tokens = 0
    folders = _folders(project, data_root)
    for folder in folders:
        for part in range(rng.randint(2, 5)):
            count = rng.randint(2_000, 20_000)
            write_atomic(folder / f"part-{part:05d}.npy", bytes(count * itemsize))
            write_atomic(folder / f"part-{part:05d}.npy.json", f'{{"tokens": {count}}}\n')
            files += 1
            tokens += count
        write_atomic(folder / "_metadata.json", '{"demo": true}\n')
    return DemoCorpus(data_root, len(folders), files, tokens)


def run_demo(folder: Path | str, *, root: ProjectInput = None) -> tuple[DemoCorpus, Path, Mix]:
    """Write the corpus, render a config retargeted to it, and resolve it.

    The budget is set to 80% of the largest the small corpus can feed without repeating
    any leaf beyond its limit, so the demo shows a feasible mix.
    """
    folder = Path(folder).resolve()
    project = load_project(root)
    corpus = write_demo_corpus(folder / "data", root=project)
    text = render(
        DEMO_SCHEME, DEMO_PROFILE, root=project, overrides={"data_root": str(corpus.data_root)}
    )
    config = folder / f"{DEMO_PROFILE}-{DEMO_SCHEME}.yaml"
    write_atomic(config, text)
    largest = resolve(config, root=project, cache=False).max_training_tokens or 0
    budget = max(1, int(largest * DEMO_BUDGET_SHARE) // 1000 * 1000)
    return corpus, config, resolve(config, root=project, cache=False, training_tokens=budget)
