"""Pooled PostgreSQL connections are checked before use only when they sat unused
for a while: a connection given back moments ago goes out without a round trip."""

from __future__ import annotations

import psycopg
import pytest
from support.postgres import PostgresServer

from sessiontrail.infrastructure.backends import postgres_checks
from sessiontrail.infrastructure.backends.postgres_checks import RecentUseChecks


def ended_elsewhere(server: PostgresServer, connection: psycopg.Connection) -> None:
    """End `connection`'s server process from another connection."""
    with psycopg.connect(server.dsn(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))


def test_a_connection_given_back_moments_ago_goes_out_unchecked(
    postgres_server: PostgresServer,
) -> None:
    checks = RecentUseChecks()
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as connection:
        checks.reset(connection)
        ended_elsewhere(postgres_server, connection)
        checks.check(connection)  # no round trip: it would have found it ended


def test_a_connection_unused_for_a_while_is_checked(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_checks, "TRUSTED_FOR", 0.0)
    checks = RecentUseChecks()
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as connection:
        checks.reset(connection)
        ended_elsewhere(postgres_server, connection)
        with pytest.raises(psycopg.OperationalError):
            checks.check(connection)


def test_a_connection_never_given_back_is_checked(
    postgres_server: PostgresServer,
) -> None:
    checks = RecentUseChecks()
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as connection:
        ended_elsewhere(postgres_server, connection)
        with pytest.raises(psycopg.OperationalError):
            checks.check(connection)
