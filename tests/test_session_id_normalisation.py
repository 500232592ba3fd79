"""Session ids in Unicode NFC and NFD name one session; sessions stored under
another spelling before that rule keep working under it and under NFC; ids with
one spelling (ASCII) cost no extra read; user ids are compared exactly."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from support.cli import invoke, invoke_json
from support.http import bearer, write_tokens
from support.postgres import PostgresServer
from support.spelt import started_as_spelt

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain.errors import ConcurrencyConflict
from sessiontrail.domain.qa import QASession, qa_stream_id
from sessiontrail.domain.session import Session, stream_id
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

NFC = unicodedata.normalize("NFC", "Café")
NFD = unicodedata.normalize("NFD", "Café")
NOEL_NFC = unicodedata.normalize("NFC", "Noël")
NOEL_NFD = unicodedata.normalize("NFD", "Noël")


def legacy(trail: SessionTrail, session_id: str, user_id: str | None = None) -> None:
    """Store a session as the old rule did, under `session_id` exactly as given
    (the door would turn a new one into NFC): its stream is built by hand."""
    session = started_as_spelt(session_id, user_id=user_id)
    session.append_message(role="user", content="written before")
    trail.sessions.save(session)


def streams_holding(trail: SessionTrail, *spellings: str) -> list[str]:
    """Which of these spellings have a stream in the log."""
    return [each for each in spellings if trail.store.stream_version(stream_id(each))]


# -- new sessions: one session under either spelling -----------------------------


def test_a_new_session_is_stored_under_its_nfc_id() -> None:
    assert Session(session_id=NFD).session_id == NFC


def test_either_spelling_loads_the_session_the_other_created(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create(NFD)
    session.append_message(role="user", content="hi")
    trail.sessions.save(session)
    loaded = trail.sessions.load(NFC)
    assert loaded is not None and loaded.session_id == NFC
    assert [m.content for m in loaded.messages] == ["hi"]
    assert streams_holding(trail, NFC, NFD) == [NFC]


def test_writes_under_either_spelling_append_to_one_session(
    trail: SessionTrail,
) -> None:
    for spelling, text in ((NFC, "one"), (NFD, "two")):
        session = trail.sessions.load_or_create(spelling)
        session.append_message(role="user", content=text)
        trail.sessions.save(session)
    trail.sessions.edit(NFD, title="Plan")
    [summary] = trail.sessions.list().items
    assert (summary.session_id, summary.title) == (NFC, "Plan")
    page = trail.sessions.messages(NFD)
    assert [m.content for m in page.items] == ["one", "two"]


def test_reads_of_usage_qa_and_history_find_either_spelling(
    trail: SessionTrail,
) -> None:
    trail.sessions.save(trail.sessions.load_or_create(NFC, user_id="ann"))
    trail.sessions.append_token_usage(NFD, {"input_tokens": 3}, user_id="ann")
    trail.qa.create_qa_entry(NFD, "q?", "a.", user_id="ann")
    assert trail.usage.session_totals(NFD, user_id="ann") == {
        "input_tokens": 3,
        "records": 1,
    }
    assert [r.session_id for r in trail.usage.records(NFD, user_id="ann")] == [NFC]
    assert [e.question for e in trail.qa.get_all_qa_entries(NFC, user_id="ann")] == [
        "q?"
    ]
    assert len(trail.sessions.history(NFD)) == len(trail.sessions.history(NFC))
    assert trail.audit.entries(session_id=NFD).items


def test_user_ids_are_compared_exactly(trail: SessionTrail) -> None:
    user_nfd = unicodedata.normalize("NFD", "Zoë")
    trail.sessions.save(trail.sessions.load_or_create("chat", user_id=user_nfd))
    assert trail.sessions.load("chat", user_id=user_nfd) is not None
    assert (
        trail.sessions.load("chat", user_id=unicodedata.normalize("NFC", "Zoë")) is None
    )


# -- sessions stored before the rule, under another spelling ------------------------


def test_a_legacy_session_loads_under_its_spelling_and_nfc(
    trail: SessionTrail,
) -> None:
    legacy(trail, NFD)
    for spelling in (NFD, NFC):
        loaded = trail.sessions.load(spelling)
        assert loaded is not None and loaded.session_id == NFD
        assert [m.content for m in loaded.messages] == ["written before"]


def test_writes_by_nfc_append_to_the_legacy_session(trail: SessionTrail) -> None:
    legacy(trail, NFD)
    session = trail.sessions.load_or_create(NFC)
    session.append_message(role="user", content="after")
    trail.sessions.save(session)
    trail.sessions.edit(NFC, title="Kept")
    trail.sessions.append_token_usage(NFC, {"output_tokens": 2})
    assert streams_holding(trail, NFC, NFD) == [NFD]
    [summary] = trail.sessions.list().items
    assert (summary.session_id, summary.title) == (NFD, "Kept")
    assert [m.content for m in trail.sessions.messages(NFC).items] == [
        "written before",
        "after",
    ]
    assert trail.usage.session_totals(NFC) == {"output_tokens": 2, "records": 1}


def test_a_legacy_session_deleted_by_nfc_is_gone_under_both(
    trail: SessionTrail,
) -> None:
    legacy(trail, NFD)
    assert trail.sessions.load(NFD) is not None  # now cached
    assert trail.sessions.delete(NFC)
    assert trail.sessions.load(NFD) is None and trail.sessions.load(NFC) is None


def test_a_session_purged_by_the_other_spelling_is_gone_under_both(
    trail: SessionTrail,
) -> None:
    trail.sessions.create(Session(session_id=NFC, title="old"))
    assert trail.sessions.load(NFD) is not None  # now cached
    report = trail.sessions.purge(NFD)
    assert report.session_id == NFC
    assert trail.sessions.load(NFD) is None and trail.sessions.load(NFC) is None
    assert streams_holding(trail, NFC, NFD) == []


def test_a_legacy_session_purged_by_nfc_is_gone_under_both(
    trail: SessionTrail,
) -> None:
    legacy(trail, NFD)
    trail.sessions.purge(NFC)
    assert trail.sessions.load(NFD) is None and trail.sessions.load(NFC) is None
    assert streams_holding(trail, NFC, NFD) == []


def test_creating_the_nfc_id_of_a_legacy_session_is_a_conflict(
    trail: SessionTrail,
) -> None:
    legacy(trail, NFD)
    with pytest.raises(ConcurrencyConflict):
        trail.sessions.create(Session(session_id=NFC))
    assert streams_holding(trail, NFC, NFD) == [NFD]


def test_legacy_qa_is_found_and_extended_by_nfc(trail: SessionTrail) -> None:
    legacy(trail, NFD, user_id="ann")
    qa = QASession.start("ann", NFD)
    qa.add_entry("old?", "yes.")
    trail.store.record(qa)
    trail.projections.catch_up()
    trail.qa.create_qa_entry(NFC, "new?", "yes.", user_id="ann")
    entries = trail.qa.get_all_qa_entries(NFC, user_id="ann")
    assert [e.question for e in entries] == ["old?", "new?"]
    assert not trail.store.has_stream(qa_stream_id("ann", NFC))


def test_a_legacy_session_exports_by_nfc_and_imports_under_its_spelling(
    trail: SessionTrail, tmp_path: Path
) -> None:
    legacy(trail, NFD)
    events = list(trail.exporter.events([NFC]))
    assert events and all(e.session_id == NFD for e in events)
    path = tmp_path / "export.jsonl"
    path.write_text("".join(e.model_dump_json() + "\n" for e in events))
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        copy.importer.import_file(path)
        assert streams_holding(copy, NFC, NFD) == [NFD]
        loaded = copy.sessions.load(NFC)
        assert loaded is not None and loaded.session_id == NFD


# -- the doors: HTTP, CLI, adapters ---------------------------------------------------


@pytest.fixture
def client(trail: SessionTrail, tmp_path: Path) -> Iterator[TestClient]:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def test_http_paths_in_either_spelling_reach_one_session(client: TestClient) -> None:
    created = client.post(
        "/v1/sessions", json={"session_id": NFD}, headers=bearer("ann")
    )
    assert created.status_code == 201, created.text
    assert created.json()["session_id"] == NFC
    said = client.post(
        f"/v1/sessions/{quote(NFC)}/messages",
        json={"role": "user", "content": "hi"},
        headers=bearer("ann"),
    )
    assert said.status_code < 300, said.text
    page = client.get(f"/v1/sessions/{quote(NFD)}/messages", headers=bearer("ann"))
    assert [m["content"] for m in page.json()["items"]] == ["hi"]


def test_http_reaches_a_legacy_session_by_nfc(
    trail: SessionTrail, client: TestClient
) -> None:
    legacy(trail, NFD, user_id="ann")
    response = client.get(f"/v1/sessions/{quote(NFC)}", headers=bearer("ann"))
    assert response.status_code == 200, response.text
    assert response.json()["session_id"] == NFD


@pytest.fixture(params=["sqlite", "postgres"])
def stored_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database the CLI, a separate connection, can open too."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trail.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.url(server.new_schema())


def test_the_cli_shows_a_session_by_either_spelling(stored_url: str) -> None:
    with sessiontrail.connect(stored_url) as trail:
        legacy(trail, NFD)
        trail.sessions.save(trail.sessions.load_or_create(NOEL_NFD))
    shown = invoke_json("--db", stored_url, "show", NFC)
    assert shown["session"]["session_id"] == NFD
    shown = invoke_json("--db", stored_url, "show", NOEL_NFD)
    assert shown["session"]["session_id"] == NOEL_NFC
    assert invoke("--db", stored_url, "history", NFC).exit_code == 0


def test_the_openai_session_reads_what_the_other_spelling_wrote(
    trail: SessionTrail,
) -> None:
    import asyncio

    from sessiontrail.integrations.openai_agents import TrailSession

    async def run() -> list[Any]:
        await TrailSession(NFD, trail).add_items([{"role": "user", "content": "hi"}])
        return await TrailSession(NFC, trail).get_items()

    items = asyncio.run(run())
    assert [item["content"] for item in items] == ["hi"]


def test_the_adk_service_gets_a_session_by_either_spelling(
    trail: SessionTrail,
) -> None:
    import asyncio

    pytest.importorskip("google.adk")
    from sessiontrail.integrations.adk import TrailSessionService

    service = TrailSessionService(trail)

    async def run() -> tuple[Any, Any]:
        await service.create_session(app_name=NFD, user_id="ann", session_id=NFD)
        got = await service.get_session(app_name=NFC, user_id="ann", session_id=NFC)
        listed = await service.list_sessions(app_name=NFC, user_id="ann")
        return got, listed

    got, listed = asyncio.run(run())
    assert got is not None and got.id == NFC
    assert [s.id for s in listed.sessions] == [NFC]


def test_a_fork_takes_either_spelling_and_stores_its_new_id_in_nfc(
    trail: SessionTrail,
) -> None:
    legacy(trail, NFD)
    fork = trail.sessions.fork(NFC, new_id=NOEL_NFD)
    assert fork.session_id == NOEL_NFC
    stored = trail.sessions.load(NOEL_NFD)
    assert stored is not None and [m.content for m in stored.messages] == [
        "written before"
    ]
    assert trail.sessions.history(NOEL_NFC)[0].payload["source_id"] == NFD


# -- the cost: ASCII ids need no look-up --------------------------------------------


def test_an_ascii_id_costs_no_look_up(
    trail: SessionTrail, look_ups: list[UUID]
) -> None:
    session = trail.sessions.load_or_create("chat-42")
    session.append_message(role="user", content="hi")
    trail.sessions.save(session)
    trail.sessions.create(Session(session_id="chat-43"))
    trail.sessions.edit("chat-42", title="Plan")
    trail.sessions.messages("chat-42")
    trail.sessions.history("chat-42")
    trail.usage.session_totals("chat-42")
    trail.qa.create_qa_entry("chat-42", "q?", "a.")
    trail.qa.get_all_qa_entries("chat-42")
    assert look_ups == []


def test_a_non_ascii_id_costs_one_look_up_per_spelling_tried(
    trail: SessionTrail, look_ups: list[UUID]
) -> None:
    trail.sessions.save(trail.sessions.load_or_create(NFC))
    look_ups.clear()
    trail.sessions.messages(NFC)  # NFC holds it: one look-up
    assert look_ups == [stream_id(NFC)]
    look_ups.clear()
    trail.sessions.messages(NFD)  # NFD does not, NFC does: two
    assert look_ups == [stream_id(NFD), stream_id(NFC)]
