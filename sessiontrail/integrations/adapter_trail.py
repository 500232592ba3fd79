"""The log an adapter runs on: a trail the caller passed in, or one it opened.

Framework stores take what a user has at hand (the OpenAI Agents SDK's
`SQLiteSession("id", "chats.db")` takes a path), so adapters take an async trail,
a sync trail or a database URL, and refuse anything else when constructed rather
than at their first call. Who closes what follows who opened it: a URL is opened
by the adapter, and the adapter's `close()` closes it; a trail passed in belongs
to the caller, and stays open after the adapter's `close()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from ..aio import DEFAULT_THREADS, AsyncClosing, AsyncSessionTrail, over
from ..aio_parts import Threads
from ..domain.errors import InvalidInput
from ..trail import SessionTrail, connect

TrailArgument = AsyncSessionTrail | SessionTrail | str
"""What an adapter accepts as its log."""

T = TypeVar("T")
P = ParamSpec("P")


def opened(url: str) -> SessionTrail:
    """The log at `url`, opened for an adapter: a bad URL is InvalidInput naming
    the adapter's `trail` parameter."""
    if not url.strip():
        raise InvalidInput("trail: an empty URL; give one such as sqlite:///chats.db")
    try:
        return connect(url)
    except InvalidInput as exc:  # named as the adapter's parameter
        raise InvalidInput(f"trail: {exc}") from None


class AdapterTrail:
    """The async trail an adapter's calls run on, and whether the adapter owns it.

    Opening a URL connects at once (as `sessiontrail.connect` does, blocking for
    that moment), so a bad URL or an unreachable database fails at construction.
    """

    def __init__(self, trail: object, adapter: str) -> None:
        """`adapter` names the adapter class in errors."""
        self._adapter = adapter
        self._closed = False
        self._owned = isinstance(trail, str)
        if isinstance(trail, AsyncSessionTrail):
            self.trail = trail
        elif isinstance(trail, SessionTrail):
            self.trail = over(trail)
        elif isinstance(trail, str):
            self.trail = AsyncSessionTrail(opened(trail), Threads(DEFAULT_THREADS))
        else:
            raise TypeError(
                f"{adapter}: trail must be an async trail "
                "(await sessiontrail.aio.connect(url)), a trail "
                "(sessiontrail.connect(url)) or a database URL such as "
                f"'sqlite:///chats.db'; got {type(trail).__name__}"
            )

    async def run(
        self,
        call: Callable[Concatenate[SessionTrail, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`call(sync_trail, ...)` in a worker thread; RuntimeError once closed."""
        self.check_open()
        return await self.trail.run(call, *args, **kwargs)

    def check_open(self) -> None:
        """RuntimeError once closed, as the frameworks' own stores do."""
        if self._closed:
            raise RuntimeError(f"{self._adapter} is closed")

    async def close(self) -> None:
        """Close the log if the adapter opened it from a URL; a trail the caller
        passed in stays open. Either way this adapter refuses calls afterwards."""
        if not self._closed:
            self._closed = True
            if self._owned:
                await self.trail.close()


class ClosesWhatItOpened(AsyncClosing):
    """`close()` and `async with` for an adapter whose log is `self._trail`."""

    _trail: AdapterTrail

    async def close(self) -> None:
        """Close the log if this adapter opened it from a URL (a trail passed in
        stays open); later calls raise RuntimeError. Idempotent."""
        await self._trail.close()
