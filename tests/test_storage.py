"""Tests for qupsample.storage: token counts from listings, on every kind of storage."""

from __future__ import annotations

import itertools
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import closed_port, entry, invoke, write_config, write_objects
from s3lab import S3Lab

from qupsample.errors import StorageError, UserError
from qupsample.storage import GlobCount, count_tokens, storage_location

TOPICS = ("science_math_and_technology", "software_development")
VIGINTILES = ("vigintile_0017", "vigintile_0018", "vigintile_0020")
PARTS = 3
PREFIX = "preprocessed/dclm/allenai/dolma2-tokenizer"
BUCKET = "qupsample-test-data"
SECRET = "NOT-TO-BE-PRINTED-SECRET-2f9c"


def dclm_layout() -> dict[str, int]:
    """Object sizes by path under PREFIX: .npy parts (multiples of 4) plus sidecars that are not."""
    objects: dict[str, int] = {}
    for t, topic in enumerate(TOPICS):
        for v, vigintile in enumerate(VIGINTILES):
            for part in range(PARTS):
                size = 4 * (1 + part + PARTS * v + PARTS * len(VIGINTILES) * t)
                objects[f"{topic}/{vigintile}/part-{part:05d}.npy"] = size
            objects[f"{topic}/{vigintile}/part-00000.npy.json"] = 7
            objects[f"{topic}/{vigintile}/_metadata.json"] = 13
    return objects


def expected_counts(root: str, token_size: int = 4) -> dict[str, tuple[int, int, int]]:
    """Per-folder `*.npy` counts of dclm_layout, keyed by glob under `root`."""
    expected: dict[str, tuple[int, int, int]] = {}
    for topic in TOPICS:
        for vigintile in VIGINTILES:
            sizes = [
                size
                for name, size in dclm_layout().items()
                if name.startswith(f"{topic}/{vigintile}/") and name.endswith(".npy")
            ]
            total = sum(sizes)
            expected[f"{root}/{topic}/{vigintile}/*.npy"] = (len(sizes), total, total // token_size)
    return expected


@dataclass(frozen=True)
class Tree:
    """dclm_layout written to one kind of storage: globs start with `root`."""

    kind: str
    root: str
    storage_options: dict[str, Any]
    fs: Any


def _write_tree(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tree]:
    import fsspec

    layout = dclm_layout()
    if kind == "s3":
        s3: S3Lab = request.getfixturevalue("s3")
        s3.fill(BUCKET, {f"{PREFIX}/{name}": size for name, size in layout.items()})
        s3.proxy.reset()
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3.storage_options)
        yield Tree(kind, f"s3://{BUCKET}/{PREFIX}", s3.storage_options, fs)
        return
    if kind == "memory":
        fs = fsspec.filesystem("memory")
        base = f"/qupsample-tests/{uuid.uuid4().hex}"
        for name, size in layout.items():
            fs.pipe_file(f"{base}/{PREFIX}/{name}", bytes(size))
        try:
            yield Tree(kind, f"memory://{base.lstrip('/')}/{PREFIX}", {}, fs)
        finally:
            fs.rm(base, recursive=True)
        return
    write_objects(tmp_path / "data" / PREFIX, layout)
    fs = fsspec.filesystem("file")
    if kind == "relative":
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        monkeypatch.chdir(tmp_path)
        root = f"data/{PREFIX}"
    elif kind == "file_url":
        root = f"file://{tmp_path.as_posix()}/data/{PREFIX}"
    else:
        root = f"{tmp_path.as_posix()}/data/{PREFIX}"
    yield Tree(kind, root, {}, fs)


@pytest.fixture(
    params=["local", "file_url", "relative", "memory", pytest.param("s3", marks=pytest.mark.s3)]
)
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tree]:
    """The DCLM-shaped layout on local disk (three spellings), in memory, and on moto S3."""
    yield from _write_tree(request.param, request, tmp_path)


@pytest.fixture
def s3_tree(request: pytest.FixtureRequest, tmp_path: Path, s3: S3Lab) -> Iterator[Tree]:
    """The DCLM-shaped layout on moto S3 only."""
    yield from _write_tree("s3", request, tmp_path)


def _as_tuples(counts: dict[str, GlobCount]) -> dict[str, tuple[int, int, int]]:
    return {glob: (c.objects, c.bytes, c.tokens) for glob, c in counts.items()}


def test_counts_match_layout_and_skip_sidecars(tree: Tree) -> None:
    """Per-folder `*.npy` globs count exactly the .npy parts, never the .json sidecars."""
    expected = expected_counts(tree.root)
    counts = count_tokens(list(expected), token_size=4, storage_options=tree.storage_options)
    assert _as_tuples(counts) == expected
    assert all(c.objects == PARTS for c in counts.values())
    assert [c.glob for c in counts.values()] == list(expected)


@pytest.mark.parametrize(
    "pattern",
    [
        "software_development/vigintile_0018/*.npy",
        "software_development/vigintile_0018/part-0000[01].npy",
        "software_development/vigintile_0018/part-?????.npy",
        "software_development/vigintile_0018/part-0000[!0].npy",
        "software_development/vigintile_0018/*",
        "software_development/vigintile_0018/*.json",
        "software_development/vigintile_0018/*.npy*",
        "software_development/vigintile_0018/part-00002.npy",
        "*/vigintile_0018/*.npy",
        "s*/vigintile_00[12]?/*.npy",
        "**/*.npy",
        "software_development/**",
    ],
)
def test_glob_semantics_match_fs_glob(tree: Tree, pattern: str) -> None:
    """Every glob matches exactly the files that fsspec's own `fs.glob` returns."""
    glob = f"{tree.root}/{pattern}"
    found = tree.fs.glob(glob, detail=True)
    sizes = [info["size"] for info in found.values() if info["type"] == "file"]
    assert sizes, "the pattern should match something in the layout"
    count = count_tokens([glob], token_size=1, storage_options=tree.storage_options)[glob]
    assert (count.objects, count.bytes, count.tokens) == (len(sizes), sum(sizes), sum(sizes))


def test_results_follow_input_order_without_duplicates(tmp_path: Path) -> None:
    """Results are keyed by glob in input order, with repeated globs counted once."""
    for name in ("b/x.npy", "a/y.npy"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(bytes(8))
    globs = [f"{tmp_path}/b/*.npy", f"{tmp_path}/a/*.npy", f"{tmp_path}/b/*.npy"]
    counts = count_tokens(globs, token_size=4)
    assert list(counts) == [globs[0], globs[1]]
    assert counts[globs[1]] == GlobCount(glob=globs[1], objects=1, bytes=8, tokens=2)


def test_progress_reports_each_listing(tmp_path: Path) -> None:
    """`progress(0, total)` first (the total known from the start), then once per folder."""
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "p.npy").write_bytes(bytes(4))
    globs = [f"{tmp_path}/{f}/*.npy" for f in ("a", "b", "c")] + [f"{tmp_path}/a/p.npy"]
    calls: list[tuple[int, int]] = []
    count_tokens(globs, token_size=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_storage_options_do_not_apply_to_local_paths(tmp_path: Path) -> None:
    """S3 options given alongside local globs are ignored rather than breaking the listing."""
    (tmp_path / "p.npy").write_bytes(bytes(12))
    options = {"endpoint_url": "http://127.0.0.1:9", "anon": True, "profile": "nope"}
    counts = count_tokens([f"{tmp_path}/*.npy"], token_size=4, storage_options=options)
    assert counts[f"{tmp_path}/*.npy"].tokens == 3


@pytest.mark.s3
def test_one_list_request_per_folder(s3_tree: Tree, s3: S3Lab) -> None:
    """N globs in K distinct folders cost exactly K ListObjectsV2 requests and no HEAD/GET."""
    per_folder = list(expected_counts(s3_tree.root))
    extra = [
        f"{s3_tree.root}/{TOPICS[0]}/{VIGINTILES[0]}/part-0000[01].npy",
        f"{s3_tree.root}/{TOPICS[0]}/{VIGINTILES[0]}/part-00002.npy",
        f"{s3_tree.root}/{TOPICS[1]}/{VIGINTILES[2]}/*.npy.json",
    ]
    s3.proxy.reset()
    counts = count_tokens(per_folder + extra, token_size=1, storage_options=s3.storage_options)
    assert len(counts) == len(per_folder) + len(extra)
    assert s3.proxy.counts() == {"ListObjectsV2": len(per_folder)}


@pytest.mark.s3
def test_listing_is_fresh_not_cached(s3_tree: Tree, s3: S3Lab) -> None:
    """A second call lists again and sees objects added since the first call."""
    glob = f"{s3_tree.root}/{TOPICS[0]}/{VIGINTILES[0]}/*.npy"
    first = count_tokens([glob], token_size=4, storage_options=s3.storage_options)[glob]
    s3.fill(BUCKET, {f"{PREFIX}/{TOPICS[0]}/{VIGINTILES[0]}/part-00099.npy": 40})
    second = count_tokens([glob], token_size=4, storage_options=s3.storage_options)[glob]
    assert second.objects == first.objects + 1
    assert second.tokens == first.tokens + 10
    assert s3.proxy.counts() == {"ListObjectsV2": 2}


def _storage_error(globs: list[str], **kwargs: Any) -> StorageError:
    with pytest.raises(StorageError) as caught:
        count_tokens(globs, **kwargs)
    return caught.value


def _assert_one_safe_line(error: StorageError, *must_contain: str) -> str:
    message = str(error)
    assert "\n" not in message
    assert SECRET not in message
    # The hints name storage_options keys (the API's form), never the user's values.
    assert "endpoint_url': " not in message and "'key'" not in message
    for text in must_contain:
        assert text in message
    assert isinstance(error, UserError)
    return message


def _secret_options(s3: S3Lab) -> dict[str, Any]:
    return {**s3.storage_options, "key": "testing", "secret": SECRET}


@pytest.mark.s3
def test_glob_matching_nothing_is_an_error(s3_tree: Tree, s3: S3Lab) -> None:
    """A glob that matches no object raises instead of counting zero tokens."""
    glob = f"{s3_tree.root}/{TOPICS[0]}/{VIGINTILES[0]}/*.npz"
    error = _storage_error([glob], token_size=4, storage_options=_secret_options(s3))
    _assert_one_safe_line(error, glob, "matched no objects")


@pytest.mark.s3
def test_missing_bucket_is_an_error(s3: S3Lab) -> None:
    """Listing a bucket that does not exist names the bucket."""
    glob = "s3://no-such-bucket-here/x/*.npy"
    error = _storage_error([glob], token_size=4, storage_options=_secret_options(s3))
    _assert_one_safe_line(error, glob, "'no-such-bucket-here' does not exist")


@pytest.mark.s3
def test_missing_folder_is_an_error(s3_tree: Tree, s3: S3Lab) -> None:
    """Listing a folder that does not exist in an existing bucket names the glob."""
    glob = f"{s3_tree.root}/no_such_topic/vigintile_0001/*.npy"
    error = _storage_error([glob], token_size=4, storage_options=_secret_options(s3))
    _assert_one_safe_line(error, glob, "does not exist")


@pytest.mark.s3
def test_access_denied_is_an_error(s3_tree: Tree, s3: S3Lab) -> None:
    """A 403 on the listing says access was denied, for the first affected glob."""
    globs = list(expected_counts(s3_tree.root))
    s3.proxy.deny(f"{BUCKET}/{PREFIX}/{TOPICS[1]}/")
    error = _storage_error(globs, token_size=4, storage_options=_secret_options(s3))
    first_denied = next(g for g in globs if f"/{TOPICS[1]}/" in g)
    _assert_one_safe_line(error, first_denied, "access denied", "AccessDenied")


@pytest.mark.s3
def test_missing_credentials_is_an_error(
    s3_tree: Tree, s3: S3Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without any credentials the listing fails fast, telling how to provide them."""
    import os

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    glob = next(iter(expected_counts(s3_tree.root)))
    started = time.monotonic()
    error = _storage_error([glob], token_size=4, storage_options=s3.storage_options)
    assert time.monotonic() - started < 10
    _assert_one_safe_line(
        error,
        glob,
        "no AWS credentials",
        "AWS_PROFILE",
        'storage_options={"anon": True}',
        "offline=True",
    )
    assert s3.proxy.counts() == {}


@pytest.mark.s3
def test_unreachable_endpoint_is_an_error() -> None:
    """A closed port fails in well under 30 s and the message names the endpoint."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    glob = "s3://bucket/topic/vigintile_0001/*.npy"
    options = {"endpoint_url": endpoint, "key": "testing", "secret": SECRET}
    started = time.monotonic()
    error = _storage_error([glob], token_size=4, storage_options=options)
    assert time.monotonic() - started < 30
    _assert_one_safe_line(error, glob, endpoint, "cannot reach")


@contextmanager
def silent_endpoint() -> Iterator[tuple[str, list[float]]]:
    """An endpoint on 127.0.0.1 that accepts connections and never answers.

    Yields its URL and the monotonic time of each connection accepted so far.
    """
    accepted: list[float] = []
    held: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(time.monotonic())
            held.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


@pytest.mark.s3
def test_silent_endpoint_times_out_after_a_few_attempts_naming_it() -> None:
    """An endpoint that never answers fails within its attempts x read timeout, however
    many attempts other failures may have: each attempt waits out the timeout, and the
    one line says it timed out talking to that endpoint."""
    read_timeout = 0.5
    glob = "s3://bucket/topic/vigintile_0001/*.npy"
    with silent_endpoint() as (endpoint, accepted):
        options = {
            "endpoint_url": endpoint,
            "key": "testing",
            "secret": SECRET,
            "max_attempts": 10,
            "backoff_base": 0.01,
            "config_kwargs": {"connect_timeout": read_timeout, "read_timeout": read_timeout},
        }
        started = time.monotonic()
        error = _storage_error([glob], token_size=4, storage_options=options)
        elapsed = time.monotonic() - started
        attempts = [*accepted, time.monotonic()]
    _assert_one_safe_line(error, glob, f"timed out talking to {endpoint}", "check the endpoint")
    # A silent endpoint is not retried up to max_attempts: a few attempts, then the error.
    assert 2 <= len(accepted) <= 3, accepted
    # Every attempt waited for the read timeout before the next began (or the error came).
    assert all(b - a >= 0.9 * read_timeout for a, b in itertools.pairwise(attempts))
    # The error arrives within the bound: attempts x timeout plus the backoff (0.03 s here).
    assert elapsed < len(accepted) * read_timeout + 2.0


@pytest.mark.s3
def test_size_not_multiple_of_token_size_is_an_error(s3: S3Lab) -> None:
    """An object whose size is not a whole number of tokens is named with its size."""
    s3.fill(BUCKET, {"t/v/a.npy": 8, "t/v/b.npy": 6})
    glob = f"s3://{BUCKET}/t/v/*.npy"
    error = _storage_error([glob], token_size=4, storage_options=_secret_options(s3))
    _assert_one_safe_line(error, glob, f"s3://{BUCKET}/t/v/b.npy", "6 bytes", "token size 4")


def test_local_errors_are_storage_errors(tmp_path: Path) -> None:
    """Missing local folders, empty matches and bad sizes raise one-line StorageErrors."""
    missing = f"{tmp_path}/nowhere/*.npy"
    _assert_one_safe_line(_storage_error([missing], token_size=4), missing, "does not exist")
    (tmp_path / "odd.npy").write_bytes(bytes(5))
    empty = f"{tmp_path}/*.bin"
    _assert_one_safe_line(_storage_error([empty], token_size=4), empty, "matched no objects")
    odd = f"{tmp_path}/*.npy"
    _assert_one_safe_line(_storage_error([odd], token_size=4), odd, "odd.npy", "5 bytes")
    folder = f"{tmp_path}"
    _assert_one_safe_line(_storage_error([folder], token_size=4), folder, "is a folder")


def test_invalid_pattern_is_an_error(tmp_path: Path) -> None:
    """A `**` that is not a whole path component is reported as a bad pattern."""
    glob = f"{tmp_path}/a**b/*.npy"
    _assert_one_safe_line(_storage_error([glob], token_size=4), glob, "'**'")


def test_memory_glob_matching_nothing_is_an_error() -> None:
    """An in-memory glob over an empty folder raises rather than returning zero."""
    import fsspec

    base = f"qupsample-tests/{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"/{base}/x.json", b"{}")
    try:
        glob = f"memory://{base}/*.npy"
        _assert_one_safe_line(_storage_error([glob], token_size=4), glob, "matched no objects")
    finally:
        fs.rm(f"/{base}", recursive=True)


def test_storage_location_for_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 locations carry endpoint, profile and anon from options, then env, then defaults."""
    glob = "s3://b/x/*.npy"
    assert storage_location(glob) == {
        "protocol": "s3",
        "endpoint": "aws",
        "profile": "default",
        "anon": "false",
    }
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    monkeypatch.setenv("AWS_PROFILE", "envprofile")
    assert storage_location(glob)["endpoint"] == "http://generic:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-specific:2")
    assert storage_location(glob)["endpoint"] == "http://s3-specific:2"
    assert storage_location(glob)["profile"] == "envprofile"
    nested = {"client_kwargs": {"endpoint_url": "http://nested:3"}}
    assert storage_location(glob, nested)["endpoint"] == "http://nested:3"
    options = {
        "endpoint_url": "http://user:pw@flat:4/?token=t",
        "profile": "p",
        "anon": True,
        "key": "AKIDEXAMPLE",
        "secret": SECRET,
    }
    location = storage_location("s3a://b/x/*.npy", options)
    assert location == {
        "protocol": "s3",
        "endpoint": "http://flat:4/",
        "profile": "p",
        "anon": "true",
    }
    assert not any(s in str(location) for s in (SECRET, "AKIDEXAMPLE", "pw", "token"))


def test_storage_location_for_local_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local globs are keyed by their absolute path, whichever way they are spelled."""
    monkeypatch.chdir(tmp_path)
    absolute = f"{tmp_path.as_posix()}/data/*.npy"
    expected = {"protocol": "file", "path": absolute}
    assert storage_location("data/*.npy") == expected
    assert storage_location(absolute) == expected
    assert storage_location(f"file://{absolute}", {"endpoint_url": "http://x"}) == expected
    assert storage_location("memory://a/*.npy") == {"protocol": "memory"}


@pytest.mark.s3
def test_counting_proxy_counts_known_operations(s3: S3Lab) -> None:
    """A known sequence of boto3 calls through the proxy yields exactly the expected counts."""
    import boto3

    s3.fill(BUCKET, {"k/one.npy": 8})
    s3.proxy.reset()
    client = boto3.client("s3", endpoint_url=s3.proxy.url)
    try:
        client.list_objects_v2(Bucket=BUCKET, Prefix="k/")
        client.list_objects_v2(Bucket=BUCKET, Prefix="k/", Delimiter="/")
        assert client.head_object(Bucket=BUCKET, Key="k/one.npy")["ContentLength"] == 8
        assert client.get_object(Bucket=BUCKET, Key="k/one.npy")["Body"].read() == bytes(8)
        client.put_object(Bucket=BUCKET, Key="k/two.npy", Body=b"abcd")
        client.list_objects(Bucket=BUCKET)
        client.list_buckets()
        client.head_bucket(Bucket=BUCKET)
        assert client.get_object(Bucket=BUCKET, Key="k/two.npy")["Body"].read() == b"abcd"
        s3.proxy.deny(f"{BUCKET}/k/one")
        with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
            client.get_object(Bucket=BUCKET, Key="k/one.npy")
    finally:
        client.close()
    assert s3.proxy.counts() == {
        "ListObjectsV2": 2,
        "HeadObject": 1,
        "GetObject": 3,
        "PutObject": 1,
        "ListObjects": 1,
        "ListBuckets": 1,
        "HeadBucket": 1,
    }
    s3.proxy.reset()
    assert s3.proxy.counts() == {}


@pytest.mark.parametrize(
    ("paths", "extra", "message"),
    [
        (["gs://bkt/x/*.npy"], [], "no filesystem for gs://"),
        (["foo://bkt/x/*.npy"], [], "foo://bkt/x/*.npy: "),
        (["s3://bkt/x/*.npy"], ["--endpoint-url", "http://127.0.0.1:99999"], "not a valid URI"),
        (["s3://bkt/x/*.npy"], ["--endpoint-url", "http://[::1"], "Invalid IPv6 URL"),
    ],
)
def test_bad_urls_and_endpoints_are_one_line_errors(
    tmp_path: Path, paths: list[str], extra: list[str], message: str
) -> None:
    """Unknown protocols and malformed endpoints exit 2 with one line, never a traceback."""
    config = {"name": "t", "proxy_model_id": "olmo3_14m", "sources": [entry("a", paths=paths)]}
    code, _, err = invoke("resolve", write_config(tmp_path, config), "--no-cache", *extra)
    assert code == 2, err
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_retry_tuning_reaches_the_standard_policy_of_this_botocore() -> None:
    """The one reach into botocore's internals still finds the S3 client's standard retry
    policy, and that policy then consults qupsample's backoff and timeout cap: a botocore
    or aiobotocore release that moves them fails here, not silently in the field."""
    from fsspec.asyn import sync

    from qupsample.storage import (
        _TIMEOUT_ATTEMPTS,
        Budget,
        _Backoff,
        _open_filesystem,
        _RetryChecker,
        _standard_retry_policy,
        _tune_retries,
    )

    endpoint = f"http://127.0.0.1:{closed_port()}"  # making a client sends no request
    fs = _open_filesystem("s3", {"endpoint_url": endpoint}, 4, Budget())
    client = sync(fs.loop, fs.set_session)
    policy = _standard_retry_policy(client)
    assert policy is not None, "botocore's standard retry policy moved: see storage.py"
    _tune_retries(client, Budget(backoff_base_s=0.25))
    assert _standard_retry_policy(client) is policy
    assert isinstance(policy._retry_backoff, _Backoff)
    assert isinstance(policy._retry_checker, _RetryChecker)

    class ReadTimeoutError(Exception):
        """Named like botocore's: the checker goes by the class name."""

    def context(error: BaseException, attempt: int) -> Any:
        return type("Context", (), {"caught_exception": error, "attempt_number": attempt})()

    refused = ConnectionRefusedError("refused")
    assert policy.compute_retry_delay(context(refused, 3)) == 0.0
    delays = [policy.compute_retry_delay(context(OSError("reset"), 9)) for _ in range(50)]
    assert all(0 <= delay <= 0.25 * 5 for delay in delays)
    assert max(delays) > 0.25  # the cap (x5), not the first retry's base, bounds attempt 9
    timed_out = context(ReadTimeoutError("read timeout"), _TIMEOUT_ATTEMPTS)
    assert sync(fs.loop, policy.should_retry, timed_out) is False
