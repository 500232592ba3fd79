"""`pop_item` on one OpenAI Agents SDK session, side by side with the SDK's own
SQLiteSession: racing pops each take a different item, as there, also when the
pops come from two processes sharing the store; and a pop takes one item of a
message that stands for several (another writer's text and tool calls)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from agents.memory import Session as SessionProtocol
from agents.memory import SQLiteSession

import sessiontrail
from sessiontrail import aio
from sessiontrail.infrastructure.event_store import SessionStore
from sessiontrail.integrations.openai_agents import TrailSession
from sessiontrail.projections.transcript_index import TranscriptIds

T = TypeVar("T")
ITEMS = 24
"""Items added, then popped by as many concurrent calls."""


async def pop_all(
    sessions: tuple[SessionProtocol, SessionProtocol],
) -> tuple[list[Any], list[Any]]:
    """Add ITEMS items through the first session, then pop as many at once, half
    through each session: what the pops returned, and what is left."""
    await sessions[0].add_items(
        [{"role": "user", "content": f"item-{n:02d}"} for n in range(ITEMS)]
    )
    popped = await asyncio.gather(*(sessions[n % 2].pop_item() for n in range(ITEMS)))
    return list(popped), await sessions[0].get_items()


Race = Callable[[tuple[SessionProtocol, SessionProtocol]], Awaitable[T]]


def two_of_each(url: str, tmp_path: Path, race: Race[T], given: Any = ()) -> list[T]:
    """What `race` gives on two SQLiteSessions of one file (`given` added to it
    first) and on two TrailSessions of one session, each on its own trail
    (standing for two processes)."""

    async def sdk() -> T:
        one = SQLiteSession("chat-1", tmp_path / "sdk.db")
        two = SQLiteSession("chat-1", tmp_path / "sdk.db")
        try:
            if given:
                await one.add_items(list(given))
            return await race((one, two))
        finally:
            one.close()
            two.close()

    async def ours() -> T:
        async with aio.connect(url) as one, aio.connect(url) as two:
            return await race(
                (TrailSession("chat-1", one), TrailSession("chat-1", two))
            )

    return [asyncio.run(sdk()), asyncio.run(ours())]


def contents(items: list[Any]) -> list[str | None]:
    return sorted(
        (None if item is None else item["content"] for item in items),
        key=lambda content: content or "",
    )


def test_racing_pops_each_take_a_different_item(url: str, tmp_path: Path) -> None:
    every_item = [f"item-{n:02d}" for n in range(ITEMS)]
    for popped, left in two_of_each(url, tmp_path, pop_all):
        assert contents(popped) == every_item  # each exactly once, none missed
        assert left == []


CALLS = 2
"""Tool calls of each message another writer appends with text."""


def write_as_another_writer(url: str, messages: int) -> list[Any]:
    """Append `messages` assistant messages, each with text and CALLS tool calls,
    as a person or another app does through the sync API: each is several
    items for the SDK. The items they stand for, in order."""
    items: list[Any] = []
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("chat-1")
        for number in range(messages):
            calls = [
                {"id": f"c{number}-{n}", "name": "look", "arguments": {"n": n}}
                for n in range(CALLS)
            ]
            session.append_message(
                role="assistant", content=f"text-{number}", tool_calls=calls
            )
            items.append({"role": "assistant", "content": f"text-{number}"})
            items += [
                {
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": "look",
                    "arguments": json.dumps(call["arguments"]),
                }
                for call in calls
            ]
        trail.sessions.save(session)
    return items


async def pop_each(session: SessionProtocol) -> list[tuple[Any, list[Any]]]:
    """Pop until empty: each item popped, and the items left after it."""
    seen = []
    while True:
        popped = await session.pop_item()
        seen.append((popped, await session.get_items()))
        if popped is None:
            return seen


def test_a_pop_takes_one_item_of_another_writers_message(
    url: str, tmp_path: Path
) -> None:
    """A message with text and tool calls is several items; a pop takes the last
    alone and leaves the others readable, in order, as SQLiteSession (one row
    per item) does."""
    items = write_as_another_writer(url, 2)

    async def sdk() -> list[tuple[Any, list[Any]]]:
        session = SQLiteSession("chat-1", tmp_path / "sdk.db")
        try:
            await session.add_items(items)
            return await pop_each(session)
        finally:
            session.close()

    async def ours() -> list[tuple[Any, list[Any]]]:
        async with aio.connect(url) as trail:
            return await pop_each(TrailSession("chat-1", trail))

    expected = [(item, items[:n]) for n, item in reversed(list(enumerate(items)))]
    assert asyncio.run(sdk()) == [*expected, (None, [])]
    assert asyncio.run(ours()) == [*expected, (None, [])]


def test_racing_pops_each_take_a_different_item_of_multi_item_messages(
    url: str, tmp_path: Path
) -> None:
    items = write_as_another_writer(url, ITEMS // (CALLS + 1))

    async def racing(sessions: tuple[Any, Any]) -> tuple[list[Any], list[Any]]:
        popped = await asyncio.gather(
            *(sessions[n % 2].pop_item() for n in range(len(items)))
        )
        return list(popped), await sessions[0].get_items()

    every_item = sorted(json.dumps(item, sort_keys=True) for item in items)
    for popped, left in two_of_each(url, tmp_path, racing, items):
        assert sorted(json.dumps(item, sort_keys=True) for item in popped) == (
            every_item
        )  # each exactly once, none missed
        assert left == []


def test_a_clear_made_on_an_older_copy_takes_what_a_pop_left_of_a_message(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clear that read the session before a pop took one item of a message
    and saved after it still takes the rest of that message (it named the
    message, which keeps its id): nothing is left, as after a pop and a clear
    on SQLiteSession."""
    items = write_as_another_writer(url, 1)
    with sessiontrail.connect(url) as one, sessiontrail.connect(url) as two:
        save = one.sessions.save
        popped: list[Any] = []

        def popped_meanwhile(session: Any) -> Any:
            monkeypatch.setattr(one.sessions, "save", save)
            other = TrailSession("chat-1", two)
            popped.append(asyncio.run(other.pop_item()))
            popped.append(asyncio.run(other.get_items()))
            return save(session)

        monkeypatch.setattr(one.sessions, "save", popped_meanwhile)
        asyncio.run(TrailSession("chat-1", one).clear_session())
        assert popped == [items[-1], items[:-1]]
        assert asyncio.run(TrailSession("chat-1", two).get_items()) == []


def test_a_pop_of_one_item_of_a_message_reads_no_transcript(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking one item of a long session's newest message costs what a pop of
    a whole message does: the newest message from the read model, never the
    transcript, from the log or the read model."""
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("chat-1")
        for number in range(120):  # past a snapshot: loads hold no transcript
            session.append_message(role="user", content=f"item {number}")
        trail.sessions.save(session)
    items = write_as_another_writer(url, 1)
    folds: list[int] = []
    read: list[int] = []
    events_until, last = SessionStore.events_until, TranscriptIds.last

    def folded(store: SessionStore, stream: Any, version: int) -> Any:
        folds.append(version)
        return events_until(store, stream, version)

    def newest(index: TranscriptIds, stream: Any, version: int, count: int) -> Any:
        read.append(count)
        return last(index, stream, version, count)

    monkeypatch.setattr(SessionStore, "events_until", folded)
    monkeypatch.setattr(TranscriptIds, "last", newest)

    async def pop() -> Any:
        async with aio.connect(url, cache_size=0) as trail:
            return await TrailSession("chat-1", trail).pop_item()

    assert asyncio.run(pop()) == items[-1]
    assert folds == []
    assert read and max(read) == 1

    async def left() -> list[Any]:
        async with aio.connect(url) as trail:
            return await TrailSession("chat-1", trail).get_items(limit=len(items) - 1)

    assert asyncio.run(left()) == items[:-1]
