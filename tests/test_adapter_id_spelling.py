"""Session ids that differ only in Unicode normalisation, side by side with the
frameworks' own stores: the OpenAI Agents SDK's SQLiteSession and ADK's
InMemorySessionService and SqliteSessionService keep "café" typed with a
composed é (NFC) and with an e plus a combining accent (NFD) apart; the
adapters here make them one session, by the rule every session id follows
(docs/security.md, "Ids that look alike"). LangGraph threads, which are kept
apart here too, are in test_langgraph_thread_spelling.py. These tests pin the
difference, so a change on either side is seen."""

from __future__ import annotations

import asyncio
import unicodedata
from pathlib import Path
from typing import Any

from agents.memory import SQLiteSession
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.sqlite_session_service import SqliteSessionService

from sessiontrail import SessionTrail
from sessiontrail.integrations.adk import TrailSessionService
from sessiontrail.integrations.openai_agents import TrailSession

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


async def openai_items(open_session: Any) -> dict[str, list[str]]:
    """Each spelling's items after each added its own."""
    for session_id in (NFC, NFD):
        await open_session(session_id).add_items(
            [{"role": "user", "content": session_id}]
        )
    return {
        session_id: [
            item["content"] for item in await open_session(session_id).get_items()
        ]
        for session_id in (NFC, NFD)
    }


def test_openai_session_ids_in_nfc_and_nfd_are_two_in_the_sdk_and_one_here(
    trail: SessionTrail, tmp_path: Path
) -> None:
    def theirs(session_id: str) -> SQLiteSession:
        return SQLiteSession(session_id, tmp_path / "sdk.db")

    def ours(session_id: str) -> TrailSession:
        return TrailSession(session_id, trail)

    assert asyncio.run(openai_items(theirs)) == {NFC: [NFC], NFD: [NFD]}
    assert asyncio.run(openai_items(ours)) == {NFC: [NFC, NFD], NFD: [NFC, NFD]}


async def adk_sessions(service: BaseSessionService) -> list[Any]:
    """What creating a session under each spelling, in one app and then in an
    app of each spelling, gives: the ids listed, or the refusal."""
    outcomes: list[Any] = []
    for app_name, session_id in ((NFC, NFC), (NFC, NFD), (NFD, "other")):
        try:
            await service.create_session(
                app_name=app_name, user_id="ann", session_id=session_id
            )
            outcomes.append("created")
        except AlreadyExistsError:
            outcomes.append("already exists")
    listed = await service.list_sessions(app_name=NFC, user_id="ann")
    return [*outcomes, sorted(session.id for session in listed.sessions)]


def test_adk_session_ids_and_apps_in_nfc_and_nfd_are_two_in_adk_and_one_here(
    trail: SessionTrail, tmp_path: Path
) -> None:
    separate = ["created", "created", "created", sorted([NFC, NFD])]
    assert asyncio.run(adk_sessions(InMemorySessionService())) == separate
    sqlite = SqliteSessionService(str(tmp_path / "adk.db"))
    assert asyncio.run(adk_sessions(sqlite)) == separate
    ours = asyncio.run(adk_sessions(TrailSessionService(trail)))
    assert ours == ["created", "already exists", "created", [NFC, "other"]]
