"""Live change feeds: each waits on a thread of its own, and at most
`max_streams` are open at once.

A feed spends its life waiting for the next event. Its waits used to run in
the thread pool every route shares (anyio's default limiter, 40 threads), one
pool thread held per open feed, so some 40 open feeds left no thread for any
other request, `/health` included. Each feed now runs under a limiter of its
own: the shared pool never waits on a feed. The cap bounds the threads feeds
take: past it a feed is refused with 503 and `Retry-After`. One caller (a
user, whichever of their tokens, or an admin) holds at most
`max_streams_per_caller` of them: past that its next feed is refused with 429
and `Retry-After`, so one token cannot take every slot from the others. A feed
gives its slot back when its response ends, however it ends (the client left,
the server stopped, the stream failed), also one that never sent a line.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import anyio
from fastapi.responses import StreamingResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .auth import Caller
from .errors import problem

DEFAULT_MAX_STREAMS = 100
DEFAULT_MAX_STREAMS_PER_CALLER = 10
"""A person's browser tabs and a service's followers, with room to spare."""
RETRY_AFTER_SECONDS = 5
"""What a refused feed is told to wait before it tries again."""


class FeedSlots:
    """How many live feeds are open, at most `limit` in all and `per_caller`
    for any one caller (thread-safe)."""

    def __init__(self, limit: int, per_caller: int) -> None:
        self.limit = limit
        self.per_caller = per_caller
        self._open = 0
        self._by_caller: Counter[Caller] = Counter()
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    def take(self, caller: Caller) -> Response | None:
        """One more open feed for `caller`: None if taken, else the refusal to
        send (429 past the caller's share, 503 past the server's cap)."""
        with self._lock:
            if self._by_caller[caller] >= self.per_caller:
                return _refusal(
                    429,
                    f"at most {self.per_caller} live feeds per caller are open at "
                    "once; close one or retry",
                )
            if self._open >= self.limit:
                return _refusal(
                    503, f"at most {self.limit} live feeds are open at once; retry"
                )
            self._open += 1
            self._by_caller[caller] += 1
            return None

    def give_back(self, caller: Caller) -> None:
        with self._lock:
            self._open -= 1
            self._by_caller[caller] -= 1
            if not self._by_caller[caller]:
                del self._by_caller[caller]


def _refusal(status: int, detail: str) -> Response:
    return problem(status, detail, **{"Retry-After": str(RETRY_AFTER_SECONDS)})


class FeedResponse(StreamingResponse):
    """A live feed of `caller`: `lines` sent as Server-Sent Events, each read on
    the feed's own thread, while it holds one of `slots` (refused when the
    caller's share or the server's cap is full). `gone` is set when the
    response ends, so the feed stops at its next wait."""

    def __init__(
        self,
        lines: Iterator[str],
        gone: threading.Event,
        slots: FeedSlots,
        caller: Caller,
    ) -> None:
        super().__init__(_read(lines), media_type="text/event-stream")
        self._gone = gone
        self._slots = slots
        self._caller = caller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._slots.take(self._caller)
        if refusal is not None:
            self._gone.set()
            await refusal(scope, receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._gone.set()
            self._slots.give_back(self._caller)


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
