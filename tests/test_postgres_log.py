"""PostgreSQL without the table lock: inline saves wait for older transactions
outside any lock and only so long, followers wake on NOTIFY and poll when a
notification is missed, and a log written before upgrades in place."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from support.deadlines import wait_until
from support.following import following
from support.http import bearer, free_port, write_tokens
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail.infrastructure.log_position import LOG_START
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

FIXTURE = Path(__file__).parent / "fixtures" / "v1-postgres.sql"


@contextmanager
def older_transaction(server: PostgresServer, schema: str) -> Iterator[None]:
    """A transaction holding an id (it wrote nothing) open until the block ends:
    every follower waits for it, as for a writer in the middle of its insert."""
    with psycopg.connect(server.dsn(), options=f"-c search_path={schema}") as older:
        older.execute("SELECT pg_current_xact_id()")
        yield
        older.rollback()


def stored(server: PostgresServer, schema: str, session: sessiontrail.Session) -> int:
    with psycopg.connect(server.dsn()) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {schema}.sessiontrail_events "
            "WHERE originator_id = %s",
            (session.id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def registry_free(server: PostgresServer, schema: str) -> bool:
    """Whether the read models' registry rows can be locked right now."""
    with psycopg.connect(server.dsn()) as probe:
        try:
            probe.execute(f"SELECT * FROM {schema}.st_projections FOR UPDATE NOWAIT")
        except psycopg.errors.LockNotAvailable:
            return False
    return True


def test_an_inline_save_waits_for_older_transactions_holding_no_read_model_lock(
    postgres_server: PostgresServer,
) -> None:
    """Its catch-up applies what it can and commits; it waits outside (a catch-up
    holding the registry rows while waiting could deadlock with a transaction that
    holds the horizon and needs them, as a rebuild's swap does)."""
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema)) as trail:
        session = trail.sessions.load_or_create("mine")
        trail.sessions.save(session)
        with older_transaction(postgres_server, schema):
            session.append_message(role="user", content="after the older one")
            saving = threading.Thread(target=trail.sessions.save, args=(session,))
            saving.start()
            wait_until(
                lambda: stored(postgres_server, schema, session) == 2,
                "not stored",
                timeout=10,
            )
            assert saving.is_alive(), "read its write past an older transaction"
            wait_until(
                lambda: registry_free(postgres_server, schema),
                "the waiting save holds the read models' rows",
                timeout=10,
            )
            assert saving.is_alive()
        saving.join(timeout=10)
        assert not saving.is_alive()
        with sessiontrail.connect(
            postgres_server.url(schema), projections="worker"
        ) as raw:
            assert [m.content for m in raw.sessions.messages("mine").items] == [
                "after the older one"
            ]


@pytest.mark.expect_read_model_warnings  # the save is stored; its read models lag
def test_an_inline_save_waits_for_older_transactions_only_the_lock_bound(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Past `lock_timeout` the save returns (its events are stored) and its read
    models catch up once the older transaction ends."""
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema) + "&lock_timeout=0.5"
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("mine")
        trail.sessions.save(session)
        with (
            older_transaction(postgres_server, schema),
            caplog.at_level(logging.WARNING),
        ):
            session.append_message(role="user", content="stored")
            began = time.monotonic()
            trail.sessions.save(session)
            waited = time.monotonic() - began
            assert stored(postgres_server, schema, session) == 2
        assert 0.5 <= waited < 5
        assert "read models lag until the next catch-up" in caplog.text
        assert [m.content for m in trail.sessions.messages("mine").items] == ["stored"]


def listed(trail: sessiontrail.SessionTrail, session_id: str) -> int:
    found = trail.sessions.list(user_id="u").items
    return next((s.message_count for s in found if s.session_id == session_id), -1)


def test_a_worker_wakes_on_notify_long_before_its_poll_interval(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url(postgres_server.new_schema())
    with (
        sessiontrail.connect(url, projections="worker") as worker,
        sessiontrail.connect(url, projections="worker") as writer,
        following(worker, poll_interval=60),
    ):
        session = writer.sessions.load_or_create("chat", user_id="u")
        for count in (1, 2, 3):
            session.append_message(role="user", content=str(count))
            writer.sessions.save(session)
            wait_until(
                lambda want=count: listed(worker, "chat") == want,
                "no wake-up",
                timeout=10,
            )


def test_a_worker_polls_when_it_cannot_listen(
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A connection through a pooler in transaction mode never gets notified: the
    worker then follows at its poll interval."""
    url = postgres_server.url(postgres_server.new_schema())
    with (
        sessiontrail.connect(url, projections="worker") as worker,
        sessiontrail.connect(url, projections="worker") as writer,
        caplog.at_level(logging.WARNING),
    ):

        def refused() -> psycopg.Connection[object]:
            raise psycopg.OperationalError("LISTEN is not supported by the pooler")

        monkeypatch.setattr(worker.store.recorder, "listening_connection", refused)
        with following(worker, poll_interval=0.2):
            session = writer.sessions.load_or_create("chat", user_id="u")
            session.append_message(role="user", content="polled")
            writer.sessions.save(session)
            wait_until(lambda: listed(worker, "chat") == 1, "not polled", timeout=10)
        assert "not listening for new events" in caplog.text


@contextmanager
def serving_app(trail: sessiontrail.SessionTrail, tmp_path: Path) -> Iterator[str]:
    """The HTTP API over `trail` in this process, its change feed polling only
    every 60 s; the base URL."""
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(trail, tokens, poll_interval=60),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        wait_until(lambda: server.started, "the server did not start", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.parametrize("mode", ["inline", "worker"])
def test_the_change_feed_wakes_on_notify_long_before_its_poll_interval(
    postgres_server: PostgresServer, tmp_path: Path, mode: str
) -> None:
    url = postgres_server.url(postgres_server.new_schema())
    with (
        sessiontrail.connect(url, projections=mode) as served,  # type: ignore[arg-type]
        sessiontrail.connect(url, projections=mode) as writer,  # type: ignore[arg-type]
        following(served, poll_interval=60) if mode == "worker" else _nothing(),
        serving_app(served, tmp_path) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        session = writer.sessions.load_or_create("chat", user_id="ann")
        writer.sessions.save(session)
        arrived: list[str] = []
        with client.stream("GET", "/v1/events/stream", headers=bearer("ann")) as feed:
            lines = feed.iter_lines()
            for line in lines:
                if line.startswith("event: "):
                    arrived.append(line)
                    break
            for number in range(3):
                session.append_message(role="user", content=str(number))
                began = time.monotonic()
                writer.sessions.save(session)
                for line in lines:
                    if line.startswith("event: "):
                        arrived.append(line)
                        break
                assert time.monotonic() - began < 10, "the feed waited for its poll"
        assert arrived == ["event: Started"] + ["event: MessageAppended"] * 3


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def legacy_schema(server: PostgresServer) -> str:
    """A schema holding the log and read models written by the version before
    transaction ids (tests/fixtures/v1-postgres.sql, a pg_dump of one)."""
    schema = server.new_schema()
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema}")
        conn.execute(FIXTURE.read_text().replace("__SCHEMA__", schema).encode())
    return schema


def test_a_log_written_before_transaction_ids_opens_and_keeps_its_order(
    postgres_server: PostgresServer,
) -> None:
    schema = legacy_schema(postgres_server)
    url = postgres_server.url(schema)
    sessiontrail.connect(url, projections="worker").close()  # opening upgrades
    with psycopg.connect(postgres_server.dsn()) as conn:
        rows = conn.execute(
            f"SELECT transaction_id::text, notification_id FROM {schema}."
            "sessiontrail_events ORDER BY transaction_id, notification_id"
        ).fetchall()
        [(valid,)] = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = "
            f"'{schema}.sessiontrail_events_order_idx'::regclass"
        ).fetchall()
    assert valid
    assert {row[0] for row in rows} == {"0"}
    assert [row[1] for row in rows] == [*range(1, 10), *range(11, 17)]
    with sessiontrail.connect(url) as trail:
        statuses = trail.projections.status()
        assert {(s.position, s.lag) for s in statuses} == {(16, 0)}
        old = [(e.position, e.session_id, e.event) for e in trail.audit.entries().items]
        assert old[9] == (11, "chat-0", "TitleEdited")  # 10 was rolled back
        session = trail.sessions.load("chat-0", user_id="alice")
        assert session is not None
        session.append_message(role="user", content="after the upgrade")
        trail.sessions.save(session)
        after = trail.audit.entries(after=16).items
        assert [(e.position, e.event) for e in after] == [(17, "MessageAppended")]
        assert trail.audit.entries(after=12).items[0].position == 13
        assert [m.content for m in trail.sessions.messages("chat-0").items][-2:] == [
            "after the gap",
            "after the upgrade",
        ]
        followed = {n: trail.projections.rows(n) for n in ("sessions", "audit")}
        for name in followed:
            trail.projections.rebuild(name)
        assert {n: trail.projections.rows(n) for n in followed} == followed


def test_an_export_holds_what_was_committed_though_an_older_transaction_is_open(
    postgres_server: PostgresServer,
) -> None:
    """An export is a one-off read of everything committed, in log order: it does
    not stop where followers of the log must wait."""
    schema = postgres_server.new_schema()
    with sessiontrail.connect(
        postgres_server.url(schema), projections="worker"
    ) as trail:
        first = trail.sessions.load_or_create("first")
        trail.sessions.save(first)
        with older_transaction(postgres_server, schema):
            later = trail.sessions.load_or_create("later")
            later.append_message(role="user", content="after the older one")
            trail.sessions.save(later)
            out = io.StringIO()
            trail.exporter.write(out)
        exported = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [(e["session_id"], e["version"]) for e in exported] == [
            ("first", 1),
            ("later", 1),
            ("later", 2),
        ]


def count_registry_commits(server: PostgresServer, schema: str) -> None:
    """From now on, note the transaction of every change to the read models'
    registry (a trigger writing to `registry_commits`)."""
    with psycopg.connect(server.dsn(), options=f"-c search_path={schema}") as conn:
        conn.execute("CREATE TABLE registry_commits (xid xid8 NOT NULL)")
        conn.execute(
            "CREATE FUNCTION note_registry_commit() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN INSERT INTO registry_commits VALUES (pg_current_xact_id()); "
            "RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE TRIGGER noted AFTER UPDATE ON st_projections FOR EACH STATEMENT "
            "EXECUTE FUNCTION note_registry_commit()"
        )


def registry_commits(server: PostgresServer, schema: str) -> int:
    with psycopg.connect(server.dsn()) as conn:
        row = conn.execute(
            f"SELECT count(DISTINCT xid) FROM {schema}.registry_commits"
        ).fetchone()
    assert row is not None
    return int(row[0])


def lock_waiters(server: PostgresServer) -> int:
    with psycopg.connect(server.dsn()) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
    assert row is not None
    return int(row[0])


def test_inline_saves_that_commit_while_another_catches_up_take_one_more_catch_up(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers of other sessions (other processes, here other trails) that commit
    while one writer's catch-up holds the read models do not queue to apply their
    own events one transaction each: once it commits, one catch-up applies them
    all and the others see it done."""
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with contextlib.ExitStack() as stack:
        trails = [stack.enter_context(sessiontrail.connect(url)) for _ in range(4)]
        sessions = []
        for number, trail in enumerate(trails):
            session = trail.sessions.load_or_create(f"s{number}", user_id="u")
            trail.sessions.save(session)
            session.append_message(role="user", content=f"from {number}")
            sessions.append(session)
        entered, release = threading.Event(), threading.Event()
        database = trails[0].read_models
        transaction = database._transaction  # type: ignore[attr-defined]

        @contextlib.contextmanager
        def held(setup: str, action: str, then: Sequence[str] = ()) -> Iterator[object]:
            """The first catch-up's transaction, held open before its commit."""
            with transaction(setup, action, then) as cur:
                yield cur
                if action == "update read models" and not entered.is_set():
                    entered.set()
                    assert release.wait(timeout=30), "never released"

        monkeypatch.setattr(database, "_transaction", held)
        count_registry_commits(postgres_server, schema)
        first = threading.Thread(target=trails[0].sessions.save, args=(sessions[0],))
        first.start()
        try:
            assert entered.wait(timeout=30), "the first catch-up never started"
            others = [
                threading.Thread(target=trail.sessions.save, args=(session,))
                for trail, session in zip(trails[1:], sessions[1:], strict=True)
            ]
            for other in others:
                other.start()
            wait_until(
                lambda: lock_waiters(postgres_server) == len(others),
                "the other saves are not all waiting for the first catch-up",
                timeout=30,
            )
        finally:
            release.set()
        for thread in (first, *others):
            thread.join(timeout=30)
            assert not thread.is_alive()
        assert registry_commits(postgres_server, schema) == 2
        assert sorted(s.message_count for s in trails[3].sessions.list().items) == [
            1
        ] * len(trails)


def test_a_process_opens_the_log_while_another_holds_an_insert_open(
    postgres_server: PostgresServer,
) -> None:
    """Opening runs the log's set-up again; on a table that is already there it
    must take no table lock an insert in progress holds against it."""
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with sessiontrail.connect(url) as first:
        first.sessions.create(sessiontrail.Session(session_id="s", user_id="u"))
    with psycopg.connect(postgres_server.dsn()) as held:
        held.execute(  # what an insert holds until it commits
            f"LOCK TABLE {schema}.sessiontrail_events IN ROW EXCLUSIVE MODE"
        )
        with sessiontrail.connect(f"{url}&lock_timeout=1") as second:
            assert second.sessions.load("s") is not None


def test_an_inline_save_wakes_the_log_listeners_once_its_read_models_hold_it(
    postgres_server: PostgresServer,
) -> None:
    """Inline, the catch-up that applies a save's events sends the NOTIFY with its
    commit (one per catch-up, however many saves it applies), not each insert:
    a woken change feed finds the events in the read models."""
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema)) as trail:
        session = trail.sessions.load_or_create("chat", user_id="u")
        trail.sessions.save(session)
        session.append_message(role="user", content="announced")
        heard: list[str] = []
        with (
            psycopg.connect(postgres_server.dsn(), autocommit=True) as listener,
            psycopg.connect(postgres_server.dsn()) as applier,
        ):
            listener.add_notify_handler(lambda notify: heard.append(notify.channel))
            listener.execute(f'LISTEN "{schema}.sessiontrail_events"')
            applier.execute(
                "SELECT pg_advisory_xact_lock(hashtext('sessiontrail read models'), "
                "hashtext(%s))",
                (schema,),
            )
            saving = threading.Thread(target=trail.sessions.save, args=(session,))
            saving.start()
            wait_until(
                lambda: lock_waiters(postgres_server) == 1,
                "the save's catch-up is not waiting for the read models",
                timeout=30,
            )
            listener.execute("SELECT 1")  # delivers what was announced before it
            heard_while_stored_only = list(heard)
            applier.rollback()
            saving.join(timeout=30)
            assert not saving.is_alive()
            listener.execute("SELECT 1")
        assert heard_while_stored_only == []
        assert heard == [f"{schema}.sessiontrail_events"]
        assert trail.sessions.list(user_id="u").items[0].message_count == 1


def order_index_reads(server: PostgresServer, schema: str) -> int:
    with psycopg.connect(server.dsn()) as conn:
        row = conn.execute(
            "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = %s "
            "AND indexrelname = 'sessiontrail_events_order_idx'",
            (schema,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_batch_of_a_long_log_reads_only_its_own_rows(
    postgres_server: PostgresServer,
) -> None:
    """Read in log order off the (transaction id, id) index: a batch of 10 at the
    start of 2,000 events reads about 10 index entries, not all 2,000 to sort."""
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema), projections="worker") as t:
        with psycopg.connect(postgres_server.dsn()) as conn:
            conn.execute(
                f"INSERT INTO {schema}.sessiontrail_events (originator_id, "
                "originator_version, topic, state) SELECT gen_random_uuid(), 1, "
                "'unread', '\\x00' FROM generate_series(1, 2000)"
            )
        assert order_index_reads(postgres_server, schema) == 0
        assert len(t.store.notifications(LOG_START, 10)) == 10
        wait_until(
            lambda: order_index_reads(postgres_server, schema) > 0,
            "the statistics never showed the read",
            timeout=30,
        )
        assert order_index_reads(postgres_server, schema) <= 20
