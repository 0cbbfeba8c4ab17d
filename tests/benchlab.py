"""The benchmark's S3 lab: the DCLM layout at scale in a moto server on 127.0.0.1.

Three parts:
- `Layout`: the objects (24 all_dressed topics x vigintiles 0001-0020 without 0019,
  plus arxiv and wikipedia; F `.npy` parts a folder, each with a `.csv.gz` sidecar),
  sizes drawn from a seeded generator, and the 458-glob launch config over them.
- The server: moto's S3 app alone (no multi-service dispatcher) on a free port, filled
  by calling moto's backend directly in this process (tens of thousands of objects a
  second, where boto3 uploads manage a few hundred).
- `serve` / `LabProcess`: the lab as a subprocess that owns the server and the data, so
  its CPU is its own; the request-counting, delaying proxy (`s3lab.CountingProxy`) runs
  in the process that drives the benchmark.

Stock moto makes LIST far dearer than real S3 in two ways: it scans every key of the
bucket on each request, and it renders the XML through a generic model-driven
serializer (about 25 ms of CPU for 100 keys, half of it re-parsing timestamps).
`fast_listing()` indexes the keys (bisect on a sorted name list, rebuilt after any
change) and writes the ListObjectsV2 XML directly; the answers are the same (a test
compares them). HEAD and GET are stock moto. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import logging
import random
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

BUCKET = "ai2-llm"
ALL_DRESSED = (
    "preprocessed/cc_all_dressed/all_dressed_v3/dclm_plus2_vigilantes/allenai/dolma2-tokenizer"
)
ARXIV = (
    "preprocessed/proof-pile-2/v0_decontaminated-0625_tokenized/arxiv/train/allenai"
    "/dolma2-tokenizer"
)
WIKIPEDIA = "preprocessed/wikipedia-dolma-0823/allenai/dolma2-tokenizer"
# The 24 WebOrganizer topics all_dressed is split by.
TOPICS = (
    "adult_content",
    "art_and_design",
    "crime_and_law",
    "education_and_jobs",
    "electronics_and_hardware",
    "entertainment",
    "fashion_and_beauty",
    "finance_and_business",
    "food_and_dining",
    "games",
    "health",
    "history_and_geography",
    "home_and_hobbies",
    "industrial",
    "literature",
    "politics",
    "religion",
    "science_math_and_technology",
    "social_life",
    "software",
    "software_development",
    "sports_and_fitness",
    "transportation",
    "travel_and_tourism",
)
VIGINTILES = tuple(v for v in range(1, 21) if v != 19)  # vigintile_0019 does not exist
TOKEN_SIZE = 4  # dolma2 stores uint32
MAX_NPY_TOKENS = 1024  # .npy sizes are 4..4096 bytes: the lab holds the bytes in memory

_DUMMY_REGION = "us-east-1"


# ------------------------------------------------------------------ layout


@dataclass(frozen=True)
class Layout:
    """The lab's objects: `files` `.npy` parts (and as many sidecars) in each folder."""

    files: int
    seed: int = 0

    def folders(self) -> list[str]:
        """Every data folder (a key prefix ending in `/`), all_dressed first."""
        folders = [
            f"{ALL_DRESSED}/{topic}/vigintile_{v:04d}/" for topic in TOPICS for v in VIGINTILES
        ]
        return [*folders, f"{ARXIV}/", f"{WIKIPEDIA}/"]

    def folder_objects(self, folder: str) -> list[tuple[str, int]]:
        """A folder's (key, size) pairs: sizes are a pure function of seed and folder."""
        rng = random.Random(f"{self.seed}/{folder}")
        objects = []
        for part in range(self.files):
            stem = f"{folder}part-{part:05d}"
            objects.append((f"{stem}.npy", TOKEN_SIZE * rng.randint(1, MAX_NPY_TOKENS)))
            # Metadata sidecars: any size, and never part of a `*.npy` glob.
            objects.append((f"{stem}.csv.gz", rng.randint(1, 512)))
        return objects

    def objects(self) -> Iterator[tuple[str, int]]:
        """Every (key, size) pair of the lab."""
        for folder in self.folders():
            yield from self.folder_objects(folder)

    def globs(self) -> list[str]:
        """One `*.npy` glob per folder: 24 x 19 + 2 = 458."""
        return [f"s3://{BUCKET}/{folder}*.npy" for folder in self.folders()]

    def expected_tokens(self) -> dict[str, int]:
        """The true token count of every glob."""
        return {
            f"s3://{BUCKET}/{folder}*.npy": sum(
                size for key, size in self.folder_objects(folder) if key.endswith(".npy")
            )
            // TOKEN_SIZE
            for folder in self.folders()
        }

    def config(self) -> dict[str, Any]:
        """An olmix launch config over every glob: 24 weighted topics, 19 unweighted buckets."""
        topics = [
            {
                "name": topic,
                "weight": 1 + index % 5,
                "quality": [
                    {
                        "name": f"vigintile_{v:04d}",
                        "paths": [f"s3://{BUCKET}/{ALL_DRESSED}/{topic}/vigintile_{v:04d}/*.npy"],
                    }
                    for v in VIGINTILES
                ],
            }
            for index, topic in enumerate(TOPICS)
        ]
        return {
            "name": f"bench-dclm-24-topics-f{self.files}",
            "description": "Benchmark: every all_dressed topic and vigintile, arxiv, wikipedia",
            "proxy_model_id": "olmo3_14m",
            "tokenizer": "dolma2",
            "chinchilla_multiple": 0.5,
            "seed": 42,
            "sources": [
                {"name": "all_dressed", "weight": 98, "topics": topics},
                {
                    "name": "arxiv",
                    "weight": 1,
                    "max_repetition_factor": 1.5,
                    "paths": [f"s3://{BUCKET}/{ARXIV}/*.npy"],
                },
                {
                    "name": "wikipedia",
                    "weight": 1,
                    "max_repetition_factor": 2.0,
                    "paths": [f"s3://{BUCKET}/{WIKIPEDIA}/*.npy"],
                },
            ],
        }


# ------------------------------------------------------------ fast listing


def _key_store_class() -> type:
    from moto.s3.utils import _VersionedKeyStore

    class IndexedKeyStore(_VersionedKeyStore):  # type: ignore[misc, valid-type]
        """moto's key store plus a sorted list of names, rebuilt lazily after a change."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._version = 0
            self._index: tuple[int, list[str]] = (-1, [])
            self._index_lock = threading.Lock()

        def sorted_names(self) -> list[str]:
            version, names = self._index
            if version != self._version:
                with self._index_lock:
                    version = self._version
                    names = sorted(dict.keys(self))
                    self._index = (version, names)
            return names

        def _changed(self) -> None:
            self._version += 1

        def __setitem__(self, key: str, value: Any) -> None:
            super().__setitem__(key, value)
            self._changed()

        def __delitem__(self, key: str) -> None:
            super().__delitem__(key)
            self._changed()

        def setlist(self, key: Any, list_: Any) -> Any:
            result = super().setlist(key, list_)
            self._changed()
            return result

        def pop(self, key: str) -> Any:  # moto's pop takes no default
            result = super().pop(key)
            self._changed()
            return result

        def popitem(self) -> Any:
            result = super().popitem()
            self._changed()
            return result

        def setdefault(self, key: str, default: Any = None) -> Any:
            result = super().setdefault(key, default)
            self._changed()
            return result

        def update(self, *args: Any, **kwargs: Any) -> None:
            super().update(*args, **kwargs)
            self._changed()

        def clear(self) -> None:
            super().clear()
            self._changed()

    return IndexedKeyStore


_INDEXED_STORE: type | None = None


def indexed_key_store() -> type:
    """The key-store class `fast_listing` answers LISTs from (moto imported lazily)."""
    global _INDEXED_STORE
    if _INDEXED_STORE is None:
        _INDEXED_STORE = _key_store_class()
    return _INDEXED_STORE


def index_bucket(bucket: Any) -> None:
    """Give a moto bucket an indexed key store holding the same keys."""
    store_class = indexed_key_store()
    if isinstance(bucket.keys, store_class):
        return
    store = store_class()
    dict.update(store, bucket.keys)
    store._changed()
    bucket.keys = store


def _indexed_list_objects(original: Any) -> Any:
    from moto.s3.models import FakeDeleteMarker

    store_class = indexed_key_store()

    def list_objects(
        self: Any,
        bucket: Any,
        prefix: str | None,
        delimiter: str | None,
        marker: str | None,
        max_keys: int | None,
    ) -> Any:
        keys = bucket.keys
        if not isinstance(keys, store_class):
            return original(self, bucket, prefix, delimiter, marker, max_keys)
        names = keys.sorted_names()
        prefix = prefix or ""
        key_results: list[Any] = []
        folder_results: list[str] = []
        i = bisect.bisect_left(names, prefix)
        while i < len(names):
            name = names[i]
            if not name.startswith(prefix):
                break
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                folder = f"{prefix}{rest.split(delimiter)[0]}{delimiter}"
                folder_results.append(folder)
                # Skip the whole sub-folder: its names sort together.
                while i < len(names) and names[i].startswith(folder):
                    i += 1
                continue
            versions = dict.get(keys, name)
            if versions and not isinstance(versions[-1], FakeDeleteMarker):
                key_results.append(versions[-1])
            i += 1
        # From here on, exactly what stock moto does with its (sorted) results.
        if marker:
            limit = self._pagination_tokens.get(marker) or marker
            key_results = self._get_results_from_token(key_results, limit)
        if max_keys is not None:
            key_results, is_truncated, next_marker = self._truncate_result(key_results, max_keys)
        else:
            is_truncated, next_marker = False, None
        return key_results, folder_results, is_truncated, next_marker

    return list_objects


# ListObjectsV2 members in the order moto's serializer writes them (the API's order).
_LIST_V2_ORDER = (
    "IsTruncated",
    "Contents",
    "Name",
    "Prefix",
    "Delimiter",
    "MaxKeys",
    "CommonPrefixes",
    "EncodingType",
    "KeyCount",
    "ContinuationToken",
    "NextContinuationToken",
    "StartAfter",
)
_CONTENT_ORDER = ("Key", "LastModified", "ETag", "Size", "StorageClass", "Owner")


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def render_list_objects_v2(result: Mapping[str, Any]) -> bytes | None:
    """ListObjectsV2 XML for moto's result dict, or None for a shape it does not know."""
    if set(result) - set(_LIST_V2_ORDER):
        return None
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    ]
    for member in _LIST_V2_ORDER:
        value = result.get(member)
        if value is None or (isinstance(value, list) and not value):
            continue
        if member == "Contents":
            for item in value:
                if set(item) - set(_CONTENT_ORDER):
                    return None
                parts.append("<Contents>")
                for field in _CONTENT_ORDER:
                    if field not in item:
                        continue
                    if field == "Owner":
                        owner = item[field]
                        parts.append(
                            f"<Owner><DisplayName>{_xml_value(owner['DisplayName'])}"
                            f"</DisplayName><ID>{_xml_value(owner['ID'])}</ID></Owner>"
                        )
                    else:
                        parts.append(f"<{field}>{_xml_value(item[field])}</{field}>")
                parts.append("</Contents>")
        elif member == "CommonPrefixes":
            parts.extend(
                f"<CommonPrefixes><Prefix>{_xml_value(p['Prefix'])}</Prefix></CommonPrefixes>"
                for p in value
            )
        else:
            parts.append(f"<{member}>{_xml_value(value)}</{member}>")
    parts.append("</ListBucketResult>")
    return "".join(parts).encode("utf-8")


def _fast_serialized(original: Any) -> Any:
    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if self.data.get("Action") == "ListObjectsV2" and isinstance(result, dict):
            body = render_list_objects_v2(result)
            if body is not None:
                headers = {"Content-Type": "application/xml"}
                headers.update(self.response_headers)
                return 200, headers, body
        return original(self, action_result)

    return serialized


_PATCH_LOCK = threading.Lock()
_STOCK: tuple[Any, Any] | None = None  # moto's own (list_objects, serialized)


def _classes() -> tuple[type, type, type]:
    from moto.core.responses import BaseResponse
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    return S3Backend, S3Response, BaseResponse


def _current() -> tuple[Any, Any]:
    backend, response, _ = _classes()
    return backend.__dict__["list_objects"], response.__dict__.get("serialized")


def _apply(methods: tuple[Any, Any]) -> None:
    backend, response, _ = _classes()
    list_objects, serialized = methods
    backend.list_objects = list_objects
    if serialized is not None:
        response.serialized = serialized
    elif "serialized" in response.__dict__:
        del response.serialized  # back to the inherited BaseResponse.serialized


@contextlib.contextmanager
def _methods(make: Any) -> Iterator[None]:
    global _STOCK
    with _PATCH_LOCK:
        previous = _current()
        if _STOCK is None:
            _STOCK = previous
        _apply(make(_STOCK))
    try:
        yield
    finally:
        with _PATCH_LOCK:
            _apply(previous)


def fast_listing() -> contextlib.AbstractContextManager[None]:
    """Answer LISTs of indexed buckets from the index, and render ListObjectsV2 directly."""

    def make(stock: tuple[Any, Any]) -> tuple[Any, Any]:
        list_objects, serialized = stock
        base_serialized = serialized or _classes()[2].serialized
        return _indexed_list_objects(list_objects), _fast_serialized(base_serialized)

    return _methods(make)


def stock_listing() -> contextlib.AbstractContextManager[None]:
    """moto's own LIST for a while, even inside `fast_listing` (to compare the two)."""
    return _methods(lambda stock: stock)


# ------------------------------------------------------------ server, fill


class S3Server:
    """moto's S3 app on a free 127.0.0.1 port, served by threads of this process."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            # A log line per request costs CPU (formatted even when not shown).
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = create_backend_app("s3")
        app.debug = False  # moto turns on Flask's debug helpers, which cost CPU per request
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long `close` waits for the loop to notice
            name="benchlab-moto",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The endpoint URL."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def fill(objects: Iterator[tuple[str, int]] | Mapping[str, int], bucket: str = BUCKET) -> int:
    """Create `bucket` in this process's moto backend and put `objects` (zero bytes) in it.

    Returns:
        How many objects were put.
    """
    backend = _backend()
    if bucket not in backend.buckets:
        backend.create_bucket(bucket, _DUMMY_REGION)
    index_bucket(backend.get_bucket(bucket))
    items = objects.items() if isinstance(objects, Mapping) else objects
    blanks: dict[int, bytes] = {}
    count = 0
    for key, size in items:
        body = blanks.get(size)
        if body is None:
            body = blanks[size] = bytes(size)
        backend.put_object(bucket, key, body, disable_notification=True)
        count += 1
    return count


def drop_bucket(bucket: str = BUCKET) -> None:
    """Forget `bucket` and its objects (tests share moto's backend with other tests)."""
    from moto.s3.models import s3_backends

    backend = _backend()
    if bucket in backend.buckets:
        keys = backend.buckets[bucket].keys
        for name in list(dict.keys(keys)):
            keys.pop(name)
        del backend.buckets[bucket]
    s3_backends.bucket_accounts.pop(bucket, None)


# ------------------------------------------------------------ lab process


def serve(argv: list[str] | None = None) -> None:
    """Run the lab: fill, print one JSON line, then answer `stats` / `quit` on stdin."""
    parser = argparse.ArgumentParser(description=serve.__doc__)
    parser.add_argument("--files", type=int, required=True, help=".npy parts per folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stock-listing", action="store_true", help="stock moto LIST (full bucket scan)"
    )
    args = parser.parse_args(argv)
    # stdout is the control channel: anything else that prints goes to stderr.
    channel, sys.stdout = sys.stdout, sys.stderr
    with contextlib.ExitStack() as stack:
        if not args.stock_listing:
            stack.enter_context(fast_listing())
        server = S3Server()
        stack.callback(server.close)
        layout = Layout(args.files, args.seed)
        started = time.perf_counter()
        count = fill(layout.objects())
        fill_s = time.perf_counter() - started
        ready = {"endpoint": server.url, "objects": count, "fill_s": fill_s}
        print(json.dumps(ready), file=channel, flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                stats = {
                    "cpu_s": usage.ru_utime + usage.ru_stime,
                    "peak_rss_mb": usage.ru_maxrss / 1024,
                }
                print(json.dumps(stats), file=channel, flush=True)
            elif command == "quit":
                break


class LabProcess:
    """The lab in a subprocess of its own: `endpoint` is moto (put the proxy in front)."""

    def __init__(self, files: int, seed: int = 0, stock_listing: bool = False) -> None:
        command = [sys.executable, str(Path(__file__)), "--files", str(files), "--seed", str(seed)]
        if stock_listing:
            command.append("--stock-listing")
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        line = self._readline()
        ready = json.loads(line)
        self.endpoint: str = ready["endpoint"]
        self.objects: int = ready["objects"]
        self.fill_s: float = ready["fill_s"]

    def _readline(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            code = self._process.wait(timeout=30)
            raise RuntimeError(f"the lab process exited with code {code}")
        return line

    def stats(self) -> dict[str, float]:
        """The lab process's CPU seconds so far and its peak RSS."""
        assert self._process.stdin is not None
        self._process.stdin.write("stats\n")
        self._process.stdin.flush()
        return dict(json.loads(self._readline()))

    def close(self) -> None:
        """Stop the lab and wait for it."""
        if self._process.poll() is None:
            assert self._process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.write("quit\n")
                self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


if __name__ == "__main__":
    serve()
