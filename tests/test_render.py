"""Tests for qupsample.renderer: the launch configs' bytes, content, and hostile names."""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import FAMILY, PROFILE_TABLE, REPO, TOPICS, all_paths, invoke, make_project
from hypothesis import given, settings
from hypothesis import strategies as st

from qupsample.errors import RenderError
from qupsample.renderer import Target, render, render_target
from qupsample.specmodels import Bucket, Layout, Profile, Scheme, SourceSpec, TopicSpec
from qupsample.specs import Loaded, Project, load_project
from qupsample.yamltext import comment_text, yaml_quoted, yaml_scalar

GENERATED = REPO / "generated"
SCHEMES = ["aggressive", "gradual"]
PROFILES = ["heavy_adult", "heavy_code", "heavy_science", "heavy_wiki"]
SETTINGS = {
    "budget": "ai2/oe-base",
    "workspace": "ai2/oe-data",
    "cluster": "ai2/jupiter",
    "priority": "high",
    "proxy_model_id": "olmo3_14m",
    "tokenizer": "dolma2",
    "chinchilla_multiple": 0.5,
    "nodes": 1,
    "gpus": 1,
    "global_batch_size": 16,
    "variants": 1,
    "seed": 42,
    "minimum_weight": 0.0001,
}
ALL_DRESSED = (
    "s3://ai2-llm/preprocessed/cc_all_dressed/all_dressed_v3/dclm_plus2_vigilantes/"
    "allenai/dolma2-tokenizer"
)
ARXIV = (
    "s3://ai2-llm/preprocessed/proof-pile-2/v0_decontaminated-0625_tokenized/arxiv/train/"
    "allenai/dolma2-tokenizer/*.npy"
)
WIKIPEDIA = "s3://ai2-llm/preprocessed/wikipedia-dolma-0823/allenai/dolma2-tokenizer/*.npy"
BUCKETS = {
    "top10pct": [18, 20],
    "10-30pct": [15, 16, 17],
    "30-50pct": [11, 12, 13, 14],
    "50-70pct": [7, 8, 9, 10],
}
FAST = settings(max_examples=60, deadline=None)
# A render takes ~0.1 s (template compile and parse-back), so fewer examples there.
RENDERS = settings(max_examples=20, deadline=None)


def quality(topic: str, bucket: str, weight: int) -> dict[str, Any]:
    """The expected quality entry of one bucket of one all_dressed topic."""
    paths = [f"{ALL_DRESSED}/{topic}/vigintile_{v:04d}/*.npy" for v in BUCKETS[bucket]]
    return {"name": bucket, "weight": weight, "paths": paths}


def generated(profile: str, scheme: str) -> str:
    """The committed config of a profile and scheme."""
    return (GENERATED / FAMILY / profile / f"{scheme}.yaml").read_text(encoding="utf-8")


# --- render equals generate -----------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_render_equals_generated_file(scheme: str, profile: str) -> None:
    """`render(scheme, profile)` returns exactly the bytes of the generated file."""
    path = GENERATED / FAMILY / profile / f"{scheme}.yaml"
    assert render(scheme, profile, root=REPO).encode("utf-8") == path.read_bytes()


# --- content of the configs -----------------------------------------------------------


def test_heavy_code_aggressive_has_exactly_two_buckets_per_topic() -> None:
    """heavy_code x aggressive: each topic has top10pct (70) and 10-30pct (30), nothing else."""
    config = yaml.safe_load(generated("heavy_code", "aggressive"))
    all_dressed = config["sources"][0]
    assert all_dressed["name"] == "all_dressed"
    assert [topic["name"] for topic in all_dressed["topics"]] == TOPICS
    for topic in all_dressed["topics"]:
        assert topic["quality"] == [
            quality(topic["name"], "top10pct", 70),
            quality(topic["name"], "10-30pct", 30),
        ]
        assert set(topic) == {"name", "weight", "quality"}


def test_heavy_code_gradual_adds_the_30_50pct_bucket() -> None:
    """heavy_code x gradual: top10pct 50, 10-30pct 30 and 30-50pct 20 (0011-0014)."""
    config = yaml.safe_load(generated("heavy_code", "gradual"))
    for topic in config["sources"][0]["topics"]:
        assert topic["quality"] == [
            quality(topic["name"], "top10pct", 50),
            quality(topic["name"], "10-30pct", 30),
            quality(topic["name"], "30-50pct", 20),
        ]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_config_weights_settings_and_sources_match_facts(scheme: str, profile: str) -> None:
    """Source and topic weights equal the facts table; settings and other sources are standard."""
    config = yaml.safe_load(generated(profile, scheme))
    source_weights, topic_weights = PROFILE_TABLE[profile]
    assert [(s["name"], s["weight"]) for s in config["sources"]] == list(
        zip(["all_dressed", "arxiv", "wikipedia"], source_weights, strict=True)
    )
    topics = config["sources"][0]["topics"]
    assert [(t["name"], t["weight"]) for t in topics] == list(
        zip(TOPICS, topic_weights, strict=True)
    )
    assert config["sources"][1:] == [
        {
            "name": "arxiv",
            "weight": source_weights[1],
            "max_repetition_factor": 1.5,
            "paths": [ARXIV],
        },
        {
            "name": "wikipedia",
            "weight": source_weights[2],
            "max_repetition_factor": 2.0,
            "paths": [WIKIPEDIA],
        },
    ]
    assert {key: config[key] for key in SETTINGS} == SETTINGS
    assert set(config) == {"name", "description", *SETTINGS, "sources"}
    assert config["name"] == f"quality-upsampling-{scheme}-{profile.replace('_', '-')}"
    assert config["description"] == (
        f"Quality upsampling experiment - {scheme} weighting with {profile.replace('_', ' ')} mix"
    )


def test_no_config_names_vigintile_19() -> None:
    """No generated or keep-zero config has a path with vigintile_0019."""
    texts = [generated(p, s) for p in PROFILES for s in SCHEMES]
    texts.append(render("gradual", "heavy_wiki", root=REPO, keep_zero=True))
    for text in texts:
        assert "vigintile_0019" not in text
        assert all("vigintile_0019" not in path for path in all_paths(yaml.safe_load(text)))


def test_numbers_are_echoed_as_written() -> None:
    """Weights stay ints (70, not 70.0); 0.0001, 0.5, 1.5 and 2.0 keep their spelling."""
    text = generated("heavy_code", "aggressive")
    lines = text.splitlines()
    assert "            weight: 70" in lines
    assert "    weight: 98" in lines
    assert "minimum_weight: 0.0001" in lines
    assert "chinchilla_multiple: 0.5" in lines
    assert "    max_repetition_factor: 1.5" in lines
    assert "    max_repetition_factor: 2.0" in lines
    assert [line for line in lines if line.endswith(".0")] == ["    max_repetition_factor: 2.0"]
    config = yaml.safe_load(text)
    assert type(config["sources"][0]["topics"][0]["quality"][0]["weight"]) is int
    assert type(config["sources"][2]["max_repetition_factor"]) is float


def test_header_states_tokens_usage_and_bucket_mapping() -> None:
    """The header says the trainer's training tokens (nominal beside) and the usage path."""
    lines = generated("heavy_code", "aggressive").splitlines()
    assert "# Expected training tokens: 0.5 x 20 x 13,895,808 = 138,958,080 (nominal 140M)" in lines
    assert (
        "# Usage: olmix launch run --config generated/quality_upsampling/heavy_code/aggressive.yaml"
        in lines
    )
    assert "#   top10pct 70: vigintiles 0018, 0020" in lines
    assert "#   30-50pct 0: vigintiles 0011, 0012, 0013, 0014 (weight 0, omitted)" in lines
    assert lines[0] == "# quality-upsampling-aggressive-heavy-code"


def test_keep_zero_writes_zero_buckets_with_weight_0() -> None:
    """With keep_zero, every bucket of the scheme is written, the zero ones as `weight: 0`."""
    text = render("aggressive", "heavy_code", root=REPO, keep_zero=True)
    config = yaml.safe_load(text)
    for topic in config["sources"][0]["topics"]:
        assert topic["quality"] == [
            quality(topic["name"], "top10pct", 70),
            quality(topic["name"], "10-30pct", 30),
            quality(topic["name"], "30-50pct", 0),
            quality(topic["name"], "50-70pct", 0),
        ]
    assert "            weight: 0" in text.splitlines()
    assert "(weight 0, omitted)" not in text


# --- unknown names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "profile", "message"),
    [
        pytest.param(
            "aggresive",
            "heavy_code",
            "render: scheme 'aggresive': not found — did you mean 'aggressive'?"
            " known: aggressive, gradual",
            id="scheme",
        ),
        pytest.param(
            "aggressive",
            "heavy_cod",
            "render: profile 'heavy_cod': not found — did you mean 'heavy_code'?"
            " known: heavy_adult, heavy_code, heavy_science, heavy_wiki",
            id="profile",
        ),
        pytest.param(
            "zzz",
            "heavy_code",
            "render: scheme 'zzz': not found — known: aggressive, gradual",
            id="scheme-nothing-close",
        ),
        pytest.param(
            "heavy_code",
            "aggressive",
            "render: scheme 'heavy_code': not found — 'heavy_code' is a profile and"
            " 'aggressive' a scheme: the scheme comes first,"
            " `qupsample render aggressive heavy_code`",
            id="swapped",
        ),
    ],
)
def test_unknown_name_lists_known_and_suggests_closest(
    tmp_path: Path, scheme: str, profile: str, message: str
) -> None:
    """An unknown scheme or profile exits 2 with one line listing the known names."""
    root = make_project(tmp_path)
    target = tmp_path / "config.yaml"
    args = ["render", scheme, profile, "--root", str(root), "-o", str(target)]
    assert invoke(*args) == (2, "", f"error: {message}\n")
    assert not target.exists()
    with pytest.raises(RenderError) as caught:
        render(scheme, profile, root=root)
    assert str(caught.value) == message


def test_template_syntax_error_is_a_user_error(tmp_path: Path) -> None:
    """A Jinja syntax error in the config template is one line naming the file: exit 2."""
    root = make_project(tmp_path, profiles=["heavy_code"])
    template = root / "templates" / "olmix-experiment.yaml.j2"
    template.write_text("{% for %}\n", encoding="utf-8")
    code, _, err = invoke("render", "aggressive", "heavy_code", "--root", str(root))
    assert code == 2
    assert err.startswith("error: templates/olmix-experiment.yaml.j2:1: ")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("value", "printed"), [("1e-3", "0.001"), ("2.5E2", "250.0")])
def test_set_reads_exponent_numbers(value: str, printed: str) -> None:
    """`--set chinchilla_multiple=1e-3` is a number, as in spec files."""
    text = render("aggressive", "heavy_code", root=REPO, overrides={"chinchilla_multiple": value})
    assert f"\nchinchilla_multiple: {printed}\n" in text


# --- YAML scalars ---------------------------------------------------------------------

BREAKS = "\n\r\x85\u2028\u2029"


@FAST
@given(st.text())
def test_yaml_scalar_round_trips_any_string(value: str) -> None:
    """Any string written as a YAML scalar reads back as the same string, on one line."""
    for text in (yaml_scalar(value), yaml_quoted(value)):
        assert not any(char in text for char in BREAKS)
        assert yaml.safe_load(f"key: {text}\n") == {"key": value}


@FAST
@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_yaml_scalar_round_trips_numbers(value: float) -> None:
    """Ints stay ints and floats stay floats of the same value."""
    loaded = yaml.safe_load(f"key: {yaml_scalar(value)}\n")["key"]
    assert type(loaded) is type(value)
    assert loaded == value or (math.isnan(loaded) and math.isnan(value))


@FAST
@given(st.text())
def test_comment_text_stays_on_one_line(value: str) -> None:
    """Comment text has no character YAML reads as a line break."""
    text = comment_text(value)
    assert not any(char in text for char in BREAKS)
    assert yaml.safe_load(f"# {text}\nkey: 1\n") == {"key": 1}


def test_yaml_scalar_spells_numbers_as_written() -> None:
    """70 -> 70, 2.0 -> 2.0, 0.0001 -> 0.0001, 1e20 -> 1.0e+20 (a float in YAML 1.1)."""
    assert [yaml_scalar(v) for v in (70, 2.0, 0.0001, 1e20, True, None)] == [
        "70",
        "2.0",
        "0.0001",
        "1.0e+20",
        "true",
        "null",
    ]
    assert [yaml_scalar(v) for v in ("top10pct", "10-30pct", "null", "1.5", "a: b")] == [
        "top10pct",
        "10-30pct",
        '"null"',
        '"1.5"',
        '"a: b"',
    ]


# --- hostile names --------------------------------------------------------------------

SMALL_LAYOUT = Layout(
    data_root="unused",
    sources={"web": "{data_root}/web/{topic}/v{vigintile}/*.npy", "wiki": "{data_root}/wiki/*.npy"},
)


@functools.cache
def _repo_project() -> Project:
    return load_project(REPO)


def render_with_names(
    scheme: str, profile: str, buckets: list[str], topics: list[str], data_root: str
) -> str:
    """Renders a config whose scheme, profile, bucket and topic names are the given ones."""
    base = _repo_project()
    scheme_spec = Scheme(
        buckets={b: Bucket(vigintiles=[i + 1], weight=i + 1) for i, b in enumerate(buckets)}
    )
    profile_spec = Profile(
        sources={
            "web": SourceSpec(
                weight=3, topics={t: TopicSpec(weight=i + 1) for i, t in enumerate(topics)}
            ),
            "wiki": SourceSpec(weight=1, max_repetition_factor=2.0),
        }
    )
    family = replace(
        base.families[FAMILY],
        schemes={scheme: Loaded(scheme, f"schemes/weighting/{scheme}.yaml", scheme_spec)},
        profiles={profile: Loaded(profile, f"schemes/profiles/{profile}.yaml", profile_spec)},
    )
    project = base.with_specs(layout=SMALL_LAYOUT, families={FAMILY: family})
    return render_target(project, Target(family, scheme, profile), base.settings, data_root)


NAMES = st.text(min_size=1, max_size=12)


@RENDERS
@given(
    scheme=NAMES,
    profile=NAMES,
    buckets=st.lists(NAMES, min_size=1, max_size=3, unique=True),
    topics=st.lists(NAMES, min_size=1, max_size=3, unique=True),
    data_root=st.text(min_size=1, max_size=16),
)
def test_any_names_render_as_plain_strings(
    scheme: str, profile: str, buckets: list[str], topics: list[str], data_root: str
) -> None:
    """Whatever the names and data root hold, the parsed config has exactly their structure."""
    config = yaml.safe_load(render_with_names(scheme, profile, buckets, topics, data_root))
    assert set(config) == {"name", "description", *SETTINGS, "sources"}
    assert config["name"] == f"quality-upsampling-{scheme}-{profile.replace('_', '-')}"
    assert config["sources"] == [
        {
            "name": "web",
            "weight": 3,
            "topics": [
                {
                    "name": topic,
                    "weight": i + 1,
                    "quality": [
                        {
                            "name": bucket,
                            "weight": j + 1,
                            "paths": [f"{data_root}/web/{topic}/v{j + 1:04d}/*.npy"],
                        }
                        for j, bucket in enumerate(buckets)
                    ],
                }
                for i, topic in enumerate(topics)
            ],
        },
        {
            "name": "wiki",
            "weight": 1,
            "max_repetition_factor": 2.0,
            "paths": [f"{data_root}/wiki/*.npy"],
        },
    ]


HOSTILE = [
    "a: b",
    "x # y",
    "x\ny: 1",
    'it\'s "q"',
    "- x",
    "{a: 1}",
    "u\u2028v",
    "[1, 2]",
    "&a *a !!str",
    "null",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_from_spec_files_render_as_plain_strings(tmp_path: Path, name: str) -> None:
    """A bucket, topic and data root with YAML syntax stay plain strings (spec file names
    are clean identifiers, so a scheme and a profile cannot carry it)."""
    profile = {
        "sources": {
            "all_dressed": {"weight": 98, "topics": {name: 50, "plain": 50}},
            "arxiv": {"weight": 1, "max_repetition_factor": 1.5},
            "wikipedia": {"weight": 1, "max_repetition_factor": 2.0},
        }
    }
    scheme = {
        "buckets": {
            name: {"vigintiles": [18, 20], "weight": 70},
            "rest": {"vigintiles": [15], "weight": 30},
        }
    }
    layout = yaml.safe_load((REPO / "schemes" / "layout.yaml").read_text(encoding="utf-8"))
    layout["topics"]["all_dressed"] += [name, "plain"]  # topics must be the layout's
    root = make_project(
        tmp_path,
        {
            "schemes/profiles/odd.yaml": yaml.safe_dump(profile, sort_keys=False),
            "schemes/weighting/odd.yaml": yaml.safe_dump(scheme, sort_keys=False),
            "schemes/layout.yaml": yaml.safe_dump(layout, sort_keys=False),
        },
    )
    data_root = f"s3://bucket/{name}"
    args = ["render", "--root", str(root), "--set", f"data_root={data_root}", "odd", "odd"]
    code, out, err = invoke(*args)
    assert code == 0, err
    config = yaml.safe_load(out)
    prefix = data_root + ALL_DRESSED.removeprefix("s3://ai2-llm/preprocessed")
    assert set(config) == {"name", "description", *SETTINGS, "sources"}
    assert config["name"] == "quality-upsampling-odd-odd"
    assert [s["name"] for s in config["sources"]] == ["all_dressed", "arxiv", "wikipedia"]
    assert config["sources"][0]["topics"] == [
        {
            "name": topic,
            "weight": 50,
            "quality": [
                {
                    "name": name,
                    "weight": 70,
                    "paths": [
                        f"{prefix}/{topic}/vigintile_0018/*.npy",
                        f"{prefix}/{topic}/vigintile_0020/*.npy",
                    ],
                },
                {"name": "rest", "weight": 30, "paths": [f"{prefix}/{topic}/vigintile_0015/*.npy"]},
            ],
        }
        for topic in (name, "plain")
    ]
    assert [s["paths"] for s in config["sources"][1:]] == [
        [ARXIV.replace("s3://ai2-llm/preprocessed", data_root)],
        [WIKIPEDIA.replace("s3://ai2-llm/preprocessed", data_root)],
    ]


def test_a_swapped_pair_shows_the_pair_the_right_way_round() -> None:
    """`resolve heavy_code:aggressive` says which is which and shows `aggressive:heavy_code`."""
    code, out, err = invoke("resolve", "heavy_code:aggressive", "--offline", "--root", str(REPO))
    assert (code, out) == (2, "")
    assert err == (
        "error: heavy_code:aggressive: scheme 'heavy_code': not found — 'heavy_code' is a"
        " profile and 'aggressive' a scheme: the scheme comes first, `aggressive:heavy_code`\n"
    )
