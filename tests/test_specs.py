"""Tests for qupsample.specs: loading the spec files, and bad specs as one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    FAMILY,
    PROFILE_TABLE,
    REPO,
    TOPICS,
    assert_one_error_line,
    invoke,
    make_project,
    read_tree,
)

from qupsample.errors import SpecError
from qupsample.specs import closest, edits, find_root, load_project, suggest

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
    project = load_project(REPO)
    spec = project.families[FAMILY].profiles[profile].spec
    source_weights, topic_weights = PROFILE_TABLE[profile]
    assert {name: s.weight for name, s in spec.sources.items()} == dict(
        zip(["all_dressed", "arxiv", "wikipedia"], source_weights, strict=True)
    )
    topics = spec.sources["all_dressed"].topics or {}
    assert {name: t.weight for name, t in topics.items()} == dict(
        zip(TOPICS, topic_weights, strict=True)
    )
    # The sources' repetition is said once, in the layout; no profile overrides it.
    assert project.layout.max_repetition_factor == {"arxiv": 1.5, "wikipedia": 2.0}
    assert all(s.max_repetition_factor is None for s in spec.sources.values())


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
        f"{AGGRESSIVE}: buckets.top10pct.weight: must be a number, got '70'"
        " — write it as a plain number, without quotes: 70",
        id="string-weight",
    ),
    pytest.param(
        AGGRESSIVE,
        "description: Steep\nbuckets:\ntop10pct: 90\n10-30pct: 10\n",
        f"{AGGRESSIVE}: buckets: is empty, and top10pct, 10-30pct below it are unknown"
        " — indent them under `buckets:`",
        id="buckets-not-indented",
    ),
    pytest.param(
        HEAVY_CODE,
        "sources:\n  all_dressed:\n    weight: 98\n    topics:\n    politics: 1\n",
        f"{HEAVY_CODE}: sources.all_dressed.topics: is empty, and politics below it is unknown"
        " — indent it under `topics:`",
        id="topics-not-indented",
    ),
    pytest.param(
        AGGRESSIVE,
        "buckets:\n  top10pct: 90%\n  10-30pct: 10\n",
        f"{AGGRESSIVE}: buckets: top10pct: got '90%'"
        " — weights are plain numbers, without %: `top10pct: 90`",
        id="percent-weight",
    ),
    pytest.param(
        AGGRESSIVE,
        _bucket("70%"),
        f"{AGGRESSIVE}: buckets.top10pct.weight: must be a number, got '70%'"
        " — write it as a plain number, without %: 70",
        id="percent-weight-field",
    ),
    pytest.param(
        AGGRESSIVE,
        "buckets:\n  top10pct:\n  10-30pct: 10\n",
        f"{AGGRESSIVE}: buckets: top10pct has no value"
        " — give it a weight, a plain number: `top10pct: 10`",
        id="empty-weight",
    ),
    pytest.param(
        HEAVY_CODE,
        "sources:\n  all_dressed:\n    weight: 98\n    topics: {politics: 5%}\n",
        f"{HEAVY_CODE}: sources.all_dressed.topics: politics: got '5%'"
        " — weights are plain numbers, without %: `politics: 5`",
        id="percent-topic-weight",
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
    root = tmp_path / "project"
    (root / "schemes" / "weighting").mkdir(parents=True)
    (root / "templates").mkdir()
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


FACTS_PROXIES = {
    **{f"olmo3_{s}": n for s, n in [("1m", 1e6), ("14m", 14e6), ("30m", 30e6), ("60m", 60e6),
        ("100m", 100e6), ("190m", 190e6), ("370m", 370e6), ("600m", 600e6), ("760m", 760e6),
        ("1b", 1e9), ("3b", 3e9), ("7b", 7e9), ("13b", 13e9), ("32b", 32e9)]},
    **{f"olmo2_{s}": n for s, n in [("1m", 1e6), ("30m", 30e6), ("60m", 60e6), ("190m", 190e6),
        ("1b", 1e9), ("7b", 7e9)]},
}  # fmt: skip


def test_proxy_models_match_the_facts() -> None:
    """schemes/proxies.yaml lists olmix's proxy models with their parameters, 20 tokens each."""
    from qupsample.specs import load_proxies

    proxies = load_proxies(REPO)
    assert proxies.tokens_per_parameter == 20
    assert {k: m.nominal for k, m in proxies.proxy_models.items()} == {
        k: int(v) for k, v in FACTS_PROXIES.items()
    }
    assert proxies.training_tokens("olmo3_14m", 0.5) == 140_000_000  # no tokenizer: nominal
    assert proxies.training_tokens("olmo3_14m", 0.5, "dolma2") == 138_958_080
    assert proxies.dtype("dolma2") == "uint32"
    assert proxies.dtype("gpt-neox-20b") == "uint16"


def test_adding_a_proxy_model_is_one_yaml_line(tmp_path: Path) -> None:
    """One line in proxies.yaml and --set proxy_model_id uses it, header and budget alike."""
    proxies = (REPO / "schemes" / "proxies.yaml").read_text(encoding="utf-8")
    edited = proxies.replace("proxy_models:\n", "proxy_models:\n  olmo3_5m: 5_000_000\n")
    root = make_project(tmp_path, {"schemes/proxies.yaml": edited})
    code, out, err = invoke(
        "render",
        "aggressive",
        "heavy_code",
        "--root",
        str(root),
        "--set",
        "proxy_model_id=olmo3_5m",
    )
    assert code == 0, err
    assert (
        "# Expected training tokens: 0.5 x 20 x 5M = 50M (nominal: the trainer's size of"
        " olmo3_5m with dolma2 is unknown)\n"
    ) in out
    assert "\nproxy_model_id: olmo3_5m\n" in out
    code, out, err = invoke(
        "render",
        "aggressive",
        "heavy_code",
        "--root",
        str(REPO),
        "--set",
        "proxy_model_id=olmo3_5m",
    )
    assert code == 2
    assert err.startswith("error: --set: proxy_model_id: unknown proxy model 'olmo3_5m'")
    assert "known (schemes/proxies.yaml): olmo3_1m, olmo3_14m" in err


def test_unknown_proxy_in_settings_names_the_file(tmp_path: Path) -> None:
    """A settings file naming a proxy model the project does not list: one line, exit 2."""
    settings = (REPO / "schemes" / "settings.yaml").read_text(encoding="utf-8")
    root = make_project(
        tmp_path, {"schemes/settings.yaml": settings.replace("olmo3_14m", "olmo3_14n")}
    )
    code, _, err = invoke("list", "--root", str(root))
    assert code == 2
    assert err.startswith(
        "error: schemes/settings.yaml: proxy_model_id: unknown proxy model 'olmo3_14n'"
        " — did you mean 'olmo3_14m'?"
    )


def test_schemes_take_bucket_vigintiles_from_the_layout() -> None:
    """`top10pct: 70` in a scheme means the layout's top10pct vigintiles, weight 70."""
    project = load_project(REPO)
    bucket = project.families[FAMILY].schemes["aggressive"].spec.buckets["top10pct"]
    assert (bucket.vigintiles, bucket.weight) == ([18, 20], 70)
    assert project.layout.buckets["top10pct"] == [18, 20]


@pytest.mark.parametrize(
    ("scheme", "message"),
    [
        (
            "description: Steep - top10%=90, rest=0\nbuckets:\n  top10pct: 80\n  10-30pct: 20\n",
            "description: says top10%=90, but buckets.top10pct.weight is 80 — make them agree",
        ),
        (
            "description: Steep - top10%=80, rest=0\nbuckets:\n  top10pct: 80\n  10-30pct: 20\n",
            "description: says rest=0, but 10-30pct disagrees — make them agree",
        ),
        (
            "buckets:\n  top5pct: 80\n  10-30pct: 20\n",
            "buckets.top5pct: no vigintiles, and schemes/layout.yaml has no bucket 'top5pct'",
        ),
    ],
)
def test_scheme_descriptions_and_buckets_are_checked(
    tmp_path: Path, scheme: str, message: str
) -> None:
    """A description that restates other weights, or a bucket the layout lacks: one line."""
    root = make_project(tmp_path, {"schemes/weighting/steep.yaml": scheme})
    code, _, err = invoke("list", "--root", str(root))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: schemes/weighting/steep.yaml: {message}")


# --- exact or loud: names and weights are checked where they are written ----------------


def _heavy_code(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / "schemes" / "profiles" / "heavy_code.yaml").read_text(encoding="utf-8")
    assert old in text
    return make_project(
        tmp_path,
        {"schemes/profiles/heavy_code.yaml": text.replace(old, new)},
        profiles=["heavy_code"],
    )


def test_a_source_without_weight_beside_weighted_ones_is_refused(tmp_path: Path) -> None:
    """all_dressed without a weight beside arxiv and wikipedia is never silently 0."""
    root = _heavy_code(tmp_path, "  all_dressed:\n    weight: 98\n", "  all_dressed:\n")
    for template in ("olmix-experiment", "olmix-launch"):
        code, out, err = invoke("render", "aggressive", "heavy_code", "--root", root,
                                "--template", template)  # fmt: skip
        assert_one_error_line(
            code,
            out,
            err,
            "schemes/profiles/heavy_code.yaml: sources: all_dressed has no weight while its"
            " siblings arxiv, wikipedia have one",
            "give every source a weight, or drop the weights of all to split by token counts",
        )


def test_a_bucket_or_topic_without_weight_beside_weighted_ones_is_refused(
    tmp_path: Path,
) -> None:
    """The same rule holds for topics in a profile and for buckets in a scheme."""
    root = _heavy_code(tmp_path, "      politics: 5\n", "      politics: {}\n")
    code, out, err = invoke("render", "aggressive", "heavy_code", "--root", root)
    assert_one_error_line(code, out, err, "sources.all_dressed.topics", "politics has no weight")
    scheme = make_project(
        tmp_path / "s", {"schemes/weighting/aggressive.yaml": "buckets:\n  top10pct: 70\n"
                         "  10-30pct: {}\n"}, profiles=["heavy_code"],
    )  # fmt: skip
    code, out, err = invoke("render", "aggressive", "heavy_code", "--root", scheme)
    assert_one_error_line(code, out, err, "aggressive.yaml: buckets", "10-30pct has no weight")


def test_a_misspelt_topic_is_refused_at_render_with_did_you_mean(tmp_path: Path) -> None:
    """A topic that is no folder of the layout fails at render and generate, not at storage."""
    root = _heavy_code(tmp_path, "science_math_and_technology:", "science_math_and_technolgy:")
    for args in (["render", "aggressive", "heavy_code"], ["generate", "--out", tmp_path / "o"]):
        code, out, err = invoke(*args, "--root", root)
        assert_one_error_line(
            code,
            out,
            err,
            "schemes/profiles/heavy_code.yaml: sources.all_dressed.topics."
            "science_math_and_technolgy: unknown topic",
            "did you mean 'science_math_and_technology'?",
            "(schemes/layout.yaml)",
        )
    assert not (tmp_path / "o").exists()


def test_layout_topics_must_belong_to_a_source_split_by_topic(tmp_path: Path) -> None:
    """`topics:` for a source without {topic} in its pattern is a layout error."""
    layout = (REPO / "schemes" / "layout.yaml").read_text(encoding="utf-8")
    root = make_project(
        tmp_path, {"schemes/layout.yaml": layout + "  arxiv: [a]\n"}, profiles=["heavy_code"]
    )
    code, out, err = invoke("list", "--root", root)
    assert_one_error_line(code, out, err, "layout.yaml", "'arxiv' has no {topic}")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("olmo3_15m", "olmo3_14m"),
        ("olmo3_1n", "olmo3_1m"),
        ("olmo3_60", "olmo3_60m"),
        ("agressive", "aggressive"),
        ("zzz", None),
    ],
)
def test_closest_prefers_fewest_edits_then_same_length(name: str, expected: str | None) -> None:
    """A misspelt name suggests the known name fewest edits away, the same length first."""
    proxies = list(load_project(REPO).proxies.proxy_models)
    assert closest(name, [*proxies, "aggressive", "gradual"]) == expected


def test_suggest_names_the_closest_proxy() -> None:
    """`olmo3_15m` suggests `olmo3_14m`, not `olmo3_1m` (which difflib alone prefers)."""
    assert suggest("olmo3_15m", ["olmo3_1m", "olmo3_14m"]).startswith(
        "did you mean 'olmo3_14m'? known: "
    )
    assert (edits("kitten", "sitting"), edits("", "ab"), edits("ab", "ab")) == (3, 2, 0)


def test_an_eval_suite_may_end_in_yml(tmp_path: Path) -> None:
    """schemes/evals/inloop.yml is read like .yaml, as every other spec file is."""
    root = make_project(tmp_path, profiles=["heavy_code"])
    evals = root / "schemes" / "evals"
    (evals / "inloop.yaml").rename(evals / "inloop.yml")
    code, out, err = invoke("render", "gradual", "heavy_code", "--template", "olmix-launch",
                            "--root", root)  # fmt: skip
    assert code == 0, err
    expected = render_text("gradual", "heavy_code", "olmix-launch")
    assert out == expected.replace("schemes/evals/inloop.yaml", "schemes/evals/inloop.yml")


def render_text(scheme: str, profile: str, template: str) -> str:
    """The bytes REPO renders for a pair (with a template), for comparison."""
    from qupsample.renderer import render

    return render(scheme, profile, root=REPO, template=template)
