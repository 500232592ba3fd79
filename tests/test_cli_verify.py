"""`sessiontrail checkpoint | verify` as an auditor runs them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from support.cli import failure, invoke, invoke_json

import sessiontrail
from sessiontrail.domain.session import stream_id


def test_checkpoint_then_verify_then_catch_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    url = f"sqlite:///{path}"
    with sessiontrail.connect(url) as trail:
        for number in range(3):
            session = trail.sessions.load_or_create(f"chat-{number}")
            session.append_message(role="user", content="hello")
            session.append_message(role="assistant", content="hi")
            trail.sessions.save(session)
    anchor = tmp_path / "checkpoint.json"
    taken = invoke("--db", url, "checkpoint", "-o", str(anchor))
    assert taken.exit_code == 0, taken.stderr
    assert "checkpoint of 3 streams" in taken.stderr
    assert json.loads(anchor.read_text())["streams"] == 3

    clean = invoke("--db", url, "verify", "--since", str(anchor))
    assert clean.exit_code == 0, clean.stdout
    assert "verified 12 events in 4 streams" in clean.stdout  # 9 + 3 checkpoint

    with sqlite3.connect(path) as db:
        db.execute(
            "DELETE FROM stored_events "
            "WHERE originator_id = ? AND originator_version = 3",
            (stream_id("chat-1").hex,),
        )
    caught = invoke("--db", url, "verify", "--since", str(anchor))
    assert caught.exit_code == 1
    assert "session chat-1" in caught.stdout and "1 stream(s) fail" in caught.stdout
    assert invoke("--db", url, "verify").exit_code == 0  # the chain alone: no gap
    report = json.loads(
        invoke("--db", url, "verify", "--since", str(anchor), "--json").stdout
    )
    [problem] = report["problems"]
    assert (problem["label"], problem["version"]) == ("session chat-1", 3)
    assert "truncated" in problem["problem"]  # against the checkpoint, the tail is gone


def test_bad_checkpoint_files_are_clear_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    assert "cannot read" in failure(
        "--db", url, "verify", "--since", str(tmp_path / "x")
    )
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"position": "soon"}')
    assert "checkpoint." in failure("--db", url, "verify", "--since", str(bogus))


def one_message(url: str, session_id: str, user_id: str, content: str) -> None:
    """A session of `user_id` holding one user message, stored at `url`."""
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create(session_id, user_id=user_id)
        session.append_message(role="user", content=content)
        trail.sessions.save(session)


def test_erase_user_asks_first_then_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    one_message(url, "chat", "alice", "secret")
    declined = invoke("--db", url, "erase-user", "alice", input="n\n")
    assert declined.exit_code == 1  # aborted: nothing erased
    assert (
        invoke_json("--db", url, "show", "chat")["messages"][0]["content"] == "secret"
    )
    done = invoke("--db", url, "erase-user", "alice", "--yes", "--actor", "dpo")
    assert done.exit_code == 0 and "erased alice" in done.stdout
    assert invoke_json("--db", url, "show", "chat")["messages"][0]["content"] == (
        "[erased]"
    )


def test_verify_counts_one_stream_in_the_singular(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    one_message(url, "chat-1", "ann", "hello")
    result = invoke("--db", url, "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verified 2 events in 1 stream\n")
