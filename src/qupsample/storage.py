"""Token counts of `.npy` globs on any fsspec filesystem, read from folder listings.

This is the only module that touches fsspec, s3fs and botocore, and it imports them
inside functions so that rendering configs never loads them.

Sizes always come from listings, never from one request per object: globs whose
magic is only in the last path component share one fresh listing of their folder;
anything more complex (magic in a folder name, `**`) falls back to `fs.glob`, which
also lists.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qupsample.errors import StorageError, located

_MAGIC = re.compile(r"[*?\[]")
_LOCAL_PROTOCOLS = frozenset({"file", "local"})
_IN_PROCESS_PROTOCOLS = frozenset({"memory"})
_S3_PROTOCOLS = frozenset({"s3", "s3a"})

# Bounded network behaviour when the user did not pass `config_kwargs`: an unreachable
# or silent endpoint fails after at most _MAX_ATTEMPTS x the timeout (under 30 s).
_CONNECT_TIMEOUT_S = 5
_READ_TIMEOUT_S = 6
_MAX_ATTEMPTS = 3

_ANON_HINT = "or pass --anon for a public bucket"


@dataclass(frozen=True)
class GlobCount:
    """What one glob matched: object count, total bytes and tokens."""

    glob: str
    objects: int
    bytes: int
    tokens: int


def storage_location(glob: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Describe where a glob lives, for cache keys; never includes secrets.

    Args:
        glob: A path or URL, possibly with wildcards.
        storage_options: The s3fs/fsspec options the glob will be listed with.

    Returns:
        `protocol`, plus for S3 `endpoint`, `profile` and `anon`, for local paths the
        absolute `path`, and for other remote protocols the `endpoint` if one is set.
    """
    options = dict(storage_options or {})
    protocol = _protocol_of(glob)
    if protocol in _LOCAL_PROTOCOLS:
        return {"protocol": "file", "path": _strip_local(glob)}
    if protocol in _IN_PROCESS_PROTOCOLS:
        return {"protocol": protocol}
    if protocol in _S3_PROTOCOLS:
        profile = options.get("profile") or os.environ.get("AWS_PROFILE") or "default"
        return {
            "protocol": "s3",
            "endpoint": _s3_endpoint(options),
            "profile": str(profile),
            "anon": "true" if options.get("anon") else "false",
        }
    location = {"protocol": protocol}
    endpoint = _option_endpoint(options)
    if endpoint:
        location["endpoint"] = _redact_url(endpoint)
    return location


def count_tokens(
    globs: Sequence[str],
    *,
    token_size: int,
    storage_options: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_workers: int = 32,
) -> dict[str, GlobCount]:
    """Count the objects, bytes and tokens each glob matches.

    One listing is made per distinct folder (globs in the same folder share it), and
    listings run concurrently; no request is made per object.

    Args:
        globs: Paths or URLs (`s3://`, `file://`, `memory://`, plain local paths).
        token_size: Bytes per token (the tokenizer's dtype itemsize, e.g. 4 for uint32).
        storage_options: fsspec/s3fs options for remote protocols (ignored for local
            and in-memory paths).
        progress: Called as `progress(done, total)` each time a listing finishes.
        max_workers: Most listings in flight at once.

    Returns:
        One `GlobCount` per distinct glob, in input order.

    Raises:
        StorageError: A glob matched nothing, or storage was missing, denied,
            unreachable, without credentials, or held an object whose size is not a
            multiple of `token_size`.
    """
    if token_size < 1:
        raise ValueError(f"token_size must be >= 1, got {token_size}")
    if max_workers < 1:
        raise ValueError(f"max_workers must be >= 1, got {max_workers}")
    ordered = list(dict.fromkeys(globs))
    options = dict(storage_options or {})
    filesystems: dict[str, Any] = {}
    plans: dict[str, _Plan] = {}
    for glob in ordered:
        protocol = _protocol_of(glob)
        try:
            if protocol not in filesystems:
                filesystems[protocol] = _open_filesystem(protocol, options, max_workers)
        except ImportError as error:
            # fsspec names the package that serves the protocol (gcsfs, adlfs, ...).
            raise StorageError(
                located(glob, None, f"no filesystem for {protocol}://", str(error))
            ) from None
        except ValueError as error:
            raise StorageError(located(glob, None, str(error), "check the URL")) from None
        plans[glob] = _plan(glob, protocol, filesystems[protocol])

    tasks: dict[tuple[str, str, str], _Plan] = {}
    for plan in plans.values():
        tasks.setdefault(plan.task, plan)
    outcomes = _run_listings(tasks, progress, max_workers)

    counts: dict[str, GlobCount] = {}
    for glob in ordered:
        plan = plans[glob]
        outcome = outcomes.get(plan.task)
        if isinstance(outcome, BaseException):
            raise _to_storage_error(glob, plan, options, outcome) from outcome
    for glob in ordered:
        plan = plans[glob]
        outcome = outcomes[plan.task]
        assert not isinstance(outcome, BaseException)
        counts[glob] = _count_matches(glob, plan, outcome, token_size)
    return counts


@dataclass(frozen=True)
class _Plan:
    """How one glob is resolved: which listing it needs and how names are matched."""

    protocol: str
    fs: Any
    kind: str  # "folder": list `target` and match; "glob": fs.glob(`target`)
    target: str
    pattern: re.Pattern[str] | None  # for "folder": full-name regex; None = exact `path`
    path: str  # the glob with its protocol stripped
    display_folder: str

    @property
    def task(self) -> tuple[str, str, str]:
        return (self.protocol, self.kind, self.target)


def _protocol_of(glob: str) -> str:
    if "::" in glob:
        raise StorageError(
            located(glob, None, "chained URLs are not supported", "give a plain path or URL")
        )
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", glob)
    if match is None:
        return "file"
    protocol = match.group(1).lower()
    return "file" if protocol == "local" else protocol


def _strip_local(glob: str) -> str:
    from fsspec.implementations.local import LocalFileSystem

    return str(LocalFileSystem._strip_protocol(glob))


def _option_endpoint(options: Mapping[str, Any]) -> str | None:
    endpoint = options.get("endpoint_url")
    client_kwargs = options.get("client_kwargs")
    if not endpoint and isinstance(client_kwargs, Mapping):
        endpoint = client_kwargs.get("endpoint_url")
    return str(endpoint) if endpoint else None


def _s3_endpoint(options: Mapping[str, Any]) -> str:
    endpoint = (
        _option_endpoint(options)
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    return _redact_url(endpoint) if endpoint else "aws"


def _redact_url(url: str) -> str:
    """Drop user info, query and fragment, which may carry credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid endpoint URL>"
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _open_filesystem(protocol: str, options: Mapping[str, Any], max_workers: int) -> Any:
    import fsspec

    if protocol in _LOCAL_PROTOCOLS or protocol in _IN_PROCESS_PROTOCOLS:
        return fsspec.filesystem(protocol, skip_instance_cache=True)
    kwargs = dict(options)
    bounded = protocol in _S3_PROTOCOLS and "config_kwargs" not in kwargs
    if bounded:
        kwargs["config_kwargs"] = {
            "connect_timeout": _CONNECT_TIMEOUT_S,
            "read_timeout": _READ_TIMEOUT_S,
            "retries": {"mode": "standard", "total_max_attempts": _MAX_ATTEMPTS},
            "max_pool_connections": max(10, max_workers),
        }
    if protocol in _S3_PROTOCOLS and "session" not in kwargs:
        from aiobotocore.session import AioSession

        session = AioSession(profile=kwargs.pop("profile", None))
        # Only names and sizes are read; botocore would otherwise parse every object's
        # LastModified with dateutil, over half the CPU time of a large listing.
        parsers = session.get_component("response_parser_factory")
        parsers.set_parser_defaults(timestamp_parser=str)
        kwargs["session"] = session
    fs = fsspec.filesystem(protocol, skip_instance_cache=True, **kwargs)
    if bounded:
        # botocore already retries (standard mode); s3fs's own retry loop on top
        # would multiply the time an unreachable endpoint takes to fail.
        fs.retries = 1
    return fs


def _plan(glob: str, protocol: str, fs: Any) -> _Plan:
    from fsspec.utils import glob_translate

    path = str(fs._strip_protocol(glob))
    try:
        translated = glob_translate(path)
    except ValueError as error:  # e.g. `a**b`: `**` must be a whole path component
        raise StorageError(located(glob, None, str(error), "fix the pattern")) from None
    folder, _, name = path.rpartition("/")
    if not folder:
        folder = str(fs.root_marker)
    folder_magic = bool(_MAGIC.search(folder))
    if glob.endswith("/") or "**" in path or folder_magic:
        # fs.glob lists too (one listing per folder it walks), never HEADs objects.
        return _Plan(protocol, fs, "glob", glob, None, path, glob)
    pattern = re.compile(translated) if _MAGIC.search(name) else None
    shown_folder = glob[: glob.rfind("/") + 1] or "./"
    return _Plan(protocol, fs, "folder", folder, pattern, path, shown_folder)


def _display(glob: str, plan: _Plan, name: str) -> str:
    """Show a listed name the way the user wrote the glob (plain path or URL)."""
    if plan.kind == "folder":
        folder = plan.target.rstrip("/") + "/"
        if name.startswith(folder):
            return glob[: glob.rfind("/") + 1] + name[len(folder) :]
    if "://" not in glob:
        return name
    return str(plan.fs.unstrip_protocol(name))


# What a listing keeps of each entry: name, is it a file, size. Nothing more, so memory
# grows with the number of objects only by a small tuple each.
Listed = tuple[str, bool, int]


def _entry(name: str, info: Mapping[str, Any]) -> Listed:
    return (name, info.get("type") == "file", int(info.get("size") or 0))


def _list(plan: _Plan) -> list[Listed]:
    fs = plan.fs
    if plan.kind == "glob":
        found = fs.glob(plan.target, detail=True)
        entries = [_entry(name, info) for name, info in found.items()]
    else:
        fs.invalidate_cache(plan.target)
        entries = [_entry(str(info["name"]), info) for info in fs.ls(plan.target, detail=True)]
    # The listing cache would keep a full dict per object; the counts are ours to cache.
    fs.invalidate_cache()
    return entries


def _run_listings(
    tasks: Mapping[tuple[str, str, str], _Plan],
    progress: Callable[[int, int], None] | None,
    max_workers: int,
) -> dict[tuple[str, str, str], list[Listed] | BaseException]:
    """List every folder concurrently; stop starting new listings after a failure."""
    outcomes: dict[tuple[str, str, str], list[Listed] | BaseException] = {}
    total = len(tasks)
    done = 0
    workers = max(1, min(max_workers, total))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qupsample-list") as pool:
        futures: dict[Future[list[Listed]], tuple[str, str, str]] = {
            pool.submit(_list, plan): key for key, plan in tasks.items()
        }
        for future in as_completed(futures):
            if future.cancelled():
                continue
            key = futures[future]
            error = future.exception()
            if error is not None:
                outcomes[key] = error
                # Missing credentials or an unreachable endpoint would fail every
                # other listing too: do not wait for them one by one.
                for other in futures:
                    other.cancel()
            else:
                outcomes[key] = future.result()
            done += 1
            if progress is not None:
                progress(done, total)
    return outcomes


def _count_matches(glob: str, plan: _Plan, entries: list[Listed], token_size: int) -> GlobCount:
    objects = 0
    total = 0
    folder_hit = False
    for raw_name, is_file, size in entries:
        name = raw_name.rstrip("/")
        if plan.kind == "folder":
            matched = plan.pattern.match(name) if plan.pattern else name == plan.path
            if not matched:
                continue
        if not is_file:
            folder_hit = True
            continue
        if size % token_size:
            obj = _display(glob, plan, name)
            raise StorageError(
                _one_line(
                    located(
                        glob,
                        None,
                        f"object {obj} has {size} bytes, not a multiple of the token size "
                        f"{token_size}",
                        "check the tokenizer's dtype or remove the object",
                    )
                )
            )
        objects += 1
        total += size
    if objects == 0:
        if folder_hit and plan.pattern is None and plan.kind == "folder":
            what, fix = "is a folder, not an object", "add a pattern such as /*.npy"
        else:
            what = f"matched no objects (listed {plan.display_folder})"
            fix = "check the path, the pattern and the bucket"
        raise StorageError(_one_line(located(glob, None, what, fix)))
    return GlobCount(glob=glob, objects=objects, bytes=total, tokens=total // token_size)


def _error_code(error: BaseException) -> str | None:
    """The S3 error code (e.g. `AccessDenied`) behind an exception, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        current = current.__cause__ or current.__context__
    return None


def _to_storage_error(
    glob: str, plan: _Plan, options: Mapping[str, Any], error: BaseException
) -> BaseException:
    """Turn a listing failure into one StorageError line; unknown errors pass through."""
    message = _describe(glob, plan, options, error)
    if message is None:
        return error
    return StorageError(_one_line(message))


def _describe(
    glob: str, plan: _Plan, options: Mapping[str, Any], error: BaseException
) -> str | None:
    where = plan.display_folder
    is_s3 = plan.protocol in _S3_PROTOCOLS
    botocore_errors = sys.modules.get("botocore.exceptions")
    if botocore_errors is not None:
        if isinstance(
            error, botocore_errors.NoCredentialsError | botocore_errors.PartialCredentialsError
        ):
            return located(
                glob,
                None,
                "no AWS credentials found",
                f"set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, {_ANON_HINT}",
            )
        if isinstance(error, botocore_errors.ProfileNotFound):
            profile = storage_location(glob, options).get("profile", "?")
            return located(
                glob,
                None,
                f"AWS profile '{profile}' not found",
                "check AWS_PROFILE / --profile and ~/.aws/config",
            )
        if isinstance(error, botocore_errors.ConnectionError | botocore_errors.HTTPClientError):
            endpoint = storage_location(glob, options).get("endpoint", "?")
            shown = "the default AWS S3 endpoint" if endpoint == "aws" else endpoint
            kind = "timed out talking to" if "Timeout" in type(error).__name__ else "cannot reach"
            return located(
                glob,
                None,
                f"{kind} {shown} while listing {where}",
                "check the endpoint URL (endpoint_url / AWS_ENDPOINT_URL) and the network",
            )
    code = _error_code(error)
    if isinstance(error, PermissionError):
        cause = f"access denied ({code})" if code else "access denied"
        fix = (
            f"check your credentials (AWS_PROFILE) and the bucket policy, {_ANON_HINT}"
            if is_s3
            else "check the folder's permissions"
        )
        return located(glob, None, f"{cause} listing {where}", fix)
    if isinstance(error, FileNotFoundError):
        if code == "NoSuchBucket":
            bucket = plan.path.split("/", 1)[0]
            return located(glob, None, f"bucket '{bucket}' does not exist", "check the bucket name")
        return located(glob, None, f"folder {where} does not exist", "check the path")
    if isinstance(error, NotADirectoryError):
        return located(glob, None, f"{where} is not a folder", "check the path")
    if isinstance(error, OSError):
        cause = code or error.strerror or type(error).__name__
        return located(glob, None, f"cannot list {where} ({cause})", "check the path and access")
    if isinstance(error, ValueError) and str(error).startswith("Invalid endpoint"):
        return located(glob, None, "invalid endpoint URL", "check endpoint_url / AWS_ENDPOINT_URL")
    if botocore_errors is not None and isinstance(error, botocore_errors.BotoCoreError):
        return located(glob, None, str(error), "check endpoint_url / AWS_ENDPOINT_URL and the URL")
    if isinstance(error, ValueError):
        return located(glob, None, f"cannot list {where}: {error}", "check the URL")
    return None


def _one_line(message: str) -> str:
    return " ".join(message.split("\n"))
