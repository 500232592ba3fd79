"""Backends for the suite: in-memory, a real SQLite file, a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from support.postgres import PostgresServer, running

import sessiontrail
from sessiontrail import SessionTrail

BACKENDS = ["memory", "sqlite", "postgres"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow", action="store_true", help="run long stress and property runs"
    )


settings.register_profile("ci", max_examples=30, stateful_step_count=30, deadline=None)
settings.register_profile(
    "slow", max_examples=2000, stateful_step_count=50, deadline=None
)


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("slow" if config.getoption("--slow") else "ci")


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long run: use --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the session; a failure to start fails every postgres test."""
    with running() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of the backend under test; trails on it share it."""
    if backend == "memory":
        return f"memory://{uuid.uuid4().hex}"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'trail.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.url(server.new_schema())


@pytest.fixture
def trail(url: str) -> Iterator[SessionTrail]:
    with sessiontrail.connect(url) as opened:
        yield opened


@pytest.fixture
def other_trail(url: str) -> Iterator[SessionTrail]:
    """A second, independent trail on the same database (as another process has)."""
    with sessiontrail.connect(url) as opened:
        yield opened
