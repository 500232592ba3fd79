"""The OpenAI Agents SDK adapter, driven by the real SDK (a scripted model, no
network) and through every method of the SDK's Session protocol."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from agents import Agent, Runner, function_tool
from agents.extensions.memory import EncryptedSession
from agents.memory import Session as SessionProtocol
from agents.memory import SessionSettings, SQLiteSession
from agents.testing import ScriptedModel, assistant_message, function_call
from cryptography.fernet import Fernet

import sessiontrail
from sessiontrail import ConcurrencyConflict, InvalidInput, SessionTrail, aio
from sessiontrail.integrations.openai_agents import TrailSession

T = TypeVar("T")

ITEMS: list[Any] = [
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "developer", "content": "Answer briefly."},
    {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "and this picture?"},
            {"type": "input_image", "image_url": "https://example.com/a.png"},
        ],
    },
    {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Need the weather tool."}],
        "encrypted_content": "gAAAA...",
    },
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "weather",
        "arguments": '{"city": "Paris"}',
        "status": "completed",
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "18C, sunny"},
    {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "paris weather"},
    },
    {
        "type": "computer_call_output",
        "call_id": "cc_1",
        "output": {"type": "computer_screenshot", "image_url": "data:,"},
    },
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": "18C and sunny.", "annotations": []}
        ],
    },
]


def with_trail(
    url: str,
    scenario: Callable[[aio.AsyncSessionTrail], Awaitable[T]],
    projections: sessiontrail.Mode = "inline",
) -> T:
    async def run() -> T:
        async with await aio.connect(url, projections=projections) as trail:
            return await scenario(trail)

    return asyncio.run(run())


def test_a_runner_stores_its_conversation_and_continues_it(url: str) -> None:
    @function_tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"18C in {city}"

    model = ScriptedModel(
        [
            [function_call("weather", {"city": "Paris"}, call_id="call_1")],
            [assistant_message("It is 18C in Paris.")],
            [assistant_message("You asked about Paris.")],
        ]
    )
    agent = Agent(name="helper", model=model, tools=[weather])

    async def scenario(trail: aio.AsyncSessionTrail) -> tuple[str, str, list[Any]]:
        session = TrailSession("chat-1", trail, user_id="ann")
        first = await Runner.run(agent, "Weather in Paris?", session=session)
        again = TrailSession("chat-1", trail, user_id="ann")  # a new process would
        second = await Runner.run(agent, "What did I ask?", session=again)
        return first.final_output, second.final_output, await again.get_items()

    first, second, items = with_trail(url, scenario)
    assert (first, second) == ("It is 18C in Paris.", "You asked about Paris.")
    last_input = model.last_call.input if model.last_call else []
    assert isinstance(last_input, list)
    assert last_input[: len(items) - 1] == items[:-1]  # run 2 saw run 1's items
    assert [item.get("type", "message") for item in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
        "message",
    ]
    with sessiontrail.connect(url) as trail:
        stored = trail.sessions.load("chat-1", user_id="ann")
        assert stored is not None
        assert [m.role for m in stored.messages] == [
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
            "assistant",
        ]
        assert (
            stored.messages[1].tool_calls
            and stored.messages[1].tool_calls[0].name == "weather"
        )
        assert stored.messages[2].content == "18C in Paris"
        assert trail.sessions.list(user_id="ann").items[0].message_count == 6
        assert {entry.actor for entry in trail.sessions.history("chat-1")} == {
            "runtime"
        }
        assert trail.verify().ok


def test_every_item_type_comes_back_unchanged(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> list[Any]:
        session = TrailSession("chat-1", trail)
        await session.add_items(ITEMS[:4])
        await session.add_items(ITEMS[4:])
        return await TrailSession("chat-1", trail).get_items()

    assert with_trail(url, scenario) == ITEMS


LIMITS = [None, 0, -1, -6, -100, 1, 5, 6, 7, 10, 11, 12, 100]
"""Every kind of limit on a session of six items: none, zero, negative, fewer,
equal, more (up to twice as many and beyond)."""

SETTINGS: list[Any] = [
    None,
    SessionSettings(),
    SessionSettings(limit=2),
    {"limit": 4},
    SessionSettings(limit=0),
    SessionSettings(limit=-1),
    SessionSettings(limit=9),
]
"""What a session may be constructed with; a dict is coerced, as the SDK does."""


async def every_read(make: Callable[[Any], Any]) -> dict[str, list[Any]]:
    """Six items stored, then `get_items(limit)` under every settings and limit."""
    await make(None).add_items(ITEMS[:6])
    return {
        f"settings={settings!r} limit={limit!r}": await make(settings).get_items(limit)
        for settings in SETTINGS
        for limit in LIMITS
    }


@pytest.mark.parametrize("projections", ["inline", "worker"])
def test_limits_read_as_the_sdks_sqlite_session(
    url: str, tmp_path: Path, projections: sessiontrail.Mode
) -> None:
    """In worker mode too: the session reads its own writes, as the SDK's does."""

    async def sdk() -> dict[str, list[Any]]:
        opened: list[SQLiteSession] = []

        def make(settings: Any) -> SQLiteSession:
            session = SQLiteSession(
                "chat-1", tmp_path / "sdk.db", session_settings=settings
            )
            opened.append(session)
            return session

        try:
            return await every_read(make)
        finally:
            for session in opened:
                session.close()

    async def ours(trail: aio.AsyncSessionTrail) -> dict[str, list[Any]]:
        return await every_read(
            lambda settings: TrailSession("chat-1", trail, session_settings=settings)
        )

    expected = asyncio.run(sdk())
    assert expected["settings=None limit=10"] == ITEMS[:6]  # the SDK's own answer
    assert with_trail(url, ours, projections) == expected


def test_the_sdks_encrypted_session_reads_through_it_as_through_sqlite(
    url: str, tmp_path: Path
) -> None:
    """EncryptedSession widens its read window past unreadable items (here plain
    ones stored after the encrypted ones), asking for more items than exist."""
    key = Fernet.generate_key().decode("ascii")

    async def latest_two(underlying: Any) -> list[Any]:
        encrypted = EncryptedSession("chat-1", underlying, encryption_key=key)
        await encrypted.add_items(ITEMS[:3])
        await underlying.add_items(ITEMS[3:6])
        return await encrypted.get_items(limit=2)

    async def sdk() -> list[Any]:
        sqlite = SQLiteSession("chat-1", tmp_path / "sdk.db")
        try:
            return await latest_two(sqlite)
        finally:
            sqlite.close()

    async def ours(trail: aio.AsyncSessionTrail) -> list[Any]:
        return await latest_two(TrailSession("chat-1", trail))

    assert asyncio.run(sdk()) == ITEMS[1:3]
    assert with_trail(url, ours) == ITEMS[1:3]


def test_pop_and_clear_are_events_not_deletes(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> tuple[Any, ...]:
        session = TrailSession("chat-1", trail)
        await session.add_items(ITEMS[:3])
        popped = await session.pop_item()
        after_pop = await session.get_items()
        await session.clear_session()
        after_clear = await session.get_items()
        await session.add_items(ITEMS[:1])
        return popped, after_pop, after_clear, await session.get_items()

    popped, after_pop, after_clear, refilled = with_trail(url, scenario)
    assert popped == ITEMS[2]
    assert after_pop == ITEMS[:2]
    assert after_clear == []
    assert refilled == ITEMS[:1]
    with sessiontrail.connect(url) as trail:
        events = [entry.event for entry in trail.sessions.history("chat-1")]
        assert events.count("TranscriptTruncated") == 2
        before_pop = trail.sessions.at("chat-1", version=4)  # started + 3 appends
        assert before_pop is not None
        assert [m.metadata["openai_item"] for m in before_pop.messages] == ITEMS[:3]


def test_a_pop_takes_the_item_another_process_added_last(
    url: str, tmp_path: Path
) -> None:
    """Two processes on one store: the second has read the session before the
    first added to it; its pop takes (and returns) the newest item, as the
    SDK's SQLiteSession does."""

    async def scenario(first: Any, second: Any) -> tuple[Any, list[Any]]:
        await first.add_items(ITEMS[:2])
        await second.pop_item()  # reads the session (ours: caches it)
        await first.add_items(ITEMS[1:3])
        return await second.pop_item(), await first.get_items()

    async def sdk() -> tuple[Any, list[Any]]:
        one = SQLiteSession("chat-1", tmp_path / "sdk.db")
        two = SQLiteSession("chat-1", tmp_path / "sdk.db")
        try:
            return await scenario(one, two)
        finally:
            one.close()
            two.close()

    async def ours() -> tuple[Any, list[Any]]:
        with sessiontrail.connect(url) as one, sessiontrail.connect(url) as two:
            return await scenario(
                TrailSession("chat-1", one), TrailSession("chat-1", two)
            )

    expected = (ITEMS[2], ITEMS[:2])
    assert asyncio.run(sdk()) == expected
    assert asyncio.run(ours()) == expected


def test_empty_and_unknown_sessions(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> tuple[Any, ...]:
        session = TrailSession("never-saved", trail)
        await session.add_items([])
        await session.clear_session()
        return (
            await session.get_items(),
            await session.get_items(limit=5),
            await session.pop_item(),
        )

    assert with_trail(url, scenario) == ([], [], None)
    with sessiontrail.connect(url) as trail:
        assert not trail.sessions.exists("never-saved")


def test_another_users_session_is_no_items(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> tuple[Any, ...]:
        await TrailSession("chat-1", trail, user_id="ann").add_items(ITEMS[:2])
        bob = TrailSession("chat-1", trail, user_id="bob")
        seen = await bob.get_items(), await bob.pop_item()
        await bob.clear_session()
        with pytest.raises(ConcurrencyConflict, match="already in use"):
            await bob.add_items(ITEMS[2:3])
        return (*seen, await TrailSession("chat-1", trail, user_id="ann").get_items())

    assert with_trail(url, scenario) == ([], None, ITEMS[:2])


def test_a_bad_item_stores_nothing(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> None:
        await TrailSession("chat-1", trail).add_items([ITEMS[0], "not an item"])  # type: ignore[list-item]

    with pytest.raises(InvalidInput, match=r"items\[1\]"):
        with_trail(url, scenario)

    async def not_json(trail: aio.AsyncSessionTrail) -> None:
        await TrailSession("chat-1", trail).add_items(
            [{"role": "user", "content": {1, 2}}]
        )  # type: ignore[list-item]

    with pytest.raises(InvalidInput, match=r"items\[0\]: not JSON"):
        with_trail(url, not_json)
    with sessiontrail.connect(url) as trail:
        assert not trail.sessions.exists("chat-1")


def test_messages_other_writers_append_read_as_items(url: str) -> None:
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("chat-1")
        session.append_message(role="user", content="typed in the UI")
        session.append_message(
            role="assistant",
            tool_calls=[{"id": "c1", "name": "lookup", "arguments": {"q": "x"}}],
        )
        session.append_message(role="tool", content="found", tool_call_id="c1")
        trail.sessions.save(session)

    async def scenario(trail: aio.AsyncSessionTrail) -> list[Any]:
        return await TrailSession("chat-1", trail).get_items()

    assert with_trail(url, scenario) == [
        {"role": "user", "content": "typed in the UI"},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "lookup",
            "arguments": '{"q": "x"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": "found"},
    ]


def test_racing_runners_keep_every_item(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> list[Any]:
        async def writer(name: str) -> None:
            session = TrailSession("chat-1", trail)
            for turn in range(10):
                await session.add_items([{"role": "user", "content": f"{name}-{turn}"}])

        await asyncio.gather(writer("a"), writer("b"), writer("c"))
        return await TrailSession("chat-1", trail).get_items()

    items = with_trail(url, scenario)
    contents = [item["content"] for item in items]
    assert sorted(contents) == sorted(f"{w}-{t}" for w in "abc" for t in range(10))
    for name in "abc":
        assert [c for c in contents if c.startswith(name)] == [
            f"{name}-{t}" for t in range(10)
        ]


def test_it_is_an_sdk_session(tmp_path: Any) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> bool:
        return isinstance(TrailSession("chat-1", trail), SessionProtocol)

    assert with_trail(f"sqlite:///{tmp_path / 't.db'}", scenario)


def test_an_erased_users_items_read_as_erased(url: str) -> None:
    async def write(trail: aio.AsyncSessionTrail) -> None:
        await TrailSession("chat-1", trail, user_id="ann").add_items(ITEMS[:2])

    async def read(trail: aio.AsyncSessionTrail) -> list[Any]:
        await trail.erase_user("ann")
        return await TrailSession("chat-1", trail, user_id="ann").get_items()

    with_trail(url, write)
    assert with_trail(url, read) == [
        {"role": "user", "content": "[erased]"},
        {"role": "system", "content": "[erased]"},
    ]


def pool_threads() -> int:
    """Threads of async trails' own pools now running in this process."""
    return sum(t.name.startswith("sessiontrail") for t in threading.enumerate())


def test_a_sync_trail_works_and_stays_the_callers(trail: SessionTrail) -> None:
    async def scenario() -> list[Any]:
        session = TrailSession("chat-1", trail)
        await session.add_items(ITEMS[:2])
        await session.close()
        with pytest.raises(RuntimeError, match="TrailSession is closed"):
            await session.get_items()
        return await TrailSession("chat-1", trail).get_items()

    assert asyncio.run(scenario()) == ITEMS[:2]
    stored = trail.sessions.load("chat-1")  # the caller's trail is still open
    assert stored is not None and len(stored.messages) == 2


def test_an_async_trail_stays_open_after_the_session_closes(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> bool:
        async with TrailSession("chat-1", trail) as session:
            await session.add_items(ITEMS[:1])
        return await trail.sessions.exists("chat-1")

    assert with_trail(url, scenario)


def test_a_url_is_opened_and_closed_by_the_session(
    url: str, trail: SessionTrail
) -> None:
    """`trail` keeps a memory:// log alive and reads what the session wrote."""
    before = pool_threads()

    async def scenario() -> int:
        async with TrailSession("chat-1", url) as session:
            await session.add_items(ITEMS[:2])
            during = pool_threads()
        with pytest.raises(RuntimeError, match="TrailSession is closed"):
            await session.add_items(ITEMS[2:3])
        return during

    assert asyncio.run(scenario()) > before
    assert pool_threads() == before  # closed: its threads are gone
    stored = trail.sessions.load("chat-1")
    assert stored is not None
    assert [m.metadata["openai_item"] for m in stored.messages] == ITEMS[:2]


@pytest.mark.parametrize("wrong", [None, Path("chats.db"), 42, {"url": "x"}])
def test_anything_but_a_trail_or_url_is_refused_when_constructed(wrong: Any) -> None:
    with pytest.raises(
        TypeError,
        match=r"^TrailSession: trail must be an async trail .*, a trail .* or a "
        r"database URL such as 'sqlite:///chats.db'; got ",
    ):
        TrailSession("chat-1", wrong)


def test_an_empty_url_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="trail: an empty URL"):
        TrailSession("chat-1", " ")


def test_clear_session_purges_when_asked(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> tuple[Any, ...]:
        session = TrailSession("chat-1", trail, clear="purge")
        await session.add_items(ITEMS[:3])
        await session.clear_session()
        await session.clear_session()  # nothing there: no error, as the SDK's
        after_clear = await session.get_items()
        await session.add_items(ITEMS[:1])
        return after_clear, await session.get_items()

    after_clear, refilled = with_trail(url, scenario)
    assert after_clear == [] and refilled == ITEMS[:1]
    with sessiontrail.connect(url) as trail:  # the old transcript is gone for good
        events = [entry.event for entry in trail.sessions.history("chat-1")]
        assert events == ["Started", "MessageAppended"]
