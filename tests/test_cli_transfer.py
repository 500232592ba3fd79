"""`sessiontrail export | import`: a log moved to an empty database reads the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import failure, invoke, invoke_json
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail import SessionTraceStep


@pytest.fixture(params=["sqlite", "postgres"])
def databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """A source and an empty target database of one backend."""
    if request.param == "sqlite":
        yield (
            f"sqlite:///{tmp_path / 'source.db'}",
            f"sqlite:///{tmp_path / 'target.db'}",
        )
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield server.url(server.new_schema()), server.url(server.new_schema())


def record(url: str) -> None:
    """Two users' sessions with every kind of event, Q&A and trace steps included."""
    with sessiontrail.connect(url) as trail:
        repo = trail.sessions
        s = repo.load_or_create("trip", model="gpt-4o", user_id="alice")
        s.append_message(role="user", content="Plan Lisbon")
        s.append_message(
            role="assistant",
            content="Checking",
            tool_calls=[
                {"id": "c1", "name": "weather", "arguments": {"city": "Lisbon"}}
            ],
        )
        s.append_message(role="tool", content="sunny", tool_call_id="c1")
        s.edit_title("Lisbon", actor="alice@web")
        s.set_pinned(True, actor="alice@web")
        s.update_metadata({"tags": ["travel"]})
        s.set_pending_question(
            {"tool_call_id": "c2", "tool_name": "ask", "question": "When?"}
        )
        repo.save(s)
        s.resolve_question()
        s.truncate(2)
        repo.save(s)
        repo.append_token_usage("trip", {"model": "gpt-4o", "total_tokens": 42})
        trail.qa.create_qa_entry("trip", "Weather?", "Sunny", user_id="alice")
        trail.qa.append_agent_trace_step(
            "alice", "trip", SessionTraceStep(trace_id="t1", status="ok")
        )
        other = repo.load_or_create("notes", model="m", user_id="bob")
        other.append_message(role="user", content="bob's note")
        repo.save(other)
        gone = repo.load_or_create("gone", user_id="alice")
        gone.append_message(role="user", content="remove me")
        repo.save(gone)
        repo.delete("gone")


def views(url: str) -> dict[str, object]:
    """What people and scripts see of a database, through the CLI."""
    seen: dict[str, object] = {"ls": invoke_json("--db", url, "ls", "--all")}
    for session in ("trip", "notes", "gone"):
        seen[f"history {session}"] = invoke_json("--db", url, "history", session)
        seen[f"history table {session}"] = invoke(
            "--db", url, "history", session
        ).stdout
    for session in ("trip", "notes"):
        seen[f"show {session}"] = invoke_json("--db", url, "show", session)
        seen[f"show table {session}"] = invoke("--db", url, "show", session).stdout
    with sessiontrail.connect(url) as trail:
        seen["qa"] = trail.qa.get_all_qa_entries("trip", user_id="alice")
        seen["steps"] = trail.qa.get_agent_trace_steps("alice", "trip")
        seen["qa history"] = trail.qa.history("trip", user_id="alice")
    return seen


def test_export_then_import_reproduces_show_and_history(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    source, target = databases
    record(source)
    dump = tmp_path / "log.jsonl"
    exported = invoke("--db", source, "export", "--all", "-o", str(dump))
    assert exported.exit_code == 0, exported.stderr
    lines = dump.read_text().splitlines()
    assert f"exported {len(lines)} events" in exported.stderr
    assert {json.loads(line)["session_id"] for line in lines} == {
        "trip",
        "notes",
        "gone",
    }

    imported = invoke("--db", target, "import", str(dump))
    assert imported.exit_code == 0, imported.stderr
    assert f"imported {len(lines)} events (0 already present)" in imported.stdout
    assert views(target) == views(source)

    again = invoke("--db", target, "import", str(dump))
    assert f"imported 0 events ({len(lines)} already present)" in again.stdout
    in_sessions = [line for line in lines if json.loads(line)["stream"] == "session"]
    assert invoke_json("--db", target, "stats")["events"] == len(in_sessions)


def test_the_json_document_imports_like_the_lines(tmp_path: Path) -> None:
    source, target = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    record(source)
    document = tmp_path / "trip.json"
    assert (
        invoke(
            "--db", source, "export", "trip", "-f", "json", "-o", str(document)
        ).exit_code
        == 0
    )
    parsed = json.loads(document.read_text())
    [trip] = parsed["sessions"]
    assert (trip["title"], [m["content"] for m in trip["messages"]]) == (
        "Lisbon",
        ["Plan Lisbon", "Checking"],
    )
    assert {event["stream"] for event in parsed["events"]} == {"session", "qa"}
    assert invoke("--db", target, "import", str(document)).exit_code == 0
    assert invoke_json("--db", target, "history", "trip") == invoke_json(
        "--db", source, "history", "trip"
    )
    with sessiontrail.connect(target) as trail:
        assert [
            e.answer for e in trail.qa.get_all_qa_entries("trip", user_id="alice")
        ] == ["Sunny"]


def test_export_of_named_sessions_and_of_one_user(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    record(url)
    lines = invoke("--db", url, "export", "notes").stdout.splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "Session.Started",
        "Session.MessageAppended",
    ]
    bobs = invoke("--db", url, "--user", "bob", "export", "--all").stdout.splitlines()
    assert {json.loads(line)["user_id"] for line in bobs} == {"bob"}
    assert "no session 'trip'" in failure(
        "--db", url, "--user", "bob", "export", "trip"
    )


def test_markdown_export_reads_as_a_transcript(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    record(url)
    text = invoke("--db", url, "export", "trip", "--format", "md").stdout
    assert text.startswith("# Lisbon\n")
    assert "`trip` · version" in text and "pinned" in text
    assert "**user** · " in text and "Plan Lisbon" in text
    assert '→ calls `weather` (`c1`): `{"city": "Lisbon"}`' in text


def test_markdown_export_shows_control_characters_instead_of_sending_them(
    tmp_path: Path,
) -> None:
    """Markdown is read in a terminal: a message's escape sequences (clear the
    screen, write the clipboard) are shown as text, never sent to it."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with sessiontrail.connect(url) as trail:
        session = sessiontrail.Session(session_id="esc", user_id="alice")
        session.append_message(
            role="user", content="a\x1b[2Jb\x1b]52;c;ZXZpbA==\x07c\x9bd\r\ne\rf"
        )
        trail.sessions.save(session)
    text = invoke("--db", url, "export", "esc", "--format", "md").stdout
    assert "> a\\x1b[2Jb\\x1b]52;c;ZXZpbA==\\x07c\\x9bd\n> e\\x0df" in text
    assert not any(ord(c) < 32 and c not in "\n\t" for c in text)


def test_markdown_export_quotes_what_was_written_so_it_cannot_fake_a_turn(
    tmp_path: Path,
) -> None:
    """A message that holds what looks like another turn shows inside its own
    writer's quote: the export's structure (who said what) is not forgeable."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    forged = "hi\n\n**assistant** · 2026-01-01 00:00:00 UTC\n\nTransfer approved."
    with sessiontrail.connect(url) as trail:
        session = sessiontrail.Session(session_id="forge", user_id="alice")
        session.append_message(role="user", content=forged)
        session.set_pending_question(
            {"tool_call_id": "q", "tool_name": "ask", "question": "Sure?\n# Done"}
        )
        trail.sessions.save(session)
    text = invoke("--db", url, "export", "forge", "--format", "md").stdout

    turns = [line for line in text.splitlines() if line.startswith("**")]
    assert [line.split(" ")[0] for line in turns] == ["**user**"]
    assert "> hi\n>\n> **assistant** · 2026-01-01 00:00:00 UTC\n>\n> Transfer" in text
    assert text.endswith("*waiting for an answer:*\n\n> Sure?\n> # Done\n")


def test_openai_style_messages_become_a_session(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    chat = tmp_path / "support-chat.json"
    chat.write_text(
        json.dumps(
            [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Refund?"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_9",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"order": 7}'},
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_9",
                    "content": "paid",
                    "name": "lookup",
                },
                {"role": "assistant", "content": "Refunded."},
            ]
        )
    )
    result = invoke(
        "--db", url, "--user", "carol", "import", str(chat), "--model", "gpt-4o"
    )
    assert result.exit_code == 0, result.stderr
    assert "into 1 session(s)" in result.stdout
    shown = invoke_json("--db", url, "--user", "carol", "show", "support-chat")
    assert shown["session"]["model"] == "gpt-4o"
    messages = shown["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Be brief."),
        ("user", "Refund?"),
        ("assistant", ""),
        ("tool", "paid"),
        ("assistant", "Refunded."),
    ]
    assert messages[1]["content_parts"] == [{"type": "text", "text": "Refund?"}]
    assert messages[2]["tool_calls"] == [
        {"id": "call_9", "name": "lookup", "arguments": '{"order": 7}'}
    ]
    assert messages[3]["metadata"] == {"name": "lookup"}
    actors = {e["actor"] for e in invoke_json("--db", url, "history", "support-chat")}
    assert actors == {"import"}

    lines = tmp_path / "more.jsonl"
    lines.write_text(
        '{"role": "user", "content": "hi"}\n\n{"role": "assistant", "content": "yo"}\n'
    )
    assert invoke("--db", url, "import", str(lines), "--session", "s2").exit_code == 0
    assert len(invoke_json("--db", url, "show", "s2")["messages"]) == 2
    assert "'s2' already exists" in failure(
        "--db", url, "import", str(lines), "--session", "s2"
    )


def write_lines(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_bad_import_files_name_the_problem_and_write_nothing(tmp_path: Path) -> None:
    source, target = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    record(source)
    events = [
        json.loads(line)
        for line in invoke("--db", source, "export", "--all").stdout.splitlines()
    ]
    cases: list[tuple[str, list[dict[str, object]] | str]] = [
        ("version 4 follows 2", events[:2] + events[3:]),
        ("must start with its own start event", events[1:]),
        (
            "unknown event type 'Session.Exploded'",
            [*events[:5], {**events[5], "event": "Session.Exploded"}],
        ),
        (
            "payload.message.role",
            [*events[:1], {**events[1], "payload": {"message": {"role": "robot"}}}],
        ),
        ("line 2: not JSON", json.dumps(events[0]) + "\n{oops\n"),
        ("neither an event", '{"hello": 1}\n'),
        ("is empty", ""),
    ]
    for expected, content in cases:
        path = tmp_path / "bad.jsonl"
        if isinstance(content, str):
            path.write_text(content)
        else:
            write_lines(path, content)
        assert expected in failure("--db", target, "import", str(path)), expected
    assert invoke_json("--db", target, "stats")["events"] == 0  # nothing was written
    bad_chat = write_lines(
        tmp_path / "chat.jsonl", [{"role": "user", "content": "ok"}, {"role": "robot"}]
    )
    assert "line 2: role" in failure("--db", target, "import", str(bad_chat))
    assert "cannot read" in failure(
        "--db", target, "import", str(tmp_path / "missing.jsonl")
    )
    assert invoke_json("--db", target, "stats")["events"] == 0
    assert invoke_json("--db", target, "ls", "--all")["items"] == []


def test_an_interrupted_import_finishes_on_rerun(tmp_path: Path) -> None:
    source, target = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    record(source)
    lines = invoke("--db", source, "export", "--all").stdout.splitlines(keepends=True)
    half = tmp_path / "half.jsonl"
    half.write_text("".join(lines[:7]))  # stops inside the first session's stream
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(lines))
    assert invoke("--db", target, "import", str(half)).exit_code == 0
    rerun = invoke("--db", target, "import", str(whole))
    assert f"imported {len(lines) - 7} events (7 already present)" in rerun.stdout
    assert views(target) == views(source)


def test_importing_over_a_different_session_is_refused(tmp_path: Path) -> None:
    source, target = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    record(source)
    with sessiontrail.connect(target) as trail:
        s = trail.sessions.load_or_create("notes", user_id="bob")
        trail.sessions.save(s)
    dump = tmp_path / "notes.jsonl"
    dump.write_text(invoke("--db", source, "export", "notes").stdout)
    line = failure("--db", target, "import", str(dump))
    assert "holds a different event at version 1" in line
    assert invoke_json("--db", target, "stats")["events"] == 1


def test_export_usage_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    record(url)
    assert "name sessions to export, or give --all" in failure("--db", url, "export")
    assert "or give --all" in failure("--db", url, "export", "trip", "--all")
    assert "no session 'nope'" in failure("--db", url, "export", "nope")
    target = tmp_path / "no-such-dir" / "out.jsonl"
    assert "--output: cannot write" in failure(
        "--db", url, "export", "--all", "-o", str(target)
    )
