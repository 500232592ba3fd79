"""In worker mode the adapters' reads catch the sessions and ADK read models up
while a real worker does too: each event is applied once, whoever gets there
first (two app trails and a worker, on memory, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from test_adk import APP, event

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.integrations.adk import TrailSessionService
from sessiontrail.integrations.openai_agents import TrailSession

ROUNDS = 12
JOIN_BOUND = 120.0


def chat(trail: SessionTrail, writer: str, seen: list[int]) -> None:
    """Add items to a shared chat and an own one, reading after each add."""

    async def rounds() -> None:
        shared = TrailSession("shared", trail, user_id="ann")
        own = TrailSession(f"own-{writer}", trail, user_id="ann")
        for number in range(ROUNDS):
            item = {"role": "user", "content": f"{writer}-{number}"}
            await shared.add_items([item])
            await own.add_items([item])
            seen.append(len(await own.get_items()))
            assert item in await shared.get_items()

    asyncio.run(rounds())


def adk(trail: SessionTrail, writer: str, seen: list[int]) -> None:
    """Append ADK events to an own session, reading it after each."""

    async def rounds() -> None:
        service = TrailSessionService(trail)
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id=f"adk-{writer}"
        )
        for number in range(ROUNDS):
            await service.append_event(session, event("user", f"{writer}-{number}"))
            read = await service.get_session(
                app_name=APP, user_id="ann", session_id=f"adk-{writer}"
            )
            assert read is not None
            seen.append(len(read.events))

    asyncio.run(rounds())


def test_adapter_reads_and_a_worker_apply_each_event_once(url: str) -> None:
    failures: list[BaseException] = []
    seen: dict[str, list[int]] = {}

    def run(work: Any, trail: SessionTrail, writer: str) -> None:
        seen[writer] = []
        try:
            work(trail, writer, seen[writer])
        except BaseException as error:  # reported by the test's thread
            failures.append(error)

    with (
        sessiontrail.connect(url, projections="worker") as first,
        sessiontrail.connect(url, projections="worker") as second,
        sessiontrail.connect(url, projections="worker") as worker,
    ):
        stop = threading.Event()
        following = threading.Thread(
            target=worker.projections.run, args=(stop, 0.01), daemon=True
        )
        following.start()
        apps = [
            threading.Thread(target=run, args=(chat, first, "a")),
            threading.Thread(target=run, args=(chat, second, "b")),
            threading.Thread(target=run, args=(adk, first, "c")),
            threading.Thread(target=run, args=(adk, second, "d")),
        ]
        for thread in apps:
            thread.start()
        for thread in apps:
            thread.join(JOIN_BOUND)
        stop.set()
        following.join(JOIN_BOUND)
        assert not following.is_alive() and not any(t.is_alive() for t in apps)
        assert not failures, failures
        assert all(seen[w] == list(range(1, ROUNDS + 1)) for w in "abcd"), seen

        worker.projections.catch_up()
        counts = {
            summary.session_id: summary.message_count
            for summary in worker.sessions.list(user_id="ann", limit=100).items
        }
        assert counts["shared"] == 2 * ROUNDS
        assert counts["own-a"] == counts["own-b"] == ROUNDS
        caught_up = {
            name: worker.projections.rows(name) for name in ("sessions", "adk")
        }
        for name in caught_up:
            worker.projections.rebuild(name)
        rebuilt = {name: worker.projections.rows(name) for name in caught_up}
        assert rebuilt == caught_up
