"""Appends to one ADK session stored in the order they were called.

Parallel agents of one ADK invocation share its session object and may call
`append_event` at once; ADK's own services store those events in call order (its
database service holds an asyncio lock per session), so the session the agents
kept in memory and the one read back later agree, the last call's state delta
included. Our appends run in worker threads and would otherwise commit in
whatever order the threads get there; merge-on-write keeps every event either way,
so this lock is about order, not about lost writes (another process's appends
still interleave, as with ADK's services).

One asyncio lock per session and event loop (asyncio locks belong to one loop),
dropped when no append holds or waits for it: the map never outgrows the appends
running now.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class InCallOrder:
    """`async with order.held(key):` runs the blocks of one key one at a time, in
    the order they asked (asyncio locks wake their waiters first come, first
    served)."""

    def __init__(self) -> None:
        self._locks: dict[tuple[asyncio.AbstractEventLoop, Hashable], Users] = {}

    @asynccontextmanager
    async def held(self, key: Hashable) -> AsyncIterator[None]:
        """Hold `key`'s lock for the block; no await between looking the lock up
        and counting this user, so no other task of the loop slips in between."""
        slot = (asyncio.get_running_loop(), key)
        users = self._locks.setdefault(slot, Users())
        users.count += 1
        try:
            async with users.lock:
                yield
        finally:
            users.count -= 1
            if users.count == 0:
                del self._locks[slot]


class Users:
    """One key's lock and how many appends hold or wait for it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.count = 0
