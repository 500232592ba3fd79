"""With a master key, no user content reaches a read model in plaintext: a marker
written through every entry point (chat, usage, Q&A, ADK, LangGraph) is in no
SQLite file and no PostgreSQL table, while every read still returns it. Without
a key the read models keep plaintext, as before (the scans can find a marker)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
from support.langgraph import checkpoint, config
from support.postgres import PostgresServer
from test_erasure import check_erased, disk, write_everything

import sessiontrail
from sessiontrail import SessionTrail, aio
from sessiontrail.integrations.adk import TrailSessionService
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.projections.audit import AuditTimeline

KEY = sessiontrail.new_key()
APP = "travel"


def write_adk(url: str, key: str | None, user: str) -> None:
    """An ADK session whose own, user: and app: state each hold the marker (the
    app: key is shared: the last writer's value shows)."""
    mark = f"MARK-{user}"

    async def run() -> None:
        async with await aio.connect(url, key=key) as trail:
            service = TrailSessionService(trail)
            await service.create_session(
                app_name=APP,
                user_id=user,
                session_id=f"trip-{user}",
                state={"plan": mark, "user:home": mark, "app:motto": mark},
            )

    asyncio.run(run())


def write_langgraph(trail: SessionTrail, user: str) -> None:
    """A checkpoint whose channel value and metadata hold the marker, and a write."""
    mark = f"MARK-{user}"
    saver = TrailSaver(trail)
    saved = checkpoint({"notes": mark})
    stored = saver.put(
        config(f"thread-{user}", user_id=user),
        saved,
        {"source": "input", "step": 0, "note": mark},
        {"notes": 1},
    )
    saver.put_writes(stored, [("notes", f"{mark} pending")], "task-1")


def write_all(url: str, key: str | None) -> None:
    for user in ("alice", "bob"):
        write_adk(url, key, user)
        with sessiontrail.connect(url, key=key) as trail:
            write_everything(trail, user)
            write_langgraph(trail, user)


def read_everything(trail: SessionTrail) -> str:
    """What each read model returns for alice, as one text."""
    summary = trail.sessions.list(user_id="alice").items
    page = trail.sessions.messages("chat-alice", user_id="alice")
    usage = trail.usage.records("chat-alice", user_id="alice")
    audit = (
        AuditTimeline(trail.read_models, trail.store.ids).entries(user_id="alice").items
    )
    qa = trail.qa.get_all_qa_entries("chat-alice", user_id="alice")
    context = trail.qa.get_graph_context("chat-alice", user_id="alice")
    steps = trail.qa.get_agent_trace_steps("alice", "chat-alice")
    adk = trail.adk.session(APP, "alice", "trip-alice")
    saver = TrailSaver(trail)
    latest = saver.get_tuple(config("thread-alice"))
    assert latest is not None
    writes = latest.pending_writes
    return repr((summary, page, usage, audit, qa, context, steps, adk, latest, writes))


def test_a_key_keeps_every_marker_out_of_the_sqlite_files(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write_all(url, KEY)
    with sessiontrail.connect(url, key=KEY) as trail:
        shown = read_everything(trail)
        found = disk(tmp_path)  # main, -wal, -shm, while a connection is open
    assert b"MARK-" not in found + disk(tmp_path)
    for part in ("MARK-alice renamed", "MARK-alice says 0", "MARK-alice calls"):
        assert part in shown
    for part in ("MARK-alice answer", "MARK-alice graph", "'plan': 'MARK-alice'"):
        assert part in shown
    assert "'app:motto': 'MARK-bob'" in shown and "'note': 'MARK-alice'" in shown


def test_without_a_key_the_sqlite_files_hold_the_markers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write_all(url, None)
    assert b"MARK-alice renamed" in disk(tmp_path)


def tables_text(server: PostgresServer, schema: str) -> str:
    """Every row of every table of the schema, as text."""
    with psycopg.connect(server.dsn()) as db:
        names = [
            row[0]
            for row in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        ]
        return "".join(
            str(db.execute(f"SELECT t::text FROM {schema}.{name} t").fetchall())
            for name in names
        )


def test_a_key_keeps_every_marker_out_of_the_postgres_tables(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    write_all(url, KEY)
    text = tables_text(postgres_server, schema)
    assert "MARK-" not in text and b"MARK-".hex() not in text
    with sessiontrail.connect(url, key=KEY) as trail:
        shown = read_everything(trail)
    assert "MARK-alice renamed" in shown and "'plan': 'MARK-alice'" in shown


def test_without_a_key_the_postgres_tables_hold_the_markers(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    write_all(postgres_server.url(schema), None)
    assert "MARK-alice renamed" in tables_text(postgres_server, schema)


def test_under_a_key_an_erased_user_reads_erased_everywhere(url: str) -> None:
    with sessiontrail.connect(url, key=KEY) as trail:
        write_everything(trail, "alice")
        write_everything(trail, "bob")
        trail.erase_user("alice")
        check_erased(trail)
