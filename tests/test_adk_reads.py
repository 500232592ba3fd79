"""What the ADK adapter reads while other processes write: a session's state and
events from one read, as ADK's DatabaseSessionService reads them in one database
session; and a create that lost a race checks the winner with only the read models
it reads. Two trails on one database play two processes, on memory, SQLite and
PostgreSQL, in both projection modes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from test_adk import APP, event

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.integrations.adk import TrailSessionService
from sessiontrail.projections.inline import RefreshedReads

MODES = ["inline", "worker"]
JOIN_BOUND = 60.0


def elsewhere(work: Callable[[], object]) -> None:
    """Run `work` in a thread of its own (another process's request) and wait
    for it, bounded; its failure is raised here."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # raised in the waiting thread below
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(JOIN_BOUND)
    assert not thread.is_alive(), "the other writer hung"
    if failures:
        raise failures[0]


def after_next_read(monkeypatch: pytest.MonkeyPatch, work: Callable[[], None]) -> None:
    """Run `work` once, as soon as the next read of the read models (through
    any trail's refreshed reads: the adapters' and the inline reads) has ended
    and before the reading thread goes on: what another process's write, landing
    at that moment, does."""
    original = RefreshedReads.read
    pending = [work]
    lock = threading.Lock()

    @contextlib.contextmanager
    def read(self: RefreshedReads) -> Iterator[Any]:
        with original(self) as cur:
            yield cur
        with lock:
            due = pending.pop() if pending else None
        if due is not None:
            due()

    monkeypatch.setattr(RefreshedReads, "read", read)


@pytest.mark.parametrize("mode", MODES)
def test_get_session_reads_state_and_events_as_of_one_moment(
    url: str, mode: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event appended while get_session reads is in both the state and the
    events it returns, or in neither: every returned event's state delta is in
    the returned state, and no key of the state lacks the event that set it."""
    with (
        sessiontrail.connect(url, projections=mode) as reading,
        sessiontrail.connect(url, projections=mode) as writing,
    ):
        reader, writer = TrailSessionService(reading), TrailSessionService(writing)

        async def start() -> None:
            made = await reader.create_session(
                app_name=APP, user_id="ann", session_id="s"
            )
            for number in range(2):
                await reader.append_event(
                    made, event("model", f"e{number}", **{f"k{number}": number})
                )

        async def append_late() -> None:
            found = await writer.get_session(
                app_name=APP, user_id="ann", session_id="s"
            )
            assert found is not None
            await writer.append_event(found, event("model", "late", k2=2))

        landed: list[str] = []

        def land() -> None:
            elsewhere(lambda: asyncio.run(append_late()))
            landed.append("late")

        asyncio.run(start())
        after_next_read(monkeypatch, land)
        read = asyncio.run(
            reader.get_session(app_name=APP, user_id="ann", session_id="s")
        )
        assert landed == ["late"], "the other writer appended during the read"
        assert read is not None
        deltas: dict[str, Any] = {}
        for each in read.events:
            deltas.update(each.actions.state_delta)
        assert read.state == deltas
        after = asyncio.run(
            reader.get_session(app_name=APP, user_id="ann", session_id="s")
        )
        assert after is not None and after.state == {"k0": 0, "k1": 1, "k2": 2}
        assert len(after.events) == 3


def lose_a_create(
    loser: SessionTrail, winner: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> BaseException:
    """The loser's create checks the id is free, then, before it stores its
    session, the winner (another process) creates the same id. The loser's
    error."""
    create = loser.sessions.create

    def raced(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(loser.sessions, "create", create)  # once
        elsewhere(
            lambda: asyncio.run(
                TrailSessionService(winner).create_session(
                    app_name=APP, user_id="ann", session_id="s", state={"by": "w"}
                )
            )
        )
        return create(*args, **kwargs)

    monkeypatch.setattr(loser.sessions, "create", raced)
    with pytest.raises(AlreadyExistsError) as lost:
        asyncio.run(
            TrailSessionService(loser).create_session(
                app_name=APP, user_id="ann", session_id="s", state={"by": "l"}
            )
        )
    return lost.value


async def adk_refuses_a_taken_id() -> BaseException:
    """What ADK's own service raises for an id that is taken."""
    service = InMemorySessionService()
    await service.create_session(app_name=APP, user_id="ann", session_id="s")
    with pytest.raises(AlreadyExistsError) as taken:
        await service.create_session(app_name=APP, user_id="ann", session_id="s")
    return taken.value


@pytest.mark.parametrize("mode", MODES)
def test_a_create_that_lost_the_race_raises_as_adk_does(
    url: str, mode: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = asyncio.run(adk_refuses_a_taken_id())
    with (
        sessiontrail.connect(url, projections=mode) as loser,
        sessiontrail.connect(url, projections=mode) as winner,
    ):
        error = lose_a_create(loser, winner, monkeypatch)
        assert (type(error), str(error)) == (type(expected), str(expected))
        found = asyncio.run(
            TrailSessionService(loser).get_session(
                app_name=APP, user_id="ann", session_id="s"
            )
        )
        assert found is not None and found.state == {"by": "w"}


def test_a_lost_create_in_worker_mode_applies_only_what_adk_reads(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check after the conflict brings the sessions and ADK read models up
    to the log, and leaves every other read model to the worker: none of them
    applies the winner's session."""
    with (
        sessiontrail.connect(url, projections="worker") as loser,
        sessiontrail.connect(url, projections="worker") as winner,
    ):
        lose_a_create(loser, winner, monkeypatch)
        lag = {status.name: status.lag for status in loser.projections.status()}
        current = {name for name, behind in lag.items() if behind == 0}
        assert current == {"sessions", "adk"}, lag
