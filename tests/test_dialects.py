"""Every olmix dialect read offline: hand-written flat, launch and generation configs.

Each config is written inline and resolved twice, through `qupsample resolve --offline`
and through `qupsample.resolve.resolve(..., offline=True)`; expected weights are worked
out by hand next to each config. Then olmix's flatten rule, the four mix/data
mismatch warnings, form detection, and a sweep of hostile inputs (no exit 70).
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent
from typing import Any, NamedTuple

import pytest
import typer.main
import typer.testing
import yaml
from helpers import assert_one_error_line, invoke
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qupsample.cli import app
from qupsample.dialects import FORMS, Dialect, detect_dialect, load_config
from qupsample.errors import SpecError, UserError
from qupsample.mixblock import MixLeaf, flatten_mix
from qupsample.resolve import resolve

# int(20 x 13,895,808 non-embedding parameters x 0.5): what the trainer trains for
# olmo3_14m with dolma2, the budget of every launch and flat config below.
BUDGET = 138_958_080
INFRA = "infra: {budget: ai2/oe-base, workspace: ai2/oe-data, cluster: ai2/jupiter, gpus: 1}\n"
TRAINING = (
    "training: {proxy_model_id: olmo3_14m, tokenizer: dolma2, chinchilla_multiple: 0.5, seed: 42}\n"
)
EVAL = 'eval: {type: inloop, tasks: {math: {gsm8k: "eval/downstream/gsm8k (BPB v2)"}}}\n'
LAUNCH = INFRA + TRAINING + EVAL
FLAT = "proxy_model_id: olmo3_14m\ntokenizer: dolma2\nchinchilla_multiple: 0.5\n"
GENERATION = "swarm: {seed: 1, variants: 4}\nmax_tokens: 1000000\n"
# web: topics sci (buckets hi, lo) and code; wiki: plain paths. Used by many configs.
WEB_WIKI = """\
sources:
  - name: web
    topics:
      - name: sci
        quality:
          - {name: hi, paths: ["s3://b/web/sci/hi/*.npy"]}
          - {name: lo, paths: ["s3://b/web/sci/lo/*.npy"]}
      - name: code
        paths: ["s3://b/web/code/*.npy"]
  - name: wiki
    paths: ["s3://b/wiki/*.npy"]
"""


@pytest.fixture(scope="module", autouse=True)
def _one_click_command() -> Iterator[None]:
    """Builds the click command once: typer rebuilds it on every invoke (~40 ms)."""
    command = typer.main.get_command(app)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda _app: command)
        yield


def write(folder: Path, text: str | dict[str, Any], name: str = "config.yaml") -> Path:
    """Writes a config (YAML text, or data dumped as YAML) into `folder`."""
    path = folder / name
    if not isinstance(text, str):
        text = yaml.safe_dump(text, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def data_block(sources: str) -> str:
    """A `sources:` list indented under `data:` (the launch and generation forms)."""
    return "data:\n" + textwrap.indent(sources, "  ")


def one_error(code: int, stdout: str, stderr: str) -> str:
    """Asserts exit 2 with exactly one `error: ` line on stderr; returns that line."""
    assert code == 2, (code, stdout, stderr)
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def cli_leaves(path: Path, *extra: str) -> tuple[dict[str, Any], str]:
    """`resolve PATH --offline -f json`: the leaf rows by name (exit 0) and stderr."""
    code, stdout, stderr = invoke("resolve", str(path), "--offline", "-f", "json", *extra)
    assert code == 0, stderr
    return {row["leaf"]: row for row in json.loads(stdout)["leaves"]}, stderr


def close(got: dict[str, float | None], expected: dict[str, float]) -> None:
    """Same leaves in the same order, weights equal up to float rounding (1e-12)."""
    assert list(got) == list(expected)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@dataclass(frozen=True)
class Case:
    """A hand-written config and what it resolves to offline."""

    id: str
    text: str
    weights: dict[str, float]
    factors: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    mismatches: int = 0
    budget: int = BUDGET


def check_case(case: Case, tmp_path: Path, dialect: Dialect, notes: int = 0) -> None:
    """Resolves a case through the CLI and the API and compares both with the hand sums.

    `notes` counts what olmix would refuse or ignore beyond the case's own mismatches.
    """
    path = write(tmp_path, case.text)
    rows, stderr = cli_leaves(path)
    mix = resolve(path, offline=True)
    assert mix.dialect == dialect.value
    assert mix.training_tokens == case.budget
    close({row["leaf"]: row["weight"] for row in rows.values()}, case.weights)
    close({leaf.leaf: leaf.weight for leaf in mix.leaves}, case.weights)
    factors = dict.fromkeys(case.weights, 1.0) | case.factors
    assert {leaf.leaf: leaf.max_repetition_factor for leaf in mix.leaves} == factors
    assert {name: row["max_repetition_factor"] for name, row in rows.items()} == factors
    for leaf, count in case.tokens.items():
        assert rows[leaf]["tokens"] == count
    assert len(mix.mismatches) == case.mismatches + notes, mix.mismatches
    assert "error" not in stderr and "Traceback" not in stderr


# --------------------------------------------------------------------- flat (plan era)

FLAT_CASES = [
    Case(
        "paths-with-source-weights",
        FLAT
        + dedent("""
        name: f-paths
        sources:
          - {name: web, weight: 3, paths: [data/web/*.npy]}
          - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        """),
        {"web": 3 / 4, "wiki": 1 / 4},
    ),
    Case(
        "quality-weights-and-limits",
        FLAT
        + dedent("""
        name: f-quality
        sources:
          - name: web
            weight: 98
            quality:
              - {name: hi, weight: 0.7, paths: [data/web/hi/*.npy]}
              - {name: lo, weight: 0.3, paths: [data/web/lo/*.npy]}
          - {name: arxiv, weight: 1, max_repetition_factor: 1.5, paths: [data/arxiv/*.npy]}
          - {name: wiki, weight: 1, max_repetition_factor: 2.0, paths: [data/wiki/*.npy]}
        """),
        {"web:hi": 0.98 * 0.7, "web:lo": 0.98 * 0.3, "arxiv": 0.01, "wiki": 0.01},
        {"arxiv": 1.5, "wiki": 2.0},
    ),
    Case(
        "topics-with-paths",
        FLAT
        + dedent("""
        name: f-topics
        sources:
          - name: web
            weight: 4
            topics:
              - {name: sci, weight: 1, paths: [data/web/sci/*.npy]}
              - {name: code, weight: 3, paths: [data/web/code/*.npy]}
          - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        """),
        {"web:sci": 0.8 * 1 / 4, "web:code": 0.8 * 3 / 4, "wiki": 0.2},
    ),
    Case(
        "topics-with-quality",
        FLAT
        + dedent("""
        name: f-three-levels
        sources:
          - name: web
            weight: 1
            topics:
              - name: sci
                weight: 2
                quality:
                  - {name: hi, weight: 3, paths: ["s3://b/web/sci/hi/*.npy"]}
                  - {name: lo, weight: 1, paths: ["s3://b/web/sci/lo/*.npy"]}
              - {name: code, weight: 1, paths: ["s3://b/web/code/*.npy"]}
          - {name: wiki, weight: 1, paths: ["s3://b/wiki/*.npy"]}
        """),
        # web 1/2; sci 2/3 of it; hi 3/4 of sci.
        {"web:sci:hi": 1 / 4, "web:sci:lo": 1 / 12, "web:code": 1 / 6, "wiki": 1 / 2},
    ),
    Case(
        "zero-weight-subtree-needs-no-counts",
        FLAT
        + dedent("""
        name: f-zero-subtree
        sources:
          - {name: web, weight: 1, paths: [data/web/*.npy]}
          - name: books
            weight: 0
            quality:
              - {name: a, paths: [data/books/a/*.npy]}
              - {name: b, paths: [data/books/b/*.npy]}
        """),
        {"web": 1.0, "books:a": 0.0, "books:b": 0.0},
    ),
    Case(
        "priors-split-weightless-buckets",
        FLAT
        + dedent("""
        name: f-priors-buckets
        sources:
          - name: web
            weight: 1
            quality:
              - {name: hi, paths: [data/web/hi/*.npy]}
              - {name: lo, paths: [data/web/lo/*.npy]}
          - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        priors:
          token_counts: {"web:hi": 3000000000, "web:lo": 1000000000, wiki: 500000000}
        """),
        {"web:hi": 0.5 * 3 / 4, "web:lo": 0.5 * 1 / 4, "wiki": 0.5},
        tokens={"web:hi": 3_000_000_000, "web:lo": 1_000_000_000, "wiki": 500_000_000},
    ),
    Case(
        "priors-split-weightless-topics",
        FLAT
        + dedent("""
        name: f-priors-topics
        sources:
          - name: web
            weight: 3
            topics:
              - {name: sci, paths: [data/web/sci/*.npy]}
              - {name: code, paths: [data/web/code/*.npy]}
          - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        priors:
          token_counts: {"web:sci": 1000000000, "web:code": 3000000000, wiki: 1000000000}
        """),
        {"web:sci": 3 / 4 * 1 / 4, "web:code": 3 / 4 * 3 / 4, "wiki": 1 / 4},
    ),
    Case(
        "priors-split-weightless-sources",
        FLAT
        + dedent("""
        name: f-priors-sources
        sources:
          - name: web
            quality:
              - {name: hi, paths: [data/web/hi/*.npy]}
              - {name: lo, paths: [data/web/lo/*.npy]}
          - {name: wiki, paths: [data/wiki/*.npy]}
        priors:
          relative_sizes: {"web:hi": 0.25, "web:lo": 0.25, wiki: 0.5}
          token_counts: {"web:hi": 1000000000, "web:lo": 1000000000, wiki: 2000000000}
        """),
        # web has 2e9 of 4e9 tokens; its buckets split it 1:1.
        {"web:hi": 1 / 4, "web:lo": 1 / 4, "wiki": 1 / 2},
    ),
    Case(
        "inherited-max-repetition-factor",
        FLAT
        + dedent("""
        name: f-repetition
        sources:
          - name: web
            weight: 1
            max_repetition_factor: 2
            topics:
              - name: sci
                weight: 1
                quality:
                  - {name: hi, weight: 1, paths: [data/web/sci/hi/*.npy]}
                  - {name: lo, weight: 1, max_repetition_factor: 3, paths: [data/lo/*.npy]}
              - {name: code, weight: 1, paths: [data/web/code/*.npy]}
          - {name: wiki, weight: 2, paths: [data/wiki/*.npy]}
        """),
        {"web:sci:hi": 1 / 12, "web:sci:lo": 1 / 12, "web:code": 1 / 6, "wiki": 2 / 3},
        {"web:sci:hi": 2, "web:sci:lo": 3, "web:code": 2},
    ),
    Case(
        "mix-block-wins-not-renormalized",
        FLAT
        + dedent("""
        name: f-with-mix
        sources:
          - name: web
            weight: 1
            quality:
              - {name: hi, paths: [data/web/hi/*.npy]}
              - {name: lo, paths: [data/web/lo/*.npy]}
          - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        mix:
          web: {weight: 0.6, hi: 0.5, lo: {weight: 0.5, repetition_factor: 2}}
          wiki: 0.3
        """),
        # 0.9 in all: reported, not renormalized; the data's wiki 0.5 disagrees with 0.3.
        {"web:hi": 0.6 * 0.5, "web:lo": 0.6 * 0.5, "wiki": 0.3},
        {"web:lo": 2.0},
        mismatches=3,  # data weights vs mix, sum, and the plan-era mix: block itself
    ),
]


@pytest.mark.parametrize("case", FLAT_CASES, ids=lambda c: c.id)
def test_flat_configs_resolve_offline(case: Case, tmp_path: Path) -> None:
    """Plan-era flat configs resolve offline to the hand-computed leaf weights."""
    check_case(case, tmp_path, Dialect.FLAT)


def test_sibling_without_weight_among_weighted_is_refused(tmp_path: Path) -> None:
    """A source without a weight beside weighted ones is never silently 0: exit 2 naming
    the node and both fixes."""
    path = write(
        tmp_path,
        FLAT
        + dedent("""
        name: f-unweighted-sibling
        sources:
          - {name: web, weight: 1, paths: [data/web/*.npy]}
          - {name: wiki, paths: [data/wiki/*.npy]}
        """),
    )
    code, out, err = invoke("resolve", path, "--offline")
    assert_one_error_line(
        code,
        out,
        err,
        f"{path}: mix: wiki has no weight while its sibling web has one",
        "give every source a weight, or drop the weights of all to split by token counts",
    )


def test_flat_config_keeps_plan_era_fields_quietly(tmp_path: Path) -> None:
    """A flat config's max_repetition_factor is honoured without a current-olmix warning."""
    case = next(c for c in FLAT_CASES if c.id == "inherited-max-repetition-factor")
    _, stderr = cli_leaves(write(tmp_path, case.text))
    assert stderr == ""


# --------------------------------------------------------------- launch, with a mix:

LAUNCH_MIX_CASES = [
    Case(
        "nested-three-levels-inherited-repetition",
        "name: l-nested\n"
        + LAUNCH
        + data_block(WEB_WIKI)
        + dedent("""
        mix:
          web:
            weight: 0.8
            repetition_factor: 1.5
            sci:
              weight: 0.5
              hi: 0.75
              lo: {weight: 0.25, repetition_factor: 3}
            code: 0.5
          wiki: {weight: 0.2, repetition_factor: 2.0}
        """),
        {
            "web:sci:hi": 0.8 * 0.5 * 0.75,
            "web:sci:lo": 0.8 * 0.5 * 0.25,
            "web:code": 0.4,
            "wiki": 0.2,
        },
        {"web:sci:hi": 1.5, "web:sci:lo": 3.0, "web:code": 1.5, "wiki": 2.0},
    ),
    Case(
        "flat-keyed",
        "name: l-flat-keys\n"
        + LAUNCH
        + data_block(WEB_WIKI)
        + dedent("""
        mix:
          "web:sci:hi": 0.3
          "web:sci:lo": {weight: 0.1, repetition_factor: 3}
          "web:code": 0.4
          wiki: {weight: 0.2, repetition_factor: 2}
        """),
        {"web:sci:hi": 0.3, "web:sci:lo": 0.1, "web:code": 0.4, "wiki": 0.2},
        {"web:sci:lo": 3.0, "wiki": 2.0},
    ),
    Case(
        "scalar-shorthand-and-weightless-nodes",
        "name: l-scalars\n"
        + LAUNCH
        + data_block(WEB_WIKI)
        + dedent("""
        mix:
          web:
            sci: {hi: 0.25, lo: 0.25}
            code: 0.3
          wiki: 0.2
        """),
        # web and sci carry no weight: each counts as 1.
        {"web:sci:hi": 0.25, "web:sci:lo": 0.25, "web:code": 0.3, "wiki": 0.2},
    ),
    Case(
        "flat-keys-inside-a-nested-node",
        "name: l-mixed-keys\n"
        + LAUNCH
        + data_block(WEB_WIKI)
        + dedent("""
        mix:
          web: {weight: 0.8, "sci:hi": 0.25, "sci:lo": 0.25, code: 0.5}
          wiki: 0.2
        """),
        {"web:sci:hi": 0.8 * 0.25, "web:sci:lo": 0.8 * 0.25, "web:code": 0.4, "wiki": 0.2},
    ),
    Case(
        "flat-keyed-node-with-children",
        "name: l-flat-key-node\n"
        + LAUNCH
        + data_block(WEB_WIKI)
        + dedent("""
        mix:
          "web:sci": {weight: 0.5, repetition_factor: 1.25, hi: 0.5, lo: 0.5}
          "web:code": 0.3
          wiki: 0.2
        """),
        {"web:sci:hi": 0.25, "web:sci:lo": 0.25, "web:code": 0.3, "wiki": 0.2},
        {"web:sci:hi": 1.25, "web:sci:lo": 1.25},
    ),
    Case(
        "quality-source",
        "name: l-quality\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: arxiv
              quality:
                - {name: q1, paths: [data/arxiv/q1/*.npy]}
                - {name: q2, paths: [data/arxiv/q2/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
          dtype: uint32
        mix:
          arxiv: {weight: 0.1, repetition_factor: 1.5, q1: 0.9, q2: 0.1}
          wiki: {weight: 0.9}
        """),
        {"arxiv:q1": 0.1 * 0.9, "arxiv:q2": 0.1 * 0.1, "wiki": 0.9},
        {"arxiv:q1": 1.5, "arxiv:q2": 1.5},
    ),
    Case(
        "paths-sources",
        "name: l-paths\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - {name: web, paths: [data/web/a/*.npy, data/web/b/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
            - {name: code, paths: [data/code/*.npy]}
        mix:
          web: 0.5
          wiki: {weight: 0.25, repetition_factor: 2}
          code: 0.25
        """),
        {"web": 0.5, "wiki": 0.25, "code": 0.25},
        {"wiki": 2.0},
    ),
    Case(
        "mix-with-priors-gives-tokens",
        "name: l-mix-priors\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              quality:
                - {name: hi, paths: [data/web/hi/*.npy]}
                - {name: lo, paths: [data/web/lo/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
        mix:
          web: {weight: 0.5, hi: 0.5, lo: 0.5}
          wiki: 0.5
        priors:
          token_counts: {"web:hi": 1000000000, "web:lo": 2000000000, wiki: 70000000}
        """),
        # The counts decide tokens only; the mix decides the weights.
        {"web:hi": 0.25, "web:lo": 0.25, "wiki": 0.5},
        tokens={"web:hi": 1_000_000_000, "web:lo": 2_000_000_000, "wiki": 70_000_000},
    ),
    Case(
        "weights-not-renormalized",
        "name: l-short\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - {name: web, paths: [data/web/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
        mix: {web: 0.5, wiki: 0.3}
        """),
        {"web": 0.5, "wiki": 0.3},
        mismatches=1,
    ),
    Case(
        "zero-leaf-kept-at-zero",
        "name: l-zero\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - {name: web, paths: [data/web/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
        mix: {web: 1.0, wiki: 0}
        """),
        {"web": 1.0, "wiki": 0.0},
        mismatches=1,
    ),
    Case(
        "nodes-with-only-repetition",
        "name: l-rf-only\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              quality:
                - {name: hi, paths: [data/web/hi/*.npy]}
        mix:
          web:
            hi: {repetition_factor: 3}
        """),
        {"web:hi": 1.0},
        {"web:hi": 3.0},
    ),
    Case(
        "leaf-overrides-inherited-repetition",
        "name: l-rf-override\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              quality:
                - {name: hi, paths: [data/web/hi/*.npy]}
                - {name: lo, paths: [data/web/lo/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
        mix:
          web:
            weight: 0.5
            repetition_factor: 4
            hi: {weight: 0.5, repetition_factor: 1.25}
            lo: {weight: 0.5}
          wiki: {repetition_factor: 2, weight: 0.5}
        """),
        {"web:hi": 0.25, "web:lo": 0.25, "wiki": 0.5},
        {"web:hi": 1.25, "web:lo": 4.0, "wiki": 2.0},
    ),
]


@pytest.mark.parametrize("case", LAUNCH_MIX_CASES, ids=lambda c: c.id)
def test_launch_configs_with_mix_resolve_offline(case: Case, tmp_path: Path) -> None:
    """Current launch configs resolve to their flattened mix weights, not renormalized."""
    check_case(case, tmp_path, Dialect.LAUNCH)


# ------------------------------------------------------------ launch, without a mix:

LAUNCH_PLAIN_CASES = [
    Case(
        "source-weights",
        "name: l-plain\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - {name: web, weight: 3, paths: [data/web/*.npy]}
            - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        """),
        {"web": 0.75, "wiki": 0.25},
    ),
    Case(
        "quality-weights",
        "name: l-plain-quality\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              weight: 9
              quality:
                - {name: hi, weight: 2, paths: [data/web/hi/*.npy]}
                - {name: lo, weight: 1, paths: [data/web/lo/*.npy]}
            - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        """),
        {"web:hi": 0.9 * 2 / 3, "web:lo": 0.9 * 1 / 3, "wiki": 0.1},
    ),
    Case(
        "topic-weights",
        "name: l-plain-topics\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              weight: 1
              topics:
                - {name: sci, weight: 1, paths: [data/web/sci/*.npy]}
                - {name: code, weight: 4, paths: [data/web/code/*.npy]}
        """),
        {"web:sci": 0.2, "web:code": 0.8},
    ),
    Case(
        "priors-block-splits-weightless-data",
        "name: l-plain-priors\n"
        + LAUNCH
        + data_block(WEB_WIKI)
        + dedent("""
        priors:
          token_counts:
            "web:sci:hi": 100000000
            "web:sci:lo": 300000000
            "web:code": 600000000
            wiki: 1000000000
        """),
        # Every level split by tokens: each leaf's share is its count over 2e9.
        {"web:sci:hi": 0.05, "web:sci:lo": 0.15, "web:code": 0.3, "wiki": 0.5},
        tokens={"web:sci:hi": 100_000_000, "wiki": 1_000_000_000},
    ),
    Case(
        "topic-weights-with-priors-for-buckets",
        "name: l-plain-mixed\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              weight: 1
              topics:
                - name: sci
                  weight: 1
                  quality:
                    - {name: hi, paths: [data/web/sci/hi/*.npy]}
                    - {name: lo, paths: [data/web/sci/lo/*.npy]}
                - {name: code, weight: 1, paths: [data/web/code/*.npy]}
        priors:
          token_counts: {"web:sci:hi": 1000000000, "web:sci:lo": 4000000000}
        """),
        {"web:sci:hi": 0.5 * 1 / 5, "web:sci:lo": 0.5 * 4 / 5, "web:code": 0.5},
    ),
    Case(
        "zero-weight-source",
        "name: l-plain-zero\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - {name: web, weight: 1, paths: [data/web/*.npy]}
            - name: books
              weight: 0
              topics:
                - {name: a, paths: [data/books/a/*.npy]}
        """),
        {"web": 1.0, "books:a": 0.0},
    ),
]


@pytest.mark.parametrize("case", LAUNCH_PLAIN_CASES, ids=lambda c: c.id)
def test_launch_configs_without_mix_resolve_offline(case: Case, tmp_path: Path) -> None:
    """Launch configs without mix: normalize their data weights (token counts from priors)."""
    check_case(case, tmp_path, Dialect.LAUNCH, notes=1)
    assert (
        "refuses a launch config without one"
        in resolve(write(tmp_path, case.text), offline=True).mismatches[0]
    )


# ---------------------------------------------------------------------- generation

GENERATION_CASES = [
    Case(
        "paths-split-by-priors",
        "name: g-paths\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - {name: web, paths: [data/web/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
        priors:
          token_counts: {web: 3000000, wiki: 1000000}
        """),
        {"web": 0.75, "wiki": 0.25},
        budget=1_000_000,
    ),
    Case(
        "quality-split-by-priors",
        "name: g-quality\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - name: web
              quality:
                - {name: hi, paths: [data/web/hi/*.npy]}
                - {name: lo, paths: [data/web/lo/*.npy]}
        priors:
          token_counts: {"web:hi": 1000000, "web:lo": 3000000}
        """),
        {"web:hi": 0.25, "web:lo": 0.75},
        budget=1_000_000,
    ),
    Case(
        "topics-split-by-priors",
        "name: g-topics\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - name: web
              topics:
                - {name: sci, paths: [data/web/sci/*.npy]}
                - {name: code, paths: [data/web/code/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
        priors:
          token_counts: {"web:sci": 1000000, "web:code": 1000000, wiki: 2000000}
        """),
        {"web:sci": 0.25, "web:code": 0.25, "wiki": 0.5},
        budget=1_000_000,
    ),
    Case(
        "topics-with-quality-split-by-priors",
        "name: g-three-levels\n"
        + GENERATION
        + data_block(WEB_WIKI)
        + dedent("""
        priors:
          token_counts:
            "web:sci:hi": 1000000
            "web:sci:lo": 3000000
            "web:code": 4000000
            wiki: 8000000
        """),
        {"web:sci:hi": 1 / 16, "web:sci:lo": 3 / 16, "web:code": 4 / 16, "wiki": 8 / 16},
        tokens={"web:sci:hi": 1_000_000, "wiki": 8_000_000},
        budget=1_000_000,
    ),
    Case(
        "source-weights-then-priors",
        "name: g-weighted\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - name: web
              weight: 3
              quality:
                - {name: hi, paths: [data/web/hi/*.npy]}
                - {name: lo, paths: [data/web/lo/*.npy]}
            - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        priors:
          token_counts: {"web:hi": 1000000, "web:lo": 1000000, wiki: 1000000}
        """),
        {"web:hi": 0.375, "web:lo": 0.375, "wiki": 0.25},
        budget=1_000_000,
    ),
    Case(
        "relative-sizes-and-extra-counts-ignored",
        "name: g-extra\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - {name: web, paths: [data/web/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
        priors:
          relative_sizes: {web: 0.9, wiki: 0.1}
          token_counts: {web: 2000000, wiki: 2000000, books: 9000000}
        """),
        # Counts decide, not relative_sizes; a count for a leaf not in data is unused,
        # and said (one finding).
        {"web": 0.5, "wiki": 0.5},
        mismatches=1,
        budget=1_000_000,
    ),
    Case(
        "max-tokens-is-the-budget",
        "name: g-budget\n"
        + dedent("""
        swarm: {seed: 7}
        max_tokens: 123456789
        data:
          sources:
            - {name: web, paths: [data/web/*.npy]}
        priors:
          token_counts: {web: 200000000}
        """),
        {"web": 1.0},
        budget=123_456_789,
    ),
    Case(
        "zero-count-leaf-gets-zero",
        "name: g-empty-leaf\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - name: web
              quality:
                - {name: hi, paths: [data/web/hi/*.npy]}
                - {name: lo, paths: [data/web/lo/*.npy]}
        priors:
          token_counts: {"web:hi": 0, "web:lo": 5000000}
        """),
        {"web:hi": 0.0, "web:lo": 1.0},
        budget=1_000_000,
    ),
    Case(
        "explicit-weights-need-no-priors",
        "name: g-weights\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - name: web
              weight: 1
              topics:
                - name: sci
                  weight: 1
                  quality:
                    - {name: hi, weight: 1, paths: [data/web/sci/hi/*.npy]}
                    - {name: lo, weight: 1, paths: [data/web/sci/lo/*.npy]}
                - {name: code, weight: 1, paths: [data/web/code/*.npy]}
            - {name: wiki, weight: 2, paths: [data/wiki/*.npy]}
        """),
        {"web:sci:hi": 1 / 12, "web:sci:lo": 1 / 12, "web:code": 1 / 6, "wiki": 2 / 3},
        budget=1_000_000,
    ),
    Case(
        "minimum-weight-from-swarm",
        "name: g-minimum\n"
        + dedent("""
        swarm: {seed: 1, minimum_weight: 0.01}
        max_tokens: 1000000
        data:
          sources:
            - name: web
              quality:
                - {name: hi, paths: [data/web/hi/*.npy]}
                - {name: lo, paths: [data/web/lo/*.npy]}
        priors:
          token_counts: {"web:hi": 1000000, "web:lo": 999000000}
        """),
        {"web:hi": 0.001, "web:lo": 0.999},
        budget=1_000_000,
        mismatches=1,  # web:hi is below minimum_weight
    ),
    Case(
        "quality-source-three-buckets",
        "name: g-buckets\n"
        + GENERATION
        + dedent("""
        data:
          sources:
            - name: dclm
              quality:
                - {name: v18, paths: ["s3://b/dclm/vigintile_0018/*.npy"]}
                - {name: v20, paths: ["s3://b/dclm/vigintile_0020/*.npy"]}
                - {name: v15, paths: ["s3://b/dclm/vigintile_0015/*.npy"]}
          dtype: uint32
        priors:
          token_counts: {"dclm:v18": 2000000, "dclm:v20": 1000000, "dclm:v15": 5000000}
        """),
        {"dclm:v18": 0.25, "dclm:v20": 0.125, "dclm:v15": 0.625},
        budget=1_000_000,
    ),
]


@pytest.mark.parametrize("case", GENERATION_CASES, ids=lambda c: c.id)
def test_generation_configs_resolve_offline(case: Case, tmp_path: Path) -> None:
    """olmix generation configs resolve offline from their own priors and max_tokens."""
    check_case(case, tmp_path, Dialect.GENERATION)


def test_generation_minimum_weight_warns_below_it(tmp_path: Path) -> None:
    """swarm.minimum_weight becomes the config's minimum: a leaf under it is one warning."""
    case = next(c for c in GENERATION_CASES if c.id == "minimum-weight-from-swarm")
    path = write(tmp_path, case.text)
    _, stderr = cli_leaves(path)
    assert stderr == (
        f"warning: {path}: 1 leaf weight(s) below minimum_weight 0.01 (olmix drops them): web:hi\n"
    )


# ------------------------------------------------------ priors from a file or mapping

WEIGHTLESS = FLAT + dedent("""
    name: needs-counts
    sources:
      - name: web
        quality:
          - {name: hi, paths: [data/web/hi/*.npy]}
          - {name: lo, paths: [data/web/lo/*.npy]}
      - {name: wiki, paths: [data/wiki/*.npy]}
    """)


def test_priors_file_and_mapping_count_like_a_priors_block(tmp_path: Path) -> None:
    """--priors FILE and priors= give token counts offline, exactly like a priors: block."""
    path = write(tmp_path, WEIGHTLESS)
    counts = {"web:hi": 1_000_000_000, "web:lo": 3_000_000_000, "wiki": 4_000_000_000}
    priors = write(tmp_path, {"priors": {"token_counts": counts}}, "priors.yaml")
    expected = {"web:hi": 1 / 8, "web:lo": 3 / 8, "wiki": 1 / 2}
    rows, stderr = cli_leaves(path, "--priors", str(priors))
    close({name: row["weight"] for name, row in rows.items()}, expected)
    assert stderr == ""
    for counted in (priors, counts):
        mix = resolve(path, offline=True, priors=counted)
        close({leaf.leaf: leaf.weight for leaf in mix.leaves}, expected)
        assert [leaf.tokens for leaf in mix.leaves] == list(counts.values())


def test_priors_file_overrides_the_configs_own_counts(tmp_path: Path) -> None:
    """A given priors file wins over the config's own priors: block, leaf by leaf."""
    case = next(c for c in GENERATION_CASES if c.id == "paths-split-by-priors")
    path = write(tmp_path, case.text)
    priors = write(tmp_path, {"token_counts": {"wiki": 3_000_000}}, "priors.yaml")
    rows, _ = cli_leaves(path, "--priors", str(priors))
    close({name: row["weight"] for name, row in rows.items()}, {"web": 0.5, "wiki": 0.5})


# ------------------------------------------------ when the numbers do not allow it

ERROR_CASES = [
    pytest.param(
        FLAT
        + dedent("""
        name: f-missing-counts
        sources:
          - name: web
            weight: 1
            quality:
              - {name: hi, paths: [data/web/hi/*.npy]}
              - {name: lo, paths: [data/web/lo/*.npy]}
          - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        priors:
          token_counts: {wiki: 1000000000}
        """),
        "priors: no token count for web:hi, web:lo — ",
        id="flat-priors-missing-bucket-counts",
    ),
    pytest.param(
        FLAT + "name: f-negative\nsources: [{name: web, weight: -1, paths: [a/*.npy]}]\n",
        "sources.0.weight: must be a finite number >= 0, got -1",
        id="flat-negative-weight",
    ),
    pytest.param(
        FLAT + "name: f-two\nsources: [{name: web, paths: [a/*.npy], quality: []}]\n",
        "sources.0: needs exactly one of paths, topics, quality (got paths and quality)",
        id="flat-paths-and-quality",
    ),
    pytest.param(
        "name: l-gpus\n"
        + INFRA.replace(", gpus: 1", "")
        + TRAINING
        + EVAL
        + "data: {sources: [{name: web, paths: [a/*.npy]}]}\nmix: {web: 1}\n",
        "infra.gpus: required field is missing — add it",
        id="launch-missing-gpus",
    ),
    pytest.param(
        "name: l-twice\n"
        + LAUNCH
        + "data: {sources: [{name: web, quality: [{name: hi, paths: [a/*.npy]}]}]}\n"
        + 'mix: {"web:hi": 0.5, web: {hi: 0.5}}\n',
        "mix.web:hi: names one leaf twice — keep one of the two",
        id="launch-leaf-named-twice",
    ),
    pytest.param(
        "name: l-neg\n"
        + LAUNCH
        + "data: {sources: [{name: web, paths: [a/*.npy]}]}\nmix: {web: -0.5}\n",
        "mix.web: must be a finite number >= 0, got -0.5",
        id="launch-negative-mix-weight",
    ),
    pytest.param(
        "name: l-rf\n"
        + LAUNCH
        + "data: {sources: [{name: web, paths: [a/*.npy]}]}\n"
        + "mix: {web: {weight: 1, repetition_factor: 0}}\n",
        "mix.web.repetition_factor: must be a finite number > 0, got 0",
        id="launch-zero-repetition-factor",
    ),
    pytest.param(
        "name: l-top-weight\n"
        + LAUNCH
        + "data: {sources: [{name: web, paths: [a/*.npy]}]}\nmix: {weight: 1, web: 1}\n",
        "mix.weight: the mix itself has no weight — nest it under a name",
        id="launch-weight-at-the-top-of-mix",
    ),
    pytest.param(
        "name: l-overflow\n"
        + LAUNCH
        + "data: {sources: [{name: web, quality: [{name: hi, paths: [a/*.npy]}]}]}\n"
        + "mix: {web: {weight: 1.0e+200, hi: {weight: 1.0e+200}}}\n",
        "mix.web.hi.weight: the product of the weights along the path overflows — weights are"
        " shares within their parent (at most 1)",
        id="launch-weight-product-overflows",
    ),
    pytest.param(
        "name: l-bigint\n"
        + LAUNCH
        + "data: {sources: [{name: web, paths: [a/*.npy]}]}\n"
        + f"mix: {{web: {10**400}}}\n",
        "mix.web: must be a finite number >= 0, got <an int of about 401 digits>",
        id="launch-integer-beyond-float",
    ),
    pytest.param(
        "name: l-missing-counts\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              weight: 1
              topics:
                - name: sci
                  weight: 1
                  quality:
                    - {name: hi, paths: [data/web/sci/hi/*.npy]}
                    - {name: lo, paths: [data/web/sci/lo/*.npy]}
                - {name: code, weight: 1, paths: [data/web/code/*.npy]}
            - {name: wiki, weight: 1, paths: [data/wiki/*.npy]}
        priors: {token_counts: {wiki: 1000000000}}
        """),
        "priors: no token count for web:sci:hi, web:sci:lo — ",
        id="launch-priors-missing-bucket-counts",
    ),
    pytest.param(
        "name: g-budget\nswarm: {seed: 1}\nmax_tokens: 0\n"
        + "data: {sources: [{name: a, paths: [a/*.npy]}]}\npriors: {token_counts: {a: 1}}\n",
        "max_tokens: Input should be greater than or equal to 1, got 0",
        id="generation-zero-max-tokens",
    ),
    pytest.param(
        "name: g-min\nswarm: {minimum_weight: -1}\nmax_tokens: 10\n"
        + "data: {sources: [{name: a, paths: [a/*.npy]}]}\npriors: {token_counts: {a: 100}}\n",
        "swarm.minimum_weight: must be a finite number >= 0, got -1",
        id="generation-negative-minimum-weight",
    ),
    pytest.param(
        "name: g-seed\nswarm: {seed: abc}\nmax_tokens: 10\n"
        + "data: {sources: [{name: a, paths: [a/*.npy]}]}\npriors: {token_counts: {a: 100}}\n",
        "swarm.seed: must be an integer, got 'abc'",
        id="generation-text-seed",
    ),
    pytest.param(
        "name: g-counts\n"
        + GENERATION
        + "data: {sources: [{name: a, paths: [a/*.npy]}]}\n"
        + "priors: {token_counts: {a: -5}}\n",
        "priors.token_counts.a: Input should be greater than or equal to 0, got -5",
        id="generation-negative-count",
    ),
    pytest.param(
        "name: g-nodata\n" + GENERATION + "data: {dtype: uint32}\n",
        "data.sources: required field is missing — add it",
        id="generation-data-without-sources",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERROR_CASES)
def test_configs_the_numbers_do_not_allow_exit_2_in_one_line(
    text: str, message: str, tmp_path: Path
) -> None:
    """A config that cannot resolve offline exits 2 with one line: file, field, what."""
    path = write(tmp_path, text)
    line = one_error(*invoke("resolve", str(path), "--offline"))
    # A message ending in " — " is checked up to its fix, worded for the CLI or the API.
    assert line.startswith(f"error: {path}: {message}")
    assert message.endswith(" — ") or line == f"error: {path}: {message}"
    with pytest.raises(UserError) as caught:
        resolve(path, offline=True)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert message.endswith(" — ") or str(caught.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(WEIGHTLESS, id="flat"),
        pytest.param(
            "name: l-weightless\n" + LAUNCH + data_block(WEB_WIKI),
            id="launch",
        ),
        pytest.param("name: g-weightless\n" + GENERATION + data_block(WEB_WIKI), id="generation"),
    ],
)
def test_weightless_group_without_priors(text: str, tmp_path: Path) -> None:
    """Without weights or priors, resolve prints `?` with one warning; diff/convert exit 2."""
    path = write(tmp_path, text)
    leaves = [leaf.leaf for leaf in resolve(path, offline=True).leaves]
    rows, stderr = cli_leaves(path)
    assert [row["weight"] for row in rows.values()] == [None] * len(leaves)
    lines = stderr.splitlines()
    assert lines[0] == (
        f"warning: offline: {len(leaves)} leaf weight(s) need token counts: {', '.join(leaves)}"
    )
    # A launch config without mix: is also one olmix would refuse.
    assert [("refuses a launch config without one" in line) for line in lines[1:]] == (
        [True] if "infra:" in text else []
    )
    line = one_error(*invoke("diff", str(path), str(path), "--offline"))
    assert line.startswith(f"error: {path}: weights need token counts ({leaves[0]}")
    line = one_error(*invoke("convert", str(path), "--offline"))
    assert f"mix: needs token counts for {', '.join(leaves[:3])}" in line


# ------------------------------------------------------ olmix's flatten rule, exactly


def test_flatten_rule_on_a_current_form_config(tmp_path: Path) -> None:
    """Nested, flat-keyed, scalar, weightless and inherited-rf entries flatten as olmix does."""
    text = (
        "name: l-flatten\n"
        + LAUNCH
        + dedent("""
        data:
          sources:
            - name: web
              topics:
                - name: sci
                  quality:
                    - {name: hi, paths: [data/web/sci/hi/*.npy]}
                    - {name: lo, paths: [data/web/sci/lo/*.npy]}
                - {name: code, paths: [data/web/code/*.npy]}
            - {name: wiki, paths: [data/wiki/*.npy]}
            - {name: arxiv, quality: [{name: q1, paths: [data/arxiv/*.npy]}]}
        mix:
          web:
            repetition_factor: 1.5
            sci:
              weight: 0.5
              hi: 0.25
              lo: {repetition_factor: 3}
            code: {weight: 0.125}
          wiki: {weight: 0.25, repetition_factor: 2}
          "arxiv:q1": 0.0625
        """)
    )
    path = write(tmp_path, text)
    loaded = load_config(path)
    assert flatten_mix(loaded.mix, str(path)) == {
        # web has no weight (1); sci 0.5; hi is the scalar 0.25; rf 1.5 inherited.
        "web:sci:hi": MixLeaf(0.125, 1.5),
        # lo has no weight (1) but its own rf.
        "web:sci:lo": MixLeaf(0.5, 3.0),
        "web:code": MixLeaf(0.125, 1.5),
        "wiki": MixLeaf(0.25, 2.0),
        "arxiv:q1": MixLeaf(0.0625, None),
    }
    expected = {"web:sci:hi": 0.125, "web:sci:lo": 0.5, "web:code": 0.125, "wiki": 0.25}
    expected["arxiv:q1"] = 0.0625
    rows, stderr = cli_leaves(path)
    # 1.0625 in all, kept as written: olmix does not renormalize.
    assert {name: row["weight"] for name, row in rows.items()} == expected
    assert {name: row["max_repetition_factor"] for name, row in rows.items()} == {
        "web:sci:hi": 1.5,
        "web:sci:lo": 3.0,
        "web:code": 1.5,
        "wiki": 2.0,
        "arxiv:q1": 1.0,
    }
    assert stderr == (
        f"warning: {path}: mix: data leaf weights sum to 1.0625, not 1 (the weights under web"
        " sum to 0.625) — olmix does not renormalize; make them sum to 1\n"
    )
    mix = resolve(path, offline=True)
    assert {leaf.leaf: leaf.weight for leaf in mix.leaves} == expected
    assert math.fsum(leaf.weight or 0.0 for leaf in mix.leaves) == 1.0625


def test_nested_and_flat_keyed_forms_resolve_alike(tmp_path: Path) -> None:
    """The same mix written nested and flat-keyed resolves to the same leaves."""
    head = "name: l-same\n" + LAUNCH + data_block(WEB_WIKI)
    nested = head + dedent("""\
        mix:
          web:
            weight: 0.75
            repetition_factor: 1.5
            sci: {weight: 0.5, hi: 0.5, lo: {weight: 0.5, repetition_factor: 3}}
            code: 0.5
          wiki: 0.25
        """)
    keyed = head + dedent("""\
        mix:
          "web:sci:hi": {weight: 0.1875, repetition_factor: 1.5}
          "web:sci:lo": {weight: 0.1875, repetition_factor: 3}
          "web:code": {weight: 0.375, repetition_factor: 1.5}
          wiki: 0.25
        """)
    a, b = write(tmp_path, nested, "a.yaml"), write(tmp_path, keyed, "b.yaml")
    mix = resolve(a, offline=True)
    assert [(leaf.leaf, leaf.weight, leaf.max_repetition_factor) for leaf in mix.leaves] == [
        ("web:sci:hi", 0.1875, 1.5),
        ("web:sci:lo", 0.1875, 3.0),
        ("web:code", 0.375, 1.5),
        ("wiki", 0.25, 1.0),
    ]
    assert mix.leaves == resolve(b, offline=True).leaves
    assert mix.mismatches == ()
    code, stdout, stderr = invoke("diff", str(a), str(b), "--offline")
    assert (code, stderr) == (0, "")
    assert stdout == f"{a} and {b}: same mix (4 leaves)\n"


# ------------------------------------------------------------ mismatch warnings

MISMATCH_DATA = """\
data:
  sources:
    - name: web
      quality:
        - {name: hi, paths: [data/web/hi/*.npy]}
        - {name: lo, paths: [data/web/lo/*.npy]}
    - {name: wiki, paths: [data/wiki/*.npy]}
"""


@pytest.mark.parametrize(
    ("data", "mix", "warning"),
    [
        pytest.param(
            MISMATCH_DATA,
            "mix: {web: {weight: 0.5, hi: 1.0}, wiki: 0.5}\n",
            "mix: no entry for data leaf web:lo — olmix drops those leaves silently; add them"
            " to the mix",
            id="leaf-missing",
        ),
        pytest.param(
            MISMATCH_DATA,
            "mix: {web: {weight: 0.5, hi: 1.0, lo: 0}, wiki: 0.5}\n",
            "mix: weight 0 for data leaf web:lo — olmix drops those leaves silently",
            id="leaf-at-zero",
        ),
        pytest.param(
            MISMATCH_DATA,
            "mix: {web: {weight: 0.5, hi: 0.5, lo: 0.5}, wiki: 0.5, books: 0}\n",
            "mix: books names no data leaf — olmix ignores it; fix the name or add the data",
            id="entry-naming-no-leaf",
        ),
        pytest.param(
            MISMATCH_DATA,
            "mix: {web: {weight: 0.5, hi: 0.5, lo: 0.5}, wiki: 0.4999}\n",
            "mix: data leaf weights sum to 0.9999, not 1 — olmix does not renormalize; make"
            " them sum to 1",
            id="sum-not-one",
        ),
        pytest.param(
            MISMATCH_DATA.replace("name: web\n", "name: web\n      weight: 3\n").replace(
                "{name: wiki,", "{name: wiki, weight: 1,"
            ),
            "mix: {web: {weight: 0.5, hi: 0.5, lo: 0.5}, wiki: 0.5}\n",
            "data: weights disagree with the mix for wiki — olmix uses the mix; drop the data"
            " weights or fix them",
            id="data-weights-disagree",
        ),
    ],
)
def test_each_mismatch_is_one_warning_and_strict_exits_1(
    data: str, mix: str, warning: str, tmp_path: Path
) -> None:
    """Each kind of mix/data mismatch is one warning line; --strict makes it exit 1."""
    path = write(tmp_path, "name: l-mismatch\n" + LAUNCH + data + mix)
    line = f"warning: {path}: {warning}"
    assert resolve(path, offline=True).mismatches == (line.removeprefix("warning: "),)
    code, stdout, stderr = invoke("resolve", str(path), "--offline", "-f", "json")
    assert (code, stderr) == (0, line + "\n")
    assert json.loads(stdout)["leaves"]
    code, _, stderr = invoke("resolve", str(path), "--offline", "-f", "json", "--strict")
    assert code == 1
    assert stderr == f"{line}\nl-mismatch: 1 mix/data mismatch(es) (--strict)\n"


def test_data_weights_only_disagree_at_the_leaves_that_differ(tmp_path: Path) -> None:
    """Disagreeing data weights name only the leaves whose shares differ from the mix."""
    data = MISMATCH_DATA.replace("name: web\n", "name: web\n      weight: 1\n")
    data = data.replace("{name: hi,", "{name: hi, weight: 3,").replace(
        "{name: lo,", "{name: lo, weight: 1,"
    )
    data = data.replace("{name: wiki,", "{name: wiki, weight: 1,")
    # Data: web:hi 3/8, web:lo 1/8, wiki 1/2. The mix moves weight from hi to lo only.
    mix = "mix: {web: {weight: 0.5, hi: 0.5, lo: 0.5}, wiki: 0.5}\n"
    path = write(tmp_path, "name: l-disagree\n" + LAUNCH + data + mix)
    assert resolve(path, offline=True).mismatches == (
        f"{path}: data: weights disagree with the mix for web:hi, web:lo — olmix uses the mix;"
        " drop the data weights or fix them",
    )


def test_all_four_mismatches_at_once_and_strict(tmp_path: Path) -> None:
    """A mix with every kind of problem gives four warnings and --strict exits 1."""
    data = MISMATCH_DATA.replace("{name: wiki,", "{name: wiki, weight: 1,")
    mix = "mix: {web: {weight: 0.5, hi: 0.25}, wiki: 0.5, wikipedia: 0.25}\n"
    path = write(tmp_path, "name: l-four\n" + LAUNCH + data + mix)
    code, _, stderr = invoke("resolve", str(path), "--offline", "-f", "csv", "--strict")
    assert code == 1
    lines = stderr.splitlines()
    assert len(lines) == 5 and all(line.startswith("warning: ") for line in lines[:4])
    assert "no entry for data leaf web:lo" in lines[0]
    assert "wikipedia names no data leaf" in lines[1]
    assert "sum to 0.625, not 1" in lines[2]
    # Partial data weights (web has none, wiki has one) cannot be read as a mix at all.
    assert "data: weights disagree with the mix: they cannot be read as one" in lines[3]
    assert lines[4] == "l-four: 4 mix/data mismatch(es) (--strict)"


@pytest.mark.parametrize(
    "case",
    [c for c in [*FLAT_CASES, *LAUNCH_MIX_CASES] if "mix:" in c.text and not c.mismatches],
    ids=lambda c: c.id,
)
def test_strict_exits_0_without_mismatches(case: Case, tmp_path: Path) -> None:
    """--strict exits 0 and prints nothing on stderr when the mix and the data agree."""
    path = write(tmp_path, case.text)
    code, stdout, stderr = invoke("resolve", str(path), "--offline", "--strict", "-f", "json")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["training_tokens"] == BUDGET


# ------------------------------------------------------------------ form detection


@pytest.mark.parametrize(
    ("keys", "dialect"),
    [
        ({"name": "x", "sources": []}, Dialect.FLAT),
        ({"name": "x", "sources": [], "mix": {}}, Dialect.FLAT),
        ({"infra": {}, "training": {}, "data": {}, "eval": {}}, Dialect.LAUNCH),
        ({"name": "x", "eval": {}, "data": {}}, Dialect.LAUNCH),
        ({"data": {}, "priors": {}, "swarm": {}, "max_tokens": 1}, Dialect.GENERATION),
        ({"data": {}}, Dialect.GENERATION),
    ],
)
def test_form_is_detected_from_top_level_keys(keys: dict[str, Any], dialect: Dialect) -> None:
    """The top-level keys decide the form: sources -> flat, infra/training/eval -> launch."""
    assert detect_dialect(keys, "c.yaml") is dialect


def test_unknown_form_names_the_keys_found_and_the_forms_known(tmp_path: Path) -> None:
    """A file of none of the forms is one line: the keys it has and the forms known."""
    path = write(tmp_path, "name: x\nmixture: {web: 1}\nweights: [1, 2]\n")
    known = "; ".join(FORMS.values())
    expected = (
        f"error: {path}: not an olmix config: top-level keys mixture, name, weights — known:"
        f" {known}"
    )
    for args in (("resolve", "--offline"), ("convert", "--offline")):
        assert one_error(*invoke(args[0], str(path), *args[1:])) == expected
    assert one_error(*invoke("diff", str(path), str(path), "--offline")) == expected
    for form in ("plan-era", "launch config", "generation config"):
        assert form in expected


def test_unknown_form_with_many_keys_says_how_many_more(tmp_path: Path) -> None:
    """Only eight keys are listed; the line says how many more there are."""
    path = write(tmp_path, {f"k{i:02d}": i for i in range(11)})
    line = one_error(*invoke("resolve", str(path), "--offline"))
    assert "top-level keys k00, k01, k02, k03, k04, k05, k06, k07 (and 3 more) — known:" in line


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "is empty, not an olmix config (a mapping)"),
        ("- name: x\n", "is a list, not an olmix config (a mapping)"),
        ("just text\n", "is a str, not an olmix config (a mapping)"),
        ("{}\n", "not an olmix config: top-level keys none — known:"),
    ],
)
def test_non_mapping_files_are_one_line(text: str, what: str, tmp_path: Path) -> None:
    """Empty files, lists and scalars are refused in one line naming the file."""
    path = write(tmp_path, text)
    line = one_error(*invoke("resolve", str(path), "--offline"))
    assert line.startswith(f"error: {path}: {what}")
    with pytest.raises(SpecError, match="not an olmix config"):
        load_config(path)


def test_fields_current_olmix_ignores_are_warnings(tmp_path: Path) -> None:
    """Launch configs: ignored data fields and unknown top-level keys are one warning each."""
    text = (
        "name: l-ignored\n"
        + LAUNCH
        + dedent("""
        group_id: g1
        sampler: random
        data:
          sources:
            - name: web
              max_repetition_factor: 2.0
              topics:
                - name: sci
                  max_topic_ratio: 0.5
                  quality:
                    - {name: hi, max_repetition_factor: 1.5, paths: [data/hi/*.npy]}
        mix: {"web:sci:hi": 1.0}
        priors: {token_counts: {"web:sci:hi": 1000000000}}
        """)
    )
    path = write(tmp_path, text)
    _, stderr = cli_leaves(path)
    assert stderr.splitlines() == [
        f"warning: {path}: data.web.max_repetition_factor: current olmix ignores it — set"
        " repetition_factor in mix: instead",
        f"warning: {path}: data.web.sci.max_topic_ratio: current olmix ignores it — remove it",
        f"warning: {path}: data.web.sci.hi.max_repetition_factor: current olmix ignores it —"
        " set repetition_factor in mix: instead",
        f"warning: {path}: sampler: current olmix ignores this top-level key — remove it",
    ]
    # The mix decides the repetition, not the ignored field.
    assert [leaf.max_repetition_factor for leaf in resolve(path, offline=True).leaves] == [1.0]


def test_generation_ignored_fields_are_warnings(tmp_path: Path) -> None:
    """Generation configs warn about ignored data fields and unknown top-level keys too."""
    text = (
        "name: g-ignored\n"
        + GENERATION
        + dedent("""
        base: launch.yaml
        data:
          sources:
            - {name: web, max_repetition_factor: 2, paths: [data/web/*.npy]}
        priors: {token_counts: {web: 5000000}}
        """)
    )
    path = write(tmp_path, text)
    _, stderr = cli_leaves(path)
    assert stderr.splitlines() == [
        f"warning: {path}: data.web.max_repetition_factor: current olmix ignores it — set"
        " repetition_factor in mix: instead",
        f"warning: {path}: base: current olmix ignores this top-level key — remove it",
    ]


# -------------------------------------------------------------- hostile inputs

GOOD_LAUNCH: dict[str, Any] = yaml.safe_load(
    textwrap.dedent(
        "name: l-good\n"
        + LAUNCH
        + data_block(WEB_WIKI)
        + dedent("""
        mix:
          web: {weight: 0.8, sci: {weight: 0.5, hi: 0.5, lo: 0.5}, code: 0.5}
          wiki: {weight: 0.2, repetition_factor: 2}
        """)
    )
)
GOOD_FLAT: dict[str, Any] = yaml.safe_load(
    textwrap.dedent(
        "name: f-good\n"
        + FLAT
        + WEB_WIKI
        + 'priors: {token_counts: {"web:sci:hi": 1, "web:sci:lo": 1, "web:code": 2, wiki: 4}}\n'
    )
)
GOOD_GENERATION: dict[str, Any] = yaml.safe_load(
    textwrap.dedent(
        "name: g-good\n"
        + GENERATION
        + data_block(WEB_WIKI)
        + 'priors: {token_counts: {"web:sci:hi": 1, "web:sci:lo": 1, "web:code": 2, wiki: 4}}\n'
    )
)
BASES = {"flat": GOOD_FLAT, "launch": GOOD_LAUNCH, "generation": GOOD_GENERATION}
NAN, INF = float("nan"), float("inf")


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 0.5}
    for i in range(levels):
        node = {f"n{i}": node}
    return node


class Exits(NamedTuple):
    """The exit codes of resolve, diff (against GOOD_LAUNCH) and convert for one input."""

    resolve: int
    diff: int
    convert: int


REFUSED = Exits(2, 2, 2)  # one user error line from each command
ACCEPTED = Exits(0, 0, 0)  # read as the same mix as GOOD_LAUNCH

# (base, path of keys/indexes to replace or delete, new value, expected exits): each a
# malformed variant; most are refused, a few are odd but valid and read with warnings.
_DELETE = object()
MUTATIONS: list[tuple[str, tuple[Any, ...], Any, Exits]] = [
    ("flat", ("sources",), {}, REFUSED),
    ("flat", ("sources",), [], REFUSED),
    ("flat", ("sources",), "web", REFUSED),
    ("flat", ("sources", 0), None, REFUSED),
    ("flat", ("sources", 0, "weight"), -1, REFUSED),
    ("flat", ("sources", 0, "weight"), NAN, REFUSED),
    ("flat", ("sources", 0, "weight"), INF, REFUSED),
    ("flat", ("sources", 0, "weight"), "3", REFUSED),
    ("flat", ("sources", 0, "weight"), True, REFUSED),
    ("flat", ("sources", 0, "weight"), 1e308, REFUSED),
    ("flat", ("sources", 0, "topics"), {"sci": 1}, REFUSED),
    ("flat", ("sources", 0, "topics", 0, "quality"), [], REFUSED),
    ("flat", ("sources", 0, "topics", 0, "quality", 0, "paths"), [], REFUSED),
    ("flat", ("sources", 0, "topics", 0, "quality", 0, "paths"), "data/*.npy", REFUSED),
    ("flat", ("sources", 1, "name"), 7, REFUSED),
    ("flat", ("sources", 1, "name"), "web", REFUSED),
    ("flat", ("sources", 1, "max_repetition_factor"), 0, REFUSED),
    ("flat", ("name",), _DELETE, REFUSED),
    ("flat", ("name",), ["x"], REFUSED),
    ("flat", ("chinchilla_multiple",), -0.5, REFUSED),
    ("flat", ("proxy_model_id",), {"a": 1}, REFUSED),
    ("flat", ("priors",), [], REFUSED),
    ("flat", ("priors", "token_counts"), {"wiki": -1}, REFUSED),
    ("flat", ("priors", "token_counts"), {"wiki": 1.5}, REFUSED),
    ("flat", ("priors", "token_counts"), {1: 2}, REFUSED),
    ("flat", ("priors", "token_counts"), {}, REFUSED),
    ("flat", ("priors", "relative_sizes"), {"wiki": "half"}, REFUSED),
    ("flat", ("mix",), [1, 2], REFUSED),
    ("launch", ("infra",), _DELETE, REFUSED),
    ("launch", ("infra",), [], REFUSED),
    ("launch", ("infra", "gpus"), 0, REFUSED),
    ("launch", ("infra", "priority"), "whenever", REFUSED),
    ("launch", ("training",), "olmo", REFUSED),
    ("launch", ("training", "chinchilla_multiple"), NAN, REFUSED),
    ("launch", ("training", "seed"), 1.5, REFUSED),
    ("launch", ("training", "proxy_model_id"), "olmo9_1t", REFUSED),
    ("launch", ("data",), _DELETE, REFUSED),
    ("launch", ("data",), None, REFUSED),
    ("launch", ("data", "sources"), {}, REFUSED),
    ("launch", ("data", "dtype"), "float16", REFUSED),
    ("launch", ("data", "sources", 0, "topics", 0, "quality", 0), ["hi"], REFUSED),
    # an empty eval block is valid
    ("launch", ("eval",), {}, ACCEPTED),
    ("launch", ("eval", "tasks"), [], REFUSED),
    # no mix: resolve warns; diff and convert need counts
    ("launch", ("mix",), None, Exits(0, 2, 2)),
    # every leaf at 0: resolve warns, convert refuses
    ("launch", ("mix",), {}, Exits(0, 1, 2)),
    ("launch", ("mix",), "web", REFUSED),
    ("launch", ("mix",), [{"web": 1}], REFUSED),
    ("launch", ("mix", "web"), [], REFUSED),
    ("launch", ("mix", "web"), None, REFUSED),
    ("launch", ("mix", "web"), "0.8", REFUSED),
    ("launch", ("mix", "web", "weight"), NAN, REFUSED),
    ("launch", ("mix", "web", "weight"), -INF, REFUSED),
    ("launch", ("mix", "web", "weight"), {"value": 1}, REFUSED),
    ("launch", ("mix", "web", "weight"), 10**400, REFUSED),
    ("launch", ("mix", "web", "sci", "hi"), True, REFUSED),
    ("launch", ("mix", "web", "sci", "repetition_factor"), -2, REFUSED),
    ("launch", ("mix", "wiki", "repetition_factor"), INF, REFUSED),
    ("launch", ("mix", "wiki", "repetition_factor"), "2x", REFUSED),
    ("launch", ("mix", "weight"), 1, REFUSED),
    ("launch", ("mix", 3), 0.5, REFUSED),
    ("launch", ("mix", ""), 0.5, REFUSED),
    ("launch", ("mix", "web::sci"), 0.5, REFUSED),
    ("launch", ("mix", "deep"), _deep(40), REFUSED),
    # names no leaf: olmix ignores it (a warning)
    ("launch", ("mix", "wide"), {f"c{i}": 1e-3 for i in range(300)}, ACCEPTED),
    ("launch", ("mix", "web:sci:hi"), 0.5, REFUSED),
    ("generation", ("data", "sources"), [{"name": "a"}], REFUSED),
    ("generation", ("data", "sources"), [{"name": "a", "paths": ["x"], "topics": []}], REFUSED),
    ("generation", ("max_tokens",), -5, REFUSED),
    ("generation", ("max_tokens",), "lots", REFUSED),
    ("generation", ("max_tokens",), 2.5, REFUSED),
    ("generation", ("swarm",), [1, 2], REFUSED),
    ("generation", ("swarm", "minimum_weight"), INF, REFUSED),
    ("generation", ("swarm", "minimum_weight"), "small", REFUSED),
    ("generation", ("swarm", "seed"), True, REFUSED),
    ("generation", ("priors",), None, REFUSED),
    ("generation", ("priors",), "counts.yaml", REFUSED),
    ("generation", ("priors", "token_counts"), [1, 2], REFUSED),
    ("generation", ("priors", "token_counts"), {"wiki": None}, REFUSED),
    # valid; a launch config needs infra
    ("generation", ("priors", "token_counts", "wiki"), 0, Exits(0, 1, 2)),
    ("generation", ("priors", "extra"), 1, REFUSED),
]
RAW_TEXTS: list[tuple[str, Exits]] = [
    ("", REFUSED),
    ("~\n", REFUSED),
    ("42\n", REFUSED),
    ("[1, 2, 3]\n", REFUSED),
    ("name: [unclosed\n", REFUSED),
    ("name: a\nname: b\nsources: []\n", REFUSED),
    ("1: 2\n3: 4\n", REFUSED),
    ("true: 1\nnull: 2\n", REFUSED),
    ("name: x\nsources: !!binary aGVsbG8=\n", REFUSED),
    ("sources: &s [{name: a, paths: [x]}]\nname: *s\n", REFUSED),
    ("data: {sources: [{name: a, paths: [x]}]}\ninfra: 1\n", REFUSED),
    ("name: x\nmix: {a: 1}\n", REFUSED),
    ("priors: {token_counts: {a: 1}}\n", REFUSED),
    # a BOM is fine; a flat config names no infra for a launch config
    ("\ufeffname: x\nsources: [{name: a, weight: 1, paths: [x]}]\n" + FLAT, Exits(0, 1, 2)),
]


def _variant(base: str, path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(BASES[base]))
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


HOSTILE = [
    pytest.param(
        yaml.safe_dump(_variant(base, path, value), sort_keys=False),
        exits,
        id=f"{base}-{'.'.join(map(str, path))}={str(value)[:20]}",
    )
    for base, path, value, exits in MUTATIONS
] + [pytest.param(text, exits, id=f"raw-{i}") for i, (text, exits) in enumerate(RAW_TEXTS)]


def _exits_as_expected(code: int, stdout: str, stderr: str, expected: int) -> None:
    assert code == expected, (code, stderr[-2000:])
    assert "Traceback" not in stderr
    if code == 2:
        one_error(code, stdout, stderr)
    else:
        assert stdout


@pytest.mark.parametrize(("text", "exits"), HOSTILE)
def test_hostile_input_gets_its_expected_exit(text: str, exits: Exits, tmp_path: Path) -> None:
    """resolve, diff and convert answer each malformed config with the exit expected of
    it: a refusal is exit 2 and one line; none is a traceback (70)."""
    path = write(tmp_path, text, "hostile.yaml")
    good = write(tmp_path, GOOD_LAUNCH, "good.yaml")
    resolved = invoke("resolve", str(path), "--offline", "--allow-repetition", "-f", "json")
    _exits_as_expected(*resolved, exits.resolve)
    _exits_as_expected(*invoke("diff", str(path), str(good), "--offline"), exits.diff)
    _exits_as_expected(*invoke("convert", str(path), "--offline"), exits.convert)


def test_hostile_sweep_covers_every_dialect() -> None:
    """The sweep mutates each dialect's valid config, and those configs resolve cleanly."""
    assert {base for base, _, _, _ in MUTATIONS} == set(BASES)
    for data in BASES.values():
        assert resolve(data, offline=True).leaves


# ------------------------------------------------------------ fuzz of mix blocks

_NAMES = st.sampled_from(
    ["web", "wiki", "sci", "hi", "lo", "code", "web:sci", "sci:hi", "weight", "repetition_factor"]
)
_ODD_NAMES = st.one_of(_NAMES, st.sampled_from(["", ":", "a::b", "x:"]), st.integers(-2, 2))
_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
_MIXES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.dictionaries(_ODD_NAMES, inner, max_size=4), st.lists(inner, max_size=2)
    ),
    max_leaves=16,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mix=_MIXES)
def test_any_mix_block_resolves_or_is_one_user_error(mix: Any) -> None:
    """Whatever a mix: block holds, resolve returns a Mix or raises one-line UserError."""
    config = {**GOOD_LAUNCH, "mix": mix}
    try:
        result = resolve(config, offline=True)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    if mix is None:  # no mix: block: the data's weights (here none) decide
        return
    for leaf in result.leaves:
        assert leaf.weight is not None and math.isfinite(leaf.weight) and leaf.weight >= 0


_WEIGHTS = st.sampled_from([0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 3])
_FACTORS = st.sampled_from([None, 1.0, 1.5, 4.0])
_TREE = st.recursive(
    st.tuples(_WEIGHTS, _FACTORS, st.none()),
    lambda inner: st.tuples(
        st.one_of(st.none(), _WEIGHTS),
        _FACTORS,
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=10,
)


def _depth(tree: Any) -> int:
    children = tree[2]
    return 1 + max(map(_depth, children)) if children else 1


def _build(tree: Any, path: tuple[str, ...], weight: float, factor: float | None) -> Any:
    """A tree as (nested block, flat block, expected leaves), worked out independently."""
    own, rf, children = tree
    weight *= 1.0 if own is None else own
    factor = rf if rf is not None else factor
    if children is None:
        expected = {":".join(path): MixLeaf(weight, factor)}
        body: Any = own if rf is None else {"weight": own, "repetition_factor": rf}
        return body, {":".join(path): {"weight": weight, "repetition_factor": factor}}, expected
    nested: dict[str, Any] = {}
    if own is not None:
        nested["weight"] = own
    if rf is not None:
        nested["repetition_factor"] = rf
    flat: dict[str, Any] = {}
    expected = {}
    for i, child in enumerate(children):
        name = f"n{len(path)}_{i}"
        block, child_flat, child_expected = _build(child, (*path, name), weight, factor)
        nested[name] = block
        flat |= child_flat
        expected |= child_expected
    return nested, flat, expected


@settings(max_examples=50, deadline=None)
@given(trees=st.lists(_TREE, min_size=1, max_size=3))
def test_well_formed_mix_flattens_to_path_products(trees: list[Any]) -> None:
    """Nested or flat-keyed, each leaf is the product of its path's weights with inherited rf."""
    assume(all(_depth(tree) < 12 for tree in trees))
    nested: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    expected: dict[str, MixLeaf] = {}
    for i, tree in enumerate(trees):
        block, leaves, wanted = _build(tree, (f"s{i}",), 1.0, None)
        nested[f"s{i}"] = block
        flat |= {
            name: (
                leaf["weight"]
                if leaf["repetition_factor"] is None
                else {"weight": leaf["weight"], "repetition_factor": leaf["repetition_factor"]}
            )
            for name, leaf in leaves.items()
        }
        expected |= wanted
    assert flatten_mix(nested) == expected
    assert flatten_mix(flat) == expected
