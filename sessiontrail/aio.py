"""The async facade: the sync API's calls as coroutines, run in worker threads.

    trail = await sessiontrail.aio.connect("sqlite:///chats.db")
    session = await trail.sessions.load_or_create("chat-1")
    session.append_message(role="user", content="hi")   # domain calls stay sync
    await trail.sessions.save(session)
    await trail.close()

Every storage call runs in the trail's own thread pool, so the event loop never
waits on a database; the sync API's locks and merge-on-write apply unchanged, so
many tasks may save the same session at once and nothing is lost. A cancelled
call finishes what its thread started before the cancellation surfaces: a save is
then wholly stored or not at all, and nothing of it runs after the task is gone.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar

from pydantic import PositiveInt, StrictStr

from .domain.checkpoint import Checkpoint
from .domain.errors import InvalidInput
from .domain.validation import Count, Url, validated
from .infrastructure.repository import SessionRepository
from .infrastructure.settings import BackendName
from .infrastructure.verify import VerifyReport
from .privacy.erasure import ErasureReport
from .projections.audit import AuditTimeline
from .projections.runner import ProjectionRunner
from .projections.usage import UsageLedger
from .stores.assets import AssetStore
from .stores.qa import QAService
from .stores.transcripts import TranscriptStore
from .trail import DEFAULT_CACHE_SIZE, Mode, SessionTrail
from .trail import connect as connect_sync
from .transfer.export import Exporter
from .transfer.importer import Importer

DEFAULT_THREADS = 8
"""Storage calls one trail runs at once; more wait their turn in the pool."""

T = TypeVar("T")
P = ParamSpec("P")


class Threads:
    """Runs blocking calls in worker threads and waits for them without blocking:
    a private pool of `workers` threads, or with None the event loop's default
    executor (shared, so there is nothing to shut down)."""

    def __init__(self, workers: int | None) -> None:
        self._pool = (
            None
            if workers is None
            else ThreadPoolExecutor(workers, thread_name_prefix="sessiontrail")
        )

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` in a worker thread; on cancellation, wait for it
        to finish first (its result is dropped), then raise CancelledError."""
        done = asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(call, *args, **kwargs)
        )
        cancelled: asyncio.CancelledError | None = None
        while not done.done():
            try:
                await asyncio.wait({done})  # waiting, unlike awaiting, never cancels it
            except asyncio.CancelledError as error:
                cancelled = cancelled or error
        if cancelled is not None:
            raise cancelled
        return done.result()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class Offloaded(Generic[T]):
    """One part of the sync API (e.g. `trail.sessions`) whose methods are
    coroutines here, with the same arguments and results; other attributes pass
    through as they are."""

    def __init__(self, target: T, threads: Threads) -> None:
        self._target = target
        self._threads = threads

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        async def offloaded(*args: Any, **kwargs: Any) -> Any:
            return await self._threads.run(value, *args, **kwargs)

        return offloaded

    def __repr__(self) -> str:
        return f"Offloaded({self._target!r})"


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
        self.sessions: Offloaded[SessionRepository] = Offloaded(trail.sessions, threads)
        self.transcripts: Offloaded[TranscriptStore] = Offloaded(
            trail.transcripts, threads
        )
        self.assets: Offloaded[AssetStore] = Offloaded(trail.assets, threads)
        self.qa: Offloaded[QAService] = Offloaded(trail.qa, threads)
        self.projections: Offloaded[ProjectionRunner] = Offloaded(
            trail.projections, threads
        )
        self.exporter: Offloaded[Exporter] = Offloaded(trail.exporter, threads)
        self.importer: Offloaded[Importer] = Offloaded(trail.importer, threads)
        self.usage: Offloaded[UsageLedger] = Offloaded(trail.usage, threads)
        self.audit: Offloaded[AuditTimeline] = Offloaded(trail.audit, threads)
        self._closed = False

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

    @property
    def url(self) -> str:
        return self.sync.url

    @property
    def backend(self) -> BackendName:
        return self.sync.backend

    async def close(self) -> None:
        """Wait for running calls, then release the connections (a trail it does
        not own stays open); idempotent."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._threads.shutdown)
            if self._owns_trail:
                self.sync.close()

    def __repr__(self) -> str:
        return f"AsyncSessionTrail({self.url!r})"


@validated
async def connect(
    url: Url | None = None,
    *,
    cache_size: Count = DEFAULT_CACHE_SIZE,
    projections: Mode = "inline",
    key: StrictStr | None = None,
    threads: PositiveInt = DEFAULT_THREADS,
) -> AsyncSessionTrail:
    """Open the log at `url` for asyncio code; the arguments of
    `sessiontrail.connect`, plus `threads`: how many storage calls run at once."""
    pool = Threads(threads)
    try:
        trail = await pool.run(
            connect_sync, url, cache_size=cache_size, projections=projections, key=key
        )
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
