"""`trail.sessions.fork`: a new session as another was at a version."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.cli import invoke
from support.http import bearer, write_tokens

import sessiontrail
from sessiontrail import (
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
    SessionTrail,
)
from sessiontrail.infrastructure.event_store import SNAPSHOT_INTERVAL
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens


def chat(trail: SessionTrail, session_id: str, count: int, **start: object) -> None:
    session = trail.sessions.load_or_create(session_id, **start)  # type: ignore[arg-type]
    session.edit_title("Lisbon trip")
    session.update_metadata({"env": "prod"})
    for number in range(count):
        session.append_message(role="user", content=f"message {number}")
    trail.sessions.save(session)


def test_a_fork_equals_the_source_at_that_version(trail: SessionTrail):
    chat(trail, "src", 6, model="gpt-4o", user_id="ann")
    then = trail.sessions.at("src", version=5)
    assert then is not None

    fork = trail.sessions.fork("src", at_version=5, new_id="fork", user_id="ann")

    stored = trail.sessions.load("fork")
    assert stored is not None
    for copy in (fork, stored):
        assert copy.session_id == "fork"
        assert copy.messages == then.messages
        assert (copy.title, copy.model, copy.user_id, copy.metadata) == (
            then.title,
            then.model,
            then.user_id,
            then.metadata,
        )


def test_the_forks_history_says_where_it_came_from(trail: SessionTrail):
    chat(trail, "src", 3)

    trail.sessions.fork("src", at_version=4, new_id="fork")

    first = trail.sessions.history("fork")[0]
    assert first.event == "Forked"
    assert first.payload["source_id"] == "src"
    assert first.payload["source_version"] == 4


def test_the_source_is_untouched(trail: SessionTrail):
    chat(trail, "src", 3)
    before = trail.sessions.history("src")

    fork = trail.sessions.fork("src", at_version=3)
    fork.append_message(role="user", content="a different turn")
    trail.sessions.save(fork)

    assert trail.sessions.history("src") == before


def test_a_fork_without_a_version_copies_the_session_now(trail: SessionTrail):
    chat(trail, "src", 3)

    fork = trail.sessions.fork("src")

    source = trail.sessions.load("src")
    assert source is not None
    assert fork.messages == source.messages
    assert fork.session_id != "src"


def test_a_fork_now_copies_what_another_process_stored_since_this_one_cached_it(
    trail: SessionTrail, other_trail: SessionTrail
):
    chat(trail, "src", 2)  # cached by this trail
    elsewhere = other_trail.sessions.load("src")
    assert elsewhere is not None
    elsewhere.append_message(role="assistant", content="from another process")
    other_trail.sessions.save(elsewhere)

    fork = trail.sessions.fork("src")

    assert fork.messages[-1].content == "from another process"
    assert fork.forked_version == elsewhere.version


def test_the_fork_is_listed_and_found(trail: SessionTrail):
    chat(trail, "src", 3)

    trail.sessions.fork("src", at_version=4, new_id="fork")  # message 0 only

    listed = [s.session_id for s in trail.sessions.list().items]
    assert listed == ["fork", "src"]
    found = [s.session_id for s in trail.sessions.list(text="message 0").items]
    assert sorted(found) == ["fork", "src"]


def test_another_users_session_cannot_be_forked(trail: SessionTrail):
    chat(trail, "src", 2, user_id="ann")

    with pytest.raises(SessionNotFound):
        trail.sessions.fork("src", user_id="bob")
    assert trail.sessions.list(user_id="bob").items == []


def test_an_id_in_use_is_a_conflict_and_nothing_is_written(trail: SessionTrail):
    chat(trail, "src", 2)
    chat(trail, "taken", 1)
    before = trail.sessions.history("taken")

    with pytest.raises(ConcurrencyConflict):
        trail.sessions.fork("src", new_id="taken")
    assert trail.sessions.history("taken") == before


def test_a_version_past_the_end_is_refused(trail: SessionTrail):
    chat(trail, "src", 2)

    with pytest.raises(
        InvalidInput, match=r"^at_version: 'src' has 5 versions, not 99"
    ):
        trail.sessions.fork("src", at_version=99)


def test_a_moment_before_the_session_existed_is_refused_naming_at(
    trail: SessionTrail,
):
    chat(trail, "src", 2)
    head = trail.store.head()

    with pytest.raises(InvalidInput, match=r"^at: 'src' did not exist yet"):
        trail.sessions.fork("src", at=datetime(2000, 1, 1, tzinfo=UTC))
    assert trail.store.head() == head


def test_a_missing_session_cannot_be_forked(trail: SessionTrail):
    with pytest.raises(SessionNotFound):
        trail.sessions.fork("nope")


def test_a_pending_question_is_copied(trail: SessionTrail):
    chat(trail, "src", 1)
    session = trail.sessions.load("src")
    assert session is not None
    session.set_pending_question(
        {"tool_call_id": "c1", "tool_name": "ask", "question": "Which day?"}
    )
    trail.sessions.save(session)

    fork = trail.sessions.fork("src")

    assert fork.pending_question == session.pending_question


def test_fork_over_http_is_201_and_names_the_source(
    trail: SessionTrail, tmp_path: Path
):
    chat(trail, "src", 3, user_id="ann")
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as client:
        made = client.post(
            "/v1/sessions/src/fork",
            json={"at_version": 4, "new_id": "fork"},
            headers=bearer("ann"),
        )
        theirs = client.post("/v1/sessions/src/fork", json={}, headers=bearer("bob"))
        again = client.post(
            "/v1/sessions/src/fork", json={"new_id": "fork"}, headers=bearer("ann")
        )

    assert made.status_code == 201, made.text
    assert made.json()["message_count"] == 1
    assert theirs.status_code == 404
    assert again.status_code == 409
    assert trail.sessions.history("fork")[0].payload["source_id"] == "src"


def test_fork_over_http_takes_at_as_an_iso_time_only(
    trail: SessionTrail, tmp_path: Path
):
    chat(trail, "src", 3, user_id="ann")
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    now = datetime.now(UTC)
    with TestClient(create_app(trail, tokens)) as client:
        refused = [
            client.post("/v1/sessions/src/fork", json={"at": at}, headers=bearer("ann"))
            for at in (
                int(now.timestamp()),
                str(int(now.timestamp())),
                "+1800000000",
                "1.8e9",
                "2026-11-30",
                "2026-11-30T09:00:00",
            )
        ]
        made = client.post(
            "/v1/sessions/src/fork", json={"at": now.isoformat()}, headers=bearer("ann")
        )

    assert [answer.status_code for answer in refused] == [422] * 6
    assert all("at" in answer.text for answer in refused)
    assert made.status_code == 201, made.text
    assert len(trail.sessions.list(user_id="ann").items) == 2


def test_fork_from_the_command_line(tmp_path: Path):

    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with sessiontrail.connect(url) as trail:
        chat(trail, "src", 3)

    result = invoke("--db", url, "fork", "src", "--at-version", "4", "--new-id", "f")

    assert result.exit_code == 0, result.stderr
    assert "src" in result.stdout and "f" in result.stdout
    with sessiontrail.connect(url) as trail:
        forked = trail.sessions.load("f")
        assert forked is not None
        assert [m.content for m in forked.messages] == ["message 0"]


def test_a_fork_survives_export_and_import(tmp_path: Path):
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    with sessiontrail.connect(f"sqlite:///{source}") as trail:
        chat(trail, "src", 2)
        trail.sessions.fork("src", at_version=4, new_id="fork")
    dump = tmp_path / "all.jsonl"

    exported = invoke("--db", f"sqlite:///{source}", "export", "--all", "-o", str(dump))
    imported = invoke("--db", f"sqlite:///{target}", "import", str(dump))

    assert exported.exit_code == 0, exported.stderr
    assert imported.exit_code == 0, imported.stderr
    with sessiontrail.connect(f"sqlite:///{target}") as trail:
        first = trail.sessions.history("fork")[0]
        assert (first.event, first.payload["source_version"]) == ("Forked", 4)


def test_an_openai_agents_session_forked_is_usable_by_the_sdk(url: str):
    pytest.importorskip("agents")
    from sessiontrail.integrations.openai_agents import TrailSession

    async def run() -> list[Any]:
        with sessiontrail.connect(url) as trail:
            original = TrailSession("run", trail)
            await original.add_items(
                [
                    {"role": "user", "content": "plan a trip"},
                    {"role": "assistant", "content": "where to?"},
                    {"role": "user", "content": "Lisbon"},
                ]
            )
            trail.sessions.fork("run", at_version=3, new_id="run-b")
            forked = TrailSession("run-b", trail)
            await forked.add_items([{"role": "user", "content": "Porto"}])
            return await forked.get_items()

    items = asyncio.run(run())

    assert [item["content"] for item in items] == ["plan a trip", "where to?", "Porto"]


def test_the_list_names_a_forks_source_and_version(trail: SessionTrail):
    chat(trail, "src", 3)

    trail.sessions.fork("src", at_version=4, new_id="fork")

    fork, source = trail.sessions.list().items
    assert (fork.forked_from, fork.forked_version) == ("src", 4)
    assert (source.forked_from, source.forked_version) == (None, None)


def test_a_rebuilt_list_still_names_a_forks_source(trail: SessionTrail):
    chat(trail, "src", 3)
    trail.sessions.fork("src", at_version=4, new_id="fork")

    trail.projections.rebuild("sessions")

    fork, source = trail.sessions.list().items
    assert (fork.forked_from, fork.forked_version) == ("src", 4)
    assert (source.forked_from, source.forked_version) == (None, None)


def test_the_http_list_names_a_forks_source(trail: SessionTrail, tmp_path: Path):
    chat(trail, "src", 3, user_id="ann")
    trail.sessions.fork("src", at_version=4, new_id="fork", user_id="ann")
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as client:
        listed = client.get("/v1/sessions", headers=bearer("ann"))

    assert listed.status_code == 200, listed.text
    fork = listed.json()["items"][0]
    assert (fork["session_id"], fork["forked_from"], fork["forked_version"]) == (
        "fork",
        "src",
        4,
    )


def test_ls_shows_where_a_fork_came_from(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with sessiontrail.connect(url) as trail:
        chat(trail, "src", 3)
        trail.sessions.fork("src", at_version=4, new_id="f")

    result = invoke("--db", url, "ls")

    assert result.exit_code == 0, result.stderr
    words = " ".join(result.stdout.replace("│", " ").split())  # a cell may fold
    assert "f (forked from src at v4)" in words


def test_a_loaded_forks_summary_names_its_source_and_version(trail: SessionTrail):
    chat(trail, "src", 3)
    trail.sessions.fork("src", at_version=4, new_id="fork")

    fork, source = trail.sessions.load("fork"), trail.sessions.load("src")

    assert fork is not None and source is not None
    assert (fork.summary().forked_from, fork.summary().forked_version) == ("src", 4)
    assert (source.summary().forked_from, source.summary().forked_version) == (
        None,
        None,
    )


def test_a_fork_loaded_from_its_snapshot_still_names_its_source(trail: SessionTrail):
    chat(trail, "src", 3)
    fork = trail.sessions.fork("src", at_version=4, new_id="fork")
    for number in range(SNAPSHOT_INTERVAL):  # past a snapshot of the fork
        fork.append_message(role="user", content=f"more {number}")
    trail.sessions.save(fork)
    assert trail.store.snapshots is not None
    assert [snap.originator_version for snap in trail.store.snapshots.get(fork.id)]
    trail.sessions._cache.clear()

    loaded = trail.sessions.load("fork")

    assert loaded is not None
    assert (loaded.forked_from, loaded.forked_version) == ("src", 4)


def test_the_http_session_view_names_a_forks_source(
    trail: SessionTrail, tmp_path: Path
):
    chat(trail, "src", 3, user_id="ann")
    trail.sessions.fork("src", at_version=4, new_id="fork", user_id="ann")
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as client:
        fork = client.get("/v1/sessions/fork", headers=bearer("ann"))
        source = client.get("/v1/sessions/src", headers=bearer("ann"))

    assert fork.status_code == 200, fork.text
    assert (fork.json()["forked_from"], fork.json()["forked_version"]) == ("src", 4)
    assert (source.json()["forked_from"], source.json()["forked_version"]) == (
        None,
        None,
    )
