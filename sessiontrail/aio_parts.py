"""The parts of an async trail (`trail.sessions`, `trail.qa`, ...): each public
method of the sync part as a coroutine with the same signature, run in worker
threads. The methods are declared one by one from the sync ones, so type checkers
and editors see every argument and result (tests/test_aio_types.py keeps the
lists complete)."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import (
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Self,
    TypeVar,
    overload,
)

from .domain.errors import StorageUnavailable
from .infrastructure.repository import SessionRepository
from .privacy.retention import Retention
from .projections.audit import AuditTimeline
from .projections.runner import ProjectionRunner
from .projections.usage import UsageLedger
from .stores.assets import AssetStore
from .stores.qa import QAService
from .stores.transcripts import TranscriptStore
from .transfer.export import Exporter
from .transfer.importer import Importer

T = TypeVar("T")
P = ParamSpec("P")
Part = TypeVar("Part")


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
        self._shut = False

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` in a worker thread. Cancelled while it waits for
        a free thread, it never runs and CancelledError comes at once; cancelled
        once running, it finishes first (its result is dropped), then CancelledError.
        StorageUnavailable once the trail is closed."""
        if self._shut:
            raise _closed()
        start = Start()

        def started() -> T:
            if not start.begin():
                raise asyncio.CancelledError  # called off in the queue; nobody waits
            return call(*args, **kwargs)

        try:
            done = asyncio.get_running_loop().run_in_executor(self._pool, started)
        except RuntimeError:  # the pool shut down since the check above
            if not self._shut:
                raise
            raise _closed() from None
        cancelled: asyncio.CancelledError | None = None
        while not done.done():
            try:
                await asyncio.wait({done})  # waiting, unlike awaiting, never cancels it
            except asyncio.CancelledError as error:
                if start.call_off():
                    done.cancel()  # frees its place in the queue
                    raise
                cancelled = cancelled or error
        if cancelled is not None:
            raise cancelled
        return done.result()

    def shutdown(self) -> None:
        """Wait for running calls; calls made after this are refused."""
        self._shut = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class Start:
    """Whether a queued call starts or is called off, decided once under a lock:
    the worker thread that takes it and the task cancelled while it waits race
    for it, and exactly one of them wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: Literal["queued", "running", "called off"] = "queued"

    def begin(self) -> bool:
        """In the worker thread: True if the call may run (it was not called off)."""
        with self._lock:
            if self._state == "queued":
                self._state = "running"
            return self._state == "running"

    def call_off(self) -> bool:
        """On cancellation: True if the call had not started and now never will."""
        with self._lock:
            if self._state == "queued":
                self._state = "called off"
            return self._state == "called off"


def _closed() -> StorageUnavailable:
    return StorageUnavailable("the trail is closed; connect again to use it")


class Offloaded(Generic[Part]):
    """One part of the sync API (e.g. `trail.sessions`) whose methods are
    coroutines here, with the same arguments and results; other attributes pass
    through as they are."""

    def __init__(self, target: Part, threads: Threads) -> None:
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


class offload(Generic[Part, P, T]):  # noqa: N801 - used like a decorator
    """`name = offload(SyncPart.name)` in an Offloaded subclass: that method as a
    coroutine method, its signature kept for type checkers."""

    def __init__(self, method: Callable[Concatenate[Part, P], T]) -> None:
        self._name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, facade: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(
        self, facade: Offloaded[Part], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(
        self, facade: Offloaded[Part] | None, owner: type[Any]
    ) -> Self | Callable[P, Coroutine[Any, Any, T]]:
        if facade is None:
            return self
        method: Callable[P, T] = getattr(facade._target, self._name)
        threads = facade._threads

        @functools.wraps(method)
        async def offloaded(*args: P.args, **kwargs: P.kwargs) -> T:
            return await threads.run(method, *args, **kwargs)

        return offloaded


class AsyncSessions(Offloaded[SessionRepository]):
    """`trail.sessions` for asyncio code: see SessionRepository."""

    append_token_usage = offload(SessionRepository.append_token_usage)
    append_unmoved = offload(SessionRepository.append_unmoved)
    at = offload(SessionRepository.at)
    create = offload(SessionRepository.create)
    delete = offload(SessionRepository.delete)
    edit = offload(SessionRepository.edit)
    exists = offload(SessionRepository.exists)
    fork = offload(SessionRepository.fork)
    forked = offload(SessionRepository.forked)
    history = offload(SessionRepository.history)
    list = offload(SessionRepository.list)
    list_paginated = offload(SessionRepository.list_paginated)
    load = offload(SessionRepository.load)
    load_merged = offload(SessionRepository.load_merged)
    load_or_create = offload(SessionRepository.load_or_create)
    messages = offload(SessionRepository.messages)
    overwrite = offload(SessionRepository.overwrite)
    purge = offload(SessionRepository.purge)
    replay = offload(SessionRepository.replay)
    restore = offload(SessionRepository.restore)
    save = offload(SessionRepository.save)
    save_and_cache = offload(SessionRepository.save_and_cache)
    search = offload(SessionRepository.search)
    try_load = offload(SessionRepository.try_load)


class AsyncTranscripts(Offloaded[TranscriptStore]):
    """`trail.transcripts` for asyncio code: see TranscriptStore."""

    delete = offload(TranscriptStore.delete)
    list = offload(TranscriptStore.list)
    list_paginated = offload(TranscriptStore.list_paginated)
    load = offload(TranscriptStore.load)
    save = offload(TranscriptStore.save)


class AsyncAssets(Offloaded[AssetStore]):
    """`trail.assets` for asyncio code: see AssetStore."""

    delete = offload(AssetStore.delete)
    exists = offload(AssetStore.exists)
    list = offload(AssetStore.list)
    load = offload(AssetStore.load)
    save = offload(AssetStore.save)
    sync_status = offload(AssetStore.sync_status)


class AsyncQA(Offloaded[QAService]):
    """`trail.qa` for asyncio code: see QAService."""

    append_agent_trace_step = offload(QAService.append_agent_trace_step)
    create_qa_entry = offload(QAService.create_qa_entry)
    delete_qa_entry = offload(QAService.delete_qa_entry)
    delete_session = offload(QAService.delete_session)
    get_agent_trace_steps = offload(QAService.get_agent_trace_steps)
    get_all_qa_entries = offload(QAService.get_all_qa_entries)
    get_graph_context = offload(QAService.get_graph_context)
    get_last_qa_id = offload(QAService.get_last_qa_id)
    get_latest_qa_entries = offload(QAService.get_latest_qa_entries)
    history = offload(QAService.history)
    prune = offload(QAService.prune)
    set_graph_context = offload(QAService.set_graph_context)
    update_qa_entry = offload(QAService.update_qa_entry)


class AsyncProjections(Offloaded[ProjectionRunner]):
    """`trail.projections` for asyncio code: see ProjectionRunner."""

    after_write = offload(ProjectionRunner.after_write)
    behind = offload(ProjectionRunner.behind)
    catch_up = offload(ProjectionRunner.catch_up)
    catch_up_unless_running = offload(ProjectionRunner.catch_up_unless_running)
    drop_retired_now = offload(ProjectionRunner.drop_retired_now)
    erase_builds = offload(ProjectionRunner.erase_builds)
    has_applied = offload(ProjectionRunner.has_applied)
    lagging = offload(ProjectionRunner.lagging)
    prepare = offload(ProjectionRunner.prepare)
    projection = offload(ProjectionRunner.projection)
    rebuild = offload(ProjectionRunner.rebuild)
    rows = offload(ProjectionRunner.rows)
    run = offload(ProjectionRunner.run)
    status = offload(ProjectionRunner.status)
    sync_status = offload(ProjectionRunner.sync_status)
    upgrade = offload(ProjectionRunner.upgrade)


class AsyncExporter(Offloaded[Exporter]):
    """`trail.exporter` for asyncio code: see Exporter."""

    events = offload(Exporter.events)
    write = offload(Exporter.write)


class AsyncImporter(Offloaded[Importer]):
    """`trail.importer` for asyncio code: see Importer."""

    import_file = offload(Importer.import_file)


class AsyncUsage(Offloaded[UsageLedger]):
    """`trail.usage` for asyncio code: see UsageLedger."""

    model_totals = offload(UsageLedger.model_totals)
    records = offload(UsageLedger.records)
    session_totals = offload(UsageLedger.session_totals)


class AsyncAudit(Offloaded[AuditTimeline]):
    """`trail.audit` for asyncio code: see AuditTimeline."""

    entries = offload(AuditTimeline.entries)


class AsyncRetention(Offloaded[Retention]):
    """`trail.retention` for asyncio code: see Retention (`progress` is called
    from a worker thread)."""

    apply = offload(Retention.apply)
    expire = offload(Retention.expire)
    history = offload(Retention.history)
    set = offload(Retention.set)
    show = offload(Retention.show)
    unset = offload(Retention.unset)
