"""`trail.compact` after a purge: the database gives the space back, and no file
holds a byte of the purged session any more (SQLite: every file of the database;
PostgreSQL: every table file of the log's schema, after VACUUM FULL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from support.postgres import PostgresServer
from test_erasure import disk, invoke_cli, write_everything

import sessiontrail
from sessiontrail import SessionTrail

WORD = "zqxjkvbwmarker"  # one search word: FTS5 can keep a deleted row's until a merge


def write_purged_and_kept(trail: SessionTrail) -> None:
    write_everything(trail, "alice", messages=150)
    session = trail.sessions.load("chat-alice", user_id="alice")
    assert session is not None
    session.append_message(role="user", content=f"{WORD} to search for")
    trail.sessions.save(session)
    write_everything(trail, "bob", messages=150)


def search_index_blocks(folder: Path) -> bytes:
    """Every block of FTS5's index of the search read model, read through SQL: a
    word held there can straddle a page boundary of the file, so its bytes need
    not be side by side on disk."""
    with sqlite3.connect(f"file:{folder / 'log.db'}?mode=ro", uri=True) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE name LIKE '%search_words%_data'"
            )
        ]
        return b"".join(
            bytes(block)
            for table in tables
            for (block,) in db.execute(f"SELECT block FROM {table}")
            if block is not None
        )


def test_compact_on_sqlite_leaves_no_byte_of_a_purged_session(tmp_path: Path) -> None:
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'log.db'}") as trail:
        write_purged_and_kept(trail)
        assert WORD.encode() in search_index_blocks(tmp_path)
        trail.sessions.purge("chat-alice")  # FTS5 may keep the word until a merge
        report = trail.compact()
        assert report.after < report.before
        files = disk(tmp_path)
        assert b"MARK-alice" not in files and WORD.encode() not in files.lower()
        assert WORD.encode() not in search_index_blocks(tmp_path)
        assert b"MARK-bob" in files
        assert trail.sessions.load("chat-bob", user_id="bob") is not None
        assert trail.verify().ok


def schema_files(server: PostgresServer, schema: str) -> bytes:
    """Every byte of every relation file of the schema's tables (heap, TOAST and
    indexes), after a checkpoint has written them out."""
    with psycopg.connect(server.dsn(), autocommit=True) as db:
        db.execute("CHECKPOINT")
        paths = [
            row[0]
            for row in db.execute(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                "OR c.oid IN (SELECT reltoastrelid FROM pg_class t JOIN "
                "pg_namespace m ON m.oid = t.relnamespace WHERE m.nspname = %s)",
                (schema, schema),
            )
            if row[0] is not None
        ]
    found = []
    for relative in paths:
        for path in sorted(server.data.glob(f"{relative}*")):
            found.append(path.read_bytes())
    return b"".join(found)


def test_compact_full_on_postgres_leaves_no_byte_in_the_table_files(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema)) as trail:
        write_purged_and_kept(trail)
        trail.sessions.purge("chat-alice")
        assert b"MARK-alice" in schema_files(postgres_server, schema)  # dead rows
        report = trail.compact(full=True)
        assert report.full and report.after < report.before
        files = schema_files(postgres_server, schema)
        assert b"MARK-alice" not in files and WORD.encode() not in files
        assert b"MARK-bob" in files
        assert trail.verify().ok


def test_plain_compact_on_postgres_blocks_no_one_and_keeps_the_log(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema)) as trail:
        write_purged_and_kept(trail)
        trail.sessions.purge("chat-alice")
        report = trail.compact()
        assert not report.full and report.before > 0
        assert trail.sessions.load("chat-bob", user_id="bob") is not None
        assert trail.verify().ok


def test_the_cli_purges_then_compacts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with sessiontrail.connect(url) as trail:
        write_purged_and_kept(trail)
    refused = invoke_cli(url, "--user", "bob", "purge", "chat-alice", "--yes")
    assert refused.returncode == 1 and "no session 'chat-alice'" in refused.stderr
    purged = invoke_cli(url, "purge", "chat-alice", "--reason", "request", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert "purged chat-alice: 157 events and 4 Q&A events" in purged.stdout
    compacted = invoke_cli(url, "compact")
    assert compacted.returncode == 0 and "compacted" in compacted.stdout
    verified = invoke_cli(url, "verify")
    assert (
        verified.returncode == 0 and "2 purged stream(s)" in verified.stdout
    )  # session, Q&A
    assert b"MARK-alice" not in disk(tmp_path)
