"""Round trips to PostgreSQL around an inline save, outside the read models'
handlers: on a busy machine each is a wake-up of the server and of the client,
and the catch-up's run one after another while every other writer waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import psycopg
import psycopg.sql
import psycopg_pool
import pytest
from psycopg.pq import TransactionStatus
from support.deadlines import wait_until
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail.infrastructure.backends import postgres_checks
from sessiontrail.infrastructure.backends.postgres import APPLIER
from sessiontrail.projections import batches


@contextmanager
def round_trips(
    monkeypatch: pytest.MonkeyPatch, *, everywhere: bool = False
) -> Iterator[list[str]]:
    """Each exchange with the server this thread makes (psycopg waits once per
    exchange) outside the read models' handlers (`everywhere`: in them too), named
    by where it happened. A
    pooled connection is trusted however long it sat unused: whether the pool
    checks one first depends on the machine's speed, not on the code counted."""
    made: list[str] = []
    thread = threading.get_ident()
    in_handlers = threading.local()
    wait = psycopg.Connection.wait
    apply_batch = batches._apply_batch

    def counted(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        name = getattr(args[0], "__qualname__", repr(args[0]))
        idle = self.info.transaction_status == TransactionStatus.IDLE
        if (
            threading.get_ident() == thread
            and (everywhere or not getattr(in_handlers, "on", False))
            and not (name.endswith("_commit_gen") and idle)  # sends nothing
        ):
            made.append(name)
        return wait(self, *args, **kwargs)

    def handlers(*args: Any, **kwargs: Any) -> None:
        in_handlers.on = True
        try:
            apply_batch(*args, **kwargs)
        finally:
            in_handlers.on = False

    monkeypatch.setattr(postgres_checks, "TRUSTED_FOR", 3600.0)
    # nor is one the pool opened while two threads wanted one and never handed
    # out since (no use of it returned yet): checked on its first checkout
    monkeypatch.setattr(
        psycopg_pool.ConnectionPool, "check_connection", staticmethod(lambda _: None)
    )
    monkeypatch.setattr(psycopg.Connection, "wait", counted)
    monkeypatch.setattr(batches, "_apply_batch", handlers)
    yield made
    monkeypatch.undo()


def test_a_read_model_transaction_begins_in_one_round_trip(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url) as trail:
        with trail.read_models.read():
            pass  # the pool's connection was just used
        with round_trips(monkeypatch) as made, trail.read_models.read():
            begun = list(made)
    assert len(begun) == 1, begun  # named, should it ever take two again


def test_an_inline_save_makes_four_round_trips_besides_its_handlers(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert: one statement with the purge guard. The catch-up: BEGIN
    with the applier lock, the log with the registry rows locked, then the
    positions (held) with the COMMIT and the NOTIFY that wakes the log's
    listeners."""
    made = counted_save(postgres_server, monkeypatch, "inline")
    assert len(made) == 4, "\n".join(made)


def test_an_inline_save_sends_its_read_models_writes_with_what_follows(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handlers included: the insert; under the applier lock, BEGIN, the log,
    the audit read model's read of the session's owner, and the COMMIT carrying
    every write of the read models and the positions: 5. Each write sent alone
    (an executemany as psycopg sends it: three) made it 24, 23 of them with
    every other writer waiting."""
    made = counted_save(postgres_server, monkeypatch, "inline", everywhere=True)
    assert len(made) == 5, "\n".join(made)


def test_a_worker_mode_save_makes_one_round_trip(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert with the purge guard in one statement, its commit, and the
    transaction that wakes the log's listeners, in one message (a failure of
    the wake is never the stored save's: test_postgres_appending.py)."""
    made = counted_save(postgres_server, monkeypatch, "worker")
    assert len(made) == 1, "\n".join(made)


def counted_save(
    server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    mode: Literal["inline", "worker"],
    *,
    everywhere: bool = False,
) -> list[str]:
    """The round trips of one save of a warmed-up session, in a new log: the
    fewest of three saves. A transaction of another connection that begins
    between the check for none and the save (a trail another test left to
    finish, autovacuum) makes the catch-up look again: more round trips, never
    fewer, so the fewest is what a save itself makes."""
    url = server.url(server.new_schema())
    counts: list[list[str]] = []
    with sessiontrail.connect(url, projections=mode) as trail:
        session = warmed_up(trail, "counted")
        for attempt in range(3):
            no_other_transaction(server)
            with round_trips(monkeypatch, everywhere=everywhere) as made:
                trail.sessions.save(session)
            counts.append(made)
            session.append_message(role="user", content=f"counted again {attempt}")
    return min(counts, key=len)


def no_other_transaction(server: PostgresServer, deadline: float = 10.0) -> None:
    """Wait until no transaction on the server holds an id: one still running
    (another test's, on the same server) holds the catch-up's log read below it,
    which then looks again, a round trip this test does not count."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        wait_until(
            lambda: (
                connection.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                ).fetchone()
                == (0,)
            ),
            "no other transaction on the server",
            deadline,
        )


def warmed_up(
    trail: sessiontrail.SessionTrail, session_id: str
) -> sessiontrail.Session:
    """A session saved a few times (every pooled connection used), with one more
    message to save."""
    session = trail.sessions.load_or_create(session_id)
    for warm_up in range(3):
        session.append_message(role="user", content=f"warm-up {warm_up}")
        trail.sessions.save(session)
    session.append_message(role="user", content="counted")
    return session


def test_an_inline_save_waiting_for_another_applier_asks_in_one_round_trip(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the applier lock and applies nothing: the save tries
    the lock, waits to share it, reads where the read models are and tries it
    again in one round trip (with BEGIN); sharing it alone, it then holds it and
    applies its own write. 1 for the insert, 3 applying (the wait in the first):
    4 (more when it read the read models and queued for the lock after the wait)."""
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with sessiontrail.connect(url) as trail:
        session = warmed_up(trail, "waiting")
        made: list[str] = []
        failures: list[BaseException] = []

        def save() -> None:
            try:
                with round_trips(monkeypatch) as counted:
                    trail.sessions.save(session)
                made.extend(counted)
            except BaseException as exc:
                failures.append(exc)

        with psycopg.connect(postgres_server.dsn()) as holder:
            holder.execute(f"SET search_path TO {schema}")
            holder.execute(f"SELECT pg_advisory_xact_lock({APPLIER})")
            saving = threading.Thread(target=save)
            saving.start()
            waiting_to_share(postgres_server)
            holder.commit()
        saving.join(30)
    assert not failures
    assert len(made) == 4, "\n".join(made)


def waiting_to_share(server: PostgresServer) -> None:
    """Poll until a backend waits for a shared advisory lock."""
    with psycopg.connect(server.dsn(), autocommit=True) as db:
        wait_until(
            lambda: (
                db.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                    "AND mode = 'ShareLock' AND NOT granted"
                ).fetchone()
                is not None
            ),
            "a backend waiting to share the applier lock",
            30,
        )


def test_a_warmed_up_save_composes_no_statement(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The append's and the wake's statements are composed once per log, not on
    each save: psycopg walks a composed statement's parts every time it sends
    one (a tenth of a worker-mode save's client CPU)."""
    url = postgres_server.url(postgres_server.new_schema())
    composed: list[object] = []
    as_bytes = psycopg.sql.Composed.as_bytes

    def counted(self: psycopg.sql.Composed, *args: Any, **kwargs: Any) -> bytes:
        composed.append(self)
        return as_bytes(self, *args, **kwargs)

    with sessiontrail.connect(url, projections="worker") as trail:
        session = warmed_up(trail, "composed")
        monkeypatch.setattr(psycopg.sql.Composed, "as_bytes", counted)
        trail.sessions.save(session)
    assert composed == []
