"""The async facade: same results as the sync API, a free event loop while storage
waits, no lost writes from racing tasks, and cancellation that never halves a save."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.deadlines import wait_until

import sessiontrail
from sessiontrail import InvalidInput, StorageUnavailable, aio
from sessiontrail.aio_parts import Start


@contextmanager
def write_lock_held(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holds the SQLite file's write lock until `commit()`."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.close()


def test_calls_return_what_the_sync_api_returns(url: str) -> None:
    async def record() -> tuple[object, ...]:
        async with await aio.connect(url) as trail:
            session = await trail.sessions.load_or_create("chat-1", user_id="ann")
            session.append_message(role="user", content="hello")
            session.edit_title("Greetings")
            await trail.sessions.save(session)
            await trail.sessions.append_token_usage("chat-1", {"input_tokens": 7})
            await trail.qa.create_qa_entry("chat-1", "q?", "a.", user_id="ann")
            return (
                await trail.sessions.list(user_id="ann"),
                await trail.sessions.messages("chat-1", last_n=1),
                [entry.event for entry in await trail.sessions.history("chat-1")],
                await trail.qa.get_all_qa_entries("chat-1", user_id="ann"),
                [(s.name, s.lag) for s in await trail.projections.status()],
                (await trail.verify()).ok,
            )

    listed, page, events, entries, status, verified = asyncio.run(record())
    with sessiontrail.connect(url) as trail:
        assert listed == trail.sessions.list(user_id="ann")
        assert page == trail.sessions.messages("chat-1", last_n=1)
        assert events == [e.event for e in trail.sessions.history("chat-1")]
        assert entries == trail.qa.get_all_qa_entries("chat-1", user_id="ann")
        assert status == [(s.name, 0) for s in trail.projections.status()]
    assert verified and [m.content for m in page.items] == ["hello"]


def test_errors_surface_as_the_sync_api_raises_them(url: str) -> None:
    async def bad_limit() -> None:
        async with await aio.connect(url) as trail:
            await trail.sessions.list(limit=0)

    with pytest.raises(InvalidInput, match="limit"):
        asyncio.run(bad_limit())
    with pytest.raises(InvalidInput, match="threads"):
        asyncio.run(aio.connect(url, threads=0))


def test_racing_tasks_lose_no_write(url: str) -> None:
    tasks, appends = 4, 25

    async def race() -> list[list[str]]:
        async with await aio.connect(url) as trail:
            await trail.sessions.save(sessiontrail.Session(session_id="shared"))

            async def writer(number: int) -> list[str]:
                session = await trail.sessions.load("shared")  # its own object
                acknowledged = []
                for turn in range(appends):
                    content = f"t{number}-{turn:03d}"
                    session.append_message(role="user", content=content)
                    await trail.sessions.save(session)
                    acknowledged.append(content)
                return acknowledged

            return await asyncio.gather(*(writer(n) for n in range(tasks)))

    acknowledged = asyncio.run(race())
    with sessiontrail.connect(url) as trail:
        stored = [m.content for m in trail.sessions.load_merged("shared").messages]
        assert len(stored) == len(set(stored)) == tasks * appends
        for writer in acknowledged:
            prefix = writer[0].split("-")[0] + "-"
            assert [c for c in stored if c.startswith(prefix)] == writer
        assert trail.verify().ok


def test_the_loop_runs_other_tasks_while_a_save_waits_for_storage(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trail.db"

    async def scenario() -> list[str]:
        async with await aio.connect(f"sqlite:///{path}") as trail:
            session = await trail.sessions.load_or_create("chat-1")
            session.append_message(role="user", content="waits for the lock")
            order = []
            with write_lock_held(path) as holder:
                save = asyncio.create_task(trail.sessions.save(session))
                await asyncio.sleep(0.3)  # would not return with a blocked loop
                order.append("loop ran" if not save.done() else "save done early")
                holder.commit()  # only a running loop gets here to let it go
                await save
                order.append("saved")
            return order

    assert asyncio.run(scenario()) == ["loop ran", "saved"]
    with sessiontrail.connect(f"sqlite:///{path}") as trail:
        assert [m.content for m in trail.sessions.load("chat-1").messages] == [
            "waits for the lock"
        ]


def test_a_cancelled_save_finishes_before_the_cancellation_surfaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled once its thread has begun it (it then waits for the file's write
    lock): the save is stored whole before the cancellation surfaces."""
    path = tmp_path / "trail.db"
    url = f"sqlite:///{path}"
    began = threading.Event()
    begin = Start.begin

    def beginning(start: Start) -> bool:
        running = begin(start)
        if running:
            began.set()
        return running

    monkeypatch.setattr(Start, "begin", beginning)

    async def scenario() -> tuple[bool, int]:
        async with await aio.connect(url) as trail:
            session = await trail.sessions.load_or_create("chat-1")
            for turn in range(3):
                session.append_message(role="user", content=f"m{turn}")
            with write_lock_held(path) as holder:
                began.clear()
                save = asyncio.create_task(trail.sessions.save(session))
                await asyncio.sleep(0)  # the task hands the save to a thread
                wait_until(began.is_set, "the save's thread began it")
                save.cancel()
                await asyncio.sleep(0.2)
                waiting = not save.done()  # the thread still holds the save
                asyncio.get_running_loop().call_later(0.2, holder.commit)
                with pytest.raises(asyncio.CancelledError):
                    await save
                with sessiontrail.connect(url) as other:  # the moment it surfaced
                    stored = len(other.sessions.load("chat-1").messages)
            return waiting, stored

    waiting, stored = asyncio.run(scenario())
    assert waiting
    assert stored == 3  # the whole save, never a part of it
    with sessiontrail.connect(url) as trail:
        assert trail.verify().ok


def test_close_waits_for_running_calls_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trail.db'}"

    async def scenario() -> int:
        trail = await aio.connect(url)
        session = await trail.sessions.load_or_create("chat-1")
        session.append_message(role="user", content="last words")
        save = asyncio.create_task(trail.sessions.save(session))
        await asyncio.sleep(0)  # the save has started in its thread
        await trail.close()
        await trail.close()
        with sessiontrail.connect(url) as other:  # stored before close returned
            stored = len(other.sessions.load("chat-1").messages)
        await save
        return stored

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize("own_pool", [True, False], ids=["connect", "over"])
def test_a_call_after_close_says_the_trail_is_closed(url: str, own_pool: bool) -> None:
    async def after_close() -> None:
        if own_pool:
            trail = await aio.connect(url)
            await trail.close()
            await trail.sessions.load_or_create("chat-1")
        else:
            with sessiontrail.connect(url) as sync:
                facade = aio.over(sync)
                await facade.close()
                await facade.sessions.exists("chat-1")

    with pytest.raises(StorageUnavailable, match="the trail is closed"):
        asyncio.run(after_close())


def test_over_a_sync_trail_runs_its_calls_and_leaves_it_open(
    trail: sessiontrail.SessionTrail,
) -> None:
    async def use() -> bool:
        async with aio.over(trail) as facade:
            session = await facade.sessions.load_or_create("chat-1")
            session.append_message(role="user", content="hello")
            await facade.sessions.save(session)
        return await aio.over(trail).sessions.exists("chat-1")

    assert asyncio.run(use())
    assert trail.sessions.exists("chat-1")  # closing the facade left it open


def test_over_refuses_what_is_not_a_sync_trail() -> None:
    with pytest.raises(TypeError, match="trail: expected a SessionTrail, got str"):
        aio.over("sqlite:///chats.db")  # type: ignore[arg-type]


def test_async_with_connect_opens_and_closes_the_trail(url: str) -> None:
    async def use() -> aio.AsyncSessionTrail:
        async with aio.connect(url) as trail:
            session = await trail.sessions.load_or_create("chat-1")
            session.append_message(role="user", content="hello")
            await trail.sessions.save(session)
        return trail

    trail = asyncio.run(use())
    assert trail.sync._closed  # closed on leaving the block
    with sessiontrail.connect(url) as sync:
        assert [m.content for m in sync.sessions.load("chat-1").messages] == ["hello"]


def test_awaiting_connect_still_opens_the_trail(url: str) -> None:
    async def use() -> bool:
        trail = await aio.connect(url)
        try:
            return await trail.sessions.exists("nope")
        finally:
            await trail.close()

    assert asyncio.run(use()) is False


def test_connect_refuses_bad_arguments_at_the_call() -> None:
    with pytest.raises(InvalidInput, match="threads"):
        aio.connect("sqlite:///chats.db", threads=0)


PARTS = [
    "sessions",
    "transcripts",
    "assets",
    "qa",
    "projections",
    "exporter",
    "importer",
    "usage",
    "audit",
    "retention",
]


@pytest.mark.parametrize("part", PARTS)
def test_every_public_method_is_a_coroutine_with_the_sync_signature(part: str) -> None:
    trail = sessiontrail.connect("memory://signatures")
    sync_part = getattr(trail, part)
    facade = type(getattr(aio.over(trail), part))
    public = {
        name
        for name in dir(type(sync_part))
        if not name.startswith("_") and callable(getattr(type(sync_part), name))
    }
    declared = {name for name in vars(facade) if not name.startswith("_")}
    assert declared == public
    offloaded = getattr(aio.over(trail), part)
    for name in public:
        method = getattr(offloaded, name)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method) == inspect.signature(
            getattr(sync_part, name)
        ), name
    trail.close()
