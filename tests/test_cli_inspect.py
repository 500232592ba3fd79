"""`sessiontrail ls | show | history | stats`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_cli_demo import run_cli

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


def cli_json(db: str, tmp_path: Path, *args: str):
    result = run_cli("--db", db, *args, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_ls_lists_newest_first_pages_and_hides_deleted(db: str, tmp_path: Path):
    page = cli_json(db, tmp_path, "ls")
    assert [s["session_id"] for s in page["items"]] == ["s1", "s0"]  # usage last
    assert page["items"][1]["title"] == "Renamed"
    first = cli_json(db, tmp_path, "ls", "--limit", "1")
    rest = cli_json(
        db, tmp_path, "ls", "--limit", "1", "--cursor", first["next_cursor"]
    )
    assert [s["session_id"] for s in rest["items"]] == ["s0"]
    everything = cli_json(db, tmp_path, "ls", "--all")
    assert [s["session_id"] for s in everything["items"]] == ["s2", "s1", "s0"]
    table = run_cli("--db", db, "ls", cwd=tmp_path).stdout
    assert "Renamed" in table and "s1" in table


def test_user_option_limits_every_command_to_that_user(db: str, tmp_path: Path):
    mine = cli_json(db, tmp_path, "--user", "bob", "ls", "--all")
    assert [s["session_id"] for s in mine["items"]] == ["s2"]
    refused = run_cli("--db", db, "--user", "bob", "show", "s0", cwd=tmp_path)
    assert refused.returncode == 1
    assert "no session 's0'" in refused.stdout


def test_show_prints_the_transcript_now_or_as_it_was(db: str, tmp_path: Path):
    shown = cli_json(db, tmp_path, "show", "s0", "--last", "1")
    assert [m["content"] for m in shown["messages"]] == ["answer 0"]
    assert shown["session"]["title"] == "Renamed"
    early = cli_json(db, tmp_path, "show", "s0", "--at", "2")
    assert [m["content"] for m in early["messages"]] == ["question 0"]
    now = datetime.now(tz=UTC).isoformat()
    assert len(cli_json(db, tmp_path, "show", "s0", "--at", now)["messages"]) == 2
    table = run_cli("--db", db, "show", "s0", cwd=tmp_path).stdout
    assert "question 0" in table and "assistant" in table


def test_history_filters_by_actor_and_time(db: str, tmp_path: Path):
    entries = cli_json(db, tmp_path, "history", "s0")
    assert [e["event"] for e in entries] == [
        "Started",
        "MessageAppended",
        "MessageAppended",
        "TitleEdited",
    ]
    by_actor = cli_json(db, tmp_path, "history", "s0", "--actor", "alice@web")
    assert [e["event"] for e in by_actor] == ["TitleEdited"]
    later = cli_json(db, tmp_path, "history", "s0", "--since", entries[3]["timestamp"])
    assert [e["event"] for e in later] == ["TitleEdited"]


def test_stats_counts_sessions_messages_events_and_tokens(db: str, tmp_path: Path):
    figures = cli_json(db, tmp_path, "stats")
    assert (figures["sessions"], figures["messages"]) == (2, 4)
    assert figures["events"] == 12  # 3 x (start + 2 messages), title, usage, delete
    assert figures["usage_by_model"] == {"m": {"records": 1, "total_tokens": 7}}


def test_bad_times_are_clear_errors(db: str, tmp_path: Path):
    result = run_cli("--db", db, "history", "s0", "--since", "soon", cwd=tmp_path)
    assert result.returncode == 1
    assert "--since: not an ISO 8601 time" in result.stdout


def test_replay_steps_through_every_event_with_its_changes(db: str, tmp_path: Path):
    result = run_cli("--db", db, "replay", "s0", "--no-pause", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("v1", "Started", "+ user: question 0", "~ title: '' → 'Renamed'"):
        assert text in out
    assert out.index("v2") < out.index("v3") < out.index("v4")
    short = run_cli(
        "--db", db, "replay", "s0", "--no-pause", "--until", "2", cwd=tmp_path
    )
    assert "v2" in short.stdout and "v3" not in short.stdout


def test_replay_waits_for_enter_between_steps(db: str, tmp_path: Path):
    command = [
        *(sys.executable, "-c", "from sessiontrail.cli import main; main()"),
        *("--db", db, "replay", "s0"),
    ]
    result = subprocess.run(  # two Enters, then the input ends
        command,
        cwd=tmp_path,
        input="\n\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "v3" in result.stdout
    assert "v4" not in result.stdout  # it stopped at the third prompt


def test_diff_shows_what_changed_between_two_versions(db: str, tmp_path: Path):
    change = cli_json(db, tmp_path, "diff", "s0", "1", "4")
    assert [m["content"] for m in change["added"]] == ["question 0", "answer 0"]
    assert change["removed"] == []
    assert change["fields"] == {"title": ["", "Renamed"]}
    assert cli_json(db, tmp_path, "diff", "s0", "4", "4") == {
        "added": [],
        "removed": [],
        "fields": {},
    }
    backwards = run_cli("--db", db, "diff", "s0", "4", "1", cwd=tmp_path)
    assert backwards.returncode == 1 and "older one first" in backwards.stdout
    beyond = run_cli("--db", db, "diff", "s0", "1", "9", cwd=tmp_path)
    assert beyond.returncode == 1 and "version" in beyond.stdout
