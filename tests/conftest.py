"""Backends for the suite: in-memory, a real SQLite file, a real PostgreSQL server."""

from __future__ import annotations

import logging
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

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


# The default run is the same every time (derandomize: a fixed seed), and long
# enough to catch a broken stale-edit rule in the merge state machine whatever that
# seed turns out to be (measured in tests/test_merge_properties.py, where memory
# runs twice these examples). --slow explores instead: new random examples, ten
# times as many, of up to twice the steps.
settings.register_profile(
    "ci", max_examples=50, stateful_step_count=100, deadline=None, derandomize=True
)
settings.register_profile(
    "slow", max_examples=500, stateful_step_count=200, deadline=None
)


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("slow" if config.getoption("--slow") else "ci")
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM (`timeout`, a CI runner, `kill`) stops the run as Ctrl-C does, so
    fixtures tear down: the PostgreSQL server the tests started is stopped, not
    left running."""
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long run: use --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# The read models' own warnings, and a save's inline catch-up that failed (the save
# is stored; its read models lag until the next catch-up).
READ_MODEL_LOGGERS = ("sessiontrail.projections", "sessiontrail.infrastructure.appends")
EXPECTED = "expect_read_model_warnings"


class _Records(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def read_models_apply_every_event(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test during which the read models warned: an event or row they could
    not handle, skipped, or a batch redone event by event.

    A handler that breaks on good events (one that inserts twice, say) would
    otherwise pass: the redone batch skips the event and carries on. Tests that
    plant bad events or rows, or break storage, say so with the marker
    `expect_read_model_warnings`.
    """
    handler = _Records()
    loggers = [logging.getLogger(name) for name in READ_MODEL_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    if handler.records and request.node.get_closest_marker(EXPECTED) is None:
        said = "\n".join(
            f"  {record.name}: {record.getMessage()}" for record in handler.records[:5]
        )
        pytest.fail(
            f"the read models warned {len(handler.records)} time(s) in a test not "
            f"marked {EXPECTED}:\n{said}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the session; a failure to start fails every postgres test."""
    with running() as server:
        yield server


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of the test's own, which it may stop and start without harming
    any other test."""
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


@pytest.fixture
def look_ups(trail: SessionTrail, monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    """The streams the session id resolver looks for, in order (each is one
    read of the log): counts what resolving an id costs."""
    seen: list[UUID] = []
    holds = trail.store.has_stream

    def counted(stream: UUID) -> bool:
        seen.append(stream)
        return holds(stream)

    monkeypatch.setattr(trail.store, "has_stream", counted)
    return seen
