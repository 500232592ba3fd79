"""What the ADK adapter reads while other processes write: a session's state and
events from one read, as ADK's DatabaseSessionService reads them in one database
session. Two trails on one database play two processes, on memory, SQLite and
PostgreSQL, in both projection modes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_adk import APP, event

import sessiontrail
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
