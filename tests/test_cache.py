"""Tests for qupsample.cache: the on-disk token-count cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from qupsample.cache import CachedCount, TokenCache, default_cache_dir

GLOB = "s3://bucket/topic/vigintile_0018/*.npy"
LOCATION = {"protocol": "s3", "endpoint": "aws", "profile": "default", "anon": "false"}
COUNT = CachedCount(objects=3, bytes=120, tokens=30, listed_at=1_700_000_000.5)


def _entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "v1").iterdir()) if (cache_dir / "v1").exists() else []


def test_round_trip(tmp_path: Path) -> None:
    """A stored count comes back equal, from one JSON file under `v1/` that holds its key."""
    cache = TokenCache(tmp_path / "new" / "dir")
    assert cache.get(GLOB, LOCATION, 4) is None
    cache.put(GLOB, LOCATION, 4, COUNT)
    assert cache.get(GLOB, LOCATION, 4) == COUNT
    assert TokenCache(tmp_path / "new" / "dir").get(GLOB, LOCATION, 4) == COUNT
    [entry] = _entries(tmp_path / "new" / "dir")
    assert entry.suffix == ".json"
    record = json.loads(entry.read_text(encoding="utf-8"))
    assert record["glob"] == GLOB
    assert record["location"] == LOCATION
    assert record["token_size"] == 4
    assert cache.corrupt == []


def test_location_key_order_does_not_matter(tmp_path: Path) -> None:
    """The same location given in another key order finds the same entry."""
    cache = TokenCache(tmp_path)
    cache.put(GLOB, LOCATION, 4, COUNT)
    assert cache.get(GLOB, dict(reversed(list(LOCATION.items()))), 4) == COUNT


@pytest.mark.parametrize(
    ("glob", "location", "token_size"),
    [
        (GLOB.replace("0018", "0017"), LOCATION, 4),
        (GLOB + "*", LOCATION, 4),
        (GLOB, {**LOCATION, "endpoint": "http://127.0.0.1:9000"}, 4),
        (GLOB, {**LOCATION, "profile": "other"}, 4),
        (GLOB, {**LOCATION, "anon": "true"}, 4),
        (GLOB, {"protocol": "s3"}, 4),
        (GLOB, LOCATION, 2),
    ],
)
def test_key_changes_with_each_field(
    tmp_path: Path, glob: str, location: dict[str, str], token_size: int
) -> None:
    """A different glob, location or token size is a different entry."""
    cache = TokenCache(tmp_path)
    cache.put(GLOB, LOCATION, 4, COUNT)
    assert cache.get(glob, location, token_size) is None
    other = CachedCount(objects=1, bytes=8, tokens=8 // token_size, listed_at=1.0)
    cache.put(glob, location, token_size, other)
    assert cache.get(glob, location, token_size) == other
    assert cache.get(GLOB, LOCATION, 4) == COUNT
    assert len(_entries(tmp_path)) == 2
    assert cache.corrupt == []


def test_default_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """$QUPSAMPLE_CACHE_DIR wins, then $XDG_CACHE_HOME/qupsample, then ~/.cache/qupsample."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QUPSAMPLE_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("QUPSAMPLE_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "qupsample"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "qupsample"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "qupsample"


def test_default_cache_dir_is_isolated_in_tests() -> None:
    """The autouse fixture points the cache away from the real home folder."""
    assert os.environ["QUPSAMPLE_CACHE_DIR"]
    assert default_cache_dir() != Path.home() / ".cache" / "qupsample"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"objects": 3, "bytes": 1',
        b"\xff\xfe not utf-8",
        b"[1, 2, 3]",
        b"null",
        b"garbage",
    ],
)
def test_unreadable_file_is_a_miss_and_put_repairs_it(tmp_path: Path, content: bytes) -> None:
    """A truncated or garbled entry reads as None, is listed in `corrupt`, and put overwrites it."""
    cache = TokenCache(tmp_path)
    cache.put(GLOB, LOCATION, 4, COUNT)
    [entry] = _entries(tmp_path)
    entry.write_bytes(content)
    assert cache.get(GLOB, LOCATION, 4) is None
    assert cache.corrupt == [entry]
    cache.put(GLOB, LOCATION, 4, COUNT)
    assert cache.get(GLOB, LOCATION, 4) == COUNT
    assert cache.corrupt == [entry]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("glob", "s3://bucket/other/*.npy"),
        ("location", {"protocol": "file"}),
        ("token_size", 2),
        ("version", 0),
        ("objects", -1),
        ("bytes", "120"),
        ("tokens", True),
        ("tokens", 1.5),
        ("listed_at", None),
        ("listed_at", "yesterday"),
    ],
)
def test_wrong_shape_entry_is_a_miss(tmp_path: Path, field: str, value: object) -> None:
    """An entry whose key fields disagree or whose numbers are invalid is treated as corrupt."""
    cache = TokenCache(tmp_path)
    cache.put(GLOB, LOCATION, 4, COUNT)
    [entry] = _entries(tmp_path)
    record = json.loads(entry.read_text(encoding="utf-8"))
    record[field] = value
    entry.write_text(json.dumps(record), encoding="utf-8")
    assert cache.get(GLOB, LOCATION, 4) is None
    assert cache.corrupt == [entry]


def test_missing_field_is_a_miss(tmp_path: Path) -> None:
    """An entry lacking a count field is treated as corrupt."""
    cache = TokenCache(tmp_path)
    cache.put(GLOB, LOCATION, 4, COUNT)
    [entry] = _entries(tmp_path)
    record = json.loads(entry.read_text(encoding="utf-8"))
    del record["tokens"]
    entry.write_text(json.dumps(record), encoding="utf-8")
    assert cache.get(GLOB, LOCATION, 4) is None
    assert cache.corrupt == [entry]


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    """After many puts the cache folder holds only the final JSON entries."""
    cache = TokenCache(tmp_path)
    for i in range(20):
        cache.put(f"{GLOB}{i % 5}", LOCATION, 4, COUNT)
    entries = _entries(tmp_path)
    assert len(entries) == 5
    assert all(e.suffix == ".json" and not e.name.startswith(".") for e in entries)


def test_failed_write_keeps_old_entry_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the final rename fails, the previous entry survives and the temp file is removed."""
    cache = TokenCache(tmp_path)
    cache.put(GLOB, LOCATION, 4, COUNT)

    def failing_replace(self: Path, target: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        cache.put(GLOB, LOCATION, 4, CachedCount(objects=9, bytes=9, tokens=9, listed_at=9.0))
    monkeypatch.undo()
    assert cache.get(GLOB, LOCATION, 4) == COUNT
    assert len(_entries(tmp_path)) == 1


def test_secrets_are_refused(tmp_path: Path) -> None:
    """A location carrying credential fields is rejected rather than written to disk."""
    cache = TokenCache(tmp_path)
    with pytest.raises(ValueError, match="credentials"):
        cache.put(GLOB, {**LOCATION, "secret": "s3cr3t"}, 4, COUNT)
    assert _entries(tmp_path) == []


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from qupsample.cache import CachedCount, TokenCache

    cache = TokenCache(Path(sys.argv[1]))
    seed = int(sys.argv[2])
    location = {"protocol": "s3", "endpoint": "aws", "profile": "default", "anon": "false"}
    for i in range(300):
        n = seed * 1000 + i
        count = CachedCount(objects=n, bytes=4 * n, tokens=n, listed_at=float(n))
        cache.put("s3://bucket/topic/*.npy", location, 4, count)
    """
)


def test_concurrent_writers_never_expose_half_written_entries(tmp_path: Path) -> None:
    """Two processes rewriting one key while threads read never yield a corrupt read."""
    glob = "s3://bucket/topic/*.npy"
    seed_cache = TokenCache(tmp_path)
    seed_cache.put(glob, LOCATION, 4, CachedCount(objects=0, bytes=0, tokens=0, listed_at=0.0))
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(seed)])
        for seed in (1, 2)
    ]
    stop = threading.Event()
    readers = [TokenCache(tmp_path) for _ in range(3)]
    reads: list[int] = []
    bad: list[CachedCount | None] = []

    def read_loop(cache: TokenCache) -> None:
        while not stop.is_set():
            got = cache.get(glob, LOCATION, 4)
            # The entry always exists, so None would mean a half-written file was read.
            if got is None or got.bytes != 4 * got.objects or got.tokens != got.objects:
                bad.append(got)
            reads.append(1)

    threads = [threading.Thread(target=read_loop, args=(r,)) for r in readers]
    for thread in threads:
        thread.start()
    try:
        for writer in writers:
            assert writer.wait(timeout=60) == 0
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert all(reader.corrupt == [] for reader in readers)
    assert bad == []
    assert len(reads) > 0
    final = TokenCache(tmp_path).get(glob, LOCATION, 4)
    assert final is not None
    assert final.objects in (1299, 2299)
    assert [p.name for p in _entries(tmp_path) if not p.name.endswith(".json")] == []
