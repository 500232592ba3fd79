"""The framework adapters beside the frameworks' own SQLite stores, in one run.

    .venv/bin/python bench/adapters.py [--sessions 20] [--items 100] [--json-out F]

Google ADK: `TrailSessionService` against ADK's `SqliteSessionService`: sessions
created, then `append_event` of one user event at a time round-robin (appends/s),
`get_session(num_recent_events=20)` and `list_sessions` of the user (median ms).

OpenAI Agents SDK: `TrailSession` (sessiontrail on a SQLite file, inline read
models) against the SDK's `SQLiteSession` on a file of its own: `add_items` of one
item at a time round-robin over the sessions (appends/s), then `get_items(limit=20)`
and `get_items()` of one session (median ms). The SDK has no list call, so no list
row. Also the async facade's cost: the same appends through `sessiontrail.aio`
against the sync API. Ratios are what matter on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from agents import SQLiteSession
from agents.items import TResponseInputItem
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
)
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.genai import types

import sessiontrail
from sessiontrail import aio
from sessiontrail.integrations.adk import TrailSessionService
from sessiontrail.integrations.openai_agents import TrailSession

APP, USER = "bench", "user"


class SdkSession(Protocol):
    """The calls measured of an OpenAI Agents SDK session: its `Session` protocol
    without `session_settings`, which TrailSession types as never None."""

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The latest `limit` items (all if None), oldest first."""
        ...

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append `items`."""
        ...


async def appends_per_s(sessions: list[SdkSession], items: int) -> float:
    began = time.perf_counter()
    for turn in range(items):
        for session in sessions:
            await session.add_items([{"role": "user", "content": f"turn {turn}"}])
    return len(sessions) * items / (time.perf_counter() - began)


async def median_ms(call: Callable[[], Awaitable[Any]], repeats: int = 50) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        await call()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


async def measure(sessions: list[SdkSession], items: int) -> dict[str, float]:
    rate = await appends_per_s(sessions, items)
    first = sessions[0]
    return {
        "appends_per_s": rate,
        "latest_20_ms": await median_ms(lambda: first.get_items(limit=20)),
        "all_ms": await median_ms(lambda: first.get_items(), repeats=10),
    }


async def openai_rows(directory: Path, count: int, items: int) -> dict[str, Any]:
    sdk_path = str(directory / "sdk.db")
    sdk = [SQLiteSession(f"s{n}", sdk_path) for n in range(count)]
    results = {"openai_sqlite": await measure(list(sdk), items)}
    for session in sdk:
        session.close()
    async with await aio.connect(f"sqlite:///{directory / 'trail.db'}") as trail:
        ours: list[SdkSession] = [TrailSession(f"s{n}", trail) for n in range(count)]
        results["sessiontrail"] = await measure(ours, items)
    return results


async def adk_measure(
    service: BaseSessionService, count: int, items: int
) -> dict[str, float]:
    sessions = [
        await service.create_session(app_name=APP, user_id=USER, session_id=f"s{n}")
        for n in range(count)
    ]
    began = time.perf_counter()
    for turn in range(items):
        for session in sessions:
            text = types.Content(role="user", parts=[types.Part(text=f"turn {turn}")])
            await service.append_event(
                session, Event(invocation_id="i", author="user", content=text)
            )
    rate = count * items / (time.perf_counter() - began)

    def latest() -> Awaitable[Any]:
        return service.get_session(
            app_name=APP,
            user_id=USER,
            session_id="s0",
            config=GetSessionConfig(num_recent_events=20),
        )

    return {
        "appends_per_s": rate,
        "latest_20_ms": await median_ms(latest),
        "list_ms": await median_ms(
            lambda: service.list_sessions(app_name=APP, user_id=USER), repeats=10
        ),
    }


async def many_listed_ms(service: BaseSessionService, sessions: int) -> float:
    """`list_sessions` of one user with `sessions` sessions (median of 3, ms)."""
    for number in range(sessions):
        await service.create_session(
            app_name=APP, user_id="many", session_id=f"m{number}"
        )
    return await median_ms(
        lambda: service.list_sessions(app_name=APP, user_id="many"), repeats=3
    )


async def adk_rows(
    directory: Path, count: int, items: int, listed: int
) -> dict[str, Any]:
    theirs = SqliteSessionService(str(directory / "adk.db"))
    results = {"adk_sqlite": await adk_measure(theirs, count, items)}
    results["adk_sqlite"]["many_list_ms"] = await many_listed_ms(theirs, listed)
    async with await aio.connect(f"sqlite:///{directory / 'trail-adk.db'}") as trail:
        ours = TrailSessionService(trail)
        results["sessiontrail"] = await adk_measure(ours, count, items)
        results["sessiontrail"]["many_list_ms"] = await many_listed_ms(ours, listed)
    return {"listed_sessions": listed, **results}


def facade_rows(directory: Path, appends: int) -> dict[str, float]:
    """Appends/s of one session through the sync API and through `aio`."""
    with sessiontrail.connect(f"sqlite:///{directory / 'sync.db'}") as trail:
        session = trail.sessions.load_or_create("one")
        began = time.perf_counter()
        for turn in range(appends):
            session.append_message(role="user", content=f"turn {turn}")
            trail.sessions.save(session)
        sync_rate = appends / (time.perf_counter() - began)

    async def through_aio() -> float:
        async with await aio.connect(f"sqlite:///{directory / 'aio.db'}") as trail:
            session = await trail.sessions.load_or_create("one")
            began = time.perf_counter()
            for turn in range(appends):
                session.append_message(role="user", content=f"turn {turn}")
                await trail.sessions.save(session)
            return appends / (time.perf_counter() - began)

    return {
        "sync_appends_per_s": sync_rate,
        "aio_appends_per_s": asyncio.run(through_aio()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--listed", type=int, default=2000, help="ADK list size")
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        openai = asyncio.run(
            openai_rows(Path(directory), options.sessions, options.items)
        )
        adk = asyncio.run(
            adk_rows(Path(directory), options.sessions, options.items, options.listed)
        )
        facade = facade_rows(Path(directory), options.sessions * options.items)
    theirs, ours = openai["openai_sqlite"], openai["sessiontrail"]
    heading = ("OpenAI Agents SDK", "appends/s", "latest 20 ms", "all ms")
    print("{:<22} {:>10} {:>13} {:>8}".format(*heading))
    for name, row in openai.items():
        print(
            f"  {name:<20} {row['appends_per_s']:>10,.0f} "
            f"{row['latest_20_ms']:>13.2f} {row['all_ms']:>8.2f}"
        )
    ratios = [ours[key] / theirs[key] for key in ("appends_per_s", "latest_20_ms")]
    ratios.append(ours["all_ms"] / theirs["all_ms"])
    print("  ratio (ours/theirs)  {:>10.2f}x {:>12.2f}x {:>7.2f}x".format(*ratios))
    many = f"list {adk['listed_sessions']} ms"
    adk_heading = ("Google ADK", "appends/s", "latest 20 ms", "list ms", many)
    print("{:<22} {:>10} {:>13} {:>8} {:>16}".format(*adk_heading))
    keys = ("appends_per_s", "latest_20_ms", "list_ms", "many_list_ms")
    for name in ("adk_sqlite", "sessiontrail"):
        print(
            "  {:<20} {:>10,.0f} {:>13.2f} {:>8.2f} {:>16.1f}".format(
                name, *(adk[name][key] for key in keys)
            )
        )
    ours, theirs = adk["sessiontrail"], adk["adk_sqlite"]
    ratios = [ours[key] / theirs[key] for key in keys]
    print(
        "  ratio (ours/theirs)  {:>10.2f}x {:>12.2f}x {:>7.2f}x {:>15.2f}x".format(
            *ratios
        )
    )
    print(
        f"async facade: {facade['aio_appends_per_s']:,.0f} appends/s vs sync "
        f"{facade['sync_appends_per_s']:,.0f} = "
        f"{facade['aio_appends_per_s'] / facade['sync_appends_per_s']:.2f}x"
    )
    if options.json_out:
        document = {"openai": openai, "adk": adk, "facade": facade}
        options.json_out.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
