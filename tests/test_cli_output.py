"""What `ls`, `show`, `history` and `stats` print: counts in good English, the pin
and the pending question, a time window, the command that shows the next page,
and whose session each is when several users share the log."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from support.cli import failure, invoke_json
from support.langgraph import checkpoint, config
from typer.testing import CliRunner

import sessiontrail
from sessiontrail.cli import app
from sessiontrail.integrations.langgraph import TrailSaver


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def record(db: str, *owners: str) -> None:
    """One session with one message per owner, `chat-0`, `chat-1`, ..."""
    with sessiontrail.connect(db) as trail:
        for number, owner in enumerate(owners):
            session = trail.sessions.load_or_create(f"chat-{number}", user_id=owner)
            session.append_message(role="user", content=f"hello {number}")
            trail.sessions.save(session)


def printed(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_stats_counts_one_session_in_the_singular(db: str) -> None:
    record(db, "ann")
    assert printed("--db", db, "stats").startswith("1 session, 1 message; ")


def test_stats_counts_several_sessions_in_the_plural(db: str) -> None:
    record(db, "ann", "ann")
    assert printed("--db", db, "stats").startswith("2 sessions, 2 messages; ")


def test_show_prints_the_pin_and_the_pending_question(db: str) -> None:
    record(db, "ann")
    with sessiontrail.connect(db) as trail:
        session = trail.sessions.load("chat-0")
        session.set_pinned(True)
        session.set_pending_question(
            {"tool_call_id": "c1", "tool_name": "ask", "question": "Which day?"}
        )
        trail.sessions.save(session)
    shown = " ".join(printed("--db", db, "show", "chat-0").split())
    assert "(untitled) · chat-0 · v4 · pinned" in shown  # the title line
    assert "waiting for an answer: Which day?" in shown
    as_json = invoke_json("--db", db, "show", "chat-0")
    assert as_json["pending_question"]["question"] == "Which day?"


def test_show_leaves_out_a_pin_and_question_the_session_has_not(db: str) -> None:
    record(db, "ann")
    shown = printed("--db", db, "show", "chat-0")
    assert "pinned" not in shown and "waiting for an answer" not in shown
    assert invoke_json("--db", db, "show", "chat-0")["pending_question"] is None


def test_history_until_keeps_the_events_at_or_before_that_time(db: str) -> None:
    record(db, "ann")
    with sessiontrail.connect(db) as trail:
        session = trail.sessions.load("chat-0")
        session.edit_title("Later")
        trail.sessions.save(session)
        first, second, third = trail.sessions.history("chat-0")
    until = second.timestamp.isoformat()
    kept = invoke_json("--db", db, "history", "chat-0", "--until", until)
    assert [entry["version"] for entry in kept] == [first.version, second.version]
    assert third.timestamp > second.timestamp


def test_ls_prints_the_command_that_shows_the_next_page(db: str) -> None:
    record(db, "ann", "ann", "ann")
    (more,) = [
        line
        for line in printed("--db", db, "ls", "--limit", "2", "--all").splitlines()
        if line.startswith("more: ")
    ]
    command = shlex.split(more.removeprefix("more: "))
    assert command[:6] == ["sessiontrail", "--db", db, "ls", "--limit", "2"]
    assert "--all" in command
    assert "chat-0" in printed(*command[1:])  # the third, oldest session


def test_ls_shows_whose_session_it_is_when_several_users_share_the_log(
    db: str,
) -> None:
    record(db, "ann", "bob")
    header = printed("--db", db, "ls").splitlines()[2]
    assert header.split("┃")[2].strip() == "user"


def test_ls_shows_no_user_column_for_one_user(db: str) -> None:
    record(db, "ann", "ann")
    assert " user " not in printed("--db", db, "ls")


def test_ls_shows_no_user_column_for_the_user_acting(db: str) -> None:
    record(db, "ann", "bob")
    assert " user " not in printed("--db", db, "--user", "bob", "ls")


def test_the_next_page_command_leaves_a_database_from_the_environment_out(
    db: str,
) -> None:
    record(db, "ann", "ann")
    result = CliRunner().invoke(
        app, ["ls", "--limit", "1"], env={"COLUMNS": "200", "SESSIONTRAIL_URL": db}
    )
    (more,) = [line for line in result.stdout.splitlines() if line.startswith("more")]
    assert shlex.split(more)[1:5] == ["sessiontrail", "ls", "--limit", "1"]


def test_ls_keeps_every_column_on_80_columns_when_ids_are_long(db: str) -> None:
    """A LangGraph thread id is often a UUID; its session id and a fork's note
    must not squeeze the other columns out of an 80-column terminal."""
    long_id = "langgraph/5ef83ce9-b79a-41b9-829f-9a830da50375"
    with sessiontrail.connect(db) as trail:
        session = trail.sessions.load_or_create(long_id, user_id="ann")
        session.append_message(role="user", content="hello")
        trail.sessions.save(session)
        trail.sessions.fork(long_id, new_id=f"{long_id}-b", user_id="ann")
    result = CliRunner().invoke(app, ["--db", db, "ls"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = [cell.strip() for cell in lines[2].split("┃")[1:-1]]
    assert header == ["title", "pinned", "messages", "model", "updated (UTC)", "id"]
    rows = [line.split("│")[1:-1] for line in lines[4:-1]]
    assert [row[2].strip() for row in rows if row[2].strip()] == ["1", "1"]
    folded_ids = "".join(row[-1].strip() for row in rows)
    assert f"{long_id}-b" in folded_ids.replace(" ", "")


@pytest.mark.parametrize("command", ["show", "history"])
def test_a_langgraph_thread_id_names_its_session_in_the_error(
    db: str, command: str
) -> None:
    """A LangGraph user types the thread id; the error names its session."""
    with sessiontrail.connect(db) as trail:
        session = trail.sessions.load_or_create("langgraph/trip%2F1", user_id="ann")
        session.append_message(role="user", content="hello")
        trail.sessions.save(session)
    assert failure("--db", db, command, "trip/1") == (
        "error: no session 'trip/1'; the LangGraph thread 'trip/1' is the "
        "session 'langgraph/trip%2F1'"
    )
    assert failure("--db", db, "--user", "bob", command, "trip/1") == (
        "error: no session 'trip/1'"  # another user's thread is not named
    )
    assert failure("--db", db, command, "other") == "error: no session 'other'"


def test_show_says_why_a_langgraph_thread_has_no_messages(db: str) -> None:
    """A graph without a `messages` channel (or a saver mirroring none) leaves
    its thread's transcript empty: `show` says so and where its checkpoints are,
    rather than an empty table alone; a chat with no message yet gets no hint."""
    with sessiontrail.connect(db) as trail:
        TrailSaver(trail).put(
            config("plan", user_id="ann"), checkpoint({"steps": [1]}), {}, {"steps": 1}
        )
        trail.sessions.save(sessiontrail.Session(session_id="empty", user_id="ann"))
    shown = printed("--db", db, "show", "langgraph/plan")
    assert "no messages: a LangGraph thread's transcript" in shown
    assert "sessiontrail history langgraph/plan" in shown
    assert "no messages" not in printed("--db", db, "show", "empty")
