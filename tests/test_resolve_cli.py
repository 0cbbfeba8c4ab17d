"""Tests for `qupsample resolve`: exact output and exit codes, then the effect via the API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import (
    REPO,
    assert_one_error_line,
    closed_port,
    entry,
    invoke,
    table_rows,
    write_config,
    write_objects,
)
from s3lab import S3Lab

from qupsample.resolve import resolve

GENERATED = sorted((REPO / "generated" / "quality_upsampling").glob("*/*.yaml"))
BUCKET = "qupsample-cli"
# Tokens of each `.npy` object (uint32) by folder; every folder also holds a sidecar.
FOLDERS = {"web/v20": (400, 600), "wiki": (200, 300)}


def small_config(root: str, **settings: Any) -> dict[str, Any]:
    """web (3) with one quality bucket over web/v20, wiki (1, max 2x) over wiki."""
    return {
        "name": "cli-mix",
        "proxy_model_id": "olmo3_14m",
        "tokenizer": "dolma2",
        "chinchilla_multiple": 0.5,
        **settings,
        "sources": [
            entry("web", 3, quality=[entry("hi", paths=[f"{root}/web/v20/*.npy"])]),
            entry("wiki", 1, max_repetition_factor=2.0, paths=[f"{root}/wiki/*.npy"]),
        ],
    }


def objects() -> dict[str, int]:
    """Object sizes by key: the `.npy` parts plus an odd-sized sidecar per folder."""
    sizes: dict[str, int] = {}
    for folder, counts in FOLDERS.items():
        for part, count in enumerate(counts):
            sizes[f"{folder}/part-{part:05d}.npy"] = 4 * count
        sizes[f"{folder}/_metadata.json"] = 13
    return sizes


@pytest.fixture
def s3_config(s3: S3Lab, tmp_path: Path) -> Path:
    """The small layout in moto S3 and a config file over it."""
    s3.fill(BUCKET, objects())
    s3.proxy.reset()
    return write_config(tmp_path, small_config(f"s3://{BUCKET}"))


@pytest.fixture
def local_config(tmp_path: Path) -> Path:
    """The small layout on local disk and a config file over it."""
    return write_config(tmp_path, small_config(write_objects(tmp_path / "data", objects())))


# ------------------------------------------------------------------ output


def test_table_lists_every_leaf_with_its_weight(local_config: Path) -> None:
    """The default table shows each leaf's tokens, weight %, repetition and the budget."""
    result = invoke("resolve", local_config, "--training-tokens", 1_000)
    assert result.code == 0, result.err
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[0].strip() == "cli-mix"
    # web: 3/4 of 1,000 over 1,000 tokens; wiki: 1/4 over 500 tokens.
    rows = table_rows(result.out)
    assert rows["web:hi"] == ["1K", "75.000", "750", "0.750x of 1x"]
    assert rows["wiki"] == ["500", "25.000", "250", "0.500x of 2x"]
    # The largest budget: web reaches 1x at 1,000 / 0.75 = 1,333 tokens.
    assert "training tokens 1K (1,000); counts listed just now; feasible up to 1.333K tokens" in (
        result.out
    )


def test_json_and_csv_match_the_api(local_config: Path) -> None:
    """--format json and csv print exactly what the library's to_json / to_csv return."""
    mix = resolve(local_config, training_tokens=1_000, cache=False)
    as_json = invoke("resolve", local_config, "-f", "json", "--training-tokens", 1_000)
    assert as_json.code == 0, as_json.err
    assert as_json.out == mix.to_json()
    data = json.loads(as_json.out)
    assert data["training_tokens"] == 1_000
    assert [(leaf["leaf"], leaf["tokens"]) for leaf in data["leaves"]] == [
        ("web:hi", 1_000),
        ("wiki", 500),
    ]
    as_csv = invoke("resolve", local_config, "--format", "csv", "--training-tokens", 1_000)
    assert as_csv.code == 0, as_csv.err
    assert as_csv.out == mix.to_csv()
    assert as_csv.out.splitlines()[0] == "path,leaf,objects,tokens,weight"


def test_csv_leaves_gives_a_row_per_leaf(local_config: Path) -> None:
    """--format csv-leaves: one row per leaf with weight, tokens, requested, repetition."""
    mix = resolve(local_config, training_tokens=1_000, cache=False)
    result = invoke("resolve", local_config, "-f", "csv-leaves", "--training-tokens", 1_000)
    assert result.code == 0, result.err
    assert (
        result.out
        == mix.to_csv("leaves")
        == (
            "leaf,weight,tokens,requested_tokens,repetition_factor,max_repetition_factor\n"
            "web:hi,0.75,1000,750,0.75,1.0\n"
            "wiki,0.25,500,250,0.5,2.0\n"
        )
    )


def test_csv_leaves_offline_leaves_unknown_cells_empty() -> None:
    """Offline, tokens and repetition are empty cells; weights and requested tokens known."""
    result = invoke(
        "resolve", "aggressive:heavy_code", "--offline", "-f", "csv-leaves", "--root", str(REPO)
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 1 + 14
    assert lines[1] == "all_dressed:science_math_and_technology:top10pct,0.14,,19454131,,1.0"


@pytest.mark.s3
def test_infeasible_mix_exits_3_naming_the_leaf(s3: S3Lab, s3_config: Path) -> None:
    """A leaf over its limit exits 3 naming it; --allow-repetition prints the same and exits 0."""
    args = ["resolve", s3_config, "--endpoint-url", s3.proxy.url, "--training-tokens", 2_000]
    result = invoke(*args)
    # web:hi gets 3/4 of 2,000 = 1,500 of its 1,000 tokens: 1.5x, over 1x.
    assert result.code == 3, result.err
    [line] = result.err.splitlines()
    assert line.startswith("error: cli-mix: mix not feasible: web:hi needs 1,500 of 1,000 tokens")
    assert "wiki" not in line
    assert "OVER LIMIT" in result.out
    allowed = invoke(*args, "--allow-repetition")
    assert allowed.code == 0, allowed.err
    assert allowed.err == ""
    assert allowed.out == result.out
    assert s3.proxy.counts() == {"ListObjectsV2": 2}


@pytest.mark.parametrize("config", GENERATED, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_offline_mix_block_of_generated_configs(config: Path) -> None:
    """Every generated config prints a mix block offline whose sibling groups sum to exactly 1."""
    result = invoke("resolve", config, "--offline", "--format", "mix")
    assert result.code == 0, result.err
    assert result.err == ""
    expected = {
        leaf.leaf: leaf.weight for leaf in resolve(config, offline=True).leaves if leaf.weight
    }
    leaves = check_mix_block(result.out)
    assert set(leaves) == set(expected)
    for name, product in leaves.items():
        assert float(product) == pytest.approx(expected[name], abs=1e-9)
    if config.parent.name == "heavy_wiki":
        assert "\n  wikipedia:\n    weight: 0.3\n" in result.out
        assert "\n  all_dressed:\n    weight: 0.69\n" in result.out


def test_mix_block_with_counts_sums_to_one_as_printed(tmp_path: Path) -> None:
    """Three unweighted sources of equal tokens print thirds that still sum to exactly 1."""
    root = write_objects(tmp_path / "data", objects())
    config = {
        "name": "thirds",
        "sources": [
            entry(name, paths=[f"{root}/wiki/*.npy"], max_repetition_factor=10)
            for name in ("a", "b", "c")
        ],
    }
    path = write_config(tmp_path, config)
    result = invoke("resolve", path, "-f", "mix", "--training-tokens", 100)
    assert result.code == 0, result.err
    assert result.out == (
        "mix:\n"
        "  a:\n    weight: 0.3333333334\n    repetition_factor: 10.0\n"
        "  b:\n    weight: 0.3333333333\n    repetition_factor: 10.0\n"
        "  c:\n    weight: 0.3333333333\n    repetition_factor: 10.0\n"
    )
    assert check_mix_block(result.out) == {
        "a": Decimal("0.3333333334"),
        "b": Decimal("0.3333333333"),
        "c": Decimal("0.3333333333"),
    }


class _DecimalLoader(yaml.SafeLoader):
    """Reads floats as the exact decimals printed."""


_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:float",
    lambda loader, node: Decimal(loader.construct_scalar(node)),  # type: ignore[arg-type]
)


def check_mix_block(text: str) -> dict[str, Decimal]:
    """Check every sibling group sums to exactly 1; return each leaf's product of weights."""
    data = yaml.load(text, Loader=_DecimalLoader)
    assert list(data) == ["mix"]
    leaves: dict[str, Decimal] = {}

    def walk(group: dict[str, Any], prefix: tuple[str, ...], share: Decimal) -> None:
        children = {k: v for k, v in group.items() if k not in ("weight", "repetition_factor")}
        assert children, prefix
        assert sum(child["weight"] for child in children.values()) == Decimal(1), prefix
        for name, child in children.items():
            assert isinstance(child["weight"], Decimal)
            if "repetition_factor" in child:
                assert set(child) == {"weight", "repetition_factor"}
                leaves[":".join((*prefix, name))] = share * child["weight"]
            else:
                walk(child, (*prefix, name), share * child["weight"])

    walk(data["mix"], (), Decimal(1))
    return leaves


def test_offline_prints_question_marks_for_unknowns(tmp_path: Path) -> None:
    """--offline touches no storage; leaves whose weight needs counts print `?` and a warning."""
    config = small_config("s3://no-such-bucket-anywhere")
    config["sources"][0]["quality"].append(entry("lo", paths=["s3://nowhere/lo/*.npy"]))
    path = write_config(tmp_path, config)
    result = invoke(
        "resolve", path, "--offline", "--endpoint-url", f"http://127.0.0.1:{closed_port()}"
    )
    assert result.code == 0, result.err
    assert table_rows(result.out) == {
        "web:hi": ["?", "?", "?", "?"],
        "web:lo": ["?", "?", "?", "?"],
        "wiki": ["?", "25.000", "34.74M", "?"],
    }
    assert "; offline" in result.out
    assert result.err == "warning: offline: 2 leaf weight(s) need token counts: web:hi, web:lo\n"
    assert invoke("resolve", path, "--offline", "--quiet").err == ""


def test_scheme_profile_pair_renders_and_resolves(tmp_path: Path) -> None:
    """`resolve SCHEME:PROFILE --offline` equals resolving the generated file offline."""
    pair = invoke("resolve", "aggressive:heavy_wiki", "--offline", "-f", "json", "--root", REPO)
    assert pair.code == 0, pair.err
    generated = REPO / "generated" / "quality_upsampling" / "heavy_wiki" / "aggressive.yaml"
    from_file = invoke("resolve", generated, "--offline", "-f", "json")
    assert pair.out == from_file.out
    data = json.loads(pair.out)
    assert data["training_tokens"] == 138_958_080
    weights = {leaf["leaf"]: leaf["weight"] for leaf in data["leaves"]}
    assert weights["wikipedia"] == pytest.approx(0.30, abs=1e-12)
    mix = resolve("aggressive:heavy_wiki", offline=True, root=REPO)
    assert mix.name == "quality-upsampling-aggressive-heavy-wiki"
    assert mix.to_json() == pair.out
    unknown = invoke("resolve", "aggressive:heavy_nothing", "--offline", "--root", REPO)
    assert_one_error_line(*unknown, "heavy_nothing")


def test_installed_entry_point_runs(local_config: Path) -> None:
    """The installed `qupsample` script resolves a config in a real subprocess."""
    script = Path(sys.executable).parent / "qupsample"
    done = subprocess.run(
        [script, "resolve", local_config, "-f", "json", "--training-tokens", "1000", "--no-cache"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == resolve(local_config, training_tokens=1_000, cache=False).to_json()


# ------------------------------------------------------------------ flags


@pytest.mark.s3
def test_cache_flags(s3: S3Lab, s3_config: Path, tmp_path: Path) -> None:
    """--cache-dir holds the counts, a rerun lists nothing, --refresh and --no-cache list again."""
    base = ["resolve", s3_config, "-f", "json", "--endpoint-url", s3.proxy.url]
    base += ["--training-tokens", 1_000]
    cache = tmp_path / "cache"
    first = invoke(*base, "--cache-dir", cache)
    assert first.code == 0, first.err
    assert s3.proxy.counts() == {"ListObjectsV2": 2}
    assert len(list(cache.rglob("*.json"))) == 2
    s3.proxy.reset()
    warm = invoke(*base, "--cache-dir", cache)
    assert (warm.code, warm.out, s3.proxy.counts()) == (0, first.out, {})
    refreshed = invoke(*base, "--cache-dir", cache, "--refresh")
    assert (refreshed.code, refreshed.out) == (0, first.out)
    assert s3.proxy.counts() == {"ListObjectsV2": 2}
    s3.proxy.reset()
    other = tmp_path / "other"
    uncached = invoke(*base, "--cache-dir", other, "--no-cache")
    assert (uncached.code, uncached.out) == (0, first.out)
    assert s3.proxy.counts() == {"ListObjectsV2": 2}
    assert not other.exists() or list(other.iterdir()) == []


@pytest.mark.s3
def test_aws_endpoint_url_from_the_environment(
    s3: S3Lab, s3_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --endpoint-url, AWS_ENDPOINT_URL decides where to list."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.proxy.url)
    result = invoke("resolve", s3_config, "-f", "csv", "--training-tokens", 1_000)
    assert result.code == 0, result.err
    assert s3.proxy.counts() == {"ListObjectsV2": 2}
    assert result.out.splitlines()[1:] == [
        f"s3://{BUCKET}/web/v20/*.npy,web:hi,2,1000,0.75",
        f"s3://{BUCKET}/wiki/*.npy,wiki,2,500,0.25",
    ]


@pytest.mark.s3
def test_profile_flag_picks_credentials(
    s3: S3Lab, s3_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--profile reads that profile's keys; an unknown profile is a one-line error."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[lab]\naws_access_key_id = testing\naws_secret_access_key = testing\n", encoding="utf-8"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    base = ["resolve", s3_config, "--endpoint-url", s3.proxy.url, "--training-tokens", 1_000]
    result = invoke(*base, "--profile", "lab")
    assert result.code == 0, result.err
    assert s3.proxy.counts() == {"ListObjectsV2": 2}
    missing = invoke(*base, "--profile", "nope", "--no-cache")
    assert_one_error_line(*missing, f"s3://{BUCKET}/", "AWS profile 'nope' not found")


@pytest.mark.s3
def test_no_credentials_is_an_error_and_anon_works(
    s3: S3Lab, s3_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no credentials the run fails in one line; --anon lists the public bucket unsigned."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    base = ["resolve", s3_config, "--endpoint-url", s3.proxy.url, "--training-tokens", 1_000]
    started = time.monotonic()
    failed = invoke(*base)
    assert time.monotonic() - started < 30
    assert_one_error_line(*failed, f"s3://{BUCKET}/", "no AWS credentials found", "--anon")
    assert s3.proxy.counts() == {}
    anonymous = invoke(*base, "--anon", "-f", "json")
    assert anonymous.code == 0, anonymous.err
    assert s3.proxy.counts() == {"ListObjectsV2": 2}
    assert json.loads(anonymous.out)["leaves"][0]["tokens"] == 1_000


def test_quiet_hides_warnings(tmp_path: Path) -> None:
    """Warnings (here minimum_weight) go to stderr unless --quiet."""
    root = write_objects(tmp_path / "data", objects())
    config = small_config(root, minimum_weight=0.5)
    path = write_config(tmp_path, config)
    loud = invoke("resolve", path, "--training-tokens", 100, "-f", "json")
    assert loud.code == 0
    assert loud.err == (
        f"warning: {path}: 1 leaf weight(s) below minimum_weight 0.5 (olmix drops them): wiki\n"
    )
    quiet = invoke("resolve", path, "--training-tokens", 100, "-f", "json", "--quiet")
    assert (quiet.code, quiet.err, quiet.out) == (0, "", loud.out)


def test_unwritable_cache_dir_warns_and_succeeds(local_config: Path, tmp_path: Path) -> None:
    """--cache-dir under a file prints the mix, warns that nothing was cached and exits 0."""
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    args = ["resolve", local_config, "-f", "csv", "--training-tokens", 1_000]
    result = invoke(*args, "--cache-dir", blocker / "cache")
    assert result.code == 0, result.err
    assert result.out == invoke(*args, "--no-cache").out
    assert f"warning: cannot write the token-count cache in {blocker / 'cache'}" in result.err
    assert "Traceback" not in result.err


def test_training_tokens_default_and_flag(local_config: Path) -> None:
    """The budget is the trainer's 138,958,080 for olmo3_14m x 0.5 unless --training-tokens."""
    default = invoke("resolve", local_config, "-f", "json", "--allow-repetition")
    assert default.code == 0, default.err
    data = json.loads(default.out)
    assert data["training_tokens"] == 138_958_080
    assert data["leaves"][1]["requested_tokens"] == 34_739_520
    assert data["leaves"][1]["repetition_factor"] == pytest.approx(69_479.04)
    over = invoke("resolve", local_config, "-f", "json")
    assert over.code == 3
    assert over.out == default.out
    flag = invoke("resolve", local_config, "-f", "json", "--training-tokens", 400)
    assert json.loads(flag.out)["leaves"][1]["requested_tokens"] == 100


def test_resolve_help_documents_every_flag() -> None:
    """`resolve --help` names every option and explains the exit codes."""
    result = invoke("resolve", "--help")
    assert result.code == 0
    flags = "--format --training-tokens --offline --refresh --no-cache --cache-dir"
    flags += " --endpoint-url --profile --anon --allow-repetition --quiet --root"
    for flag in flags.split():
        assert flag in result.out


# ------------------------------------------------------------------ bad input


@pytest.mark.s3
def test_glob_matching_nothing_is_named(s3: S3Lab, tmp_path: Path) -> None:
    """A glob that matches no object is an error naming it, never a silent 0."""
    s3.fill(BUCKET, objects())
    config = small_config(f"s3://{BUCKET}")
    config["sources"][1]["paths"] = [f"s3://{BUCKET}/wiki/*.npz"]
    path = write_config(tmp_path, config)
    result = invoke("resolve", path, "--endpoint-url", s3.proxy.url, "--training-tokens", 1_000)
    assert_one_error_line(*result, f"s3://{BUCKET}/wiki/*.npz", "matched no objects")


@pytest.mark.s3
def test_missing_bucket_is_named(s3: S3Lab, tmp_path: Path) -> None:
    """A bucket that does not exist is a one-line error naming it."""
    path = write_config(tmp_path, small_config("s3://no-such-bucket-qupsample"))
    result = invoke("resolve", path, "--endpoint-url", s3.proxy.url)
    assert_one_error_line(*result, "s3://no-such-bucket-qupsample/", "does not exist")


@pytest.mark.s3
def test_access_denied_is_an_error(s3: S3Lab, s3_config: Path) -> None:
    """A 403 on a listing is a one-line 'access denied' error naming the glob."""
    s3.proxy.deny(f"{BUCKET}/wiki/")
    result = invoke("resolve", s3_config, "--endpoint-url", s3.proxy.url, "--no-cache")
    assert_one_error_line(*result, f"s3://{BUCKET}/wiki/*.npy", "access denied", "AccessDenied")


@pytest.mark.s3
def test_unreachable_endpoint_fails_fast(tmp_path: Path) -> None:
    """A closed port on 127.0.0.1 is a one-line error within 30 s naming the endpoint."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    path = write_config(tmp_path, small_config(f"s3://{BUCKET}"))
    started = time.monotonic()
    result = invoke("resolve", path, "--endpoint-url", endpoint)
    assert time.monotonic() - started < 30
    assert_one_error_line(*result, "cannot reach", endpoint)


def test_object_size_not_divisible_by_token_size(tmp_path: Path) -> None:
    """An object that is no whole number of tokens is a one-line error naming it."""
    root = write_objects(tmp_path / "data", objects())
    (tmp_path / "data" / "wiki" / "part-00002.npy").write_bytes(bytes(10))
    path = write_config(tmp_path, small_config(root))
    result = invoke("resolve", path)
    assert_one_error_line(*result, "part-00002.npy has 10 bytes", "token size 4")


_BOTH = {"name": "t", "paths": ["a/*.npy"], "quality": [{"name": "q", "paths": ["b/*.npy"]}]}


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        (
            {"name": "x", "sources": [{"name": "s", "topics": [_BOTH]}]},
            ("sources.0.topics.0", "exactly one of paths, quality"),
        ),
        (
            {"name": "x", "sources": [{"name": "s", "weight": -5, "paths": ["a/*.npy"]}]},
            ("sources.0.weight", "-5"),
        ),
        (
            {"name": "x", "sources": [{"name": "s", "paths": ["a/*.npy"], "colour": "red"}]},
            ("sources.0.colour",),
        ),
        ({"name": "x", "sources": []}, ("sources",)),
    ],
    ids=["paths-and-quality", "negative-weight", "unknown-field", "no-sources"],
)
def test_invalid_config_is_one_line(
    tmp_path: Path, config: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    """A config failing validation names the file and the field, offline or not."""
    path = write_config(tmp_path, config)
    for extra in ([], ["--offline"]):
        line = assert_one_error_line(*invoke("resolve", path, *extra), str(path), *fragments)
        assert line.startswith(f"error: {path}: ")


def test_missing_config_file(tmp_path: Path) -> None:
    """A config path that does not exist is a one-line error naming it."""
    missing = tmp_path / "nope.yaml"
    assert_one_error_line(*invoke("resolve", missing), str(missing), "file not found")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\nsources: [\n", "fix the YAML syntax"),
        ("name: x\nname: y\nsources: []\n", "duplicate key 'name'"),
        ("- a\n- b\n", "is a list, not an olmix config"),
    ],
    ids=["unclosed", "duplicate-key", "not-a-mapping"],
)
def test_malformed_yaml_is_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    """Malformed YAML names the file (and line) in one error line."""
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    assert_one_error_line(*invoke("resolve", path, "--offline"), str(path), fragment)


@pytest.mark.parametrize(
    ("spec", "pair"),
    [
        ("profiles/heavy_code.yaml", "SCHEME:heavy_code"),
        ("weighting/gradual.yaml", "gradual:PROFILE"),
    ],
)
def test_a_spec_file_points_to_scheme_profile(spec: str, pair: str) -> None:
    """A scheme or profile file given as CONFIG says what it is and shows the pair to pass."""
    path = REPO / "schemes" / spec
    kind = "profile" if "profiles" in spec else "scheme"
    for command in (["resolve", str(path)], ["diff", str(path), "gradual:heavy_code"]):
        line = assert_one_error_line(*invoke(*command, "--offline", "--root", str(REPO)))
        assert line == (
            f"error: {path}: is a {kind} spec, not an olmix config — pass the pair {pair}"
            " (`qupsample list` names the schemes and profiles)"
        )
