"""Live change feeds: each waits on a thread of its own, and at most
`max_streams` are open at once.

A feed spends its life waiting for the next event. Its waits used to run in
the thread pool every route shares (anyio's default limiter, 40 threads), one
pool thread held per open feed, so some 40 open feeds left no thread for any
other request, `/health` included. Each feed now runs under a limiter of its
own: the shared pool never waits on a feed. The cap bounds the threads feeds
take: past it a feed is refused with 503 and `Retry-After`. A feed gives its
slot back when its response ends, however it ends (the client left, the server
stopped, the stream failed), also one that never sent a line.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .errors import problem

DEFAULT_MAX_STREAMS = 100
RETRY_AFTER_SECONDS = 5
"""What a refused feed is told to wait before it tries again."""


class FeedSlots:
    """How many live feeds are open, at most `limit` (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    def take(self) -> bool:
        """One more open feed, if under the limit."""
        with self._lock:
            if self._open >= self.limit:
                return False
            self._open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._open -= 1


class FeedResponse(StreamingResponse):
    """A live feed: `lines` sent as Server-Sent Events, each read on the feed's
    own thread, while it holds one of `slots` (503 when none is free). `gone` is
    set when the response ends, so the feed stops at its next wait."""

    def __init__(
        self, lines: Iterator[str], gone: threading.Event, slots: FeedSlots
    ) -> None:
        super().__init__(_read(lines), media_type="text/event-stream")
        self._gone = gone
        self._slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._slots.take():
            self._gone.set()
            refusal = problem(
                503,
                f"at most {self._slots.limit} live feeds are open at once; retry",
                **{"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await refusal(scope, receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._gone.set()
            self._slots.give_back()


async def _read(lines: Iterator[str]) -> AsyncIterator[str]:
    """The feed's lines, each read in a thread under a limiter of this feed's
    own (not the shared pool's); a cancelled read is left to end at the feed's
    next wait, which sees the response gone."""
    own = anyio.CapacityLimiter(1)
    while True:
        line = await anyio.to_thread.run_sync(
            next, lines, None, abandon_on_cancel=True, limiter=own
        )
        if line is None:
            return
        yield line
