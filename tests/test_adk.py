"""The Google ADK adapter, driven by the real ADK (a Runner with a stub agent, no
model) and through every method of BaseSessionService, on every backend."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.adk.agents.base_agent import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.genai import types

import sessiontrail
from sessiontrail import SessionTrail, aio
from sessiontrail.domain.session import stream_id
from sessiontrail.integrations.adk import TrailSessionService, trail_session_id

T = TypeVar("T")
APP = "travel"


class Counter(BaseAgent):
    """Answers with how many turns and events it has seen; keeps state in every
    scope (and a temp: key that must never be stored)."""

    async def _run_async_impl(
        self, ctx: InvocationContext
    ) -> AsyncGenerator[Event, None]:
        state = ctx.session.state
        turns = state.get("turns", 0) + 1
        text = f"turn {turns}, saw {len(ctx.session.events)} events"
        yield Event(
            invocation_id=ctx.invocation_id,
            author=self.name,
            branch=ctx.branch,
            content=types.Content(role="model", parts=[types.Part(text=text)]),
            actions=EventActions(
                state_delta={
                    "turns": turns,
                    "user:visits": state.get("user:visits", 0) + 1,
                    "app:runs": state.get("app:runs", 0) + 1,
                    "temp:scratch": "never stored",
                }
            ),
        )


def with_service(
    url: str, scenario: Callable[[TrailSessionService], Awaitable[T]]
) -> T:
    async def run() -> T:
        async with await aio.connect(url) as trail:
            return await scenario(TrailSessionService(trail))

    return asyncio.run(run())


def user_says(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


def event(author: str, text: str, **state: Any) -> Event:
    return Event(
        invocation_id="inv-1",
        author=author,
        content=types.Content(
            role="user" if author == "user" else "model",
            parts=[types.Part(text=text)],
        ),
        actions=EventActions(state_delta=state),
    )


async def texts(service: TrailSessionService, user: str, sid: str) -> list[str]:
    session = await service.get_session(app_name=APP, user_id=user, session_id=sid)
    assert session is not None
    return [
        part.text or ""
        for stored in session.events
        for part in (stored.content.parts or [] if stored.content else [])
    ]


def test_a_runner_stores_its_session_and_continues_it(url: str) -> None:
    async def scenario(service: TrailSessionService) -> tuple[Any, ...]:
        runner = Runner(
            app_name=APP, agent=Counter(name="counter"), session_service=service
        )
        await service.create_session(app_name=APP, user_id="ann", session_id="trip")
        replies = []
        for text in ("hello", "again"):
            async for produced in runner.run_async(
                user_id="ann", session_id="trip", new_message=user_says(text)
            ):
                if produced.content and produced.content.parts:
                    replies.append(produced.content.parts[0].text)
        trip = await service.get_session(app_name=APP, user_id="ann", session_id="trip")
        other = await service.create_session(app_name=APP, user_id="ann")
        bob = await service.create_session(app_name=APP, user_id="bob")
        return replies, trip, other, bob

    replies, trip, other, bob = with_service(url, scenario)
    assert replies == ["turn 1, saw 1 events", "turn 2, saw 3 events"]
    assert trip is not None and len(trip.events) == 4
    assert trip.state == {"turns": 2, "user:visits": 2, "app:runs": 2}
    assert other.state == {"user:visits": 2, "app:runs": 2}  # shared, not "turns"
    assert bob.state == {"app:runs": 2}
    with sessiontrail.connect(url) as trail:
        key = trail_session_id(APP, "ann", "trip")
        stored = trail.sessions.load(key, user_id="ann")
        assert stored is not None
        assert [(m.role, m.content) for m in stored.messages] == [
            ("user", "hello"),
            ("assistant", "turn 1, saw 1 events"),
            ("user", "again"),
            ("assistant", "turn 2, saw 3 events"),
        ]
        assert "never stored" not in str(
            [e.payload for e in trail.sessions.history(key)]
        )
        assert trail.verify().ok


def test_create_splits_state_and_refuses_a_taken_id(url: str) -> None:
    async def scenario(service: TrailSessionService) -> tuple[Any, ...]:
        made = await service.create_session(
            app_name=APP,
            user_id="ann",
            session_id=" s1 ",
            state={"k": 1, "user:u": 2, "app:a": 3, "temp:t": 4},
        )
        with pytest.raises(AlreadyExistsError):
            await service.create_session(app_name=APP, user_id="ann", session_id="s1")
        bobs = await service.create_session(
            app_name=APP, user_id="bob", session_id="s1"
        )
        generated = await service.create_session(app_name=APP, user_id="ann")
        return (
            made,
            bobs,
            generated,
            await service.get_user_state(app_name=APP, user_id="ann"),
        )

    made, bobs, generated, user_state = with_service(url, scenario)
    assert (made.id, made.state) == ("s1", {"k": 1, "user:u": 2, "app:a": 3})
    assert (bobs.id, bobs.state) == ("s1", {"app:a": 3})  # ids are per user
    assert generated.id and generated.id != "s1"
    assert user_state == {"u": 2}


def test_get_session_honours_recent_events_and_after_timestamp(url: str) -> None:
    async def scenario(service: TrailSessionService) -> dict[str, list[str]]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        for number in range(5):
            stamped = event("user" if number % 2 == 0 else "agent", f"e{number}")
            stamped.timestamp = 1000.0 + number
            await service.append_event(session, stamped)

        async def got(**config: Any) -> list[str]:
            found = await service.get_session(
                app_name=APP,
                user_id="ann",
                session_id="s",
                config=GetSessionConfig(**config),
            )
            assert found is not None
            return [
                e.content.parts[0].text or ""
                for e in found.events
                if e.content and e.content.parts
            ]

        return {
            "all": await texts(service, "ann", "s"),
            "last2": await got(num_recent_events=2),
            "none": await got(num_recent_events=0),
            "after": await got(after_timestamp=1002.5),
            "both": await got(num_recent_events=3, after_timestamp=1003.0),
        }

    got = with_service(url, scenario)
    assert got["all"] == ["e0", "e1", "e2", "e3", "e4"]
    assert got["last2"] == ["e3", "e4"]
    assert got["none"] == []
    assert got["after"] == ["e3", "e4"]
    assert got["both"] == ["e3", "e4"]
    with pytest.raises(ValueError, match="num_recent_events"):
        GetSessionConfig(num_recent_events=-1)


def test_events_round_trip_with_calls_responses_and_actions(url: str) -> None:
    call = Event(
        invocation_id="inv-9",
        author="planner",
        content=types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        id="fc-1", name="book", args={"city": "Rome"}
                    )
                )
            ],
        ),
        actions=EventActions(
            state_delta={"step": "booking"}, transfer_to_agent="booker"
        ),
        branch="planner.booker",
    )
    response = Event(
        invocation_id="inv-9",
        author="planner",
        content=types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id="fc-1", name="book", response={"ok": True}
                    )
                )
            ],
        ),
    )

    async def scenario(service: TrailSessionService) -> list[Event]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        for sent in (call, response):
            await service.append_event(session, sent)
        found = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        assert found is not None
        return found.events

    events = with_service(url, scenario)
    assert [e.model_dump() for e in events] == [
        call.model_dump(),
        response.model_dump(),
    ]
    with sessiontrail.connect(url) as trail:
        stored = trail.sessions.load(trail_session_id(APP, "ann", "s"), user_id="ann")
        assert stored is not None
        assert [m.role for m in stored.messages] == ["assistant", "tool"]
        assert (
            stored.messages[0].tool_calls
            and stored.messages[0].tool_calls[0].name == "book"
        )


def test_list_sessions_sorted_with_state_and_no_events(url: str) -> None:
    async def scenario(service: TrailSessionService) -> tuple[Any, ...]:
        for user, sid in (("ann", "a1"), ("bob", "b1"), ("ann", "a2")):
            await service.create_session(app_name=APP, user_id=user, session_id=sid)
        a1 = await service.get_session(app_name=APP, user_id="ann", session_id="a1")
        assert a1 is not None
        await service.append_event(a1, event("user", "bump", **{"user:x": 1, "k": "v"}))
        await service.create_session(
            app_name="other-app", user_id="ann", session_id="o"
        )
        return (
            await service.list_sessions(app_name=APP, user_id="ann"),
            await service.list_sessions(app_name=APP),
            await service.list_sessions(app_name="no-such-app"),
        )

    anns, everyone, empty = with_service(url, scenario)
    assert [s.id for s in anns.sessions] == ["a2", "a1"]  # least recently updated first
    assert [(s.user_id, s.id) for s in everyone.sessions] == [
        ("bob", "b1"),
        ("ann", "a2"),
        ("ann", "a1"),
    ]
    assert all(s.events == [] for s in everyone.sessions)
    assert anns.sessions[1].state == {"k": "v", "user:x": 1}
    assert anns.sessions[0].state == {"user:x": 1}
    assert everyone.sessions[0].state == {}
    assert empty.sessions == []


def test_unknown_foreign_and_deleted_sessions(url: str) -> None:
    async def scenario(service: TrailSessionService) -> tuple[Any, ...]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        foreign = await service.get_session(app_name=APP, user_id="bob", session_id="s")
        unknown = await service.get_session(
            app_name=APP, user_id="ann", session_id="nope"
        )
        await service.delete_session(app_name=APP, user_id="ann", session_id="s")
        await service.delete_session(app_name=APP, user_id="ann", session_id="nope")
        deleted = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        listed = await service.list_sessions(app_name=APP, user_id="ann")
        with pytest.raises(SessionNotFoundError):
            await service.append_event(session, event("user", "too late"))
        ghost = session.model_copy(update={"id": "ghost"})
        with pytest.raises(SessionNotFoundError):
            await service.append_event(ghost, event("user", "nobody"))
        return foreign, unknown, deleted, listed.sessions

    assert with_service(url, scenario) == (None, None, None, [])
    with sessiontrail.connect(url) as trail:  # a soft delete: the log keeps it
        events = [
            e.event for e in trail.sessions.history(trail_session_id(APP, "ann", "s"))
        ]
        assert events[-1] == "SessionDeleted"


def test_partial_and_redelivered_events_are_stored_once(url: str) -> None:
    async def scenario(service: TrailSessionService) -> list[str]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        partial = event("agent", "streaming...")
        partial.partial = True
        await service.append_event(session, partial)
        once = event("agent", "done")
        await service.append_event(session, once)
        await service.append_event(session, once.model_copy(deep=True))
        return await texts(service, "ann", "s")

    assert with_service(url, scenario) == ["done"]


def test_racing_runners_keep_both_events(url: str) -> None:
    async def scenario(service: TrailSessionService) -> list[str]:
        await service.create_session(app_name=APP, user_id="ann", session_id="s")
        copies = [
            await service.get_session(app_name=APP, user_id="ann", session_id="s")
            for _ in range(2)
        ]

        async def runner(number: int) -> None:
            copy = copies[number]
            assert copy is not None
            for turn in range(10):
                await service.append_event(
                    copy, event("agent", f"r{number}-{turn}", **{f"k{number}": turn})
                )

        await asyncio.gather(runner(0), runner(1))
        found = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        assert found is not None and found.state == {"k0": 9, "k1": 9}
        return await texts(service, "ann", "s")

    stored = with_service(url, scenario)
    assert sorted(stored) == sorted(f"r{n}-{t}" for n in range(2) for t in range(10))
    for number in range(2):
        assert [s for s in stored if s.startswith(f"r{number}")] == [
            f"r{number}-{t}" for t in range(10)
        ]


def test_messages_other_writers_append_read_as_events(url: str) -> None:
    async def create(service: TrailSessionService) -> None:
        await service.create_session(app_name=APP, user_id="ann", session_id="s")

    with_service(url, create)
    with sessiontrail.connect(url) as trail:
        key = trail_session_id(APP, "ann", "s")
        session = trail.sessions.load(key, user_id="ann")
        assert session is not None
        session.append_message(role="user", content="typed in the UI")
        trail.sessions.save(session)

    async def read(service: TrailSessionService) -> Any:
        found = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        assert found is not None
        return [
            (e.author, e.content.parts[0].text)
            for e in found.events
            if e.content and e.content.parts
        ]

    assert with_service(url, read) == [("user", "typed in the UI")]


def test_framework_sessions_are_sessions_for_the_cli(url: str) -> None:
    async def scenario(service: TrailSessionService) -> None:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        await service.append_event(session, event("user", "plan a trip"))

    with_service(url, scenario)
    with sessiontrail.connect(url) as trail:
        listed = trail.sessions.list(user_id="ann").items
        assert [(s.session_id, s.title, s.message_count) for s in listed] == [
            (trail_session_id(APP, "ann", "s"), "s", 1)
        ]
        assert trail.verify().ok


ROUNDS = 40
"""Rounds of a create race: one suffices when the race is lost, a few make the
race likely to be hit at all."""


def race_creates(services: list[Any]) -> list[tuple[int, bool]]:
    """Each service in its own thread (and event loop) creates the same ids, one
    id per round, all starting together. Per round: how many creates succeeded,
    and whether the stored state is the winner's alone."""
    barrier = threading.Barrier(len(services))
    winners: list[list[str]] = [[] for _ in range(ROUNDS)]

    def contender(service: Any, name: str) -> None:
        async def run() -> None:
            for number in range(ROUNDS):
                barrier.wait(timeout=60)  # a blocked loop: it has nothing else to do
                try:
                    await service.create_session(
                        app_name=APP,
                        user_id="ann",
                        session_id=f"s{number}",
                        state={"by": name},
                    )
                except AlreadyExistsError:
                    continue
                winners[number].append(name)

        asyncio.run(run())

    threads = [
        threading.Thread(target=contender, args=(service, f"c{number}"))
        for number, service in enumerate(services)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a contender hung"

    async def states() -> list[dict[str, Any] | None]:
        found = [
            await services[0].get_session(
                app_name=APP, user_id="ann", session_id=f"s{number}"
            )
            for number in range(ROUNDS)
        ]
        return [None if session is None else session.state for session in found]

    stored = asyncio.run(states())
    return [
        (len(won), len(won) == 1 and stored[number] == {"by": won[0]})
        for number, won in enumerate(winners)
    ]


def test_racing_creates_of_one_id_have_one_winner_as_in_adk(
    trail: SessionTrail, other_trail: SessionTrail, tmp_path: Path
) -> None:
    """Two processes (two trails) create one id at once: one succeeds, the other
    gets AlreadyExistsError, as with ADK's own services; nothing is merged."""
    adk_sqlite = [SqliteSessionService(str(tmp_path / "adk.db")) for _ in range(2)]
    adk_memory = InMemorySessionService()
    expected = [(1, True)] * ROUNDS
    assert race_creates(adk_sqlite) == expected
    assert race_creates([adk_memory, adk_memory]) == expected
    ours = [TrailSessionService(trail), TrailSessionService(other_trail)]
    assert race_creates(ours) == expected
    for number in range(ROUNDS):
        starts = [
            entry.event
            for entry in trail.sessions.history(
                trail_session_id(APP, "ann", f"s{number}")
            )
        ]
        assert starts == ["Started"]  # one stream start, nothing merged into it


def test_a_sync_trail_works_and_stays_the_callers(trail: SessionTrail) -> None:
    async def scenario() -> Any:
        service = TrailSessionService(trail)
        await service.create_session(app_name=APP, user_id="ann", session_id="s")
        await service.close()
        with pytest.raises(RuntimeError, match="TrailSessionService is closed"):
            await service.list_sessions(app_name=APP)
        return await TrailSessionService(trail).get_session(
            app_name=APP, user_id="ann", session_id="s"
        )

    found = asyncio.run(scenario())
    assert found is not None and found.id == "s"
    assert trail.sessions.exists(trail_session_id(APP, "ann", "s"))  # still open


def test_a_url_is_opened_and_closed_by_the_service(
    url: str, trail: SessionTrail
) -> None:
    """`trail` keeps a memory:// log alive and reads what the service wrote."""

    async def scenario() -> None:
        async with TrailSessionService(url) as service:
            await service.create_session(app_name=APP, user_id="ann", session_id="s")
        with pytest.raises(RuntimeError, match="TrailSessionService is closed"):
            await service.delete_session(app_name=APP, user_id="ann", session_id="s")

    asyncio.run(scenario())
    assert trail.sessions.exists(trail_session_id(APP, "ann", "s"))


@pytest.mark.parametrize("wrong", [None, Path("adk.db"), 42])
def test_anything_but_a_trail_or_url_is_refused_when_constructed(wrong: Any) -> None:
    with pytest.raises(
        TypeError,
        match=r"^TrailSessionService: trail must be an async trail .* or a "
        r"database URL such as 'sqlite:///chats.db'; got ",
    ):
        TrailSessionService(wrong)


def test_a_forked_adk_session_reads_as_the_source_did_at_the_fork(url: str) -> None:
    async def scenario(service: TrailSessionService) -> None:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="trip", state={"city": "Lisbon"}
        )
        await service.append_event(session, event("user", "one", step=1))
        await service.append_event(session, event("agent", "two", step=2))
        then = await service.get_session(app_name=APP, user_id="ann", session_id="trip")
        assert then is not None
        await service.append_event(session, event("user", "three", step=3))

        def fork(trail: SessionTrail) -> None:  # before the third event
            source = trail_session_id(APP, "ann", "trip")
            stored = trail.sessions.load(source, user_id="ann")
            assert stored is not None
            trail.sessions.fork(
                source,
                at_version=stored.version - 1,
                new_id=trail_session_id(APP, "ann", "trip-b"),
                user_id="ann",
            )

        await service._trail.run(fork)

        fork = await service.get_session(
            app_name=APP, user_id="ann", session_id="trip-b"
        )

        assert fork is not None
        assert fork.id == "trip-b"
        assert fork.state == then.state == {"city": "Lisbon", "step": 2}
        assert [e.id for e in fork.events] == [e.id for e in then.events]
        assert await texts(service, "ann", "trip-b") == ["one", "two"]
        listed = await service.list_sessions(app_name=APP, user_id="ann")
        assert sorted(s.id for s in listed.sessions) == ["trip", "trip-b"]

    with_service(url, scenario)


def test_delete_session_purges_when_asked(url: str) -> None:
    async def scenario(trail: aio.AsyncSessionTrail) -> tuple[Any, ...]:
        service = TrailSessionService(trail, delete="purge")
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        await service.append_event(session, event("user", "forget me"))
        await service.delete_session(app_name=APP, user_id="ann", session_id="s")
        await service.delete_session(app_name=APP, user_id="ann", session_id="nope")
        gone = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        listed = await service.list_sessions(app_name=APP, user_id="ann")
        return gone, listed.sessions

    async def run() -> tuple[Any, ...]:
        async with await aio.connect(url) as trail:
            return await scenario(trail)

    assert asyncio.run(run()) == (None, [])
    with sessiontrail.connect(url) as trail:  # nothing left but the purge record
        key = trail_session_id(APP, "ann", "s")
        assert trail.store.stream_version(stream_id(key)) == 0
        [entry] = trail.audit.entries(session_id=key).items
        assert entry.event == "SessionPurged"


async def recreate(service: Any) -> tuple[Any, ...]:
    """Create, use and delete an id, then create it twice more: what ADK shows."""
    seen: list[Any] = []
    for generation in range(3):
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s", state={"gen": generation}
        )
        again = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        await service.append_event(session, event("user", f"hello {generation}"))
        after = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        listed = await service.list_sessions(app_name=APP, user_id="ann")
        seen.append(
            (
                again.state,
                len(again.events),
                [part.text for e in after.events for part in e.content.parts],
                [(s.id, s.state) for s in listed.sessions],
            )
        )
        with pytest.raises(AlreadyExistsError):
            await service.create_session(app_name=APP, user_id="ann", session_id="s")
        await service.delete_session(app_name=APP, user_id="ann", session_id="s")
        gone = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        seen.append(gone)
    return tuple(seen)


@pytest.mark.parametrize("delete", ["soft", "purge"])
def test_an_id_created_again_after_deletion_starts_empty_as_in_adk(
    url: str, delete: Any, tmp_path: Path
) -> None:
    """ADK's services let a deleted id be created again, as a new empty session;
    so does ours, and a soft delete still keeps every earlier session in the log."""
    expected = asyncio.run(recreate(InMemorySessionService()))
    assert asyncio.run(recreate(SqliteSessionService(str(tmp_path / "a.db")))) == (
        expected
    )

    async def ours() -> tuple[Any, ...]:
        async with await aio.connect(url) as trail:
            return await recreate(TrailSessionService(trail, delete=delete))

    assert asyncio.run(ours()) == expected
    with sessiontrail.connect(url) as trail:
        kept = trail.sessions.list(user_id="ann", include_deleted=True).items
        assert len(kept) == (3 if delete == "soft" else 0)


def test_racing_creates_of_a_deleted_id_have_one_winner_as_in_adk(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """Two processes create an id whose session was deleted: one succeeds."""
    ours = [TrailSessionService(trail), TrailSessionService(other_trail)]

    async def delete_all() -> None:
        for number in range(ROUNDS):
            await ours[0].create_session(
                app_name=APP, user_id="ann", session_id=f"s{number}"
            )
            await ours[0].delete_session(
                app_name=APP, user_id="ann", session_id=f"s{number}"
            )

    asyncio.run(delete_all())
    assert race_creates(ours) == [(1, True)] * ROUNDS


def adk_view(service: TrailSessionService, sid: str) -> Any:
    async def view() -> tuple[Any, ...]:
        found = await service.get_session(app_name=APP, user_id="ann", session_id=sid)
        listed = await service.list_sessions(app_name=APP, user_id="ann")
        return (
            None if found is None else found.state,
            [(s.id, s.state) for s in listed.sessions],
        )

    return asyncio.run(view())


def test_a_restored_session_does_not_take_back_an_id_created_again(
    trail: SessionTrail,
) -> None:
    """ADK sees one session per id: restoring the deleted one (through the log's
    own API) leaves the newer session under the id, and it can be deleted and
    the id created again as before."""
    service = TrailSessionService(trail)

    async def cycle() -> None:
        await service.create_session(
            app_name=APP, user_id="ann", session_id="s", state={"gen": 1}
        )
        await service.delete_session(app_name=APP, user_id="ann", session_id="s")
        await service.create_session(
            app_name=APP, user_id="ann", session_id="s", state={"gen": 2}
        )

    asyncio.run(cycle())
    assert trail.sessions.restore(trail_session_id(APP, "ann", "s"), user_id="ann")
    assert adk_view(service, "s") == ({"gen": 2}, [("s", {"gen": 2})])

    async def again() -> None:
        await service.delete_session(app_name=APP, user_id="ann", session_id="s")
        await service.create_session(
            app_name=APP, user_id="ann", session_id="s", state={"gen": 3}
        )

    asyncio.run(again())
    assert adk_view(service, "s") == ({"gen": 3}, [("s", {"gen": 3})])
    trail.projections.rebuild("adk")
    assert adk_view(service, "s") == ({"gen": 3}, [("s", {"gen": 3})])


def test_another_users_session_under_an_adk_id_does_not_take_it(
    trail: SessionTrail,
) -> None:
    """A plain session another user made under the sessiontrail id an ADK
    session of ann would have does not stop ann creating that ADK id."""
    bob = sessiontrail.Session(
        session_id=trail_session_id(APP, "ann", "s"), user_id="bob"
    )
    trail.sessions.save(bob)
    service = TrailSessionService(trail)
    asyncio.run(
        service.create_session(
            app_name=APP, user_id="ann", session_id="s", state={"mine": True}
        )
    )
    assert adk_view(service, "s") == ({"mine": True}, [("s", {"mine": True})])


def test_an_erased_users_adk_id_can_be_created_again(url: str) -> None:
    """After erasure ADK no longer sees the user's sessions, and their ids are
    free again, as if deleted."""
    with sessiontrail.connect(url, key=sessiontrail.new_key()) as trail:
        service = TrailSessionService(trail)
        asyncio.run(
            service.create_session(
                app_name=APP, user_id="ann", session_id="s", state={"old": 1}
            )
        )
        trail.erase_user("ann")
        assert adk_view(service, "s") == (None, [])
        asyncio.run(
            service.create_session(
                app_name=APP, user_id="ann", session_id="s", state={"new": 1}
            )
        )
        assert adk_view(service, "s") == ({"new": 1}, [("s", {"new": 1})])
