"""ADK's `append_event` and `get_session` edge cases, side by side with ADK's own
InMemorySessionService and DatabaseSessionService (on a SQLite file): concurrent
appends to one session object, an event delivered twice, another event under a
stored event's id, an append to a session deleted meanwhile, and the
`GetSessionConfig` bounds; ours on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
)
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.session import Session as AdkSession
from test_adk import APP, event
from test_adk_usage import answer

from sessiontrail import InvalidInput, Session, SessionTrail, aio
from sessiontrail.integrations.adk import TrailSessionService, trail_session_id

T = TypeVar("T")
Scenario = Callable[[BaseSessionService], Awaitable[T]]

APPENDS = 8
"""Appends made at once to one session object."""


def texts(session: AdkSession | None) -> list[str] | None:
    """The events' texts, in the order the session holds them."""
    if session is None:
        return None
    return [
        part.text or ""
        for stored in session.events
        for part in (stored.content.parts or [] if stored.content else [])
    ]


def in_every_service(url: str, tmp_path: Path, scenario: Scenario[T]) -> list[T]:
    """What `scenario` gives on ADK's in-memory service, ADK's database service
    and ours."""

    async def adk_database() -> T:
        service = DatabaseSessionService(f"sqlite+aiosqlite:///{tmp_path / 'adk.db'}")
        try:
            return await scenario(service)
        finally:
            await service.close()

    async def ours() -> T:
        async with aio.connect(url) as trail:
            return await scenario(TrailSessionService(trail))

    return [
        asyncio.run(scenario(InMemorySessionService())),
        asyncio.run(adk_database()),
        asyncio.run(ours()),
    ]


def test_appends_at_once_to_one_session_are_stored_in_call_order(
    url: str, tmp_path: Path
) -> None:
    """Parallel agents of one invocation share its session object: the events are
    stored in the order append_event was called, the last call's state wins, and
    a later read agrees with the object the agents kept."""

    async def scenario(service: BaseSessionService) -> tuple[Any, ...]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        await asyncio.gather(
            *(
                service.append_event(
                    session, event("agent", f"c{n}", shared=n, **{f"k{n}": n})
                )
                for n in range(APPENDS)
            )
        )
        stored = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        assert stored is not None
        return texts(stored), stored.state, texts(session), session.state

    in_call_order = [f"c{n}" for n in range(APPENDS)]
    state = {"shared": APPENDS - 1, **{f"k{n}": n for n in range(APPENDS)}}
    expected = (in_call_order, state, in_call_order, state)
    assert in_every_service(url, tmp_path, scenario) == [expected] * 3


def test_an_event_delivered_twice_is_held_once_by_the_session_object(
    url: str, tmp_path: Path
) -> None:
    """As in ADK's in-memory service (its database service refuses the second
    delivery with an IntegrityError, and holds it once too)."""

    async def scenario(service: BaseSessionService) -> tuple[Any, ...]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        once = event("agent", "once", seen=1)
        await service.append_event(session, once)
        with_error = None
        try:
            await service.append_event(session, once)
        except Exception as error:  # the database service refuses it
            with_error = type(error).__name__
        stored = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        return texts(session), texts(stored), with_error

    memory, database, ours = in_every_service(url, tmp_path, scenario)
    assert memory == ours == (["once"], ["once"], None)
    assert database == (["once"], ["once"], "IntegrityError")


def test_an_append_to_a_deleted_session_leaves_the_object_unchanged(
    url: str, tmp_path: Path
) -> None:
    async def scenario(service: BaseSessionService) -> tuple[Any, ...]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        await service.append_event(session, event("user", "kept", n=1))
        await service.delete_session(app_name=APP, user_id="ann", session_id="s")
        with pytest.raises(SessionNotFoundError):
            await service.append_event(session, event("user", "too late", n=2))
        return texts(session), session.state

    assert in_every_service(url, tmp_path, scenario) == [(["kept"], {"n": 1})] * 3


CONFIGS: dict[str, dict[str, Any]] = {
    "no events": {"num_recent_events": 0},
    "more than there are": {"num_recent_events": 99},
    "exactly as many": {"num_recent_events": 5},
    "after, equal to one": {"after_timestamp": 1002.0},
    "after, equal to the first": {"after_timestamp": 1000.0},
    "after, equal to the last": {"after_timestamp": 1004.0},
    "after, past the last": {"after_timestamp": 1004.5},
    "after zero": {"after_timestamp": 0.0},
    "both, equal": {"num_recent_events": 2, "after_timestamp": 1002.0},
    "both, none": {"num_recent_events": 0, "after_timestamp": 1002.0},
    "both, more": {"num_recent_events": 99, "after_timestamp": 1003.0},
}


def test_get_session_bounds_read_as_in_adks_services(url: str, tmp_path: Path) -> None:
    async def scenario(service: BaseSessionService) -> dict[str, Any]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        for number in range(5):
            stamped = event("agent", f"e{number}", n=number)
            stamped.timestamp = 1000.0 + number
            await service.append_event(session, stamped)
        read = {}
        for name, config in CONFIGS.items():
            found = await service.get_session(
                app_name=APP,
                user_id="ann",
                session_id="s",
                config=GetSessionConfig(**config),
            )
            assert found is not None
            read[name] = (texts(found), found.state, found.last_update_time)
        return read

    memory, database, ours = in_every_service(url, tmp_path, scenario)
    assert memory == database  # ADK's services agree on every case
    assert ours == memory


def test_another_event_under_a_stored_id_is_refused_as_adks_database_service_does(
    url: str, tmp_path: Path
) -> None:
    """ADK's database service refuses it (its primary key: IntegrityError), and
    the session object keeps only the first; its in-memory service keeps both.
    Ours follows the database service: InvalidInput naming `event.id`."""

    async def scenario(service: BaseSessionService) -> tuple[Any, ...]:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        first, second = event("agent", "first", n=1), event("agent", "second", n=2)
        second.id = first.id
        await service.append_event(session, first)
        with_error = None
        try:
            await service.append_event(session, second)
        except Exception as error:
            with_error = type(error).__name__, "event.id" in str(error)
        stored = await service.get_session(app_name=APP, user_id="ann", session_id="s")
        assert stored is not None
        return texts(session), session.state, texts(stored), stored.state, with_error

    memory, database, ours = in_every_service(url, tmp_path, scenario)
    both, first = ["first", "second"], ["first"]
    assert memory == (both, {"n": 2}, both, {"n": 2}, None)
    assert database[:4] == ours[:4] == (first, {"n": 1}, first, {"n": 1})
    assert database[4] == ("IntegrityError", False)
    assert ours[4] == ("InvalidInput", True)


def test_an_event_refused_for_its_id_writes_nothing(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the event nor its usage, nor anything on the session object: also
    when another process stores another event under its id between this one's
    check and its save (the merge skips it there)."""
    ours, theirs = TrailSessionService(trail), TrailSessionService(other_trail)
    key = trail_session_id(APP, "ann", "s")
    session = asyncio.run(
        ours.create_session(app_name=APP, user_id="ann", session_id="s")
    )
    first = answer("first", 10, 5)
    asyncio.run(ours.append_event(session, first))
    version = trail.sessions.load(key, user_id="ann").version
    refused = answer("refused", 7, 3)
    refused.id = first.id
    with pytest.raises(InvalidInput, match=r"^event\.id: "):
        asyncio.run(ours.append_event(session, refused))

    save = trail.sessions.save
    later, other = answer("later", 4, 2), event("agent", "theirs")
    other.id = later.id

    def stored_meanwhile(stored: Session) -> Any:
        monkeypatch.setattr(trail.sessions, "save", save)
        asyncio.run(theirs.append_event(session.model_copy(deep=True), other))
        return save(stored)

    monkeypatch.setattr(trail.sessions, "save", stored_meanwhile)
    with pytest.raises(InvalidInput, match=r"^event\.id: "):
        asyncio.run(ours.append_event(session, later))

    stored = trail.sessions.load(key, user_id="ann")
    assert stored.version == version + 1  # theirs alone
    assert [m.content for m in stored.messages] == ["first", "theirs"]
    assert [r.record["message_id"] for r in trail.usage.records(key)] == [first.id]
    assert texts(session) == ["first"]


def test_a_session_deleted_between_the_check_and_the_save_is_adks_not_found(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process deletes the session after this append found it and before
    it saves: the caller gets ADK's SessionNotFoundError, as for a session
    deleted before the call, and the object is unchanged."""
    ours, theirs = TrailSessionService(trail), TrailSessionService(other_trail)
    session = asyncio.run(
        ours.create_session(app_name=APP, user_id="ann", session_id="s")
    )
    asyncio.run(ours.append_event(session, event("user", "kept", n=1)))
    save = trail.sessions.save

    def deleted_meanwhile(stored: Session) -> Any:
        monkeypatch.setattr(trail.sessions, "save", save)
        asyncio.run(theirs.delete_session(app_name=APP, user_id="ann", session_id="s"))
        return save(stored)

    monkeypatch.setattr(trail.sessions, "save", deleted_meanwhile)
    with pytest.raises(SessionNotFoundError):
        asyncio.run(ours.append_event(session, event("user", "too late", n=2)))
    assert (texts(session), session.state) == (["kept"], {"n": 1})
