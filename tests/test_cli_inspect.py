"""`sessiontrail ls | show | history | stats`, run as a user runs them."""

from __future__ import annotations

import os
import pty
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.cli import executable, failure, invoke, invoke_json

import sessiontrail


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with sessiontrail.connect(url) as trail:
        for number, user in enumerate(["alice", "alice", "bob"]):
            s = trail.sessions.load_or_create(f"s{number}", model="m", user_id=user)
            s.append_message(role="user", content=f"question {number}")
            s.append_message(role="assistant", content=f"answer {number}")
            trail.sessions.save(s)
        s = trail.sessions.load("s0")
        s.edit_title("Renamed", actor="alice@web")
        trail.sessions.save(s)
        trail.sessions.append_token_usage("s1", {"total_tokens": 7})
        trail.sessions.delete("s2")
    return url


def test_ls_lists_newest_first_pages_and_hides_deleted(db: str, tmp_path: Path):
    page = invoke_json("--db", db, "ls")
    assert [s["session_id"] for s in page["items"]] == ["s1", "s0"]  # usage last
    assert page["items"][1]["title"] == "Renamed"
    first = invoke_json("--db", db, "ls", "--limit", "1")
    rest = invoke_json(
        "--db", db, "ls", "--limit", "1", "--cursor", first["next_cursor"]
    )
    assert [s["session_id"] for s in rest["items"]] == ["s0"]
    everything = invoke_json("--db", db, "ls", "--all")
    assert [s["session_id"] for s in everything["items"]] == ["s2", "s1", "s0"]
    table = invoke("--db", db, "ls").stdout
    assert "Renamed" in table and "s1" in table


def test_user_option_limits_every_command_to_that_user(db: str, tmp_path: Path):
    mine = invoke_json("--db", db, "--user", "bob", "ls", "--all")
    assert [s["session_id"] for s in mine["items"]] == ["s2"]
    refused = failure("--db", db, "--user", "bob", "show", "s0")
    assert refused == "error: no session 's0'"  # exactly as if it did not exist


def test_show_prints_the_transcript_now_or_as_it_was(db: str, tmp_path: Path):
    shown = invoke_json("--db", db, "show", "s0", "--last", "1")
    assert [m["content"] for m in shown["messages"]] == ["answer 0"]
    assert shown["session"]["title"] == "Renamed"
    early = invoke_json("--db", db, "show", "s0", "--at", "2")
    assert [m["content"] for m in early["messages"]] == ["question 0"]
    now = datetime.now(tz=UTC).isoformat()
    assert len(invoke_json("--db", db, "show", "s0", "--at", now)["messages"]) == 2
    table = invoke("--db", db, "show", "s0").stdout
    assert "question 0" in table and "assistant" in table


def test_history_filters_by_actor_and_time(db: str, tmp_path: Path):
    entries = invoke_json("--db", db, "history", "s0")
    assert [e["event"] for e in entries] == [
        "Started",
        "MessageAppended",
        "MessageAppended",
        "TitleEdited",
    ]
    by_actor = invoke_json("--db", db, "history", "s0", "--actor", "alice@web")
    assert [e["event"] for e in by_actor] == ["TitleEdited"]
    later = invoke_json("--db", db, "history", "s0", "--since", entries[3]["timestamp"])
    assert [e["event"] for e in later] == ["TitleEdited"]


def test_stats_counts_sessions_messages_events_and_tokens(db: str, tmp_path: Path):
    figures = invoke_json("--db", db, "stats")
    assert (figures["sessions"], figures["messages"]) == (2, 4)
    assert figures["events"] == 12  # 3 x (start + 2 messages), title, usage, delete
    assert figures["usage_by_model"] == {"m": {"records": 1, "total_tokens": 7}}
    with sessiontrail.connect(db) as trail:
        trail.sessions.save(trail.sessions.load_or_create("s3", user_id="bob"))
        trail.sessions.append_token_usage("s3", {"model": "x", "total_tokens": 2.5})
    bobs = invoke_json("--db", db, "--user", "bob", "stats")
    assert (bobs["sessions"], bobs["messages"], bobs["events"]) == (1, 0, 6)
    assert bobs["usage_by_model"] == {"x": {"records": 1, "total_tokens": 2.5}}
    everyone = invoke_json("--db", db, "stats")["usage_by_model"]
    assert everyone == {
        "m": {"records": 1, "total_tokens": 7},
        "x": {"records": 1, "total_tokens": 2.5},
    }


def test_bad_times_are_clear_errors(db: str, tmp_path: Path):
    line = failure("--db", db, "history", "s0", "--since", "soon")
    assert "--since: not an ISO 8601 time: 'soon'" in line
    line = failure("--db", db, "show", "s0", "--at", "yesterday")
    assert "--at: not an ISO 8601 time" in line


def test_replay_steps_through_every_event_with_its_changes(db: str, tmp_path: Path):
    result = invoke("--db", db, "replay", "s0", "--no-pause")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in ("v1", "Started", "+ user: question 0", "~ title: '' → 'Renamed'"):
        assert text in out
    assert out.index("v2") < out.index("v3") < out.index("v4")
    short = invoke("--db", db, "replay", "s0", "--no-pause", "--until", "2")
    assert "v2" in short.stdout and "v3" not in short.stdout


def replay_on_a_terminal(db: str, typed: bytes) -> str:
    """Run `sessiontrail replay s0` with a real terminal (a pty) as its input,
    type `typed` into it, and return what it printed."""
    terminal, its_input = pty.openpty()
    process = subprocess.Popen(
        [executable(), "--db", db, "replay", "s0"],
        stdin=its_input,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(its_input)
    try:
        os.write(terminal, typed)
        out, err = process.communicate(timeout=120)
    finally:
        os.close(terminal)
    assert process.returncode == 0, err.decode()
    return out.decode()


def test_replay_on_a_terminal_waits_for_enter_between_steps(db: str):
    shown = replay_on_a_terminal(db, b"\n\n\x04")  # Enter twice, then Ctrl-D
    assert "v3" in shown
    assert "v4" not in shown  # it stopped at the third prompt
    quit_early = replay_on_a_terminal(db, b"q\n")
    assert "v1" in quit_early and "v2" not in quit_early


def test_replay_without_a_terminal_runs_through_as_with_no_pause(db: str):
    result = invoke("--db", db, "replay", "s0", input="")  # a pipe, already ended
    assert result.exit_code == 0, result.stderr
    assert result.stdout == invoke("--db", db, "replay", "s0", "--no-pause").stdout
    assert "v4" in result.stdout


def test_show_at_a_time_before_the_session_says_when_it_was_created(db: str):
    line = failure("--db", db, "show", "s0", "--at", "2000-01-01T00:00:00")
    created = datetime.fromisoformat(
        invoke_json("--db", db, "show", "s0", "--at", "1")["session"]["created_at"]
    )
    assert line == (
        "error: session 's0' did not exist yet at 2000-01-01T00:00:00+00:00; "
        f"it was created at {created.isoformat()}"
    )
    refused = failure("--db", db, "--user", "bob", "show", "s0", "--at", "2000-01-01")
    assert refused == "error: no session 's0'"  # another user's: still unknown


def test_diff_shows_what_changed_between_two_versions(db: str, tmp_path: Path):
    change = invoke_json("--db", db, "diff", "s0", "1", "4")
    assert [m["content"] for m in change["added"]] == ["question 0", "answer 0"]
    assert change["removed"] == []
    assert change["fields"] == {"title": ["", "Renamed"]}
    assert invoke_json("--db", db, "diff", "s0", "4", "4") == {
        "added": [],
        "removed": [],
        "fields": {},
    }
    assert "older one first" in failure("--db", db, "diff", "s0", "4", "1")
    beyond = failure("--db", db, "diff", "s0", "1", "9")
    assert "'s0' has 4 versions, not 9" in beyond
