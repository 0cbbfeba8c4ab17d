"""Token counts of `.npy` globs on any fsspec filesystem, read from folder listings.

This is the only module that touches fsspec, s3fs and botocore, and it imports them
inside functions so that rendering configs never loads them.

Sizes always come from listings, never from one request per object: globs whose
magic is only in the last path component share one fresh listing of their folder;
anything more complex (magic in a folder name, `**`) falls back to `fs.glob`, which
also lists.

Failures are survived the way botocore does it (its standard retry mode, with
exponential backoff and jitter for throttling, 5xx answers, resets and cut-off bodies),
within a budget of attempts and an overall deadline; both are `storage_options` keys
that qupsample reads and does not pass on (see `STORAGE_BUDGET_OPTIONS`).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qupsample.errors import Hint, StorageError, UserError, short_repr

_MAGIC = re.compile(r"[*?\[]")
_LOCAL_PROTOCOLS = frozenset({"file", "local"})
_IN_PROCESS_PROTOCOLS = frozenset({"memory"})
_S3_PROTOCOLS = frozenset({"s3", "s3a"})

# Bounded network behaviour (the user's `config_kwargs` override these): a silent
# endpoint fails after at most _TIMEOUT_ATTEMPTS x the timeout (under 30 s); throttling,
# 5xx answers, resets and cut-off bodies are retried up to `max_attempts` times in all.
_CONNECT_TIMEOUT_S = 5
_READ_TIMEOUT_S = 6
_TIMEOUT_ATTEMPTS = 3
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_DEADLINE_S = 120.0
# Retry n waits a random time in [0, base x 2**(n-1)], at most _BACKOFF_CAP x base.
DEFAULT_BACKOFF_BASE_S = 1.0
_BACKOFF_CAP = 5
# qupsample's own keys of `storage_options`, taken out before fsspec sees the rest.
STORAGE_BUDGET_OPTIONS = ("max_attempts", "deadline", "backoff_base")
# Error codes S3 (and botocore's standard mode) treat as throttling.
_THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)

_ANON = Hint("or pass {} for a public bucket", "--anon", 'storage_options={"anon": True}')
_RETRY = Hint(
    "or allow more attempts with {}", "--max-attempts N", 'storage_options={"max_attempts": N}'
)
_DEADLINE = Hint(
    "or allow more time with {}", "--deadline SECONDS", 'storage_options={"deadline": SECONDS}'
)
_ENDPOINT = Hint(
    "or pass the right one with {}", "--endpoint-url URL", 'storage_options={"endpoint_url": URL}'
)
_PROFILE = Hint("or choose another with {}", "--profile NAME", 'storage_options={"profile": NAME}')
_OFFLINE = Hint(
    "or work from explicit weights with {} (`qupsample demo` makes a local corpus to try)",
    "--offline",
    "offline=True",
)


@dataclass(frozen=True)
class Budget:
    """How long storage work may take: attempts per request, overall deadline, backoff."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    deadline_s: float = DEFAULT_DEADLINE_S
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S


def split_budget(
    storage_options: Mapping[str, Any] | None,
) -> tuple[Budget, dict[str, Any]]:
    """Take qupsample's own keys (`STORAGE_BUDGET_OPTIONS`) out of `storage_options`.

    Returns:
        The budget and the remaining options, for fsspec.

    Raises:
        UserError: a budget value is not a number in its range.
    """
    options = dict(storage_options or {})
    values = {name: options.pop(name) for name in STORAGE_BUDGET_OPTIONS if name in options}
    attempts = values.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        raise UserError(
            f"must be an int in 1..100, got {short_repr(attempts)}",
            where="storage_options",
            field="max_attempts",
        )
    numbers = {}
    for name, default, low in (
        ("deadline", DEFAULT_DEADLINE_S, 0.0),
        ("backoff_base", DEFAULT_BACKOFF_BASE_S, -1.0),
    ):
        value = values.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= low
        ):
            bound = "> 0" if low == 0 else ">= 0"
            raise UserError(
                f"must be a finite number {bound}, got {short_repr(value)}",
                where="storage_options",
                field=name,
            )
        numbers[name] = float(value)
    return Budget(attempts, numbers["deadline"], numbers["backoff_base"]), options


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
            and in-memory paths), plus qupsample's budget: `max_attempts` (per request,
            default 10), `deadline` (seconds for all the listings, default 120) and
            `backoff_base` (seconds, default 1: retry n waits up to base x 2**(n-1)).
        progress: Called as `progress(done, total)` each time a listing finishes.
        max_workers: Most listings in flight at once.

    Returns:
        One `GlobCount` per distinct glob, in input order.

    Raises:
        StorageError: A glob matched nothing, or storage was missing, denied,
            unreachable, throttled, without credentials, slower than the deadline, or
            held an object whose size is not a multiple of `token_size`.
    """
    if token_size < 1:
        raise ValueError(f"token_size must be >= 1, got {token_size}")
    if max_workers < 1:
        raise ValueError(f"max_workers must be >= 1, got {max_workers}")
    ordered = list(dict.fromkeys(globs))
    budget, options = split_budget(storage_options)
    filesystems: dict[str, Any] = {}
    plans: dict[str, _Plan] = {}
    for glob in ordered:
        protocol = _protocol_of(glob)
        try:
            if protocol not in filesystems:
                if protocol in _S3_PROTOCOLS:
                    _refuse_endpoint_credentials(glob, options)
                filesystems[protocol] = _open_filesystem(protocol, options, max_workers, budget)
        except ImportError as error:
            # fsspec names the package that serves the protocol (gcsfs, adlfs, ...).
            raise StorageError(
                f"no filesystem for {protocol}://", where=glob, fix=str(error)
            ) from None
        except ValueError as error:
            raise StorageError(str(error), where=glob, fix="check the URL") from None
        plans[glob] = _plan(glob, protocol, filesystems[protocol])

    tasks: dict[tuple[str, str, str], _Plan] = {}
    for plan in plans.values():
        tasks.setdefault(plan.task, plan)
    outcomes = _run_listings(tasks, progress, max_workers, budget)

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


class Listing(StrEnum):
    """How a glob is listed: its folder, then names matched here; or by `fs.glob`."""

    FOLDER = "folder"
    GLOB = "glob"


@dataclass(frozen=True)
class _Plan:
    """How one glob is resolved: which listing it needs and how names are matched."""

    protocol: str
    fs: Any
    kind: Listing
    target: str
    pattern: re.Pattern[str] | None  # for FOLDER: full-name regex; None = exact `path`
    path: str  # the glob with its protocol stripped
    display_folder: str

    @property
    def task(self) -> tuple[str, str, str]:
        return (self.protocol, self.kind, self.target)


def _protocol_of(glob: str) -> str:
    if "::" in glob:
        raise StorageError(
            "chained URLs are not supported", where=glob, fix="give a plain path or URL"
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


def _refuse_endpoint_credentials(glob: str, options: Mapping[str, Any]) -> None:
    """An endpoint URL with user info or a query string would carry secrets: refuse it."""
    endpoint = (
        _option_endpoint(options)
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    if not endpoint:
        return
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return  # botocore names an invalid URL itself (redacted, like every message)
    if "@" in parts.netloc or parts.query:
        raise StorageError(
            f"the endpoint URL {_redact_url(endpoint)} carries credentials"
            " (user info or a query string)",
            _PROFILE,
            where=glob,
            fix="put them in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
            " (AWS_PROFILE), and give the endpoint as scheme://host:port",
        )


def _open_filesystem(
    protocol: str, options: Mapping[str, Any], max_workers: int, budget: Budget
) -> Any:
    import fsspec

    if protocol in _LOCAL_PROTOCOLS or protocol in _IN_PROCESS_PROTOCOLS:
        return fsspec.filesystem(protocol, skip_instance_cache=True)
    kwargs = dict(options)
    s3 = protocol in _S3_PROTOCOLS
    if s3:
        # botocore retries (standard mode); the user's config_kwargs win over ours.
        kwargs["config_kwargs"] = {
            "connect_timeout": _CONNECT_TIMEOUT_S,
            "read_timeout": _READ_TIMEOUT_S,
            "retries": {"mode": "standard", "total_max_attempts": budget.max_attempts},
            "max_pool_connections": max(10, max_workers),
            **dict(kwargs.get("config_kwargs") or {}),
        }
    if s3 and "session" not in kwargs:
        from aiobotocore.session import AioSession

        session = AioSession(profile=kwargs.pop("profile", None))
        # Only names and sizes are read; botocore would otherwise parse every object's
        # LastModified with dateutil, over half the CPU time of a large listing.
        parsers = session.get_component("response_parser_factory")
        parsers.set_parser_defaults(timestamp_parser=str)
        kwargs["session"] = session
    fs = fsspec.filesystem(protocol, skip_instance_cache=True, **kwargs)
    if s3:
        # botocore already retries; s3fs's own retry loop on top would multiply the
        # attempts (and the time an unreachable endpoint takes to fail).
        fs.retries = 1
    return fs


def _plan(glob: str, protocol: str, fs: Any) -> _Plan:
    from fsspec.utils import glob_translate

    path = str(fs._strip_protocol(glob))
    try:
        translated = glob_translate(path)
    except ValueError as error:  # e.g. `a**b`: `**` must be a whole path component
        raise StorageError(str(error), where=glob, fix="fix the pattern") from None
    folder, _, name = path.rpartition("/")
    if not folder:
        folder = str(fs.root_marker)
    folder_magic = bool(_MAGIC.search(folder))
    if glob.endswith("/") or "**" in path or folder_magic:
        # fs.glob lists too (one listing per folder it walks), never HEADs objects.
        return _Plan(protocol, fs, Listing.GLOB, glob, None, path, glob)
    pattern = re.compile(translated) if _MAGIC.search(name) else None
    shown_folder = glob[: glob.rfind("/") + 1] or "./"
    return _Plan(protocol, fs, Listing.FOLDER, folder, pattern, path, shown_folder)


def _object_display(glob: str, plan: _Plan, name: str) -> str:
    """Show a listed name the way the user wrote the glob (plain path or URL)."""
    if plan.kind is Listing.FOLDER:
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


def _list(plan: _Plan, started: set[ListingKey]) -> list[Listed]:
    """List with a blocking filesystem (local, memory), in a worker thread."""
    started.add(plan.task)
    fs = plan.fs
    if plan.kind is Listing.GLOB:
        found = fs.glob(plan.target, detail=True)
        entries = [_entry(name, info) for name, info in found.items()]
    else:
        fs.invalidate_cache(plan.target)
        entries = [_entry(str(info["name"]), info) for info in fs.ls(plan.target, detail=True)]
    # The listing cache would keep a full dict per object; the counts are ours to cache.
    fs.invalidate_cache()
    return entries


async def _list_async(
    plan: _Plan, slots: asyncio.Semaphore, budget: Budget, started: set[ListingKey]
) -> list[Listed]:
    """List with an async filesystem (s3fs, ...), on fsspec's event loop."""
    fs = plan.fs
    async with slots:
        started.add(plan.task)
        if plan.protocol in _S3_PROTOCOLS:
            # Idempotent (s3fs locks it): the client exists before its retries are tuned.
            _tune_retries(await fs.set_session(), budget)
        if plan.kind is Listing.GLOB:
            found = await fs._glob(plan.target, detail=True)
            entries = [_entry(name, info) for name, info in found.items()]
        else:
            fs.invalidate_cache(plan.target)
            infos = await fs._ls(plan.target, detail=True)
            entries = [_entry(str(info["name"]), info) for info in infos]
        fs.invalidate_cache()
        return entries


class _Backoff:
    """botocore's exponential backoff with full jitter, from our base and cap.

    A connection that could not even be opened (refused) is retried at once: waiting
    does not help it, and a closed port must fail in seconds.
    """

    def __init__(self, base_s: float) -> None:
        self.base_s = base_s

    def delay_amount(self, context: Any) -> float:
        if _chain_has(context.caught_exception, _REFUSED):
            return 0.0
        scale = min(2.0 ** (int(context.attempt_number) - 1), _BACKOFF_CAP)
        return random.random() * self.base_s * scale


class _RetryChecker:
    """botocore's retry decision, but timeouts get `_TIMEOUT_ATTEMPTS` attempts at most."""

    def __init__(self, standard: Any) -> None:
        self.standard = standard

    async def is_retryable(self, context: Any) -> bool:
        timeout = type(context.caught_exception).__name__ in _TIMEOUTS
        if timeout and context.attempt_number >= _TIMEOUT_ATTEMPTS:
            return False
        verdict = self.standard.is_retryable(context)
        if asyncio.iscoroutine(verdict):
            verdict = await verdict
        return bool(verdict)


def _tune_retries(client: Any, budget: Budget) -> None:
    """Give the client's standard-mode retry policy our backoff base and timeout cap.

    botocore has no setting for either; where its policy is not found (another retry
    mode), its own defaults apply, which are also bounded.
    """
    policy = _standard_retry_policy(client)
    if policy is None:
        return
    if not isinstance(policy._retry_backoff, _Backoff):
        policy._retry_backoff = _Backoff(budget.backoff_base_s)
    if not isinstance(policy._retry_checker, _RetryChecker):
        policy._retry_checker = _RetryChecker(policy._retry_checker)


def _standard_retry_policy(client: Any) -> Any | None:
    """The S3 client's standard-mode retry policy, or None where it is not found.

    botocore's public `Config(retries=...)` sets the mode and the number of attempts
    only, so this is the one place that reaches into botocore's internals: the handler
    `register_retry_handler` registers as `retry-config-s3`, and its policy's
    `_retry_backoff` and `_retry_checker`. A test fails when a botocore release moves
    them.
    """
    try:
        entry = client.meta.events._emitter._unique_id_handlers["retry-config-s3"]
        policy = entry["handler"].__self__._retry_policy
    except (AttributeError, KeyError, TypeError):
        return None
    if not (hasattr(policy, "_retry_backoff") and hasattr(policy, "_retry_checker")):
        return None
    return policy


class DeadlineExpired(TimeoutError):
    """The storage deadline expired while this listing was still running."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"deadline of {seconds:g} s expired")
        self.seconds = seconds


ListingKey = tuple[str, str, str]


def _run_listings(
    tasks: Mapping[ListingKey, _Plan],
    progress: Callable[[int, int], None] | None,
    max_workers: int,
    budget: Budget,
) -> dict[ListingKey, list[Listed] | BaseException]:
    """List every folder concurrently, within the deadline.

    After a failure no new listing starts; those in flight finish, so the error shown
    is the first in input order among them. Async filesystems list on fsspec's event
    loop, so the deadline or Ctrl-C cancels even the requests in flight; blocking ones
    (local, memory) use worker threads.
    """
    deadline = time.monotonic() + budget.deadline_s
    outcomes: dict[ListingKey, list[Listed] | BaseException] = {}
    pending: dict[Future[list[Listed]], ListingKey] = {}
    pool: ThreadPoolExecutor | None = None
    slots = asyncio.Semaphore(max_workers)
    started: set[ListingKey] = set()  # listings that got a slot (added from their thread)
    if progress is not None:
        progress(0, len(tasks))  # the total is known before the first listing ends
    try:
        for key, plan in tasks.items():
            if getattr(plan.fs, "async_impl", False):
                coroutine = _list_async(plan, slots, budget, started)
                future = asyncio.run_coroutine_threadsafe(coroutine, plan.fs.loop)
            else:
                if pool is None:
                    workers = max(1, min(max_workers, len(tasks)))
                    pool = ThreadPoolExecutor(workers, thread_name_prefix="qupsample-list")
                future = pool.submit(_list, plan, started)
            pending[future] = key
        done_count = 0
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                expired = DeadlineExpired(budget.deadline_s)
                for key in pending.values():
                    outcomes[key] = expired
                break
            done, _ = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            failed = False
            for future in done:
                key = pending.pop(future)
                if future.cancelled():
                    continue
                error = future.exception()
                if error is not None:
                    outcomes[key] = error
                    failed = True
                else:
                    outcomes[key] = future.result()
                done_count += 1
                if progress is not None:
                    progress(done_count, len(tasks))
            # Missing credentials or an unreachable endpoint would fail every other
            # listing too: do not start them to wait for them one by one.
            if failed:
                for future, key in list(pending.items()):
                    if key not in started and future.cancel():
                        del pending[future]
    finally:
        # On the deadline or Ctrl-C: cancel what is still running, never wait for it.
        for future in pending:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    return outcomes


def _count_matches(glob: str, plan: _Plan, entries: list[Listed], token_size: int) -> GlobCount:
    objects = 0
    total = 0
    folder_hit = False
    for raw_name, is_file, size in entries:
        name = raw_name.rstrip("/")
        if plan.kind is Listing.FOLDER:
            matched = plan.pattern.match(name) if plan.pattern else name == plan.path
            if not matched:
                continue
        if not is_file:
            folder_hit = True
            continue
        if size % token_size:
            obj = _object_display(glob, plan, name)
            raise StorageError(
                _one_line(
                    f"object {obj} has {size} bytes, not a multiple of the token size {token_size}"
                ),
                where=glob,
                fix="check the tokenizer's dtype or remove the object",
            )
        objects += 1
        total += size
    if objects == 0:
        if folder_hit and plan.pattern is None and plan.kind is Listing.FOLDER:
            what, fix = "is a folder, not an object", "add a pattern such as /*.npy"
        else:
            what = f"matched no objects (listed {plan.display_folder})"
            fix = "check the path, the pattern and the bucket"
        raise StorageError(_one_line(what), where=glob, fix=fix)
    return GlobCount(glob=glob, objects=objects, bytes=total, tokens=total // token_size)


# Exception class names (aiohttp, botocore, the standard library) along a failure's
# chain that say what went wrong on the wire.
_REFUSED = frozenset({"ConnectionRefusedError", "ClientConnectorError"})
_TIMEOUTS = frozenset({"ConnectTimeoutError", "ReadTimeoutError", "ConnectionTimeoutError"})
_INCOMPLETE = frozenset(
    {
        "ClientPayloadError",
        "ContentLengthError",
        "TransferEncodingError",
        "ConnectionClosedError",
        "IncompleteRead",
        "IncompleteReadError",
        "ResponseStreamingError",
    }
)
_RESET = frozenset(
    {"ConnectionResetError", "ConnectionAbortedError", "ServerDisconnectedError", "BrokenPipeError"}
)


def _chain(error: BaseException | None) -> list[BaseException]:
    """The error, its causes and contexts, and errors botocore keeps in `kwargs`."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        kept = getattr(current, "kwargs", None)
        inner = kept.get("error") if isinstance(kept, dict) else None
        todo += [current.__cause__, current.__context__]
        if isinstance(inner, BaseException):
            todo.append(inner)
    return seen


def _chain_has(error: BaseException | None, names: frozenset[str]) -> bool:
    return any(type(link).__name__ in names for link in _chain(error))


def _response(error: BaseException) -> dict[str, Any]:
    """The parsed S3 error response behind an exception, or {}."""
    for link in _chain(error):
        response = getattr(link, "response", None)
        if isinstance(response, dict):
            return response
    return {}


def _error_code(error: BaseException) -> str | None:
    """The S3 error code (e.g. `AccessDenied`) behind an exception, if there is one."""
    code = _response(error).get("Error", {}).get("Code")
    return str(code) if code else None


def _to_storage_error(
    glob: str, plan: _Plan, options: Mapping[str, Any], error: BaseException
) -> BaseException:
    """Turn a listing failure into one StorageError about `glob`; unknown errors pass
    through."""
    where = plan.display_folder
    described = (
        _describe_answer(where, error)
        or _describe_connection(glob, where, options, error)
        or _describe_os(plan, where, error)
    )
    if described is None:
        return error
    what, fix, hints = described
    return StorageError(_one_line(what), *hints, where=glob, fix=fix)


# What went wrong, how to fix it, and the options that help.
Described = tuple[str, str, tuple[Hint, ...]]
_RETRY_LATER = "retry later"


def _describe_answer(where: str, error: BaseException) -> Described | None:
    """The deadline, throttling and 5xx answers (after every retry)."""
    if isinstance(error, DeadlineExpired):
        what = f"still listing {where} when the {error.seconds:g} s deadline expired"
        fix = (
            "a large folder takes one request per 1,000 objects (200,000 objects: 200),"
            " a slow endpoint seconds for each; check the endpoint and the network"
        )
        return what, fix, (_DEADLINE,)
    response = _response(error)
    code = _error_code(error)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    attempts = response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
    if code in _THROTTLING_CODES or (status == 503 and code in (None, "ServiceUnavailable")):
        what = f"throttled by S3 ({code or 503}) after {attempts} attempts while listing {where}"
        return what, _RETRY_LATER, (_RETRY,)
    if isinstance(status, int) and status >= 500:
        what = (
            f"S3 answered {status} ({code or 'no code'}) after {attempts} attempts"
            f" while listing {where}"
        )
        return what, _RETRY_LATER, (_RETRY,)
    return None


def _describe_connection(
    glob: str, where: str, options: Mapping[str, Any], error: BaseException
) -> Described | None:
    """Cut-off answers, resets, credentials, profiles and unreachable endpoints."""
    endpoint = storage_location(glob, options).get("endpoint", "?")
    shown = "the default AWS S3 endpoint" if endpoint == "aws" else endpoint
    if _chain_has(error, _INCOMPLETE):
        return f"incomplete listing of {where}: {shown} cut the answer off", _RETRY_LATER, (_RETRY,)
    if _chain_has(error, _RESET):
        return f"connection reset by {shown} while listing {where}", _RETRY_LATER, (_RETRY,)
    botocore_errors = sys.modules.get("botocore.exceptions")
    if botocore_errors is None:
        return None
    if isinstance(
        error, botocore_errors.NoCredentialsError | botocore_errors.PartialCredentialsError
    ):
        fix = "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        return "no AWS credentials found", fix, (_ANON, _OFFLINE)
    if isinstance(error, botocore_errors.ProfileNotFound):
        profile = storage_location(glob, options).get("profile", "?")
        what = f"AWS profile '{profile}' not found"
        return what, "check AWS_PROFILE and ~/.aws/config", (_PROFILE,)
    if isinstance(error, botocore_errors.ConnectionError | botocore_errors.HTTPClientError):
        kind = "timed out talking to" if "Timeout" in type(error).__name__ else "cannot reach"
        fix = "check the endpoint URL (AWS_ENDPOINT_URL) and the network"
        return f"{kind} {shown} while listing {where}", fix, (_ENDPOINT, _OFFLINE)
    if isinstance(error, botocore_errors.BotoCoreError):
        return str(error), "check AWS_ENDPOINT_URL and the URL", (_ENDPOINT,)
    return None


def _describe_os(plan: _Plan, where: str, error: BaseException) -> Described | None:
    """Denied, missing, not a folder, and bad URLs."""
    code = _error_code(error)
    if isinstance(error, PermissionError):
        cause = f"access denied ({code})" if code else "access denied"
        if plan.protocol not in _S3_PROTOCOLS:
            return f"{cause} listing {where}", "check the folder's permissions", ()
        fix = "check your credentials (AWS_PROFILE) and the bucket policy"
        return f"{cause} listing {where}", fix, (_ANON,)
    if isinstance(error, FileNotFoundError):
        if code == "NoSuchBucket":
            bucket = plan.path.split("/", 1)[0]
            return f"bucket '{bucket}' does not exist", "check the bucket name", ()
        return f"folder {where} does not exist", "check the path", ()
    if isinstance(error, NotADirectoryError):
        return f"{where} is not a folder", "check the path", ()
    if isinstance(error, OSError):
        cause = code or error.strerror or type(error).__name__
        return f"cannot list {where} ({cause})", "check the path and access", ()
    if isinstance(error, ValueError) and str(error).startswith("Invalid endpoint"):
        return "invalid endpoint URL", "check AWS_ENDPOINT_URL", (_ENDPOINT,)
    if isinstance(error, ValueError):
        return f"cannot list {where}: {error}", "check the URL", ()
    return None


def _one_line(message: str) -> str:
    return " ".join(message.split("\n"))
