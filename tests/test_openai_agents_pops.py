"""Racing `pop_item` calls on one OpenAI Agents SDK session, side by side with the
SDK's own SQLiteSession: each pop takes a different item, as there, also when the
pops come from two processes sharing the store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agents.memory import Session as SessionProtocol
from agents.memory import SQLiteSession

from sessiontrail import aio
from sessiontrail.integrations.openai_agents import TrailSession

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


def contents(items: list[Any]) -> list[str | None]:
    return sorted(
        (None if item is None else item["content"] for item in items),
        key=lambda content: content or "",
    )


def test_racing_pops_each_take_a_different_item(url: str, tmp_path: Path) -> None:
    async def sdk() -> tuple[list[Any], list[Any]]:
        one = SQLiteSession("chat-1", tmp_path / "sdk.db")
        two = SQLiteSession("chat-1", tmp_path / "sdk.db")
        try:
            return await pop_all((one, two))
        finally:
            one.close()
            two.close()

    async def ours() -> tuple[list[Any], list[Any]]:
        async with aio.connect(url) as one, aio.connect(url) as two:  # 2 processes
            return await pop_all(
                (TrailSession("chat-1", one), TrailSession("chat-1", two))
            )

    every_item = [f"item-{n:02d}" for n in range(ITEMS)]
    for popped, left in (asyncio.run(sdk()), asyncio.run(ours())):
        assert contents(popped) == every_item  # each exactly once, none missed
        assert left == []
