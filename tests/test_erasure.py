"""Per-user erasure (crypto-shredding): after `erase_user`, none of the user's
plaintext is anywhere in the database files or tables, everyone else is untouched,
and the log still verifies."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from support.cli import executable
from support.postgres import PostgresServer
from support.read_models import READ_MODELS

import sessiontrail
from sessiontrail import SessionTraceStep, SessionTrail
from sessiontrail.domain.erasure import Erasure
from sessiontrail.infrastructure import user_keys

UserErased = Erasure.UserErased

ERASED = "[erased]"


def write_everything(trail: SessionTrail, user: str, messages: int = 3) -> None:
    """Content of every kind, each carrying a marker with the user's name."""
    mark = f"MARK-{user}"
    repo = trail.sessions
    session = sessiontrail.Session(
        session_id=f"chat-{user}", user_id=user, title=f"{mark} title"
    )
    for number in range(messages):
        session.append_message(
            role="user", content=f"{mark} says {number}", metadata={"note": mark}
        )
    session.append_message(
        role="assistant",
        content=f"{mark} calls",
        tool_calls=[{"id": "c1", "name": "lookup", "arguments": {"q": mark}}],
    )
    session.edit_title(f"{mark} renamed")
    session.update_metadata({"topic": mark})
    session.set_pending_question(
        {
            "tool_call_id": "c2",
            "tool_name": "ask",
            "question": f"{mark}?",
            "options": [mark],
        }
    )
    repo.save(session)
    repo.append_token_usage(
        session.session_id, {"model": "gpt-4o", "total_tokens": 42, "note": mark}
    )
    trail.qa.create_qa_entry(
        session.session_id, f"{mark} asks", f"{mark} answer", user_id=user, context=mark
    )
    trail.qa.set_graph_context(session.session_id, f"{mark} graph", user_id=user)
    trail.qa.append_agent_trace_step(
        user,
        session.session_id,
        SessionTraceStep(trace_id="t1", memory_query=mark, method_params={"q": mark}),
    )


def check_erased(trail: SessionTrail) -> None:
    """Alice's content reads as erased everywhere; Bob's as he wrote it."""
    repo = trail.sessions
    alice = repo.load("chat-alice", user_id="alice")
    assert alice.title == ERASED and alice.metadata == {}
    assert {m.content for m in alice.messages} == {ERASED}
    assert alice.messages[-1].tool_calls == [] and alice.messages[0].metadata == {}
    assert alice.pending_question.question == ERASED
    assert alice.token_usage == [{"model": "gpt-4o", "total_tokens": 42}]
    assert [m.role for m in alice.messages][-2:] == ["user", "assistant"]  # structure
    [summary] = repo.list(user_id="alice").items
    assert (summary.title, summary.preview) == (ERASED, ERASED)
    [entry] = trail.qa.get_all_qa_entries("chat-alice", user_id="alice")
    assert (entry.question, entry.answer, entry.context) == (ERASED, ERASED, ERASED)
    assert trail.qa.get_graph_context("chat-alice", user_id="alice") == ERASED
    [step] = trail.qa.get_agent_trace_steps("alice", "chat-alice")
    assert (step.memory_query, step.method_params) == (ERASED, {})
    history = json.dumps(
        [h.model_dump(mode="json") for h in repo.history("chat-alice")]
    )
    assert "MARK-alice" not in history
    exported = io.StringIO()
    trail.exporter.write(exported)
    assert "MARK-alice" not in exported.getvalue()
    assert "MARK-bob" in exported.getvalue()

    bob = repo.load("chat-bob", user_id="bob")
    assert bob.title == "MARK-bob renamed"
    assert bob.messages[0].content == "MARK-bob says 0"
    assert trail.qa.get_all_qa_entries("chat-bob", user_id="bob")[0].answer == (
        "MARK-bob answer"
    )
    report = trail.verify()
    assert report.ok, report.problems


def test_erasure_on_sqlite_leaves_no_plaintext_in_any_file(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with sessiontrail.connect(f"sqlite:///{path}") as trail:
        write_everything(trail, "alice", messages=120)  # a snapshot at version 100
        write_everything(trail, "bob")
        assert b"MARK-alice" in disk(tmp_path)  # the read models held it in plaintext
        report = trail.erase_user("alice", actor="dpo@example.com")
        assert report.had_key and report.log_compacted
        assert set(report.read_models) == set(READ_MODELS)
        assert b"MARK-alice" not in disk(tmp_path)  # main, -wal, -shm, freed pages
        assert b"MARK-bob" in disk(tmp_path)
        check_erased(trail)
        [erasure] = [e for e in trail.store.every_event() if isinstance(e, UserErased)]
        assert (erasure.user_id, erasure.actor) == ("alice", "dpo@example.com")
    with sqlite3.connect(path) as db:
        keys = db.execute(f"SELECT user_id FROM {user_keys.KEYS_TABLE}").fetchall()
    assert keys == [("bob",)]  # alice's key row is gone, not just forgotten
    with sessiontrail.connect(f"sqlite:///{path}") as reopened:
        check_erased(reopened)


def test_erasure_on_postgres_leaves_no_plaintext_in_any_table(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema)) as trail:
        write_everything(trail, "alice", messages=120)
        write_everything(trail, "bob")

        def tables_text() -> str:
            with psycopg.connect(postgres_server.dsn()) as db:
                names = [
                    row[0]
                    for row in db.execute(
                        "SELECT tablename FROM pg_tables WHERE schemaname = %s",
                        (schema,),
                    )
                ]
                dumps = [
                    str(db.execute(f"SELECT t::text FROM {schema}.{name} t").fetchall())
                    for name in names
                ]
            return "".join(dumps)

        marker_hex = b"MARK-alice".hex()
        assert "MARK-alice" in tables_text()
        trail.erase_user("alice")
        text = tables_text()
        assert "MARK-alice" not in text and marker_hex not in text
        assert "MARK-bob" in text
        check_erased(trail)
    with psycopg.connect(postgres_server.dsn()) as db:
        query = f"SELECT user_id FROM {schema}.{user_keys.KEYS_TABLE}"
        keys = db.execute(query).fetchall()
    assert keys == [("bob",)]  # alice's key row is gone, not just forgotten
    with sessiontrail.connect(postgres_server.url(schema)) as reopened:
        check_erased(reopened)  # a fresh process has no memory of alice's key


def test_an_erasure_on_postgres_whose_vacuum_meets_a_lock_reports_not_compacted(
    postgres_server: PostgresServer,
) -> None:
    """Another VACUUM holding a read-model table's lock past the lock timeout:
    the erasure is done and says the tables are not all vacuumed (no error)."""
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema) + "&lock_timeout=0.5"
    with sessiontrail.connect(url) as trail:
        write_everything(trail, "alice")
        write_everything(trail, "bob")
        with vacuum_lock_held(postgres_server, schema):
            report = trail.erase_user("alice")
        assert report.had_key and not report.log_compacted
        check_erased(trail)


def test_erase_user_on_postgres_says_which_vacuum_it_waited_for(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema) + "&lock_timeout=0.2"
    with sessiontrail.connect(url) as trail:
        write_everything(trail, "alice")
    with vacuum_lock_held(postgres_server, schema):
        gave_up = invoke_cli(url, "erase-user", "alice", "--yes", "--wait", "0.3")
    assert gave_up.returncode == 1
    assert "another VACUUM holds a read-model table" in gave_up.stderr
    assert "0.3 s" in gave_up.stderr


@contextlib.contextmanager
def vacuum_lock_held(server: PostgresServer, schema: str) -> Iterator[None]:
    """The lock a VACUUM (an autovacuum's, say) holds on a read-model table,
    held by another connection meanwhile."""
    with psycopg.connect(server.dsn()) as vacuuming:
        table = f'"{schema}".st_sessions_g1'
        vacuuming.execute(f"LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE")
        try:
            yield
        finally:
            vacuuming.rollback()


def test_another_process_stops_reading_within_the_key_cache_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    monkeypatch.setattr(user_keys, "KEY_CACHE_SECONDS", 0.0)
    with sessiontrail.connect(url) as trail, sessiontrail.connect(url) as other:
        write_everything(trail, "alice")
        write_everything(trail, "bob")
        assert other.sessions.load("chat-alice").title == "MARK-alice renamed"
        trail.erase_user("alice")  # `other` has chat-alice in its session cache
        assert other.sessions.load("chat-alice").title == ERASED


def test_a_rebuild_by_a_process_that_remembers_the_key_reads_the_user_erased(
    url: str,
) -> None:
    """The rebuilding process read alice's key just before another process
    erased her: what it rebuilds opens with the key table as it is now."""
    with sessiontrail.connect(url) as worker, sessiontrail.connect(url) as admin:
        write_everything(worker, "alice")  # the worker now remembers alice's key
        write_everything(worker, "bob")
        admin.erase_user("alice")
        for name in READ_MODELS:
            worker.projections.rebuild(name)
        with sessiontrail.connect(url) as later:
            check_erased(later)


def test_another_process_applying_the_erasure_replays_with_the_key_gone(
    url: str,
) -> None:
    """Another process's save lands between the erasure's record and the
    erasing process's catch-up, so that process's catch-up applies the erasure,
    with alice's key still remembered."""
    with sessiontrail.connect(url) as worker, sessiontrail.connect(url) as admin:
        write_everything(worker, "alice")
        write_everything(worker, "bob")
        erase_applied_by_another(admin, worker, "alice")
        with sessiontrail.connect(url) as later:
            check_erased(later)


def erase_applied_by_another(
    admin: SessionTrail, worker: SessionTrail, user: str
) -> None:
    """`admin` erases `user`, and a save of `worker`'s lands between the
    erasure's record and `admin`'s catch-up: `worker`'s catch-up applies it."""
    eraser = admin._eraser
    forget = eraser._forget_cached

    def worker_saves_first() -> None:
        other = worker.sessions.load_or_create("chat-carol", user_id="carol")
        other.append_message(role="user", content="hello")
        worker.sessions.save(other)  # its catch-up applies the erasure
        forget()

    eraser._forget_cached = worker_saves_first  # type: ignore[method-assign]
    admin.erase_user(user)


def test_the_user_id_that_stands_for_no_user_cannot_be_erased(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("chat", user_id="default")
    session.append_message(role="user", content="MARK-default")
    trail.sessions.save(session)
    with pytest.raises(sessiontrail.InvalidInput, match="user_id: 'default' stands"):
        trail.erase_user("default")
    assert not any(isinstance(e, UserErased) for e in trail.store.every_event())


def test_a_user_can_write_again_after_erasure(url: str) -> None:
    with sessiontrail.connect(url, key=sessiontrail.new_key()) as trail:
        write_everything(trail, "alice")
        trail.erase_user("alice")
        session = trail.sessions.load("chat-alice", user_id="alice")
        session.append_message(role="user", content="after")
        trail.sessions.save(session)
        trail.sessions._cache.clear()
        reloaded = trail.sessions.load("chat-alice", user_id="alice")
        assert [m.content for m in reloaded.messages][-2:] == [ERASED, "after"]
        assert trail.verify().ok
        again = trail.erase_user("alice")
        assert again.had_key  # the new key
        trail.sessions._cache.clear()
        assert trail.sessions.load("chat-alice").messages[-1].content == ERASED


def test_sessions_without_a_user_are_not_sealed(url: str) -> None:
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("anonymous")
        session.append_message(role="user", content="MARK-anyone")
        trail.sessions.save(session)
        assert not trail.erase_user("anyone").had_key
        assert trail.sessions.load("anonymous").messages[0].content == "MARK-anyone"


def test_names_in_a_usage_record_are_erased_and_its_token_counts_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    record = {
        "model": "gpt-4o",
        "total_tokens": 42,
        "prompt_tokens_details": {"cached_tokens": 2},
        "MARK-alice-key": 5,
        "nested": {"MARK-alice-inner": 1},
    }
    with sessiontrail.connect(f"sqlite:///{path}") as trail:
        trail.sessions.save(sessiontrail.Session(session_id="s", user_id="alice"))
        trail.sessions.append_token_usage("s", record)
        assert trail.usage.records("s")[0].record == record  # round-trips whole
        assert b"MARK-alice" in disk(tmp_path)
        trail.erase_user("alice")
        assert b"MARK-alice" not in disk(tmp_path)  # the names too, events included
        kept = {"model": "gpt-4o", "total_tokens": 42}
        kept["prompt_tokens_details"] = {"cached_tokens": 2}
        assert trail.usage.records("s")[0].record == kept
        totals = trail.usage.session_totals("s")
        assert totals == {
            "prompt_tokens_details.cached_tokens": 2,
            "records": 1,
            "total_tokens": 42,
        }


def test_erase_user_waits_for_another_connections_read_to_leave_no_bytes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    url = f"sqlite:///{path}"
    with sessiontrail.connect(url) as trail:
        write_everything(trail, "alice")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a read, held
    gave_up = invoke_cli(url, "erase-user", "alice", "--yes", "--wait", "0.3")
    assert gave_up.returncode == 1
    assert "still reading" in gave_up.stderr and "0.3 s" in gave_up.stderr
    assert b"MARK-alice" in disk(tmp_path)  # the held read keeps the old pages
    waiting = subprocess.Popen(
        [executable(), "--db", url, "erase-user", "alice", "--yes", "--wait", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def erasures() -> int:
        with sqlite3.connect(path) as db:
            query = "SELECT count(*) FROM stored_events WHERE topic LIKE '%UserErased'"
            return int(db.execute(query).fetchone()[0])

    deadline = time.monotonic() + 60
    while erasures() < 2:  # the second erasure is recorded: it now waits
        assert time.monotonic() < deadline and waiting.poll() is None
        time.sleep(0.05)
    reader.rollback()
    reader.close()
    _, errors = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, errors
    assert b"MARK-alice" not in disk(tmp_path)


def disk(folder: Path) -> bytes:
    """Every byte of the database's files (main, WAL, shared memory) in `folder`.

    SQLite deletes the WAL when its last connection closes, so a file listed may
    be gone by the time it is read: that file holds nothing any more."""
    found = []
    for path in sorted(folder.glob("log.db*")):
        try:
            found.append(path.read_bytes())
        except FileNotFoundError:
            continue
    return b"".join(found)


def invoke_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [executable(), "--db", url, *args], capture_output=True, text=True, timeout=120
    )
