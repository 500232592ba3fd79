"""LangGraph checkpointers over the log (the `langgraph` extra).

    with sessiontrail.connect("sqlite:///chats.db") as trail:
        graph = builder.compile(checkpointer=TrailSaver(trail))
        graph.invoke(inputs, {"configurable": {"thread_id": "t1", "user_id": "ann"}})

    trail = await sessiontrail.aio.connect("sqlite:///chats.db")
    graph = builder.compile(checkpointer=AsyncTrailSaver(trail))

A thread (with each subgraph namespace) is a session owned by the config's
`user_id`; each checkpoint and each batch of pending writes is an event of it,
and the conversation in the `messages` channel is mirrored as its transcript
(langgraph_messages.py). Both savers implement the whole of LangGraph's
`BaseCheckpointSaver`, sync and async; the work is in langgraph_log.py.
`TrailSaver` takes a sync trail or a URL (which it opens, and `close()`
closes); `AsyncTrailSaver` also an async trail (see adapter_trail.py).
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from pydantic import TypeAdapter, ValidationError

from ..aio_parts import Threads
from ..domain.errors import InvalidInput
from ..domain.validation import Actor
from ..trail import SessionTrail
from .adapter_trail import AdapterTrail, ClosesWhatItOpened, TrailArgument, opened
from .langgraph_log import ThreadLog
from .langgraph_memo import Recorded

__all__ = ["AsyncTrailSaver", "TrailSaver"]

T = TypeVar("T")
P = ParamSpec("P")
ACTOR: TypeAdapter[str] = TypeAdapter(Actor)


class _TrailCheckpointer(BaseCheckpointSaver[str]):
    """LangGraph's saver contract on a ThreadLog; subclasses say which trail the
    sync calls use and how the async ones run."""

    def __init__(
        self,
        *,
        serde: SerializerProtocol | None,
        user_key: str,
        messages_channel: str | None,
        actor: str,
    ) -> None:
        untyped = all(hasattr(serde, name) for name in ("dumps", "loads"))
        if not (serde is None or isinstance(serde, SerializerProtocol) or untyped):
            raise InvalidInput(
                "serde: must be a LangGraph serializer (dumps_typed and loads_typed, "
                f"or dumps and loads), got {type(serde).__name__}"
            )
        super().__init__(serde=serde)
        if not isinstance(user_key, str) or not user_key:
            raise InvalidInput("user_key: must be a config key (a non-empty string)")
        if messages_channel is not None and (
            not isinstance(messages_channel, str) or not messages_channel
        ):
            raise InvalidInput("messages_channel: must be a channel name or None")
        try:
            self._actor = ACTOR.validate_python(actor)
        except ValidationError as exc:
            raise InvalidInput(f"actor: {exc.errors()[0]['msg']}") from None
        self._user_key = user_key
        self._messages_channel = messages_channel
        self._recorded = Recorded()

    @property
    def _log(self) -> ThreadLog:
        """The work, with this saver's serializer (a copy made by LangGraph's
        `with_allowlist` has its own)."""
        return ThreadLog(
            self.serde,
            user_key=self._user_key,
            messages_channel=self._messages_channel,
            actor=self._actor,
            recorded=self._recorded,
        )

    @abstractmethod
    def _sync(self) -> SessionTrail:
        """The trail sync calls run on."""

    @abstractmethod
    async def _run(
        self,
        call: Callable[Concatenate[SessionTrail, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`call(trail, ...)` in a worker thread."""

    # -- sync ---------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The config's checkpoint (by `checkpoint_id`), else the thread's latest
        (largest id) in its namespace; None if there is none."""
        return self._log.get_tuple(self._sync(), config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, with their pending writes: the config's
        thread (only its namespace if it names one), or every thread for None;
        `filter` matches metadata by containment, `before` is exclusive."""
        return iter(self._log.list(self._sync(), config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint whose parent is the config's checkpoint."""
        return self._log.put(self._sync(), config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes on the config's checkpoint."""
        self._log.put_writes(self._sync(), config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread, every namespace (a soft delete: see the docs)."""
        self._log.delete_thread(self._sync(), thread_id)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Make the target thread a copy of the source as it is now, every
        namespace (see the docs on forks); ConcurrencyConflict if it is in use."""
        self._log.copy_thread(self._sync(), source_thread_id, target_thread_id)

    # -- async --------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """See get_tuple."""
        return await self._run(self._log.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """See list."""
        for found in await self._run(self._log.list, config, filter, before, limit):
            yield found

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """See put."""
        return await self._run(
            self._log.put, config, checkpoint, metadata, new_versions
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """See put_writes."""
        await self._run(self._log.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """See delete_thread."""
        await self._run(self._log.delete_thread, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """See copy_thread."""
        await self._run(self._log.copy_thread, source_thread_id, target_thread_id)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The version after `current`, as LangGraph's own savers make them: a
        zero-padded counter (so versions sort as text) and a random fraction."""
        if current is None:
            number = 0
        elif isinstance(current, int) and not isinstance(current, bool):
            number = current
        elif isinstance(current, str) and current.split(".")[0].isdigit():
            number = int(current.split(".")[0])
        else:
            raise InvalidInput(f"current: not a channel version: {current!r:.40}")
        return f"{number + 1:032}.{random.random():016}"


class TrailSaver(_TrailCheckpointer):
    """A LangGraph checkpointer on a sync trail, or on a database URL it opens
    (and `close()` closes; a trail passed in stays the caller's).

    `user_key`: the `configurable` key naming the user a thread belongs to (a
    config without it reads every user's threads and writes without owner
    checks); `messages_channel`: the channel mirrored as the transcript (None:
    none); `actor`: the writer in the audit trail; `serde`: LangGraph's
    serializer (JsonPlusSerializer, no pickle, by default). Async calls run in
    the event loop's default executor.
    """

    def __init__(
        self,
        trail: SessionTrail | str,
        *,
        serde: SerializerProtocol | None = None,
        user_key: str = "user_id",
        messages_channel: str | None = "messages",
        actor: str = "runtime",
    ) -> None:
        super().__init__(
            serde=serde,
            user_key=user_key,
            messages_channel=messages_channel,
            actor=actor,
        )
        if isinstance(trail, SessionTrail):
            self._trail, self._owned = trail, False
        elif isinstance(trail, str):
            self._trail, self._owned = opened(trail), True
        else:
            raise TypeError(
                "TrailSaver: trail must be a trail (sessiontrail.connect(url)) or a "
                f"database URL such as 'sqlite:///chats.db'; got {trail!r}"
            )
        self._threads = Threads(None)

    def _sync(self) -> SessionTrail:
        return self._trail

    async def _run(
        self,
        call: Callable[Concatenate[SessionTrail, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return await self._threads.run(call, self._trail, *args, **kwargs)

    def close(self) -> None:
        """Close the log if this saver opened it from a URL; idempotent."""
        if self._owned:
            self._trail.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTrailSaver(ClosesWhatItOpened, _TrailCheckpointer):
    """A LangGraph checkpointer for asyncio code: on an async trail, a sync trail
    or a database URL it opens (see adapter_trail.py); the options of
    TrailSaver. Its sync methods work too, from any thread."""

    def __init__(
        self,
        trail: TrailArgument,
        *,
        serde: SerializerProtocol | None = None,
        user_key: str = "user_id",
        messages_channel: str | None = "messages",
        actor: str = "runtime",
    ) -> None:
        _TrailCheckpointer.__init__(
            self,
            serde=serde,
            user_key=user_key,
            messages_channel=messages_channel,
            actor=actor,
        )
        self._trail = AdapterTrail(trail, "AsyncTrailSaver")

    def _sync(self) -> SessionTrail:
        self._trail.check_open()
        return self._trail.trail.sync

    async def _run(
        self,
        call: Callable[Concatenate[SessionTrail, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return await self._trail.run(call, *args, **kwargs)
