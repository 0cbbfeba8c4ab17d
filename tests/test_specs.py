"""Tests for qupsample.specs: loading the spec files, and bad specs as one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FAMILY, PROFILE_TABLE, REPO, TOPICS, invoke, make_project, read_tree

from qupsample.errors import SpecError
from qupsample.specs import find_root, load_project

AGGRESSIVE = "schemes/weighting/aggressive.yaml"
HEAVY_CODE = "schemes/profiles/heavy_code.yaml"


# --- the repo's specs -----------------------------------------------------------------


def test_repo_family_crosses_two_schemes_with_four_profiles() -> None:
    """The repo's quality_upsampling family has the plan's 2 schemes and 4 profiles."""
    family = load_project(REPO).families[FAMILY]
    assert list(family.schemes) == ["aggressive", "gradual"]
    assert list(family.profiles) == list(PROFILE_TABLE)
    assert family.spec.output == FAMILY


@pytest.mark.parametrize("profile", PROFILE_TABLE)
def test_repo_profiles_match_facts_table(profile: str) -> None:
    """Each profile's source and topic weights equal the facts file's table."""
    spec = load_project(REPO).families[FAMILY].profiles[profile].spec
    source_weights, topic_weights = PROFILE_TABLE[profile]
    assert {name: s.weight for name, s in spec.sources.items()} == dict(
        zip(["all_dressed", "arxiv", "wikipedia"], source_weights, strict=True)
    )
    topics = spec.sources["all_dressed"].topics or {}
    assert {name: t.weight for name, t in topics.items()} == dict(
        zip(TOPICS, topic_weights, strict=True)
    )
    assert spec.sources["arxiv"].max_repetition_factor == 1.5
    assert spec.sources["wikipedia"].max_repetition_factor == 2.0


def test_repo_schemes_match_plan() -> None:
    """The schemes hold the plan's vigintile mapping and weights; vigintile 19 is missing."""
    project = load_project(REPO)
    schemes = project.families[FAMILY].schemes
    expected = {
        "top10pct": ([18, 20], 70, 50),
        "10-30pct": ([15, 16, 17], 30, 30),
        "30-50pct": ([11, 12, 13, 14], 0, 20),
        "50-70pct": ([7, 8, 9, 10], 0, 0),
    }
    for index, scheme in enumerate(["aggressive", "gradual"]):
        buckets = schemes[scheme].spec.buckets
        assert {name: (b.vigintiles, b.weight) for name, b in buckets.items()} == {
            name: (vigintiles, weights[index]) for name, (vigintiles, *weights) in expected.items()
        }
    assert project.layout.vigintiles.missing == [19]


# --- bad specs ------------------------------------------------------------------------


def _bucket(weight: str) -> str:
    return f"buckets:\n  top10pct:\n    vigintiles: [18, 20]\n    weight: {weight}\n"


def _vigintiles(vigintiles: str) -> str:
    return f"buckets:\n  top10pct:\n    vigintiles: {vigintiles}\n    weight: 70\n"


PROFILE_WITH_UNKNOWN_SOURCE = """\
sources:
  all_dressed:
    weight: 98
    topics: {politics: 1}
  arxiv:
    weight: 1
  wikipeda:
    weight: 1
"""

BAD_SPECS = [
    pytest.param(
        AGGRESSIVE,
        "buckets:\n  top10pct:\n    vigintiles: [18, 20\n    weight: 70\n",
        f"{AGGRESSIVE}:4: expected ',' or ']', but got ':' — fix the YAML syntax",
        id="malformed-yaml",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket("70") + "  top10pct:\n    vigintiles: [15]\n",
        f"{AGGRESSIVE}:5: duplicate key 'top10pct' — fix the YAML syntax",
        id="duplicate-key",
    ),
    pytest.param(
        AGGRESSIVE,
        "buckets:\n  top10pct:\n    vigintiles: [18, 20]\n    wieght: 70\n",
        f"{AGGRESSIVE}: buckets.top10pct.wieght: unknown field — did you mean 'weight'?",
        id="unknown-field",
    ),
    pytest.param(
        AGGRESSIVE,
        "bukets:\n  top10pct:\n    vigintiles: [18, 20]\n",
        f"{AGGRESSIVE}: bukets: unknown field (and 1 more) — did you mean 'buckets'?",
        id="unknown-top-level-field",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket("-5"),
        f"{AGGRESSIVE}: buckets.top10pct.weight: must be a finite number >= 0, got -5",
        id="negative-weight",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket(".nan"),
        f"{AGGRESSIVE}: buckets.top10pct.weight: must be a finite number >= 0, got nan",
        id="nan-weight",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket(".inf"),
        f"{AGGRESSIVE}: buckets.top10pct.weight: must be a finite number >= 0, got inf",
        id="inf-weight",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket("'70'"),
        f"{AGGRESSIVE}: buckets.top10pct.weight: must be a number, got '70'",
        id="string-weight",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket("0") + "  10-30pct:\n    vigintiles: [15]\n    weight: 0.0\n",
        f"{AGGRESSIVE}: buckets: every bucket weight is 0 — give at least one bucket a weight > 0",
        id="all-weights-zero",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket("70") + "  10-30pct:\n    vigintiles: [15, 18]\n    weight: 30\n",
        f"{AGGRESSIVE}: buckets: vigintile 18 is in both 'top10pct' and '10-30pct'"
        " — a vigintile belongs to one bucket",
        id="vigintile-in-two-buckets",
    ),
    pytest.param(
        AGGRESSIVE,
        _vigintiles("[18, 21]"),
        f"{AGGRESSIVE}: buckets.top10pct.vigintiles: vigintile 21 is outside 1-20"
        " — remove or fix it",
        id="vigintile-above-20",
    ),
    pytest.param(
        AGGRESSIVE,
        _vigintiles("[0, 18]"),
        f"{AGGRESSIVE}: buckets.top10pct.vigintiles: vigintile 0 is outside 1-20"
        " — remove or fix it",
        id="vigintile-0",
    ),
    pytest.param(
        AGGRESSIVE,
        _vigintiles("[18, 19, 20]"),
        f"{AGGRESSIVE}: buckets.top10pct.vigintiles: vigintile 19 does not exist in the data"
        " (schemes/layout.yaml) — remove or fix it",
        id="vigintile-19",
    ),
    pytest.param(
        HEAVY_CODE,
        PROFILE_WITH_UNKNOWN_SOURCE,
        f"{HEAVY_CODE}: sources.wikipeda: unknown source — did you mean 'wikipedia'?"
        " known sources (schemes/layout.yaml): all_dressed, arxiv, wikipedia",
        id="profile-unknown-source",
    ),
    pytest.param(
        HEAVY_CODE,
        PROFILE_WITH_UNKNOWN_SOURCE.replace("{politics: 1}", "{politics: -1}").replace(
            "wikipeda", "wikipedia"
        ),
        f"{HEAVY_CODE}: sources.all_dressed.topics.politics.weight:"
        " must be a finite number >= 0, got -1",
        id="profile-negative-topic-weight",
    ),
    pytest.param(
        HEAVY_CODE,
        PROFILE_WITH_UNKNOWN_SOURCE.replace("wikipeda", "wikipedia")
        .replace("weight: 98", "weight: 0")
        .replace("weight: 1", "weight: 0"),
        f"{HEAVY_CODE}: sources: every source weight is 0 — give at least one source a weight > 0",
        id="profile-source-weights-all-zero",
    ),
    pytest.param(
        HEAVY_CODE,
        PROFILE_WITH_UNKNOWN_SOURCE.replace("wikipeda", "wikipedia").replace(
            "{politics: 1}", "{politics: 0, art_and_design: 0.0}"
        ),
        f"{HEAVY_CODE}: sources.all_dressed.topics: every topic weight is 0"
        " — give at least one topic a weight > 0",
        id="profile-topic-weights-all-zero",
    ),
    pytest.param(
        "schemes/settings.yaml",
        (REPO / "schemes" / "settings.yaml").read_text().replace("nodes: 1", "nodes: 1.5"),
        "schemes/settings.yaml: nodes: Input should be a valid integer, got 1.5",
        id="settings-wrong-type",
    ),
]


@pytest.mark.parametrize(("path", "text", "message"), BAD_SPECS)
def test_bad_spec_is_one_line_error_and_writes_nothing(
    tmp_path: Path, path: str, text: str, message: str
) -> None:
    """A bad spec exits 2 with `error: <file>: <field>: ...` on one line and writes nothing."""
    root = make_project(tmp_path, {path: text})
    out = tmp_path / "out"
    (out / FAMILY).mkdir(parents=True)
    (out / FAMILY / "README.md").write_text("old\n")
    before = read_tree(out)
    target = tmp_path / "config.yaml"
    for args in (
        ["generate", "--root", str(root), "--out", str(out)],
        ["generate", "--check", "--root", str(root), "--out", str(out)],
        ["render", "aggressive", "heavy_code", "--root", str(root), "-o", str(target)],
        ["list", "--root", str(root)],
    ):
        code, stdout, stderr = invoke(*args)
        assert (code, stdout) == (2, ""), args
        assert stderr == f"error: {message}\n", args
    assert read_tree(out) == before
    assert not target.exists()
    with pytest.raises(SpecError) as caught:
        load_project(root)
    assert str(caught.value) == message


def test_missing_spec_file_names_the_file(tmp_path: Path) -> None:
    """A missing settings.yaml is a one-line error naming the file."""
    root = make_project(tmp_path)
    (root / "schemes" / "settings.yaml").unlink()
    with pytest.raises(SpecError, match=r"^schemes/settings\.yaml: file not found — create it$"):
        load_project(root)


# --- root discovery -------------------------------------------------------------------


def test_find_root_walks_up_from_a_subfolder(tmp_path: Path) -> None:
    """The root is the nearest folder at or above the start holding schemes/ and templates/."""
    root = make_project(tmp_path)
    assert find_root(start=root / "schemes" / "weighting") == root.resolve()
    assert find_root(start=root) == root.resolve()


def test_find_root_rejects_folder_without_specs(tmp_path: Path) -> None:
    """An explicit root without schemes/ and templates/ is a one-line error naming it."""
    with pytest.raises(SpecError) as caught:
        find_root(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: has no schemes/ and templates/ folders"
        " — create them with `qupsample init DIR`; or pass the folder that holds them"
        ' with root="DIR"'
    )
