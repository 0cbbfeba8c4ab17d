"""A local S3 lab: a moto server, a request-counting proxy in front of it, bucket filling.

The proxy also injects faults on request (`CountingProxy.inject`): 503 SlowDown, 5xx
errors, connection resets, truncated bodies and trickling answers.

Used by the tests and the benchmark. Only the standard library, moto and boto3; it
never talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

# Dummy credentials for moto, which does not check signatures.
_DUMMY_KEY = "testing"
_DUMMY_REGION = "us-east-1"

OPERATIONS = (
    "ListObjectsV2",
    "ListObjects",
    "ListBuckets",
    "HeadObject",
    "GetObject",
    "HeadBucket",
    "PutObject",
    "Other",
)

# Query keys of a plain ListObjects (v1) request; any other key is a sub-resource.
_LIST_V1_KEYS = frozenset({"prefix", "delimiter", "marker", "max-keys", "encoding-type"})
# Sub-resources that turn an object GET/PUT into another operation.
_OBJECT_SUBRESOURCES = frozenset(
    {
        "acl",
        "tagging",
        "attributes",
        "legal-hold",
        "retention",
        "torrent",
        "uploadId",
        "uploads",
        "partNumber",
        "restore",
        "select",
    }
)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
        "host",
    }
)
# Faults `CountingProxy.inject` can answer with instead of forwarding to moto.
FAULTS = ("slowdown", "error500", "error502", "error504", "reset", "truncate", "trickle")
_SLOWDOWN_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>s3lab</RequestId><HostId>s3lab</HostId></Error>"
)
_INTERNAL_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
    b"<RequestId>s3lab</RequestId><HostId>s3lab</HostId></Error>"
)
_DENIED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    b"<RequestId>s3lab</RequestId><HostId>s3lab</HostId></Error>"
)


def start_moto() -> tuple[Any, str]:
    """Start moto's threaded S3 server on a free 127.0.0.1 port.

    Returns:
        The server (call `.stop()` when done) and its endpoint URL.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def reset_moto(endpoint_url: str) -> None:
    """Forget every bucket and object moto holds."""
    parts = urlsplit(endpoint_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("POST", "/moto-api/reset")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"moto reset failed: HTTP {response.status}")
    finally:
        conn.close()


def fill_bucket(
    endpoint_url: str, bucket: str, objects: Mapping[str, bytes | int], workers: int = 8
) -> None:
    """Create `bucket` (if needed) and upload `objects` (an int means that many zero bytes)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=_DUMMY_KEY,
        aws_secret_access_key=_DUMMY_KEY,
        region_name=_DUMMY_REGION,
    )

    def upload(item: tuple[str, bytes | int]) -> None:
        key, body = item
        data = bytes(body) if isinstance(body, int) else body
        client.put_object(Bucket=bucket, Key=key, Body=data)

    try:
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        # boto3 clients are thread-safe; parallel uploads keep big layouts quick.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(upload, objects.items()))
    finally:
        client.close()


@dataclass(frozen=True)
class ProxyRequest:
    """One request as the proxy saw it, for `CountingProxy.deny` predicates."""

    method: str
    path: str
    query: dict[str, str]
    operation: str
    bucket: str
    key: str

    @property
    def target(self) -> str:
        """`bucket/key` for object requests, `bucket/prefix` for listings."""
        if not self.key and self.operation in ("ListObjectsV2", "ListObjects"):
            return f"{self.bucket}/{self.query.get('prefix', '')}"
        return f"{self.bucket}/{self.key}" if self.key else self.bucket


def classify(method: str, path: str, query: Mapping[str, str], headers: Any = None) -> str:
    """Name the S3 operation of a path-style request (one of `OPERATIONS`)."""
    bucket, _, key = path.lstrip("/").partition("/")
    if path.startswith("/moto-api"):
        return "Other"
    if not bucket:
        return "ListBuckets" if method == "GET" else "Other"
    if not key:
        if method == "HEAD":
            return "HeadBucket"
        if method == "GET":
            if query.get("list-type") == "2":
                return "ListObjectsV2"
            if set(query) <= _LIST_V1_KEYS:
                return "ListObjects"
        return "Other"
    if set(query) & _OBJECT_SUBRESOURCES:
        return "Other"
    if method == "HEAD":
        return "HeadObject"
    if method == "GET":
        return "GetObject"
    if method == "PUT":
        copying = headers is not None and headers.get("x-amz-copy-source")
        return "Other" if copying else "PutObject"
    return "Other"


class _LabServer(ThreadingHTTPServer):
    """A threading HTTP server that takes a client hanging up as normal."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients cancel requests (a failure elsewhere, a deadline, Ctrl-C): no traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


@dataclass(frozen=True)
class _Fault:
    kind: str
    rate: float
    operations: frozenset[str]


class CountingProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to moto and counts S3 operations.

    Denied requests (see `deny`) and faulted ones (see `inject`) are counted too, as the
    client did send them.
    """

    def __init__(self, upstream_url: str, delay_s: float = 0.0) -> None:
        parts = urlsplit(upstream_url)
        self._upstream_host = parts.hostname or "127.0.0.1"
        self._upstream_port = parts.port or 80
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._faults: list[Callable[[ProxyRequest], bool]] = []
        self._injected: list[_Fault] = []
        self._injected_counts: Counter[str] = Counter()
        self._random = random.Random(0)
        self.trickle_s = 0.5
        self._closing = threading.Event()
        self._server = _LabServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="s3lab-proxy", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The proxy's endpoint URL, to use as `endpoint_url`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def counts(self) -> dict[str, int]:
        """Requests seen per operation since the last `reset` (only non-zero ones)."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget the counts."""
        with self._lock:
            self._counts.clear()

    def deny(self, rule: str | Callable[[ProxyRequest], bool]) -> None:
        """Answer 403 AccessDenied to requests whose target starts with `rule`, or match it."""
        if isinstance(rule, str):
            prefix = rule

            def predicate(request: ProxyRequest) -> bool:
                return request.target.startswith(prefix)

            rule = predicate
        with self._lock:
            self._faults.append(rule)

    def inject(
        self,
        kind: str,
        rate: float = 1.0,
        operations: tuple[str, ...] = ("ListObjectsV2",),
        seed: int = 0,
    ) -> None:
        """Answer a share `rate` of `operations` with a fault instead of moto's answer.

        Kinds (`FAULTS`): `slowdown` (503 SlowDown), `error500`/`error502`/`error504`,
        `reset` (the connection is reset before any answer), `truncate` (half the body,
        then the connection closes), `trickle` (the body one byte every `trickle_s`).
        Which requests fail is drawn from a generator seeded with `seed`.
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._random.seed(seed)
            self._injected.append(_Fault(kind, rate, frozenset(operations)))

    def injected(self) -> dict[str, int]:
        """Faults answered per kind since the last `clear_faults`."""
        with self._lock:
            return dict(self._injected_counts)

    def clear_faults(self) -> None:
        """Stop denying and injecting anything."""
        with self._lock:
            self._faults.clear()
            self._injected.clear()
            self._injected_counts.clear()

    def close(self) -> None:
        """Stop serving and free the port."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _record(self, request: ProxyRequest) -> str | None:
        """Count a request; `deny`, a fault kind, or None to forward it."""
        with self._lock:
            self._counts[request.operation] += 1
            faults = list(self._faults)
            for fault in self._injected:
                if request.operation in fault.operations and self._random.random() < fault.rate:
                    self._injected_counts[fault.kind] += 1
                    return fault.kind
        return "deny" if any(fault(request) for fault in faults) else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._forward()

            do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size_line = self.rfile.readline()
                        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._read_body()
                split = urlsplit(self.path)
                query = dict(parse_qsl(split.query, keep_blank_values=True))
                path = unquote(split.path)
                bucket, _, key = path.lstrip("/").partition("/")
                operation = classify(self.command, path, query, self.headers)
                request = ProxyRequest(self.command, path, query, operation, bucket, key)
                if proxy.delay_s:
                    time.sleep(proxy.delay_s)
                action = proxy._record(request)
                if action == "deny":
                    self._reply(403, [("Content-Type", "application/xml")], _DENIED_XML)
                    return
                if action == "slowdown":
                    self._reply(503, [("Content-Type", "application/xml")], _SLOWDOWN_XML)
                    return
                if action is not None and action.startswith("error"):
                    status = int(action.removeprefix("error"))
                    self._reply(status, [("Content-Type", "application/xml")], _INTERNAL_XML)
                    return
                if action == "reset":
                    self._reset()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = f"{proxy._upstream_host}:{proxy._upstream_port}"
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(
                    proxy._upstream_host, proxy._upstream_port, timeout=60
                )
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    upstream_headers = response.getheaders()
                    status = response.status
                finally:
                    conn.close()
                # send_response adds its own Server and Date headers.
                dropped = _HOP_BY_HOP | {"server", "date"}
                kept = [(k, v) for k, v in upstream_headers if k.lower() not in dropped]
                if self.command == "HEAD":
                    length = response.getheader("Content-Length")
                    if length is not None:
                        kept.append(("Content-Length", length))
                if action in ("truncate", "trickle"):
                    self._send_partially(status, kept, data, action)
                    return
                self._reply(status, kept, data)

            def _reset(self) -> None:
                """Drop the connection with a TCP reset (SO_LINGER 0), answering nothing."""
                self.close_connection = True
                self.wfile.flush()
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()

            def _send_partially(
                self, status: int, headers: list[tuple[str, str]], data: bytes, how: str
            ) -> None:
                """Announce the whole body, then send half of it and reset (`truncate`),
                or send it one byte every `trickle_s` seconds (`trickle`)."""
                self.close_connection = True
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    if how == "truncate":
                        self.wfile.write(data[: len(data) // 2])
                        self._reset()
                        return
                    for byte in data:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        if proxy._closing.wait(proxy.trickle_s):
                            return
                except OSError:  # the client gave up
                    return

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                elif not any(name.lower() == "content-length" for name, _ in headers):
                    self.send_header("Content-Length", "0")
                self.end_headers()
                if self.command != "HEAD" and data:
                    self.wfile.write(data)

        return Handler


@dataclass(frozen=True)
class S3Lab:
    """A clean moto S3 for one test; reads go through `proxy`, which counts them.

    `endpoint_url` is moto itself (so `fill` uploads are not counted);
    `storage_options` point s3fs at the proxy.
    """

    endpoint_url: str
    proxy: CountingProxy

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.proxy.url}

    def fill(self, bucket: str, objects: Mapping[str, bytes | int]) -> None:
        fill_bucket(self.endpoint_url, bucket, objects)
