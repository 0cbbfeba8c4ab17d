"""Tests for the benchmark's S3 lab (tests/benchlab.py, which bench/ uses): layout, fast
listing, filler, proxy, counters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import benchlab
import pytest
from naive_counter import count_naive
from s3lab import CountingProxy

from qupsample.resolve import load_config
from qupsample.storage import count_tokens
from qupsample.weights import needed_paths

pytestmark = pytest.mark.s3

COMPARE_BUCKET = "bench-lab-compare"
# Keys that stress listing: nesting, names sharing prefixes, characters that need escaping.
TRICKY_KEYS = {
    "a/b/part-00000.npy": 8,
    "a/b/part-00001.npy": 12,
    "a/b/part-00000.csv.gz": 3,
    "a/b/sub/deep.npy": 4,
    "a/b/sub/deeper/x.npy": 4,
    "a/bc/other.npy": 16,
    "a/b c+d/é & <x>.npy": 20,
    "a/b.npy": 4,
    "a": 1,
    "top.npy": 4,
    "z/last.npy": 4,
}


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture(scope="module")
def server() -> Iterator[benchlab.S3Server]:
    """The lab's moto S3 app in this process, with `fast_listing` on."""
    with benchlab.fast_listing():
        lab = benchlab.S3Server()
        try:
            yield lab
        finally:
            lab.close()


@pytest.fixture(scope="module")
def _module_proxy(server: benchlab.S3Server) -> Iterator[CountingProxy]:
    with CountingProxy(server.url) as proxy:
        yield proxy


@pytest.fixture
def proxy(_module_proxy: CountingProxy) -> Iterator[CountingProxy]:
    """A counting proxy in front of `server`, with zeroed counts and no delay."""
    _module_proxy.reset()
    _module_proxy.delay_s = 0.0
    try:
        yield _module_proxy
    finally:
        _module_proxy.delay_s = 0.0


@pytest.fixture
def bucket(server: benchlab.S3Server) -> Iterator[str]:
    """A bucket filled with TRICKY_KEYS through the in-process filler."""
    benchlab.fill(TRICKY_KEYS, bucket=COMPARE_BUCKET)
    try:
        yield COMPARE_BUCKET
    finally:
        benchlab.drop_bucket(COMPARE_BUCKET)


@pytest.fixture
def small_lab(server: benchlab.S3Server) -> Iterator[benchlab.Layout]:
    """The benchmark's layout with 2 files a folder, in bucket ai2-llm."""
    layout = benchlab.Layout(files=2, seed=7)
    benchlab.fill(layout.objects())
    try:
        yield layout
    finally:
        benchlab.drop_bucket(benchlab.BUCKET)


def test_layout_is_the_dclm_layout() -> None:
    """458 folders (no vigintile_0019), .npy sizes in whole tokens, sidecars everywhere."""
    layout = benchlab.Layout(files=3, seed=1)
    folders = layout.folders()
    assert len(folders) == len(set(folders)) == 24 * 19 + 2 == len(layout.globs())
    assert not any("vigintile_0019" in f for f in folders)
    assert sum("vigintile_0020" in f for f in folders) == 24
    objects = dict(layout.objects())
    assert len(objects) == 458 * 3 * 2
    for folder in folders:
        names = [k for k in objects if k.startswith(folder)]
        assert sum(n.endswith(".npy") for n in names) == 3
        assert sum(n.endswith(".csv.gz") for n in names) == 3
    assert all(size % 4 == 0 for key, size in objects.items() if key.endswith(".npy"))
    assert objects == dict(benchlab.Layout(files=3, seed=1).objects())
    assert objects != dict(benchlab.Layout(files=3, seed=2).objects())
    expected = layout.expected_tokens()
    assert sum(expected.values()) * 4 == sum(s for k, s in objects.items() if k.endswith(".npy"))


def test_layout_config_covers_every_glob() -> None:
    """The config is a valid launch config whose 458 paths are exactly the layout's globs."""
    layout = benchlab.Layout(files=1)
    from qupsample.resolve import config_entries

    paths = needed_paths(config_entries(load_config(layout.config())))
    assert sorted(paths) == sorted(layout.globs())


def _pages(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    pages = []
    while True:
        page = client.list_objects_v2(**kwargs)
        page.pop("ResponseMetadata")
        pages.append(page)
        if not page.get("IsTruncated"):
            return pages
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


LIST_QUERIES: list[dict[str, Any]] = [
    {"Prefix": "a/b/", "Delimiter": "/"},
    {"Prefix": "a/b/"},
    {"Delimiter": "/"},
    {},
    {"Prefix": "a/b", "Delimiter": "/"},
    {"Prefix": "a/b c+d/", "Delimiter": "/"},
    {"Prefix": "nothing/", "Delimiter": "/"},
    {"Prefix": "a/", "MaxKeys": 2},
    {"Prefix": "a/", "Delimiter": "/", "MaxKeys": 1},
    {"Prefix": "a/b/", "StartAfter": "a/b/part-00000.csv.gz"},
    {"Prefix": "a/b/", "Delimiter": "/", "FetchOwner": True},
]


def test_fast_listing_answers_like_stock_moto(server: benchlab.S3Server, bucket: str) -> None:
    """Every query, page by page, gets the same answer with and without `fast_listing`."""
    client = _client(server.url)
    try:
        fast = [_pages(client, Bucket=bucket, **query) for query in LIST_QUERIES]
        with benchlab.stock_listing():
            stock = [_pages(client, Bucket=bucket, **query) for query in LIST_QUERIES]
    finally:
        client.close()
    for query, fast_pages, stock_pages in zip(LIST_QUERIES, fast, stock, strict=True):
        assert fast_pages == stock_pages, query
    assert [c["Key"] for c in fast[0][0]["Contents"]] == [
        "a/b/part-00000.csv.gz",
        "a/b/part-00000.npy",
        "a/b/part-00001.npy",
    ]
    assert fast[0][0]["CommonPrefixes"] == [{"Prefix": "a/b/sub/"}]


def test_fast_listing_sees_changes(server: benchlab.S3Server, bucket: str) -> None:
    """Objects put or deleted after the fill show up in (or leave) the next listing."""
    client = _client(server.url)
    try:
        client.put_object(Bucket=bucket, Key="a/b/part-00002.npy", Body=b"1234")
        client.delete_object(Bucket=bucket, Key="a/b/part-00000.npy")
        keys = [c["Key"] for c in client.list_objects_v2(Bucket=bucket, Prefix="a/b/")["Contents"]]
    finally:
        client.close()
    assert "a/b/part-00002.npy" in keys
    assert "a/b/part-00000.npy" not in keys


def test_proxy_counts_a_known_sequence_and_overlaps_delays(
    proxy: CountingProxy, bucket: str
) -> None:
    """2 LISTs, 3 HEADs and 1 GET are counted as such; each waits the delay, concurrently."""
    delay = 0.05
    proxy.delay_s = delay
    client = _client(proxy.url)
    try:
        client.list_objects_v2(Bucket=bucket, Prefix="a/b/", Delimiter="/")
        client.list_objects_v2(Bucket=bucket, Prefix="z/")
        started = time.perf_counter()
        head = client.head_object(Bucket=bucket, Key="a/b/part-00001.npy")
        one = time.perf_counter() - started
        client.head_object(Bucket=bucket, Key="top.npy")
        client.head_object(Bucket=bucket, Key="a/b c+d/é & <x>.npy")
        body = client.get_object(Bucket=bucket, Key="a/bc/other.npy")["Body"].read()
        assert proxy.counts() == {"ListObjectsV2": 2, "HeadObject": 3, "GetObject": 1}
        proxy.reset()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda _: client.head_object(Bucket=bucket, Key="top.npy"), range(8)))
        eight = time.perf_counter() - started
        assert proxy.counts() == {"HeadObject": 8}
    finally:
        client.close()
    assert head["ContentLength"] == 12
    assert body == bytes(16)
    assert one >= delay
    assert eight < 8 * delay / 2  # the delays overlap


def test_counters_agree_with_the_layout(proxy: CountingProxy, small_lab: benchlab.Layout) -> None:
    """On a few folders both counters give the true counts, with the requests expected."""
    globs = [*small_lab.globs()[:5], small_lab.globs()[-1]]
    expected = {glob: small_lab.expected_tokens()[glob] for glob in globs}
    options = {"endpoint_url": proxy.url}
    ours = count_tokens(globs, token_size=4, storage_options=options)
    ours_requests = proxy.counts()
    proxy.reset()
    naive = count_naive(globs, options)
    naive_requests = proxy.counts()
    assert {glob: count.tokens for glob, count in ours.items()} == expected
    assert naive == expected
    assert ours_requests == {"ListObjectsV2": 6}
    assert naive_requests == {"ListObjectsV2": 6, "HeadObject": 6 * 2}


def test_lab_process_serves_a_filled_lab() -> None:
    """The lab subprocess fills moto, serves it on 127.0.0.1 and reports its CPU time."""
    with benchlab.LabProcess(files=1, seed=3) as lab:
        assert lab.endpoint.startswith("http://127.0.0.1:")
        assert lab.objects == 458 * 2
        client = _client(lab.endpoint)
        try:
            folder = benchlab.Layout(files=1, seed=3).folders()[0]
            page = client.list_objects_v2(Bucket=benchlab.BUCKET, Prefix=folder, Delimiter="/")
        finally:
            client.close()
        assert [c["Key"] for c in page["Contents"]] == [
            f"{folder}part-00000.csv.gz",
            f"{folder}part-00000.npy",
        ]
        assert lab.stats()["cpu_s"] > 0
