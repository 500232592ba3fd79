"""The OpenAI Agents SDK and ADK adapters read their own writes in worker mode too,
as the frameworks' own stores do, side by side with them. No worker runs here:
what a read needs, the adapter's read applies (and a worker later finds done)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from agents.memory import SQLiteSession
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from test_adk import APP, event, recreate
from test_openai_agents import ITEMS

import sessiontrail
from sessiontrail import aio
from sessiontrail.infrastructure.event_store import SessionStore
from sessiontrail.integrations.adk import TrailSessionService
from sessiontrail.integrations.openai_agents import TrailSession


async def items_round(session: Any) -> list[Any]:
    """Add, read, pop and clear, reading after each write."""
    seen: list[Any] = []
    await session.add_items(ITEMS[:3])
    seen.append(await session.get_items())
    seen.append(await session.pop_item())
    seen.append(await session.get_items(limit=1))
    await session.add_items(ITEMS[3:5])
    seen.append(await session.get_items(limit=3))
    await session.clear_session()
    seen.append(await session.get_items())
    return seen


def test_openai_items_read_their_own_writes_as_the_sdks_sqlite_session(
    url: str, tmp_path: Path
) -> None:
    async def sdk() -> list[Any]:
        session = SQLiteSession("chat-1", tmp_path / "sdk.db")
        try:
            return await items_round(session)
        finally:
            session.close()

    async def ours() -> list[Any]:
        async with await aio.connect(url, projections="worker") as trail:
            return await items_round(TrailSession("chat-1", trail))

    expected = asyncio.run(sdk())
    assert expected[0] == ITEMS[:3]  # the SDK's own answer
    assert asyncio.run(ours()) == expected


def test_adk_sessions_read_their_own_writes_as_adks_service(url: str) -> None:
    expected = asyncio.run(recreate(InMemorySessionService()))

    async def ours() -> tuple[Any, ...]:
        async with await aio.connect(url, projections="worker") as trail:
            return await recreate(TrailSessionService(trail))

    assert asyncio.run(ours()) == expected


def test_a_worker_finds_done_what_an_adapters_read_applied(url: str) -> None:
    async def write() -> None:
        async with await aio.connect(url, projections="worker") as trail:
            service = TrailSessionService(trail)
            session = await service.create_session(
                app_name=APP, user_id="ann", session_id="s"
            )
            await service.append_event(session, event("user", "hello"))
            read = await service.get_session(
                app_name=APP, user_id="ann", session_id="s"
            )
            assert read is not None and len(read.events) == 1
            await TrailSession("chat-1", trail, user_id="ann").add_items(ITEMS[:2])

    asyncio.run(write())
    with sessiontrail.connect(url, projections="worker") as trail:
        trail.projections.catch_up()  # the worker: the rest of the read models
        listed = trail.sessions.list(user_id="ann").items
        assert sorted(summary.message_count for summary in listed) == [1, 2]
        assert len(trail.sessions.messages("chat-1").items) == 2


def test_a_pop_in_worker_mode_reads_no_transcript_from_the_log(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transcript read model answers a loaded session's id questions (the
    newest message, for a pop) once its read brought it up to the log, instead
    of the session folding its whole log each time."""
    folds: list[int] = []
    events_until = SessionStore.events_until

    def counted(store: SessionStore, stream: Any, version: int) -> Any:
        folds.append(version)
        return events_until(store, stream, version)

    monkeypatch.setattr(SessionStore, "events_until", counted)

    async def pop() -> Any:
        opened = aio.connect(url, projections="worker", cache_size=0)
        async with await opened as trail:  # a stateless web worker's
            session = TrailSession("chat-1", trail)
            await session.add_items(many)  # past a snapshot: loads hold no transcript
            return await session.pop_item()

    many = [{"role": "user", "content": f"item {number}"} for number in range(120)]
    assert asyncio.run(pop()) == many[-1]
    assert folds == []
