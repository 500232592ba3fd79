"""PostgreSQL: an erasure that another transaction holds back. Read models read
the log below the oldest running transaction, so one begun before the erasure
holds back its rewrite of the read models; and the key table's VACUUM FULL
waits for every transaction holding that table (a save's INSERT locks the keys
it sealed with `FOR KEY SHARE`). Past the lock wait bound the erasure fails as
StorageUnavailable, with the key destroyed and forgotten: it returned success
with the read models still holding the user's content, or raised eventsourcing's
own error before recording the erasure, the key still remembered."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail import SessionTrail, StorageUnavailable


@pytest.fixture
def schema(postgres_server: PostgresServer) -> str:
    return postgres_server.new_schema()


@pytest.fixture
def trail(postgres_server: PostgresServer, schema: str) -> Iterator[SessionTrail]:
    url = f"{postgres_server.url(schema)}&lock_timeout=0.5"
    with sessiontrail.connect(url) as opened:
        for user in ("alice", "bob"):
            s = opened.sessions.load_or_create(f"{user}-chat", user_id=user)
            s.edit_title(f"{user}'s secret")
            opened.sessions.save(s)
        yield opened


@pytest.fixture
def older(postgres_server: PostgresServer) -> Iterator[psycopg.Connection[object]]:
    """Another client's transaction, begun (with an id) before the erasure."""
    with psycopg.connect(postgres_server.dsn()) as other:
        other.execute("SELECT pg_current_xact_id()")
        yield other
        other.rollback()


def _titles(trail: SessionTrail, user: str) -> list[str]:
    return [row.title for row in trail.sessions.list(user_id=user).items]


def test_an_erasure_held_back_by_an_older_transaction_fails_as_unavailable(
    trail: SessionTrail, older: psycopg.Connection[object]
) -> None:
    with pytest.raises(StorageUnavailable, match="older transactions"):
        trail.erase_user("alice")

    loaded = trail.sessions.load("alice-chat", user_id="alice")
    assert loaded is not None
    assert loaded.title == "[erased]"  # the key is destroyed


def test_an_erasure_retried_once_the_older_transaction_ended_rewrites_read_models(
    trail: SessionTrail, older: psycopg.Connection[object]
) -> None:
    with pytest.raises(StorageUnavailable):
        trail.erase_user("alice")
    older.rollback()

    report = trail.erase_user("alice")

    assert report.had_key is False  # destroyed the first time
    assert _titles(trail, "alice") == ["[erased]"]
    assert _titles(trail, "bob") == ["bob's secret"]


def test_an_erasure_whose_key_table_stays_held_fails_as_unavailable_key_forgotten(
    trail: SessionTrail, older: psycopg.Connection[object], schema: str
) -> None:
    """Bob's key locked as a save of his content locks it in its INSERT: the
    key table's VACUUM FULL gives up after the lock timeout; the erasure goes
    on without it."""
    older.execute(
        f"SELECT 1 FROM {schema}.st_user_keys WHERE user_id = 'bob' FOR KEY SHARE"
    )
    with pytest.raises(StorageUnavailable, match="older transactions"):
        trail.erase_user("alice")

    loaded = trail.sessions.load("alice-chat", user_id="alice")
    assert loaded is not None
    assert loaded.title == "[erased]"


def test_an_erasure_whose_key_table_was_not_rewritten_says_it_was_not_compacted(
    trail: SessionTrail, postgres_server: PostgresServer, schema: str
) -> None:
    """The lock is held by a transaction of no id (it holds no horizon back)."""
    with psycopg.connect(postgres_server.dsn()) as other:
        other.execute(f"LOCK TABLE {schema}.st_user_keys IN ACCESS SHARE MODE")
        report = trail.erase_user("alice")
        other.rollback()

    assert (report.had_key, report.log_compacted) == (True, False)
    assert _titles(trail, "alice") == ["[erased]"]
