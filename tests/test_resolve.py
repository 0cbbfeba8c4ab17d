"""End-to-end tests for qupsample.resolve: config in, per-leaf and per-path weights out."""

from __future__ import annotations

import copy
import json
import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import LEAF_COLUMNS, PATH_COLUMNS, REPO, closed_port, entry, write_objects
from hypothesis import given, settings
from hypothesis import strategies as st
from s3lab import S3Lab

from qupsample.errors import InfeasibleMixError, SpecError, StorageError, UserError
from qupsample.renderer import render
from qupsample.resolve import Mix, resolve

BUCKET = "ai2-llm"
DCLM = "preprocessed/cc_all_dressed/all_dressed_v3/dclm_plus2_vigilantes/allenai/dolma2-tokenizer"
ARXIV = (
    "preprocessed/proof-pile-2/v0_decontaminated-0625_tokenized/arxiv/train"
    "/allenai/dolma2-tokenizer"
)
WIKI = "preprocessed/wikipedia-dolma-0823/allenai/dolma2-tokenizer"
TOPICS = ("science_math_and_technology", "software_development")
# Quality buckets of every topic: name -> vigintiles (the aggressive scheme's top two).
BUCKETS = {"top10pct": (18, 20), "10-30pct": (17,)}
VIGINTILES = (17, 18, 20)


# ------------------------------------------------------------------ the layout


def vigintile(topic: str, number: int) -> str:
    """The folder of one topic and vigintile, relative to the bucket."""
    return f"{DCLM}/{topic}/vigintile_{number:04d}"


def folder_tokens() -> dict[str, tuple[int, ...]]:
    """Tokens of each `.npy` object, by folder relative to the bucket (2 to 4 per folder)."""
    folders: dict[str, tuple[int, ...]] = {}
    for t, topic in enumerate(TOPICS):
        for v, number in enumerate(VIGINTILES):
            parts = 2 + (t + v) % 3
            folders[vigintile(topic, number)] = tuple(
                100 * (10 * t + 3 * v + p + 1) for p in range(parts)
            )
    folders[ARXIV] = (3_000, 5_000)
    folders[WIKI] = (4_000, 6_000, 8_000)
    return folders


def layout() -> dict[str, int]:
    """Object sizes in bytes by key: uint32 `.npy` parts plus an odd-sized sidecar per folder."""
    objects: dict[str, int] = {}
    for folder, tokens in folder_tokens().items():
        for part, count in enumerate(tokens):
            objects[f"{folder}/part-{part:05d}.npy"] = 4 * count
        # A sidecar whose size is no multiple of any token size: counting it would fail.
        objects[f"{folder}/part-00000.npy.json"] = 7
    return objects


def tokens(*folders: str) -> int:
    """Total `.npy` tokens (uint32) in the folders."""
    table = folder_tokens()
    return sum(sum(table[folder]) for folder in folders)


def topic_folders(topic: str, numbers: tuple[int, ...] = VIGINTILES) -> list[str]:
    return [vigintile(topic, n) for n in numbers]


ALL_FOLDERS = list(folder_tokens())
DCLM_FOLDERS = [f for f in ALL_FOLDERS if f.startswith(DCLM)]


def write_memory() -> tuple[str, str]:
    """Write the layout to a fresh in-memory folder: (root URL, folder to remove)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    base = f"/qupsample-resolve-tests/{uuid.uuid4().hex}"
    for key, size in layout().items():
        fs.pipe_file(f"{base}/{BUCKET}/{key}", bytes(size))
    return f"memory://{base.lstrip('/')}/{BUCKET}", base


def remove_memory(base: str) -> None:
    import fsspec

    fsspec.filesystem("memory").rm(base, recursive=True)


@pytest.fixture
def s3_root(s3: S3Lab) -> str:
    """The layout in moto S3 (bucket ai2-llm), with the proxy's counts zeroed."""
    s3.fill(BUCKET, layout())
    s3.proxy.reset()
    return f"s3://{BUCKET}"


@pytest.fixture
def memory_root() -> Iterator[str]:
    """The layout in a fresh `memory://` folder."""
    root, base = write_memory()
    try:
        yield root
    finally:
        remove_memory(base)


@pytest.fixture(scope="module")
def shared_memory_root() -> Iterator[str]:
    """The layout in `memory://`, once per module (for hypothesis tests: read only)."""
    root, base = write_memory()
    try:
        yield root
    finally:
        remove_memory(base)


# ------------------------------------------------------------------ configs


def make_config(*sources: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """A launch config with the family's standard settings, overridable."""
    base: dict[str, Any] = {
        "name": "test-mix",
        "proxy_model_id": "olmo3_14m",
        "tokenizer": "dolma2",
        "chinchilla_multiple": 0.5,
    }
    return {**base, **settings, "sources": list(sources)}


def globs(root: str, *folders: str) -> list[str]:
    return [f"{root}/{folder}/*.npy" for folder in folders]


def dclm_config(
    root: str,
    *,
    sources: Sequence[float | None] | None = (90, 5, 5),
    topics: Sequence[float | None] | None = (60, 40),
    buckets: Sequence[float | None] | None = (70, 30),
    **settings: Any,
) -> dict[str, Any]:
    """A DCLM-shaped config over the layout at `root`; None leaves a level's weights out."""
    source_w = sources or [None] * 3
    topic_w = topics or [None] * len(TOPICS)
    bucket_w = buckets or [None] * len(BUCKETS)
    all_dressed = entry(
        "all_dressed",
        source_w[0],
        topics=[
            entry(
                topic,
                topic_w[t],
                quality=[
                    entry(name, bucket_w[b], paths=globs(root, *topic_folders(topic, numbers)))
                    for b, (name, numbers) in enumerate(BUCKETS.items())
                ],
            )
            for t, topic in enumerate(TOPICS)
        ],
    )
    arxiv = entry("arxiv", source_w[1], max_repetition_factor=1.5, paths=globs(root, ARXIV))
    wikipedia = entry("wikipedia", source_w[2], max_repetition_factor=2.0, paths=globs(root, WIKI))
    return make_config(all_dressed, arxiv, wikipedia, **settings)


# ------------------------------------------------------------------ reading a mix


def leaf_weights(mix: Mix) -> dict[str, float | None]:
    return {leaf.leaf: leaf.weight for leaf in mix.leaves}


def path_rows(mix: Mix, root: str) -> list[tuple[Any, ...]]:
    """Path rows with the storage root cut off, so rows from different storages compare."""
    return [
        (row.path.removeprefix(root), row.leaf, row.objects, row.tokens, row.weight)
        for row in mix.paths
    ]


def leaf_rows(mix: Mix) -> list[tuple[Any, ...]]:
    return [astuple(leaf) for leaf in mix.leaves]


def path_weight_sum(mix: Mix) -> float:
    return math.fsum(row.weight or 0.0 for row in mix.paths)


def assert_counts_match_layout(mix: Mix, root: str) -> None:
    """Every listed path row holds exactly its folder's `.npy` objects and tokens."""
    table = folder_tokens()
    for row in mix.paths:
        if row.objects is None:
            continue
        folder = row.path.removeprefix(root + "/").removesuffix("/*.npy")
        assert (row.objects, row.tokens) == (len(table[folder]), sum(table[folder]))


# ------------------------------------------------------------------ weights over S3


@pytest.mark.s3
def test_explicit_weights_at_every_level_over_s3(s3: S3Lab, s3_root: str) -> None:
    """With weights at every level a leaf gets the product; each folder is listed once only."""
    mix = resolve(dclm_config(s3_root), storage_options=s3.storage_options)
    # No HeadObject or GetObject: sizes come from one ListObjectsV2 per folder.
    assert s3.proxy.counts() == {"ListObjectsV2": len(ALL_FOLDERS)}
    sci, code = TOPICS
    # Sources 90/5/5, topics 60/40, buckets 70/30.
    expected = {
        f"all_dressed:{sci}:top10pct": 0.9 * 0.6 * 0.7,
        f"all_dressed:{sci}:10-30pct": 0.9 * 0.6 * 0.3,
        f"all_dressed:{code}:top10pct": 0.9 * 0.4 * 0.7,
        f"all_dressed:{code}:10-30pct": 0.9 * 0.4 * 0.3,
        "arxiv": 0.05,
        "wikipedia": 0.05,
    }
    assert leaf_weights(mix) == pytest.approx(expected, rel=1e-12)
    assert list(leaf_weights(mix)) == list(expected)
    # Leaf tokens: all of the leaf's folders; the .npy.json sidecars are never counted.
    by_leaf = {leaf.leaf: leaf for leaf in mix.leaves}
    assert by_leaf[f"all_dressed:{sci}:top10pct"].tokens == tokens(*topic_folders(sci, (18, 20)))
    assert by_leaf["wikipedia"].tokens == 18_000
    assert by_leaf["arxiv"].tokens == 8_000
    assert_counts_match_layout(mix, s3_root)
    # The two vigintiles of a top10pct bucket split its weight by their tokens.
    top = expected[f"all_dressed:{sci}:top10pct"]
    v18, v20 = tokens(vigintile(sci, 18)), tokens(vigintile(sci, 20))
    rows = {row.path: row for row in mix.paths}
    assert rows[f"{s3_root}/{vigintile(sci, 18)}/*.npy"].weight == pytest.approx(
        top * v18 / (v18 + v20), rel=1e-12
    )
    assert rows[f"{s3_root}/{vigintile(sci, 20)}/*.npy"].weight == pytest.approx(
        top * v20 / (v18 + v20), rel=1e-12
    )
    assert path_weight_sum(mix) == pytest.approx(1.0, abs=1e-9)
    assert mix.warnings == ()


@pytest.mark.s3
def test_missing_weights_split_by_tokens_over_s3(s3: S3Lab, s3_root: str) -> None:
    """Without bucket (or source) weights a parent's share is split by the children's tokens."""
    no_buckets = resolve(dclm_config(s3_root, buckets=None), storage_options=s3.storage_options)
    weights = leaf_weights(no_buckets)
    for topic, share in zip(TOPICS, (0.9 * 0.6, 0.9 * 0.4), strict=True):
        top, rest = tokens(*topic_folders(topic, (18, 20))), tokens(vigintile(topic, 17))
        assert weights[f"all_dressed:{topic}:top10pct"] == pytest.approx(
            share * top / (top + rest), rel=1e-12
        )
        assert weights[f"all_dressed:{topic}:10-30pct"] == pytest.approx(
            share * rest / (top + rest), rel=1e-12
        )
    assert path_weight_sum(no_buckets) == pytest.approx(1.0, abs=1e-9)
    # Counts now come from the cache: no second listing.
    s3.proxy.reset()
    no_sources = resolve(dclm_config(s3_root, sources=None), storage_options=s3.storage_options)
    assert s3.proxy.counts() == {}
    dclm, arxiv, wiki = tokens(*DCLM_FOLDERS), tokens(ARXIV), tokens(WIKI)
    total = dclm + arxiv + wiki
    weights = leaf_weights(no_sources)
    assert weights["arxiv"] == pytest.approx(arxiv / total, rel=1e-12)
    assert weights["wikipedia"] == pytest.approx(wiki / total, rel=1e-12)
    assert weights[f"all_dressed:{TOPICS[0]}:top10pct"] == pytest.approx(
        dclm / total * 0.6 * 0.7, rel=1e-12
    )
    assert math.fsum(w or 0.0 for w in weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert path_weight_sum(no_sources) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.s3
def test_plain_path_sources_and_multi_path_leaves(s3: S3Lab, s3_root: str) -> None:
    """A source's several plain paths split its share by tokens; one folder is listed once."""
    wiki = [f"{s3_root}/{WIKI}/part-00000.npy", f"{s3_root}/{WIKI}/part-0000[12].npy"]
    config = make_config(
        entry("wikipedia", 3, paths=wiki),
        entry("arxiv", 1, paths=globs(s3_root, ARXIV)),
    )
    mix = resolve(config, storage_options=s3.storage_options)
    # wikipedia 3/4 split 4000 : (6000 + 8000) tokens; arxiv 1/4 on its one glob.
    assert [(row.path, row.objects, row.tokens, row.weight) for row in mix.paths] == [
        (wiki[0], 1, 4_000, pytest.approx(0.75 * 4 / 18, rel=1e-12)),
        (wiki[1], 2, 14_000, pytest.approx(0.75 * 14 / 18, rel=1e-12)),
        (f"{s3_root}/{ARXIV}/*.npy", 2, 8_000, pytest.approx(0.25, rel=1e-12)),
    ]
    assert [(leaf.leaf, leaf.tokens) for leaf in mix.leaves] == [
        ("wikipedia", 18_000),
        ("arxiv", 8_000),
    ]
    assert s3.proxy.counts() == {"ListObjectsV2": 2}


@pytest.mark.s3
def test_repetition_limits_are_inherited_and_checked(s3: S3Lab, s3_root: str) -> None:
    """A leaf over tokens x its nearest max_repetition_factor (default 1) is infeasible."""
    config = dclm_config(s3_root, sources=(90, 1, 9))
    config["sources"][0]["max_repetition_factor"] = 1000
    # wikipedia: 9% of 500,000 = 45,000 tokens of 18,000 is 2.5x, over its limit of 2.
    mix = resolve(config, training_tokens=500_000, storage_options=s3.storage_options)
    by_leaf = {leaf.leaf: leaf for leaf in mix.leaves}
    wiki = by_leaf["wikipedia"]
    assert wiki.requested_tokens == pytest.approx(45_000, rel=1e-12)
    assert wiki.repetition_factor == pytest.approx(2.5, rel=1e-12)
    # arxiv: 1% of 500,000 = 5,000 of 8,000 tokens.
    assert by_leaf["arxiv"].repetition_factor == pytest.approx(0.625, rel=1e-12)
    assert [leaf.leaf for leaf in mix.infeasible] == ["wikipedia"]
    with pytest.raises(InfeasibleMixError, match=r"wikipedia needs 45,000 of 18,000 tokens"):
        mix.check_feasible()
    # The largest feasible budget is where wikipedia reaches exactly 2x: 2 x 18,000 / 0.09.
    assert mix.max_training_tokens == pytest.approx(400_000, rel=1e-12)
    feasible = resolve(config, training_tokens=400_000, storage_options=s3.storage_options)
    assert feasible.infeasible == []
    feasible.check_feasible()

    # A leaf's limit is its own, else its topic's, else its source's, else 1.0.
    config = dclm_config(s3_root)
    all_dressed = config["sources"][0]
    all_dressed["max_repetition_factor"] = 3.0
    all_dressed["topics"][0]["max_repetition_factor"] = 2.0
    all_dressed["topics"][0]["quality"][0]["max_repetition_factor"] = 1.25
    config["sources"][1].pop("max_repetition_factor")  # arxiv: the default
    sci, code = TOPICS
    # code:10-30pct gets 0.9 x 0.4 x 0.3 of the budget: ask it for 2.5x its tokens.
    budget = round(2.5 * tokens(vigintile(code, 17)) / (0.9 * 0.4 * 0.3))
    mix = resolve(config, storage_options=s3.storage_options, training_tokens=budget)
    limits = {leaf.leaf: leaf.max_repetition_factor for leaf in mix.leaves}
    assert limits == {
        f"all_dressed:{sci}:top10pct": 1.25,
        f"all_dressed:{sci}:10-30pct": 2.0,
        f"all_dressed:{code}:top10pct": 3.0,
        f"all_dressed:{code}:10-30pct": 3.0,
        "arxiv": 1.0,
        "wikipedia": 2.0,
    }
    # The inherited limit is the one checked: 2.5x is fine under the source's 3x.
    by_leaf = {leaf.leaf: leaf for leaf in mix.leaves}
    code_rest = by_leaf[f"all_dressed:{code}:10-30pct"]
    assert code_rest.repetition_factor == pytest.approx(2.5, rel=1e-4)
    assert not code_rest.over_limit
    expected_over = {
        name
        for name, leaf in by_leaf.items()
        if leaf.repetition_factor is not None and leaf.repetition_factor > limits[name]
    }
    assert {leaf.leaf for leaf in mix.infeasible} == expected_over
    assert f"all_dressed:{code}:10-30pct" not in expected_over
    assert f"all_dressed:{sci}:10-30pct" in expected_over  # 45x, over its topic's 2x
    # Only the first resolve listed; the others reused the cached counts.
    assert s3.proxy.counts() == {"ListObjectsV2": len(ALL_FOLDERS)}


def test_threshold_resolve_splits_topics_by_token_counts(tmp_path: Path) -> None:
    """Resolving heavy_code/top10pct splits each topic across 0018 and 0020 by their tokens."""
    data_root = tmp_path / "data"
    text = render("top10pct", "heavy_code", root=REPO, overrides={"data_root": str(data_root)})
    config = yaml.safe_load(text)
    sizes = {}  # tokens per (topic, vigintile): 0018 gets 3x the tokens of 0020 in topic 0
    for t, topic in enumerate(config["sources"][0]["topics"]):
        for bucket, tokens in zip(topic["quality"], (300 * (t + 1), 100 * (t + 1)), strict=True):
            folder = Path(bucket["paths"][0]).parent
            folder.mkdir(parents=True)
            (folder / "part-0.npy").write_bytes(bytes(4 * tokens))
            (folder / "part-0.npy.json").write_text("{}")
            sizes[topic["name"], bucket["name"][-4:]] = tokens
    for source in config["sources"][1:]:
        folder = Path(source["paths"][0]).parent
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.npy").write_bytes(bytes(4 * 1000))
    mix = resolve(config, cache=False, training_tokens=1000)
    weights = {leaf.leaf: leaf.weight for leaf in mix.leaves}
    topic_weights = {"science_math_and_technology": 20, "software_development": 50}
    for topic, topic_weight in topic_weights.items():
        share = 0.98 * topic_weight / 98
        total = sizes[topic, "0018"] + sizes[topic, "0020"]
        for v in ("0018", "0020"):
            expected = share * sizes[topic, v] / total
            assert weights[f"all_dressed:{topic}:vigintile_{v}"] == pytest.approx(expected, 1e-12)


# ------------------------------------------------------------------ every storage


@pytest.mark.s3
def test_same_rows_on_s3_local_file_url_and_memory(
    s3: S3Lab, s3_root: str, memory_root: str, tmp_path: Path
) -> None:
    """The same config over S3, a local folder, a file:// URL and memory:// gives equal rows."""
    local = write_objects(tmp_path / BUCKET, layout())
    roots = {"s3": s3_root, "local": local, "file": f"file://{local}", "memory": memory_root}
    results = {}
    for kind, root in roots.items():
        mix = resolve(
            dclm_config(root, buckets=None, sources=None),
            storage_options=s3.storage_options if kind == "s3" else None,
        )
        results[kind] = (leaf_rows(mix), path_rows(mix, root))
    assert results["local"] == results["s3"]
    assert results["file"] == results["s3"]
    assert results["memory"] == results["s3"]
    leaves, paths = results["s3"]
    assert len(leaves) == 2 * len(TOPICS) + 2
    order = [f for topic in TOPICS for n in BUCKETS.values() for f in topic_folders(topic, n)]
    assert [row[0] for row in paths] == [f"/{folder}/*.npy" for folder in [*order, ARXIV, WIKI]]
    assert [row[2:4] for row in paths] == [
        (len(folder_tokens()[f]), tokens(f)) for f in [*order, ARXIV, WIKI]
    ]


# ------------------------------------------------------------------ requests and cache


@pytest.mark.s3
def test_weight_zero_entries_are_never_listed(s3: S3Lab, s3_root: str) -> None:
    """Weight-0 buckets and sources get weight 0 and their folders are not listed at all."""
    config = dclm_config(s3_root, sources=(90, 0, 10), buckets=(100, 0))
    # Any listing of the zero-weight folders would now fail the run.
    for topic in TOPICS:
        s3.proxy.deny(f"{BUCKET}/{vigintile(topic, 17)}/")
    s3.proxy.deny(f"{BUCKET}/{ARXIV}/")
    mix = resolve(config, storage_options=s3.storage_options)
    weights = leaf_weights(mix)
    assert weights["arxiv"] == 0.0
    for topic in TOPICS:
        assert weights[f"all_dressed:{topic}:10-30pct"] == 0.0
        assert weights[f"all_dressed:{topic}:top10pct"] > 0
    zero_rows = [row for row in mix.paths if row.weight == 0.0]
    assert len(zero_rows) == len(TOPICS) + 1
    assert all(row.objects is None and row.tokens is None for row in zero_rows)
    assert s3.proxy.counts() == {"ListObjectsV2": 2 * len(TOPICS) + 1}
    assert path_weight_sum(mix) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.s3
def test_cache_reuse_refresh_and_no_cache(s3: S3Lab, s3_root: str, tmp_path: Path) -> None:
    """A warm cache lists nothing; refresh lists again; cache=False neither reads nor writes it."""
    config = dclm_config(s3_root)
    first = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert len(list(tmp_path.rglob("*.json"))) == len(ALL_FOLDERS)
    s3.proxy.reset()
    second = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert s3.proxy.counts() == {}
    assert leaf_rows(second) == leaf_rows(first)
    assert path_rows(second, s3_root) == path_rows(first, s3_root)
    # New data is only seen on refresh, which also updates the cache.
    s3.fill(BUCKET, {f"{WIKI}/part-00099.npy": 4 * 2_000})
    refreshed = resolve(
        config, storage_options=s3.storage_options, cache_dir=tmp_path, refresh=True
    )
    assert s3.proxy.counts() == {"ListObjectsV2": len(ALL_FOLDERS)}
    assert refreshed.leaves[-1].leaf == "wikipedia"
    assert (second.leaves[-1].tokens, refreshed.leaves[-1].tokens) == (18_000, 20_000)
    s3.proxy.reset()
    assert (
        resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path).leaves[-1].tokens
        == 20_000
    )
    assert s3.proxy.counts() == {}
    # cache=False lists everything, sees newer data than the cache, and writes nothing.
    snapshot = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    s3.fill(BUCKET, {f"{WIKI}/part-00098.npy": 4 * 1_000})
    uncached = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path, cache=False)
    assert s3.proxy.counts() == {"ListObjectsV2": len(ALL_FOLDERS)}
    assert uncached.leaves[-1].tokens == 21_000
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot
    cached = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert cached.leaves[-1].tokens == 20_000


@pytest.mark.s3
def test_cache_is_keyed_by_endpoint_glob_and_token_size(
    s3: S3Lab, s3_root: str, tmp_path: Path
) -> None:
    """Another endpoint or token size recounts every glob; editing one glob recounts just it."""
    config = dclm_config(s3_root)
    # Straight to moto (not counted by the proxy), then through the proxy.
    resolve(config, storage_options={"endpoint_url": s3.endpoint_url}, cache_dir=tmp_path)
    assert s3.proxy.counts() == {}
    uint32 = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert s3.proxy.counts() == {"ListObjectsV2": len(ALL_FOLDERS)}
    assert len(list(tmp_path.rglob("*.json"))) == 2 * len(ALL_FOLDERS)
    # One nested glob edited: only its folder is listed.
    code = TOPICS[1]
    edited = copy.deepcopy(config)
    edited["sources"][0]["topics"][1]["quality"][1]["paths"] = [
        f"{s3_root}/{vigintile(code, 17)}/part-*.npy"
    ]
    s3.proxy.reset()
    mix = resolve(edited, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert s3.proxy.counts() == {"ListObjectsV2": 1}
    assert leaf_rows(mix) == leaf_rows(uint32)
    # A dtype change recounts every glob, and uint16 doubles the tokens.
    s3.proxy.reset()
    uint16 = resolve(
        {**config, "dtype": "uint16"}, storage_options=s3.storage_options, cache_dir=tmp_path
    )
    assert s3.proxy.counts() == {"ListObjectsV2": len(ALL_FOLDERS)}
    assert [row.tokens for row in uint16.paths] == [2 * (row.tokens or 0) for row in uint32.paths]
    assert (uint32.token_size, uint16.token_size) == (4, 2)


@pytest.mark.s3
def test_corrupt_cache_file_warns_once_and_recounts(
    s3: S3Lab, s3_root: str, tmp_path: Path
) -> None:
    """An unreadable cache file is one warning; that glob is listed again, numbers stay right."""
    config = dclm_config(s3_root)
    first = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path)
    victim = sorted(tmp_path.rglob("*.json"))[0]
    victim.write_text("{not json", encoding="utf-8")
    s3.proxy.reset()
    second = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert s3.proxy.counts() == {"ListObjectsV2": 1}
    assert len(second.warnings) == 1
    assert "damaged token-count cache entr" in second.warnings[0]
    assert victim.name in second.warnings[0]
    assert leaf_rows(second) == leaf_rows(first)
    assert path_rows(second, s3_root) == path_rows(first, s3_root)
    # The entry was rewritten and is valid again.
    s3.proxy.reset()
    third = resolve(config, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert (s3.proxy.counts(), third.warnings) == ({}, ())


def test_unwritable_cache_dir_is_a_warning_not_a_crash(memory_root: str, tmp_path: Path) -> None:
    """A cache folder that cannot be written costs a warning; the counted mix is still returned."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    config = dclm_config(memory_root)
    mix = resolve(config, cache_dir=blocker / "cache")
    assert leaf_rows(mix) == leaf_rows(resolve(config, cache=False))
    [warning] = [w for w in mix.warnings if w.startswith("cannot write the token-count cache")]
    assert str(blocker / "cache") in warning
    assert "--no-cache" in warning
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


# ------------------------------------------------------------------ a worked example


def test_worked_example_by_hand(tmp_path: Path) -> None:
    """Hand-computed leaf and path weights of a small local tree match to 1e-12."""
    sizes = {  # tokens of each object (uint32: bytes = 4 x tokens)
        "code/v20/a.npy": 400,
        "code/v20/b.npy": 200,
        "code/v18/a.npy": 200,
        "code/v10/a.npy": 500,
        "code/v10/b.npy": 500,
        "sci/v20/a.npy": 300,
        "sci/v10/a.npy": 100,
        "wiki/a.npy": 250,
        "wiki/b.npy": 250,
    }
    for name, count in sizes.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(bytes(4 * count))
    (tmp_path / "wiki" / "_metadata.json").write_bytes(bytes(3))
    root = tmp_path.as_posix()
    config = make_config(
        entry(
            "web",
            3,
            topics=[
                entry(
                    "code",
                    1,
                    quality=[
                        entry("hi", 3, paths=[f"{root}/code/v20/*.npy", f"{root}/code/v18/*.npy"]),
                        entry("lo", 1, paths=[f"{root}/code/v10/*.npy"]),
                    ],
                ),
                entry(
                    "sci",
                    1,
                    max_repetition_factor=1.5,
                    quality=[
                        entry("hi", paths=[f"{root}/sci/v20/*.npy"]),
                        entry("lo", paths=[f"{root}/sci/v10/*.npy"]),
                    ],
                ),
            ],
        ),
        entry("wiki", 1, paths=[f"{root}/wiki/*.npy"]),
    )
    mix = resolve(config, training_tokens=1_280, cache=False)
    # Sources 3 : 1            -> web 3/4, wiki 1/4.
    # Topics 1 : 1 within web  -> code 3/8, sci 3/8.
    # code's buckets 3 : 1     -> code:hi 3/8 x 3/4 = 9/32, code:lo 3/8 x 1/4 = 3/32.
    # sci's buckets have no weights: split by tokens 300 : 100
    #                          -> sci:hi 3/8 x 3/4 = 9/32, sci:lo 3/8 x 1/4 = 3/32.
    # code:hi's paths by tokens 600 : 200 -> v20 9/32 x 3/4 = 27/128, v18 9/32 x 1/4 = 9/128.
    expected_leaves = {
        "web:code:hi": (9 / 32, 800),
        "web:code:lo": (3 / 32, 1_000),
        "web:sci:hi": (9 / 32, 300),
        "web:sci:lo": (3 / 32, 100),
        "wiki": (1 / 4, 500),
    }
    assert {leaf.leaf: (leaf.weight, leaf.tokens) for leaf in mix.leaves} == {
        name: (pytest.approx(weight, abs=1e-12), count)
        for name, (weight, count) in expected_leaves.items()
    }
    expected_paths = [
        (f"{root}/code/v20/*.npy", "web:code:hi", 2, 600, 27 / 128),
        (f"{root}/code/v18/*.npy", "web:code:hi", 1, 200, 9 / 128),
        (f"{root}/code/v10/*.npy", "web:code:lo", 2, 1_000, 3 / 32),
        (f"{root}/sci/v20/*.npy", "web:sci:hi", 1, 300, 9 / 32),
        (f"{root}/sci/v10/*.npy", "web:sci:lo", 1, 100, 3 / 32),
        (f"{root}/wiki/*.npy", "wiki", 2, 500, 1 / 4),
    ]
    assert [(r.path, r.leaf, r.objects, r.tokens, r.weight) for r in mix.paths] == [
        (*row[:4], pytest.approx(row[4], abs=1e-12)) for row in expected_paths
    ]
    # 27 + 9 + 12 + 36 + 12 + 32 = 128 (in 128ths).
    assert path_weight_sum(mix) == pytest.approx(1.0, abs=1e-9)
    # Budget 1,280: requested = weight x 1,280; repetition = requested / tokens.
    # code:hi 360/800 = 0.45; code:lo 120/1000 = 0.12; sci:hi 360/300 = 1.2 (limit 1.5
    # from its topic); sci:lo 120/100 = 1.2; wiki 320/500 = 0.64.
    assert {leaf.leaf: (leaf.requested_tokens, leaf.repetition_factor) for leaf in mix.leaves} == {
        "web:code:hi": (pytest.approx(360, abs=1e-9), pytest.approx(0.45, abs=1e-12)),
        "web:code:lo": (pytest.approx(120, abs=1e-9), pytest.approx(0.12, abs=1e-12)),
        "web:sci:hi": (pytest.approx(360, abs=1e-9), pytest.approx(1.2, abs=1e-12)),
        "web:sci:lo": (pytest.approx(120, abs=1e-9), pytest.approx(1.2, abs=1e-12)),
        "wiki": (pytest.approx(320, abs=1e-9), pytest.approx(0.64, abs=1e-12)),
    }
    assert mix.infeasible == []
    # Largest feasible budget: min(tokens x limit / weight) = sci 300 x 1.5 / (9/32) = 1,600.
    assert mix.max_training_tokens == pytest.approx(1_600, abs=1e-9)


# ------------------------------------------------------------------ token size and budget


@pytest.mark.parametrize(
    ("settings", "token_size"),
    [
        ({"tokenizer": "dolma2"}, 4),
        ({"tokenizer": "gpt-neox-20b"}, 2),
        ({"tokenizer": "dolma2", "dtype": "uint16"}, 2),
        ({"tokenizer": "gpt-neox-20b", "dtype": "uint32"}, 4),
        ({"tokenizer": None}, 4),
    ],
)
def test_token_size_from_dtype_else_tokenizer(
    memory_root: str, settings: dict[str, Any], token_size: int
) -> None:
    """The config's dtype wins, else its tokenizer's; uint16 doubles the token counts."""
    config = dclm_config(memory_root)
    config.update(settings)
    if settings["tokenizer"] is None:
        del config["tokenizer"]
    mix = resolve(config, cache=False)
    assert mix.token_size == token_size
    factor = 4 // token_size
    assert {leaf.leaf: leaf.tokens for leaf in mix.leaves}["wikipedia"] == 18_000 * factor
    assert [row.tokens for row in mix.paths] == [
        factor * tokens(path.removeprefix(memory_root + "/").removesuffix("/*.npy"))
        for path in (row.path for row in mix.paths)
    ]


def test_object_size_not_a_multiple_of_the_token_size(memory_root: str) -> None:
    """A `.npy` object that is no whole number of tokens is an error naming it and its size."""
    import fsspec

    odd = f"{memory_root}/{WIKI}/part-00009.npy"
    fsspec.filesystem("memory").pipe_file(odd, bytes(6))
    assert resolve(dclm_config(memory_root, dtype="uint16"), cache=False).token_size == 2
    with pytest.raises(StorageError) as caught:
        resolve(dclm_config(memory_root), cache=False)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{memory_root}/{WIKI}/*.npy" in message
    assert "part-00009.npy has 6 bytes, not a multiple of the token size 4" in message


def test_training_tokens_from_proxy_model_or_override(memory_root: str) -> None:
    """Default budget is what the trainer trains (20 x non-embedding parameters x
    chinchilla_multiple); training_tokens= overrides it."""
    config = dclm_config(memory_root)
    mix = resolve(config, cache=False)
    assert mix.training_tokens == 138_958_080  # olmo3_14m, dolma2: int(20 x 13,895,808 x 0.5)
    by_leaf = {leaf.leaf: leaf for leaf in mix.leaves}
    assert by_leaf["wikipedia"].requested_tokens == pytest.approx(0.05 * 138_958_080)
    assert by_leaf["wikipedia"].repetition_factor == pytest.approx(0.05 * 138_958_080 / 18_000)
    bigger = resolve(
        {**config, "proxy_model_id": "olmo3_60m", "chinchilla_multiple": 2}, cache=False
    )
    assert bigger.training_tokens == 2_296_888_320  # int(20 x 57,422,208 x 2)
    override = resolve(config, training_tokens=36_000, cache=False)
    assert override.training_tokens == 36_000
    for leaf in override.leaves:
        assert leaf.weight is not None and leaf.tokens is not None
        assert leaf.requested_tokens == pytest.approx(leaf.weight * 36_000, rel=1e-12)
        assert leaf.repetition_factor == pytest.approx(
            leaf.weight * 36_000 / leaf.tokens, rel=1e-12
        )
    assert {leaf.leaf: leaf for leaf in override.leaves}["wikipedia"].repetition_factor == (
        pytest.approx(0.1)
    )


def test_missing_or_unknown_proxy_needs_training_tokens(memory_root: str) -> None:
    """Without a known proxy model the budget must be given; with one given it resolves."""
    config = dclm_config(memory_root, proxy_model_id="olmo9_huge")
    with pytest.raises(UserError, match=r"unknown proxy model 'olmo9_huge'.*training_tokens=N"):
        resolve(config, cache=False)
    del config["proxy_model_id"]
    with pytest.raises(UserError, match=r"has no proxy_model_id"):
        resolve(config, cache=False)
    assert resolve(config, training_tokens=1_000, cache=False).training_tokens == 1_000
    with pytest.raises(UserError, match=r"training_tokens: must be between 1 and 1e\+18, got 0"):
        resolve(config, training_tokens=0, cache=False)


def test_minimum_weight_warning_names_tiny_leaves(memory_root: str) -> None:
    """Leaves below minimum_weight (but above 0) are named in one finding (M007)."""
    config = dclm_config(memory_root, sources=(10_000, 1, 0), minimum_weight=0.001)
    mix = resolve(config, cache=False)
    # arxiv: 1 / 10,001 < 0.001; wikipedia is 0 and olmix drops it anyway.
    # (memory:// paths are findings too: olmix cannot read them.)
    low = [str(f) for f in mix.findings if f.code == "M007"]
    assert low == ["config: 1 leaf weight(s) below minimum_weight 0.001 (olmix drops them): arxiv"]
    assert low[0] in mix.mismatches
    assert mix.warnings == ()
    assert mix.minimum_weight == 0.001
    again = resolve(dclm_config(memory_root, minimum_weight=0.001), cache=False)
    assert [f for f in again.findings if f.code == "M007"] == []


def test_topics_with_plain_paths_and_sources_with_quality(memory_root: str) -> None:
    """A topic with plain paths is a `source:topic` leaf; a source's buckets are `source:bucket`."""
    sci, code = TOPICS
    config = make_config(
        entry(
            "web",
            1,
            topics=[
                entry(sci, 1, paths=globs(memory_root, *topic_folders(sci))),
                entry(code, 1, paths=globs(memory_root, vigintile(code, 20))),
            ],
        ),
        entry(
            "refs",
            1,
            quality=[
                entry("arxiv", paths=globs(memory_root, ARXIV)),
                entry("wiki", paths=globs(memory_root, WIKI)),
            ],
        ),
    )
    mix = resolve(config, cache=False)
    # web 1/2 split evenly by topic weight; refs 1/2 split by tokens 8,000 : 18,000.
    assert leaf_weights(mix) == pytest.approx(
        {
            f"web:{sci}": 0.25,
            f"web:{code}": 0.25,
            "refs:arxiv": 0.5 * 8 / 26,
            "refs:wiki": 0.5 * 18 / 26,
        },
        rel=1e-12,
    )
    assert [leaf.tokens for leaf in mix.leaves] == [
        tokens(*topic_folders(sci)),
        tokens(vigintile(code, 20)),
        8_000,
        18_000,
    ]
    assert len(mix.paths) == len(VIGINTILES) + 3
    assert path_weight_sum(mix) == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------ offline


@pytest.mark.s3
def test_offline_touches_no_storage(s3: S3Lab, s3_root: str, tmp_path: Path) -> None:
    """offline=True lists nothing and reads no cache; explicit weights still give leaf weights."""
    config = dclm_config(s3_root)
    sci_buckets = config["sources"][0]["topics"][0]["quality"]
    for bucket in sci_buckets:
        del bucket["weight"]
    mix = resolve(config, offline=True, storage_options=s3.storage_options, cache_dir=tmp_path)
    assert s3.proxy.counts() == {}
    assert not tmp_path.joinpath("v1").exists()
    sci, code = TOPICS
    weights = leaf_weights(mix)
    assert weights[f"all_dressed:{sci}:top10pct"] is None
    assert weights[f"all_dressed:{sci}:10-30pct"] is None
    assert weights[f"all_dressed:{code}:top10pct"] == pytest.approx(0.9 * 0.4 * 0.7, rel=1e-12)
    assert weights["wikipedia"] == pytest.approx(0.05, rel=1e-12)
    assert mix.needs_counts == [f"all_dressed:{sci}:top10pct", f"all_dressed:{sci}:10-30pct"]
    assert mix.warnings == (
        "offline: 2 leaf weight(s) need token counts:"
        f" all_dressed:{sci}:top10pct, all_dressed:{sci}:10-30pct",
    )
    assert mix.offline
    assert all(leaf.tokens is None and leaf.repetition_factor is None for leaf in mix.leaves)
    rows = {row.path: row for row in mix.paths}
    # A one-path leaf passes its weight on; the paths of a multi-path leaf need counts.
    assert rows[f"{s3_root}/{WIKI}/*.npy"].weight == pytest.approx(0.05, rel=1e-12)
    assert rows[f"{s3_root}/{vigintile(code, 18)}/*.npy"].weight is None
    assert rows[f"{s3_root}/{vigintile(code, 17)}/*.npy"].weight == pytest.approx(
        0.9 * 0.4 * 0.3, rel=1e-12
    )
    assert all(row.objects is None and row.tokens is None for row in mix.paths)


def test_offline_needs_no_server_at_all() -> None:
    """Offline, a bogus endpoint and a bucket that exists nowhere still resolve at once."""
    config = dclm_config("s3://no-such-bucket-anywhere")
    endpoint = f"http://127.0.0.1:{closed_port()}"
    mix = resolve(config, offline=True, storage_options={"endpoint_url": endpoint})
    assert mix.needs_counts == []
    assert math.fsum(leaf.weight or 0.0 for leaf in mix.leaves) == pytest.approx(1.0, abs=1e-12)
    assert mix.warnings == ()
    assert mix.to_mix_block().startswith("mix:\n  all_dressed:\n    weight: 0.9\n")


# ------------------------------------------------------------------ output shapes


def test_json_shape_is_stable(memory_root: str) -> None:
    """to_json has exactly training_tokens, the largest feasible budget, the uncounted
    leaves, leaves and paths, with fixed keys in each row."""
    mix = resolve(dclm_config(memory_root), cache=False)
    data = json.loads(mix.to_json())
    assert mix.to_json().endswith("}\n")
    assert list(data) == [
        "training_tokens",
        "max_training_tokens",
        "unknown_tokens",
        "leaves",
        "paths",
    ]
    assert data["training_tokens"] == 138_958_080
    assert data["max_training_tokens"] == int(mix.max_training_tokens or 0) > 0
    assert data["unknown_tokens"] == []
    assert len(data["leaves"]) == len(mix.leaves)
    assert len(data["paths"]) == len(mix.paths)
    for leaf in data["leaves"]:
        assert list(leaf) == LEAF_COLUMNS
        assert isinstance(leaf["requested_tokens"], int)
    for path in data["paths"]:
        assert list(path) == PATH_COLUMNS
    assert data["paths"][0]["path"] == f"{memory_root}/{vigintile(TOPICS[0], 18)}/*.npy"
    assert data["leaves"][-1]["leaf"] == "wikipedia"
    assert data["leaves"][-1]["tokens"] == 18_000
    assert data == mix.to_dict()


def test_records_are_plain_json_serializable_dicts(memory_root: str) -> None:
    """to_records gives plain dicts of str/int/float/None that json round-trips unchanged."""
    mix = resolve(dclm_config(memory_root, sources=(1, 0, 1)), cache=False)
    for kind in ("paths", "leaves"):
        records = mix.to_records(kind)
        assert isinstance(records, list) and records
        assert all(type(record) is dict for record in records)
        values = [value for record in records for value in record.values()]
        assert all(value is None or type(value) in (str, int, float) for value in values)
        assert json.loads(json.dumps(records)) == records
    assert mix.to_records() == mix.to_records("paths")
    zero = [r for r in mix.to_records("paths") if r["leaf"] == "arxiv"]
    assert zero == [
        {
            "path": f"{memory_root}/{ARXIV}/*.npy",
            "leaf": "arxiv",
            "objects": None,
            "tokens": None,
            "weight": 0.0,
        }
    ]
    with pytest.raises(ValueError, match="kind must be"):
        mix.to_records("rows")


def test_csv_has_a_fixed_header_and_one_row_per_path(memory_root: str) -> None:
    """to_csv writes `path,leaf,objects,tokens,weight` then one line per path row."""
    import csv
    import io

    mix = resolve(dclm_config(memory_root, sources=(1, 0, 1)), cache=False)
    text = mix.to_csv()
    lines = text.splitlines()
    assert lines[0] == "path,leaf,objects,tokens,weight"
    assert len(lines) == 1 + len(mix.paths)
    assert text.endswith("\n") and "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["path"], r["leaf"]) for r in rows] == [(p.path, p.leaf) for p in mix.paths]
    for row, path in zip(rows, mix.paths, strict=True):
        assert row["objects"] == ("" if path.objects is None else str(path.objects))
        assert row["tokens"] == ("" if path.tokens is None else str(path.tokens))
        assert float(row["weight"]) == path.weight


# ------------------------------------------------------------------ config input


def test_config_from_file_mapping_and_model_agree(memory_root: str, tmp_path: Path) -> None:
    """A YAML file, a dict and an ExperimentConfig of the same config resolve alike."""
    import yaml

    from qupsample.olmixmodels import ExperimentConfig

    config = dclm_config(memory_root)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    from_dict = resolve(config, cache=False)
    from_file = resolve(path, cache=False)
    from_str = resolve(str(path), cache=False)
    from_model = resolve(ExperimentConfig.model_validate(config), cache=False)
    for other in (from_file, from_str, from_model):
        assert leaf_rows(other) == leaf_rows(from_dict)
        assert path_rows(other, memory_root) == path_rows(from_dict, memory_root)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsources: [", r"config\.yaml:\d+: .*fix the YAML syntax"),
        ("- just\n- a list\n", r"is a list, not an olmix config \(a mapping\)"),
        ("name: x\nsources:\n  - name: a\n    paths: [p]\n    colour: red\n", r"colour"),
        ("name: x\nsources:\n  - name: a\n    weight: -1\n    paths: [p]\n", r"weight"),
    ],
)
def test_invalid_config_files_are_spec_errors(tmp_path: Path, text: str, message: str) -> None:
    """Malformed YAML or a config failing validation is one SpecError line naming the file."""
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=message) as caught:
        resolve(path, offline=True)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_missing_config_file_is_a_user_error(tmp_path: Path) -> None:
    """A config path that does not exist is a UserError naming it."""
    with pytest.raises(UserError, match=r"nope\.yaml: file not found"):
        resolve(tmp_path / "nope.yaml")


# ------------------------------------------------------------------ properties

_WEIGHT = st.integers(min_value=1, max_value=1_000)


def _group_weights(draw: st.DrawFn, size: int) -> list[int | None]:
    """Weights for a sibling group: all given, or none (split by tokens)."""
    if draw(st.booleans()):
        return [None] * size
    return [draw(_WEIGHT) for _ in range(size)]


@st.composite
def weighted_configs(draw: st.DrawFn, root: str) -> dict[str, Any]:
    """The DCLM-shaped config with random weights (or none) for each sibling group."""
    return dclm_config(
        root,
        sources=_group_weights(draw, 3),
        topics=_group_weights(draw, len(TOPICS)),
        buckets=_group_weights(draw, len(BUCKETS)),
    )


def _groups(config: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Every sibling group of the config: sources, each source's topics, each topic's buckets."""
    groups = [config["sources"]]
    for source in config["sources"]:
        for key in ("topics", "quality"):
            if key in source:
                groups.append(source[key])
        for topic in source.get("topics", ()):
            if "quality" in topic:
                groups.append(topic["quality"])
    return groups


def _weights_by_name(mix: Mix) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    leaves = {
        leaf.leaf: (leaf.weight, leaf.tokens, leaf.max_repetition_factor) for leaf in mix.leaves
    }
    paths = {(row.leaf, row.path): (row.weight, row.objects, row.tokens) for row in mix.paths}
    return leaves, paths


@settings(max_examples=30, deadline=None)
@given(data=st.data(), scale=st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_a_sibling_group_changes_nothing(
    shared_memory_root: str, data: st.DataObject, scale: float
) -> None:
    """Multiplying every weight of one sibling group by c > 0 leaves all weights unchanged."""
    config = data.draw(weighted_configs(shared_memory_root))
    before = resolve(config, cache=False)
    group = data.draw(st.sampled_from(_groups(config)))
    for node in group:
        if "weight" in node:
            node["weight"] = node["weight"] * scale
    after = resolve(config, cache=False)
    leaves_before, paths_before = _weights_by_name(before)
    leaves_after, paths_after = _weights_by_name(after)
    assert list(leaves_after) == list(leaves_before)
    for name, (weight, count, limit) in leaves_before.items():
        assert leaves_after[name] == (pytest.approx(weight, rel=1e-9, abs=1e-15), count, limit)
    for key, (weight, objects, count) in paths_before.items():
        assert paths_after[key] == (pytest.approx(weight, rel=1e-9, abs=1e-15), objects, count)


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    sources=st.tuples(*[st.integers(1, 100)] * 3),
    topics=st.tuples(*[st.integers(1, 100)] * len(TOPICS)),
    kept=st.integers(1, 100),
)
def test_weight_zero_bucket_stays_zero_and_is_never_listed(
    shared_memory_root: str,
    data: st.DataObject,
    sources: tuple[int, int, int],
    topics: tuple[int, ...],
    kept: int,
) -> None:
    """Under weighted parents, a weight-0 bucket gets 0 and its (missing) folder is not listed."""
    config = dclm_config(shared_memory_root, sources=sources, topics=topics, buckets=(kept, 0))
    topic = data.draw(st.sampled_from(range(len(TOPICS))))
    position = data.draw(st.sampled_from([0, 1]))
    buckets = config["sources"][0]["topics"][topic]["quality"]
    buckets[position]["weight"], buckets[1 - position]["weight"] = 0, kept
    missing = f"{shared_memory_root}/no/such/folder/*.npy"
    buckets[position]["paths"] = [missing]
    mix = resolve(config, cache=False)
    leaf = f"all_dressed:{TOPICS[topic]}:{buckets[position]['name']}"
    assert leaf_weights(mix)[leaf] == 0.0
    [row] = [row for row in mix.paths if row.path == missing]
    assert (row.weight, row.objects, row.tokens) == (0.0, None, None)
    assert path_weight_sum(mix) == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_permuting_entries_permutes_rows_only(shared_memory_root: str, data: st.DataObject) -> None:
    """Reordering sources, topics, buckets and paths reorders the rows and changes no value."""
    config = data.draw(weighted_configs(shared_memory_root))
    before = resolve(config, cache=False)
    for group in _groups(config):
        group[:] = data.draw(st.permutations(group))
    for group in _groups(config):
        for node in group:
            if "paths" in node:
                node["paths"] = data.draw(st.permutations(node["paths"]))
    after = resolve(config, cache=False)
    leaves_before, paths_before = _weights_by_name(before)
    leaves_after, paths_after = _weights_by_name(after)
    assert leaves_after == leaves_before
    assert paths_after == paths_before
    assert sorted(leaf_rows(after)) == sorted(leaf_rows(before))


# ------------------------------------------------------------------ imports


def test_json_weights_carry_no_float_noise() -> None:
    """The generated heavy_code/aggressive config resolves to short decimals in JSON."""
    config = REPO / "generated/quality_upsampling/heavy_code/aggressive.yaml"
    data = json.loads(resolve(config, offline=True).to_json())
    weights = [leaf["weight"] for leaf in data["leaves"]]
    assert weights[:4] == [0.14, 0.06, 0.35, 0.15]
    assert all(len(repr(weight)) <= 6 for weight in weights)
    assert "000000000" not in json.dumps(data) and "999999999" not in json.dumps(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "weight: " + "1" * 400,
            r"sources\.0\.weight: must be at most 1e\+300, got <an int of about 400 digits>",
        ),
        ("weight: 1.0e-320", r"a: its share \(about 1e-\d+\) is too small for a float"),
    ],
)
def test_absurd_weights_are_one_line_user_errors(tmp_path: Path, text: str, message: str) -> None:
    """A 10**400 weight or a share that underflows beside a 1e300 sibling: exit 2, one line."""
    path = tmp_path / "c.yaml"
    path.write_text(
        f"name: t\nproxy_model_id: olmo3_14m\nsources:\n  - name: a\n    {text}\n    paths: [x]\n"
        "  - name: b\n    weight: 1.0e+300\n    paths: [y]\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError, match=message) as caught:
        resolve(path, offline=True)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("multiple", "message"),
    [
        ("1.0e+308", r"chinchilla_multiple: must be at most 1e\+300, got 1e\+308"),
        ("1.0e+9", r"chinchilla_multiple: must be at most 1e\+06, got 1000000000\.0"),
        ("1.0e-320", r"chinchilla_multiple: 1e-320 x 20 x 14,000,000 parameters rounds to 0"),
    ],
)
def test_absurd_budgets_are_one_line_user_errors(
    tmp_path: Path, multiple: str, message: str
) -> None:
    """A chinchilla_multiple that overflows or rounds the budget to 0 names the field."""
    path = tmp_path / "c.yaml"
    path.write_text(
        f"name: t\nproxy_model_id: olmo3_14m\nchinchilla_multiple: {multiple}\n"
        "sources:\n  - name: a\n    paths: [x]\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError, match=message):
        resolve(path, offline=True)


def test_absurd_training_budget_is_a_user_error(memory_root: str) -> None:
    """training_tokens=10**400 is refused with the sane range, not an OverflowError."""
    with pytest.raises(UserError, match=r"training_tokens: must be between 1 and 1e\+18"):
        resolve(dclm_config(memory_root), offline=True, training_tokens=10**400)
