"""Tests for `qupsample priors`: olmix's `priors:` block, counted from folder listings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import assert_one_error_line, invoke, write_config, write_objects
from s3lab import S3Lab

from qupsample.priors import compute_priors, format_priors

BUCKET = "qupsample-priors"
# Sizes in bytes of the `.npy` objects of each folder (multiples of 4).
NPY = {
    "web/science/hi": (400, 1_200),
    "web/science/lo": (800,),
    "web/code/hi": (4_000,),
    "web/code/lo": (40, 80),
    "web/news": (2_000, 2_004),
    "forum/hi": (120,),
    "forum/lo": (360, 4),
    "books": (8_000, 12, 16),
}
# Every folder also holds these; sizes that are no whole number of tokens, so counting
# one would fail loudly rather than only skew a number.
SIDECARS = {"_metadata.json": 13, "part-00000.csv.gz": 7}
# uint32 tokens of each leaf as olmix names it: source:topic:bucket, source:topic,
# source:bucket, source.
TOKENS = {
    "books": (8_000 + 12 + 16) // 4,
    "forum:hi": 120 // 4,
    "forum:lo": (360 + 4) // 4,
    "web:code:hi": 4_000 // 4,
    "web:code:lo": (40 + 80) // 4,
    "web:news": (2_000 + 2_004) // 4,
    "web:science:hi": (400 + 1_200) // 4,
    "web:science:lo": 800 // 4,
}
FOLDERS = len(NPY)
DIALECTS = ("flat", "launch", "generation")


def objects() -> dict[str, int]:
    """Object sizes by key: the `.npy` parts of every folder plus its sidecars."""
    sizes: dict[str, int] = {}
    for folder, parts in NPY.items():
        for part, size in enumerate(parts):
            sizes[f"{folder}/part-{part:05d}.npy"] = size
        for name, size in SIDECARS.items():
            sizes[f"{folder}/{name}"] = size
    return sizes


def data_sources(root: str) -> list[dict[str, Any]]:
    """web (topics: two split by quality, one plain), forum (quality), books (two globs)."""

    def bucket(name: str, folder: str) -> dict[str, Any]:
        return {"name": name, "paths": [f"{root}/{folder}/*.npy"]}

    return [
        {
            "name": "web",
            "topics": [
                {
                    "name": "science",
                    "quality": [bucket("hi", "web/science/hi"), bucket("lo", "web/science/lo")],
                },
                {
                    "name": "code",
                    "quality": [bucket("hi", "web/code/hi"), bucket("lo", "web/code/lo")],
                },
                {"name": "news", "paths": [f"{root}/web/news/*.npy"]},
            ],
        },
        {"name": "forum", "quality": [bucket("hi", "forum/hi"), bucket("lo", "forum/lo")]},
        # Two globs in one folder: one listing serves both.
        {
            "name": "books",
            "paths": [f"{root}/books/part-0000[01].npy", f"{root}/books/part-00002.npy"],
        },
    ]


def flat_config(root: str) -> dict[str, Any]:
    """A plan-era experiment config with source and topic weights."""
    sources = data_sources(root)
    for source, weight in zip(sources, (5, 2, 1), strict=True):
        source["weight"] = weight
    for topic, weight in zip(sources[0]["topics"], (3, 2, 1), strict=True):
        topic["weight"] = weight
    sources[2]["max_repetition_factor"] = 2.0
    return {
        "name": "priors-flat",
        "proxy_model_id": "olmo3_14m",
        "tokenizer": "dolma2",
        "chinchilla_multiple": 0.5,
        "sources": sources,
    }


def launch_config(root: str, dtype: str | None = None, tokenizer: str = "dolma2") -> dict[str, Any]:
    """A current olmix launch config (infra, training, data, eval, mix)."""
    data: dict[str, Any] = {"sources": data_sources(root)}
    if dtype is not None:
        data["dtype"] = dtype
    return {
        "name": "priors-launch",
        "infra": {
            "budget": "ai2/oe-data",
            "workspace": "ai2/dolma2",
            "cluster": "ai2/jupiter",
            "gpus": 8,
        },
        "training": {
            "proxy_model_id": "olmo3_14m",
            "tokenizer": tokenizer,
            "chinchilla_multiple": 0.5,
            "seed": 42,
        },
        "data": data,
        "eval": {
            "type": "inloop",
            "tasks": {
                "math": {"gsm8k_gold_bpb_5shot": "eval/downstream/gsm8k_gold_bpb_5shot (BPB v2)"}
            },
        },
        "mix": {leaf: {"weight": 0.125, "repetition_factor": 1.0} for leaf in TOKENS},
    }


def generation_config(root: str) -> dict[str, Any]:
    """An olmix generation config whose own priors are stale (priors lists anyway)."""
    return {
        "name": "priors-generation",
        "data": {"sources": data_sources(root), "dtype": "uint32"},
        "priors": {"relative_sizes": {"books": 1.0}, "token_counts": {"books": 1}},
        "swarm": {"seed": 7, "variants": 4},
        "max_tokens": 1_000_000,
    }


CONFIGS = {"flat": flat_config, "launch": launch_config, "generation": generation_config}


def olmix_block(counts: dict[str, int]) -> str:
    """What `olmix priors compute` prints for these counts."""
    total = sum(counts.values())
    priors = {
        "relative_sizes": {leaf: count / total for leaf, count in counts.items()},
        "token_counts": dict(counts),
    }
    text: str = yaml.dump({"priors": priors}, default_flow_style=False, sort_keys=True)
    return text


@pytest.fixture
def bucket(s3: S3Lab) -> str:
    """The tree in moto S3 (uploads not counted); its root URL."""
    s3.fill(BUCKET, objects())
    s3.proxy.reset()
    return f"s3://{BUCKET}"


def priors_args(s3: S3Lab, config: Path, *extra: object) -> list[str]:
    return ["priors", str(config), "--endpoint-url", s3.proxy.url, *map(str, extra)]


# ------------------------------------------------------------------ counts and output


@pytest.mark.s3
@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_prints_olmix_block_listing_each_folder_once(
    s3: S3Lab, bucket: str, tmp_path: Path, dialect: str
) -> None:
    """Exact counts as olmix's yaml.dump prints them; cold one LIST a folder, warm no request."""
    config = write_config(tmp_path, CONFIGS[dialect](bucket))
    args = priors_args(s3, config, "--cache-dir", tmp_path / "cache")
    cold = invoke(*args)
    assert cold == (0, olmix_block(TOKENS), "")
    assert s3.proxy.counts() == {"ListObjectsV2": FOLDERS}
    s3.proxy.reset()
    warm = invoke(*args)
    assert warm == cold
    assert s3.proxy.counts() == {}


@pytest.mark.s3
def test_block_is_sorted_integral_and_sums_to_one(s3: S3Lab, bucket: str, tmp_path: Path) -> None:
    """Keys sorted, counts integers, relative sizes count / total summing to 1 within 1e-12."""
    config = write_config(tmp_path, flat_config(bucket))
    code, out, err = invoke(*priors_args(s3, config, "--no-cache"))
    assert code == 0, err
    data = yaml.safe_load(out)
    assert list(data) == ["priors"]
    assert list(data["priors"]) == ["relative_sizes", "token_counts"]
    counts, sizes = data["priors"]["token_counts"], data["priors"]["relative_sizes"]
    assert list(counts) == sorted(counts) == list(sizes)
    assert counts == TOKENS
    assert all(type(count) is int for count in counts.values())
    total = sum(counts.values())
    assert sizes == {leaf: count / total for leaf, count in counts.items()}
    assert abs(sum(sizes.values()) - 1) <= 1e-12
    # The printed lines are in that order too: each map's leaves, sorted.
    leaves = [line.strip().rsplit(": ", 1)[0] for line in out.splitlines() if line[:4] == " " * 4]
    assert leaves == [*sorted(TOKENS), *sorted(TOKENS)]


@pytest.mark.s3
def test_refresh_and_no_cache_list_again(s3: S3Lab, bucket: str, tmp_path: Path) -> None:
    """--refresh lists past a warm cache; --no-cache lists and leaves the cache folder empty."""
    config = write_config(tmp_path, launch_config(bucket))
    cache = tmp_path / "cache"
    first = invoke(*priors_args(s3, config, "--cache-dir", cache))
    assert first[0] == 0, first[2]
    s3.proxy.reset()
    refreshed = invoke(*priors_args(s3, config, "--cache-dir", cache, "--refresh"))
    assert refreshed == first
    assert s3.proxy.counts() == {"ListObjectsV2": FOLDERS}
    s3.proxy.reset()
    other = tmp_path / "other"
    uncached = invoke(*priors_args(s3, config, "--cache-dir", other, "--no-cache"))
    assert uncached == first
    assert s3.proxy.counts() == {"ListObjectsV2": FOLDERS}
    assert not other.exists() or list(other.iterdir()) == []


@pytest.mark.s3
def test_uint16_counts_twice_the_uint32_tokens(s3: S3Lab, bucket: str, tmp_path: Path) -> None:
    """data.dtype uint16 halves the token size, so every count doubles, even on a shared cache."""
    cache = tmp_path / "cache"
    wide = write_config(tmp_path, launch_config(bucket), "uint32.yaml")
    narrow = write_config(tmp_path, launch_config(bucket, "uint16", "gpt-neox-20b"), "uint16.yaml")
    code, out32, err = invoke(*priors_args(s3, wide, "--cache-dir", cache))
    assert code == 0, err
    code, out16, err = invoke(*priors_args(s3, narrow, "--cache-dir", cache))
    assert code == 0, err
    doubled = {leaf: 2 * count for leaf, count in TOKENS.items()}
    assert out16 == olmix_block(doubled)
    block32, block16 = yaml.safe_load(out32)["priors"], yaml.safe_load(out16)["priors"]
    assert block16["token_counts"] == {k: 2 * v for k, v in block32["token_counts"].items()}
    assert block16["relative_sizes"] == block32["relative_sizes"]


# ------------------------------------------------------------------ -o and --priors


@pytest.mark.s3
def test_output_file_holds_the_printed_bytes_and_is_replaced_atomically(
    s3: S3Lab, bucket: str, tmp_path: Path
) -> None:
    """-o writes the block stdout shows; a failing run leaves the old file and no temp file."""
    config = write_config(tmp_path, flat_config(bucket))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "priors.yaml"
    target.write_text("old\n", encoding="utf-8")
    # The dialect test checks stdout is exactly this block.
    printed = olmix_block(TOKENS)
    written = invoke(*priors_args(s3, config, "--no-cache", "-o", target))
    assert written == (0, "", f"wrote {target} ({len(TOKENS)} leaves)\n")
    assert target.read_bytes() == printed.encode()
    assert sorted(out_dir.iterdir()) == [target]
    s3.proxy.deny(f"{BUCKET}/forum/")
    failed = invoke(*priors_args(s3, config, "--no-cache", "-o", target))
    assert_one_error_line(*failed, f"{config}: leaf forum:", "access denied")
    assert target.read_bytes() == printed.encode()
    assert sorted(out_dir.iterdir()) == [target]


@pytest.mark.s3
def test_priors_file_resolves_offline_like_storage(s3: S3Lab, bucket: str, tmp_path: Path) -> None:
    """An inclusion-only config resolved --offline --priors FILE has the weights storage gives."""
    config = {
        "name": "inclusion-only",
        "proxy_model_id": "olmo3_14m",
        "sources": data_sources(bucket),
    }
    path = write_config(tmp_path, config)
    priors_file = tmp_path / "priors.yaml"
    code, _, err = invoke(*priors_args(s3, path, "--no-cache", "-o", priors_file))
    assert code == 0, err
    s3.proxy.reset()
    base = ["resolve", str(path), "-f", "json", "--training-tokens", "1"]
    offline = invoke(*base, "--offline", "--priors", str(priors_file))
    assert offline[0] == 0, offline[2]
    assert s3.proxy.counts() == {}
    listed = invoke(*base, "--no-cache", "--endpoint-url", s3.proxy.url)
    assert listed[0] == 0, listed[2]
    assert s3.proxy.counts() == {"ListObjectsV2": FOLDERS}

    def weights(text: str) -> dict[str, float]:
        return {leaf["leaf"]: leaf["weight"] for leaf in json.loads(text)["leaves"]}

    from_priors, from_storage = weights(offline[1]), weights(listed[1])
    assert sorted(from_priors) == sorted(from_storage) == sorted(TOKENS)
    total = sum(TOKENS.values())
    for leaf, count in TOKENS.items():
        assert from_priors[leaf] == pytest.approx(from_storage[leaf], abs=1e-12)
        assert from_priors[leaf] == pytest.approx(count / total, abs=1e-12)


# ------------------------------------------------------------------ failures


@pytest.mark.s3
def test_missing_folder_fails_naming_the_leaf(s3: S3Lab, bucket: str, tmp_path: Path) -> None:
    """Where olmix would count a leaf as 0, a folder that is not there is one line naming it."""
    config = flat_config(bucket)
    config["sources"][1]["quality"][1]["paths"] = [f"{bucket}/forum/gone/*.npy"]
    path = write_config(tmp_path, config)
    assert_one_error_line(
        *invoke(*priors_args(s3, path, "--no-cache")),
        f"{path}: leaf forum:lo: ",
        f"{bucket}/forum/gone/*.npy",
    )


@pytest.mark.s3
def test_access_denied_fails_naming_the_leaf(s3: S3Lab, bucket: str, tmp_path: Path) -> None:
    """A 403 on one folder's listing is one line naming its leaf and the denial."""
    path = write_config(tmp_path, launch_config(bucket))
    s3.proxy.deny(f"{BUCKET}/web/code/hi/")
    line = assert_one_error_line(
        *invoke(*priors_args(s3, path, "--no-cache")),
        f"{path}: leaf web:code:hi: ",
        "access denied",
        "AccessDenied",
    )
    assert "web:code:lo" not in line


@pytest.mark.s3
def test_failing_glob_is_not_blamed_on_a_leaf_whose_glob_prefixes_it(
    s3: S3Lab, bucket: str, tmp_path: Path
) -> None:
    """A glob that extends another leaf's glob by a suffix is still named as its own leaf's."""
    config = flat_config(bucket)
    # forum:hi is `.../forum/hi/*.npy`; a typo in forum:lo's glob makes it extend that text.
    config["sources"][1]["quality"][1]["paths"] = [f"{bucket}/forum/hi/*.npyy"]
    path = write_config(tmp_path, config)
    assert_one_error_line(
        *invoke(*priors_args(s3, path, "--no-cache")),
        f"{path}: leaf forum:lo: {bucket}/forum/hi/*.npyy: ",
    )


# ------------------------------------------------------------------ local files


def test_local_tree_counts_like_s3(tmp_path: Path) -> None:
    """On local disk the same tree prints the same block, and the API returns the same counts."""
    root = write_objects(tmp_path / "data", objects())
    for dialect, make in CONFIGS.items():
        path = write_config(tmp_path, make(root), f"{dialect}.yaml")
        assert invoke("priors", str(path), "--no-cache") == (0, olmix_block(TOKENS), "")
        assert compute_priors(path, cache=False) == TOKENS
    assert format_priors(TOKENS) == olmix_block(TOKENS)
