"""Pooled PostgreSQL connections are checked before use only when they sat unused
for a while: a connection handed out moments ago goes out without a round trip;
and a connection given back is back in its pool at once, not through a thread."""

from __future__ import annotations

import psycopg
import pytest
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail.infrastructure.backends import postgres_checks
from sessiontrail.infrastructure.backends.postgres_checks import RecentUseChecks


def ended_elsewhere(server: PostgresServer, connection: psycopg.Connection) -> None:
    """End `connection`'s server process from another connection."""
    with psycopg.connect(server.dsn(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))


def test_a_connection_handed_out_moments_ago_goes_out_unchecked(
    postgres_server: PostgresServer,
) -> None:
    checks = RecentUseChecks()
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as connection:
        checks.check(connection)
        ended_elsewhere(postgres_server, connection)
        checks.check(connection)  # no round trip: it would have found it ended


def test_a_connection_unused_for_a_while_is_checked(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_checks, "TRUSTED_FOR", 0.0)
    checks = RecentUseChecks()
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as connection:
        checks.check(connection)
        ended_elsewhere(postgres_server, connection)
        with pytest.raises(psycopg.OperationalError):
            checks.check(connection)


def test_a_connection_never_handed_out_is_checked(
    postgres_server: PostgresServer,
) -> None:
    checks = RecentUseChecks()
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as connection:
        ended_elsewhere(postgres_server, connection)
        with pytest.raises(psycopg.OperationalError):
            checks.check(connection)


def test_connections_given_back_are_in_their_pools_at_once(
    postgres_server: PostgresServer,
) -> None:
    """No hand-over to a pool's worker thread on each use: both pools have every
    connection they opened available the moment a save and a read end."""
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url) as trail:
        pools = {
            "events": trail.store.recorder.datastore.pool,  # type: ignore[attr-defined]
            "read models": trail.read_models._pool,  # type: ignore[attr-defined]
        }
        session = trail.sessions.load_or_create("pooled")
        for turn in range(20):
            session.append_message(role="user", content=f"turn {turn}")
            trail.sessions.save(session)
            trail.sessions.list()
            for name, pool in pools.items():
                stats = pool.get_stats()
                assert stats["pool_available"] == stats["pool_size"], (name, turn)
