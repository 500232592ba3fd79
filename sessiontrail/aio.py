"""The async facade: the sync API's calls as coroutines, run in worker threads.

    async with sessiontrail.aio.connect("sqlite:///chats.db") as trail:
        session = await trail.sessions.load_or_create("chat-1")
        session.append_message(role="user", content="hi")  # domain calls stay sync
        await trail.sessions.save(session)

(`trail = await sessiontrail.aio.connect(url)` works too; then `await trail.close()`.)

Every storage call runs in the trail's own thread pool, so the event loop never
waits on a database; the sync API's locks and merge-on-write apply unchanged, so
many tasks may save the same session at once and nothing is lost.

Cancellation (`task.cancel()`, `asyncio.wait_for` timing out): a call still
waiting for a free thread never runs, and the cancellation surfaces at once. A
call already running finishes before the cancellation surfaces: a save is then
wholly stored or not at all, nothing of it runs after the task is gone, and
cancelling does not undo it. The caller, told only that it was cancelled, cannot
know whether it was stored: reload the session (`load_merged`) to see before
saving again. A cancelled `close()` still closes the trail: the closing goes on
in a worker thread, and a later `close()` waits for it.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from pydantic import PositiveInt, StrictStr

from .aio_parts import (
    AsyncAssets,
    AsyncAudit,
    AsyncExporter,
    AsyncImporter,
    AsyncProjections,
    AsyncQA,
    AsyncRetention,
    AsyncSessions,
    AsyncTranscripts,
    AsyncUsage,
    Threads,
)
from .domain.checkpoint import Checkpoint
from .domain.errors import InvalidInput
from .domain.validation import Count, Url, validated
from .infrastructure.settings import BackendName
from .infrastructure.verify import VerifyReport
from .privacy.compaction import CompactReport
from .privacy.erasure import ErasureReport
from .trail import DEFAULT_CACHE_MESSAGES, DEFAULT_CACHE_SIZE, Mode, SessionTrail
from .trail import connect as connect_sync

DEFAULT_THREADS = 8
"""Storage calls one trail runs at once; more wait their turn in the pool."""

T = TypeVar("T")
P = ParamSpec("P")


class AsyncClosing(ABC):
    """`async with` for what has an async `close()`: closed on leaving the block."""

    @abstractmethod
    async def close(self) -> None:
        """Release what it holds; idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncSessionTrail(AsyncClosing):
    """An open session log for asyncio code: the attributes of `SessionTrail`
    (`sessions`, `qa`, `projections`, ...) with coroutine methods. Close it (or
    use `async with`) when done; `sync` is the underlying SessionTrail, which
    close() closes too unless `owns_trail` is False (see `over`)."""

    def __init__(
        self, trail: SessionTrail, threads: Threads, *, owns_trail: bool = True
    ) -> None:
        self.sync = trail
        self._threads = threads
        self._owns_trail = owns_trail
        self.sessions = AsyncSessions(trail.sessions, threads)
        self.transcripts = AsyncTranscripts(trail.transcripts, threads)
        self.assets = AsyncAssets(trail.assets, threads)
        self.qa = AsyncQA(trail.qa, threads)
        self.projections = AsyncProjections(trail.projections, threads)
        self.exporter = AsyncExporter(trail.exporter, threads)
        self.importer = AsyncImporter(trail.importer, threads)
        self.usage = AsyncUsage(trail.usage, threads)
        self.audit = AsyncAudit(trail.audit, threads)
        self.retention = AsyncRetention(trail.retention, threads)
        self._closing: Future[None] | None = None

    async def run(
        self,
        call: Callable[Concatenate[SessionTrail, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`call(trail, *args, **kwargs)` with the sync trail, in one worker thread:
        several sync calls as one step (e.g. load, change, save)."""
        if not callable(call):
            raise InvalidInput(f"call: expected a function, got {type(call).__name__}")
        return await self._threads.run(call, self.sync, *args, **kwargs)

    async def checkpoint(self) -> Checkpoint:
        """See SessionTrail.checkpoint."""
        return await self._threads.run(self.sync.checkpoint)

    async def verify(
        self,
        since_checkpoint: Checkpoint | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """See SessionTrail.verify (`progress` is called from a worker thread)."""
        return await self._threads.run(
            self.sync.verify, since_checkpoint, progress=progress
        )

    async def erase_user(self, user_id: str, *, actor: str = "system") -> ErasureReport:
        """See SessionTrail.erase_user."""
        return await self._threads.run(self.sync.erase_user, user_id, actor=actor)

    async def compact(self, *, full: bool = False) -> CompactReport:
        """See SessionTrail.compact."""
        return await self._threads.run(self.sync.compact, full=full)

    @property
    def url(self) -> str:
        return self.sync.url

    @property
    def backend(self) -> BackendName:
        return self.sync.backend

    async def close(self) -> None:
        """Wait for running calls, then release the connections (a trail it does
        not own stays open); idempotent. Cancelled, it still closes the trail:
        the closing goes on in a thread of the event loop's default executor, and
        a later close() (from any loop) waits for it."""
        if self._closing is None:
            self._closing = Future()
            self._closing.set_running_or_notify_cancel()
            asyncio.get_running_loop().run_in_executor(
                None, self._close_now, self._closing
            )
        await asyncio.shield(asyncio.wrap_future(self._closing))

    def _close_now(self, closing: Future[None]) -> None:
        """In a worker thread: let running calls finish, then close; the outcome
        goes to `closing`, which every close() awaits."""
        try:
            self._threads.shutdown()
            if self._owns_trail:
                self.sync.close()
        except BaseException as error:  # the one who awaits close() gets it
            closing.set_exception(error)
        else:
            closing.set_result(None)

    def __repr__(self) -> str:
        return f"AsyncSessionTrail({self.url!r})"


class Opening(Coroutine[Any, Any, AsyncSessionTrail]):
    """What `connect` returns: await it for the trail (`trail = await
    aio.connect(url)`), or open it with `async with aio.connect(url) as trail`,
    which closes the trail on leaving the block, as `aiosqlite.connect` does."""

    def __init__(self, opening: Coroutine[Any, Any, AsyncSessionTrail]) -> None:
        self._opening = opening
        self._trail: AsyncSessionTrail | None = None

    def __await__(self) -> Generator[Any, None, AsyncSessionTrail]:
        return self._opening.__await__()

    def send(self, value: Any) -> Any:
        return self._opening.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None, /) -> Any:
        return self._opening.throw(typ, val, tb)

    def close(self) -> None:
        self._opening.close()

    async def __aenter__(self) -> AsyncSessionTrail:
        self._trail = await self._opening
        return self._trail

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._trail is not None:
            await self._trail.close()


@validated
def connect(
    url: Url | None = None,
    *,
    cache_size: Count = DEFAULT_CACHE_SIZE,
    cache_messages: Count = DEFAULT_CACHE_MESSAGES,
    projections: Mode = "inline",
    key: StrictStr | None = None,
    threads: PositiveInt = DEFAULT_THREADS,
) -> Opening:
    """Open the log at `url` for asyncio code; the arguments of
    `sessiontrail.connect`, plus `threads`: how many storage calls run at once.
    Await the result, or use it in `async with` (see Opening); bad arguments are
    refused here, before anything opens."""
    opened = functools.partial(
        connect_sync,
        url,
        cache_size=cache_size,
        cache_messages=cache_messages,
        projections=projections,
        key=key,
    )
    return Opening(_open(opened, threads))


async def _open(opened: Callable[[], SessionTrail], threads: int) -> AsyncSessionTrail:
    pool = Threads(threads)
    try:
        trail = await pool.run(opened)
    except BaseException:
        pool.shutdown()
        raise
    return AsyncSessionTrail(trail, pool)


def over(trail: SessionTrail) -> AsyncSessionTrail:
    """An async facade over a sync trail the caller keeps: its calls run in the
    event loop's default executor, and its close() leaves the trail open (closing
    the trail is the caller's job). Costs no threads of its own, so make one per
    use freely."""
    if not isinstance(trail, SessionTrail):
        raise TypeError(f"trail: expected a SessionTrail, got {type(trail).__name__}")
    return AsyncSessionTrail(trail, Threads(None), owns_trail=False)
