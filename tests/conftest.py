"""Shared fixtures: an isolated environment for every test, a local S3 (moto) lab, and a
local synthetic corpus."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO
from s3lab import CountingProxy, S3Lab, reset_moto, start_moto

# Variables that could point a test at real AWS or at the machine's own profiles.
_DROPPED_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CA_BUNDLE",
)


def _clear_fsspec_instance_caches() -> None:
    """Clear the instance cache of every fsspec filesystem class imported so far."""
    from fsspec.spec import AbstractFileSystem

    pending: list[type[Any]] = [AbstractFileSystem]
    while pending:
        cls = pending.pop()
        cls.clear_instance_cache()
        pending.extend(cls.__subclasses__())


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Dummy AWS credentials, no real AWS config or endpoint, a private cache dir."""
    home = tmp_path_factory.mktemp("env")
    for name in list(os.environ):
        if name in _DROPPED_AWS_VARS or name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials-absent"))
    monkeypatch.setenv("QUPSAMPLE_CACHE_DIR", str(home / "cache"))
    # Tables follow $COLUMNS when piped: tests choose their width themselves.
    monkeypatch.delenv("COLUMNS", raising=False)
    _clear_fsspec_instance_caches()
    yield
    _clear_fsspec_instance_caches()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on a free 127.0.0.1 port, for the session."""
    server, endpoint_url = start_moto()
    try:
        yield endpoint_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _counting_proxy(moto_server: str) -> Iterator[CountingProxy]:
    """One counting proxy in front of moto for the session (reset per test by `s3`)."""
    proxy = CountingProxy(moto_server)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def s3(moto_server: str, _counting_proxy: CountingProxy) -> Iterator[S3Lab]:
    """An empty moto S3 with zeroed request counts and no injected faults."""
    reset_moto(moto_server)
    _counting_proxy.reset()
    _counting_proxy.clear_faults()
    try:
        yield S3Lab(endpoint_url=moto_server, proxy=_counting_proxy)
    finally:
        _counting_proxy.clear_faults()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local synthetic corpus with the real layout (the demo's), written once; read only."""
    from qupsample.demo import write_demo_corpus

    data_root = tmp_path_factory.mktemp("corpus") / "data"
    write_demo_corpus(data_root, root=REPO)
    return data_root


def pytest_addoption(parser: pytest.Parser) -> None:
    """Adds `--update-golden`: rewrite tests/golden_sweep/ instead of comparing with it."""
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden_sweep/ instead of comparing with it"
        " (`make generate` refreshes generated/, the other golden copy).",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether `--update-golden` was given."""
    return bool(request.config.getoption("--update-golden"))
