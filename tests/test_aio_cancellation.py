"""Cancelling async calls: a call cancelled while it waits for a free worker thread
never runs, and a cancelled close() still closes the trail. Real worker threads;
every wait polls the real condition with a deadline."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

import sessiontrail
from sessiontrail import StorageUnavailable, aio
from tests.support.deadlines import POLL

DEADLINE = 10.0
"""Seconds any one wait may take before the test fails instead of hanging."""


async def poll(condition: Callable[[], object], what: str) -> None:
    """Return once `condition()` is true, letting the loop run meanwhile; fail the
    test, naming `what`, after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {DEADLINE} s waiting for {what}")
        await asyncio.sleep(POLL)


async def hold_the_only_thread(
    trail: aio.AsyncSessionTrail,
) -> tuple[asyncio.Task[None], threading.Event]:
    """A call that keeps the trail's one worker thread busy until the event is set."""
    running, release = threading.Event(), threading.Event()

    def hold(_: sessiontrail.SessionTrail) -> None:
        running.set()
        release.wait(DEADLINE)

    holder = asyncio.create_task(trail.run(hold))
    await poll(running.is_set, "the holding call to start")
    return holder, release


@pytest.mark.parametrize("how", ["cancel", "wait_for"])
def test_a_save_cancelled_while_it_waits_for_a_thread_never_runs(
    url: str, how: str
) -> None:
    async def scenario() -> tuple[BaseException | None, bool, bool]:
        async with aio.connect(url, threads=1) as trail:
            session = await trail.sessions.load_or_create("chat-1")
            session.append_message(role="user", content="called off")
            holder, release = await hold_the_only_thread(trail)
            try:
                if how == "cancel":
                    save = asyncio.create_task(trail.sessions.save(session))
                    await asyncio.sleep(0)  # its first step queues the save
                    save.cancel()
                else:
                    save = asyncio.create_task(
                        asyncio.wait_for(trail.sessions.save(session), 0.05)
                    )
                finished, _ = await asyncio.wait({save}, timeout=DEADLINE)
                surfaced_at_once = save in finished  # the thread is still held
            finally:
                release.set()
            await holder
            try:
                await save
                outcome: BaseException | None = None
            except BaseException as error:  # what the caller was told
                outcome = error
            await trail.run(lambda _: None)  # the one queue has moved past the save
            return outcome, surfaced_at_once, await trail.sessions.exists("chat-1")

    outcome, surfaced_at_once, stored = asyncio.run(scenario())
    expected = asyncio.CancelledError if how == "cancel" else TimeoutError
    assert isinstance(outcome, expected)
    assert surfaced_at_once
    assert not stored  # told it was cancelled, and it was: nothing written


def test_a_cancelled_close_still_closes_the_trail(url: str) -> None:
    async def scenario() -> tuple[bool, bool]:
        trail = await aio.connect(url, threads=1)
        holder, release = await hold_the_only_thread(trail)
        try:
            with pytest.raises(TimeoutError):  # a shutdown deadline, say
                await asyncio.wait_for(trail.close(), 0.05)
            open_while_a_call_runs = not trail.sync._closed
        finally:
            release.set()
        await holder  # the running call was let finish
        await poll(lambda: trail.sync._closed, "the cancelled close to close")
        await trail.close()  # idempotent
        with pytest.raises(StorageUnavailable, match="the trail is closed"):
            await trail.sessions.exists("chat-1")
        return open_while_a_call_runs, trail.sync._closed

    assert asyncio.run(scenario()) == (True, True)
