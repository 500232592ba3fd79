"""What the LangGraph savers do, on a sync trail: the one implementation behind
`TrailSaver` and `AsyncTrailSaver` (sessiontrail.integrations.langgraph).

Writes go through the session repository (so they merge, are sealed with the
owner's key and reach the read models); reads go to the "langgraph" read model
(projections/langgraph.py). Where LangGraph's SQLite and PostgreSQL savers differ,
this does what the PostgreSQL one does: channel values stored per (channel,
version) beside the checkpoint (strings, numbers, booleans and None inline), a
re-saved checkpoint keeps its first parent, the "writes" metadata key is
dropped, metadata filters match by containment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.types import _DeltaSnapshot

from ..domain.errors import ConcurrencyConflict, InvalidInput
from ..domain.limits import MAX_TITLE_CHARS
from ..domain.session import Session
from ..domain.thread_ids import thread_session_id
from ..domain.threads import ChannelValue, Serialized, TaskWrite
from ..domain.values import PendingQuestion
from ..projections.langgraph_reads import Search
from ..trail import SessionTrail
from .langgraph_copy import copy_thread
from .langgraph_input import (
    Target,
    before_of,
    checkpoint_of,
    item_id,
    json_object,
    limit_of,
    metadata_of,
    text,
    thread_id_of,
    versions_of,
    writes_of,
)
from .langgraph_memo import Mirrored, Recorded, Stamp
from .langgraph_messages import mirror
from .langgraph_metadata import split_metadata
from .langgraph_questions import (
    INTERRUPT,
    answered,
    asked,
    interrupt_ids,
    resumed,
    resumes,
)
from .langgraph_tuples import checkpoint_tuples

INLINE = (str, int, float, bool, type(None))
"""Channel values kept inside the checkpoint, as the PostgreSQL saver does."""


class ThreadLog:
    """The saver's work: each method takes the sync trail to run on first."""

    def __init__(
        self,
        serde: SerializerProtocol,
        *,
        user_key: str,
        messages_channel: str | None,
        actor: str,
        recorded: Recorded,
    ) -> None:
        self.serde = serde
        self.user_key = user_key
        self.messages_channel = messages_channel
        self.actor = actor
        self.recorded = recorded

    # -- reads ----------------------------------------------------------------------

    def get_tuple(
        self, trail: SessionTrail, config: RunnableConfig
    ) -> CheckpointTuple | None:
        """The checkpoint the config names, or the thread's latest; None if none."""
        target = Target.of(config, self.user_key)
        stored = trail.langgraph.get(
            target.thread_id,
            target.checkpoint_ns,
            target.checkpoint_id,
            target.user_id,
        )
        if stored is None:
            return None
        return checkpoint_tuples(self.serde, [stored])[0]

    def list(
        self,
        trail: SessionTrail,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[CheckpointTuple]:
        """Checkpoints newest first: of the config's thread (its namespace only if
        the config names one), or of every thread; see LangGraph's `list`."""
        search = Search(
            metadata=None if filter is None else json_object(filter, "filter"),
            before=before_of(before),
            limit=limit_of(limit),
        )
        if config is not None:
            target = Target.of(config, self.user_key)
            named_ns = config["configurable"].get("checkpoint_ns")
            search = Search(
                thread_id=target.thread_id,
                checkpoint_ns=text(named_ns, "config.configurable.checkpoint_ns"),
                checkpoint_id=target.checkpoint_id,
                user_id=target.user_id,
                metadata=search.metadata,
                before=search.before,
                limit=search.limit,
            )
        return checkpoint_tuples(self.serde, trail.langgraph.search(search))

    # -- writes ---------------------------------------------------------------------

    def put(
        self,
        trail: SessionTrail,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Record a checkpoint (its parent: the config's checkpoint) and the values
        of the channels in `new_versions`; mirror its messages."""
        target = Target.of(config, self.user_key)
        trail.memories.add(self.recorded)  # dropped with the trail's cache
        epoch = self.recorded.epoch()
        checkpoint = checkpoint_of(checkpoint)
        checkpoint_id = item_id(checkpoint["id"], "checkpoint.id")
        parent_id = target.checkpoint_id and item_id(
            target.checkpoint_id, "config.checkpoint_id"
        )
        new_versions = versions_of(new_versions, "new_versions")
        structure, app_metadata = split_metadata(metadata_of(config, metadata))
        inline, stored = _split_values(checkpoint["channel_values"])
        values = [
            ChannelValue.pack(
                self._dumped(stored[channel], f"checkpoint.channel_values.{channel}"),
                channel=channel,
                version=str(version),
            )
            for channel, version in new_versions.items()
            if channel in stored
        ]
        record: dict[str, Any] = {
            "parent_checkpoint_id": parent_id,
            "checkpoint": Serialized.pack(
                self._dumped({**checkpoint, "channel_values": inline}, "checkpoint")
            ),
            "channel_versions": {
                channel: str(version)
                for channel, version in checkpoint["channel_versions"].items()
            },
            "values": values,
            "metadata": structure,
            "app_metadata": app_metadata,
        }
        conversation = (
            None
            if self.messages_channel is None
            else checkpoint["channel_values"].get(self.messages_channel)
        )

        session_id = target.session_id
        mirrored: Mirrored | None = None

        def change(session: Session) -> None:
            nonlocal mirrored
            known = self.recorded.mirrored(session_id, _stamp(session))
            session.record_checkpoint(checkpoint_id, **record, actor=self.actor)
            answered(session, self.actor, put=checkpoint_id)
            if isinstance(conversation, list):
                mirrored = mirror(session, conversation, self.actor, known)

        with self.recorded.writing(session_id):
            held = self._held(target)
            if held is not None and self._appended(trail, held, change, epoch):
                saved: Session | None = held
            else:
                saved = self._save(trail, target, change, epoch)
            self.recorded.put(session_id, checkpoint["id"], _stamp_of(saved), epoch)
            if saved is not None and mirrored is not None:
                self.recorded.mirror(session_id, _stamp(saved), mirrored, epoch)
        return target.config(checkpoint["id"], config["configurable"]["thread_id"])

    def put_writes(
        self,
        trail: SessionTrail,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        """Record a task's writes on the config's checkpoint: a batch of only
        special channels (error, interrupt, ...) replaces what their slots held,
        any other keeps slots already written; a batch that changes nothing is
        not recorded."""
        target = Target.of(config, self.user_key)
        trail.memories.add(self.recorded)  # dropped with the trail's cache
        epoch = self.recorded.epoch()
        if target.checkpoint_id is None:
            raise InvalidInput("config.configurable.checkpoint_id: required")
        checkpoint_id = target.checkpoint_id
        writes = writes_of(writes)
        task_id, task_path = text(task_id, "task_id"), text(task_path, "task_path")
        if not task_id:
            raise InvalidInput("task_id: required")
        items = [
            TaskWrite.pack(
                self._dumped(value, f"writes.{number}"),
                idx=WRITES_IDX_MAP.get(channel, number),
                channel=channel,
            )
            for number, (channel, value) in enumerate(writes)
        ]
        replace = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        batch = _Batch(
            target,
            checkpoint_id,
            task_id,
            task_path,
            items,
            replace,
            epoch,
            None if self.messages_channel is None else asked(writes, checkpoint_id),
            resumes(writes),
        )
        with self.recorded.writing(target.session_id):
            held = self._held(target)
            if held is None or not self._write(trail, held, batch, merge=False):
                self._write(trail, self._loaded(trail, target), batch, merge=True)

    def _write(
        self, trail: SessionTrail, session: Session, batch: _Batch, *, merge: bool
    ) -> bool:
        """Record the batch on the thread's session unless it changes nothing,
        merging with other writers. On a session this saver held (`merge`
        False): False, nothing written, if another writer moved the session
        since, or if the batch seems to change nothing (another writer may have
        changed those slots since: only the session as stored tells)."""
        target = batch.target
        session_id = target.session_id
        before = _stamp(session)
        slots = self.recorded.writes(
            session_id, batch.checkpoint_id, batch.task_id, before
        )
        if slots is None:
            slots = trail.langgraph.writes(
                target.thread_id,
                target.checkpoint_ns,
                batch.checkpoint_id,
                batch.task_id,
            )
        if all(
            _kept(slots.get(item.idx), item, batch.replace) for item in batch.items
        ) and not _asks_anew(session, batch):
            if not merge:
                return False  # only a load tells whether another writer moved it
            self.recorded.hold(session, batch.epoch)
            return True
        asked_before = self._asked(slots) if batch.resumed else None

        def change(session: Session) -> None:
            session.save_writes(
                batch.checkpoint_id,
                batch.task_id,
                batch.items,
                task_path=batch.task_path,
                replace=batch.replace,
                actor=self.actor,
            )
            if batch.resumed:
                resumed(session, self.actor, batch.task_id, asked_before)
            if batch.question is not None:
                session.set_pending_question(batch.question, actor=self.actor)

        if merge:
            saved = self._saved(trail, session, change, batch.epoch)
        elif self._appended(trail, session, change, batch.epoch):
            saved = session
        else:
            return False
        self.recorded.wrote(
            session_id,
            batch.checkpoint_id,
            batch.task_id,
            batch.items,
            replace=batch.replace,
            stamp=_stamp_of(saved),
            epoch=batch.epoch,
        )
        if saved is not None:
            self.recorded.moved(session_id, before, _stamp(saved))
        return True

    def _asked(
        self, slots: Mapping[int, tuple[str, str, bytes]]
    ) -> frozenset[str] | None:
        """The ids of the interrupts a task's stored writes hold (none if it
        asked nothing); None if the serializer cannot read them back."""
        stored = slots.get(WRITES_IDX_MAP[INTERRUPT])
        if stored is None:
            return frozenset()
        try:
            return interrupt_ids(self.serde.loads_typed(stored[1:]))
        except Exception:  # a type the serializer refuses to load: don't guess
            return None

    def delete_thread(self, trail: SessionTrail, thread_id: str) -> None:
        """Soft-delete every namespace's session of the thread: LangGraph sees
        nothing of it; the log keeps it (`sessiontrail restore` brings it back)."""
        thread_id = thread_id_of(thread_id, "thread_id")
        sessions = [
            thread_session_id(thread_id, checkpoint_ns)
            for checkpoint_ns in trail.langgraph.namespaces(thread_id)
        ]
        self.recorded.started_afresh(sessions)
        for session_id in sessions:
            trail.sessions.delete(session_id, actor=self.actor)

    def copy_thread(
        self, trail: SessionTrail, source_thread_id: str, target_thread_id: str
    ) -> None:
        """See langgraph_copy.py."""
        copy_thread(trail, source_thread_id, target_thread_id, self.actor)

    def _dumped(self, value: Any, name: str) -> tuple[str, bytes]:
        """The serializer's (type, bytes) for a value; InvalidInput naming it if
        the serializer cannot write it (pickle is off unless configured) or
        gives something else than a type name and bytes."""
        try:
            typed = self.serde.dumps_typed(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{name}: the serializer cannot write it: {exc}"
            ) from None
        if not (
            isinstance(typed, tuple)
            and len(typed) == 2
            and isinstance(typed[0], str)
            and isinstance(typed[1], bytes | bytearray | None)
        ):
            raise InvalidInput(
                f"{name}: the serializer gave {type(typed).__name__}, "
                "not a (type name, bytes) pair"
            )
        text(typed[0], f"{name} (its type name)")
        return typed[0], bytes(typed[1] or b"")

    def _save(
        self,
        trail: SessionTrail,
        target: Target,
        change: Callable[[Session], None],
        epoch: int,
    ) -> Session | None:
        """Apply `change` to the thread's session (created, or reopened afresh if
        it was deleted) and save it, merging with other writers. The session as
        saved if no other writer's events were merged in, else None."""
        return self._saved(trail, self._loaded(trail, target), change, epoch)

    def _loaded(self, trail: SessionTrail, target: Target) -> Session:
        """The thread's session as stored now: created, or reopened afresh if
        it was deleted (not stored until saved). ConcurrencyConflict if the
        config names a user and the thread is another's (see `_claim`: a
        subgraph's namespace is a session of its own, which the store's check
        of the id alone would let anyone create)."""
        session_id = target.session_id
        session = trail.sessions.try_load(session_id, user_id=target.user_id)
        if session is None:
            self.recorded.started_afresh([session_id])
            session = self._reopened(trail, target)
        if session is not None:
            if target.user_id is not None and target.checkpoint_ns:
                self._check_root(trail, target)
            return session
        if target.user_id is not None:
            self._claim(trail, target)
        return Session(
            session_id=session_id,
            user_id=target.user_id,
            title=_title(target),
            actor=self.actor,
        )

    def _check_root(self, trail: SessionTrail, target: Target) -> bool:
        """Whether the thread's own session (its root namespace) is the config
        user's; False if it is missing. ConcurrencyConflict if it is someone
        else's (or no one's): the thread is theirs, whatever namespaces other
        sessions hold (a session can be made under any free id, through the
        HTTP API too)."""
        root = trail.sessions.try_load(_root(target).session_id)
        if root is None:
            return False
        if root.user_id != target.user_id:
            raise _in_use(target)
        return True

    def _claim(self, trail: SessionTrail, target: Target) -> None:
        """ConcurrencyConflict unless a new namespace of the thread may be the
        config user's. The thread's own session (its root namespace) decides:
        the user's, the write goes on; another's, refused. With no root yet
        (a thread written before roots decided), no other user may have a
        namespace of it (the read model's answer); then a subgraph's namespace
        first makes the root the user's. Making a session is atomic in the log
        (its stream's first version), so of two users starting one thread at
        once, one gets its root and the other is refused, whatever the read
        model said a moment before."""
        if self._check_root(trail, target):
            return
        if trail.langgraph.owners(target.thread_id) - {target.user_id}:
            raise _in_use(target)
        if not target.checkpoint_ns:
            return  # the root itself: made by the write that follows, atomically
        root = _root(target)
        self.recorded.started_afresh([root.session_id])
        reopened = self._reopened(trail, root)
        if reopened is not None:
            trail.sessions.save(reopened)
            return
        made = Session(
            session_id=root.session_id,
            user_id=target.user_id,
            title=_title(root),
            actor=self.actor,
        )
        try:
            trail.sessions.create(made)
        except ConcurrencyConflict:
            # made a moment ago by another process: for this user, it is theirs
            if not self._check_root(trail, target):
                raise

    def _saved(
        self,
        trail: SessionTrail,
        session: Session,
        change: Callable[[Session], None],
        epoch: int,
    ) -> Session | None:
        """`change` applied to `session` and saved; `session` if no other
        writer's events were merged in, else None. The session as stored is
        held for the next write (unless the memory was emptied since `epoch`)."""
        change(session)
        changed = session.version
        trail.sessions.save(session)
        self.recorded.hold(session, epoch)
        return session if session.version == changed else None

    def _held(self, target: Target) -> Session | None:
        """The thread's session as this saver's last write stored it, if the
        config's user may write it; None if not held. (A held session whose
        user was erased since is read anew by the append, which finds the key
        gone: see SessionStore._insert; nothing erased is stored again.)"""
        session = self.recorded.take(target.session_id)
        if session is None:
            return None
        if target.user_id is not None and session.user_id != target.user_id:
            return None
        return session

    def _appended(
        self,
        trail: SessionTrail,
        session: Session,
        change: Callable[[Session], None],
        epoch: int,
    ) -> bool:
        """`change` applied to a held session and appended, held again (unless
        the memory was emptied since `epoch`); False, nothing written, if
        another writer moved its stream since."""
        change(session)
        if not trail.sessions.append_unmoved(session):
            return False
        self.recorded.hold(session, epoch)
        return True

    def _reopened(self, trail: SessionTrail, target: Target) -> Session | None:
        """A deleted thread's session restored and emptied, its id used again (as
        LangGraph's savers start afresh after delete_thread); None if it is not
        a deleted session of this user."""
        head = trail.store.load(trail.store.ids.stream(target.session_id))
        if head is None or not head.deleted:
            return None
        if target.user_id is not None and head.user_id != target.user_id:
            return None
        head.restore(actor=self.actor)
        head.clear_checkpoints(actor=self.actor)
        head.truncate(0, actor=self.actor)
        return head


@dataclass(frozen=True)
class _Batch:
    """A task's pending writes on a checkpoint, checked, to record."""

    target: Target
    checkpoint_id: str
    task_id: str
    task_path: str
    items: list[TaskWrite]
    replace: bool
    epoch: int
    """The saver's memory's epoch when the write began (see Recorded)."""
    question: PendingQuestion | None
    """What an interrupt among the writes asks (see langgraph_questions.py)."""
    resumed: bool
    """Whether the writes resume an interrupt."""


def _root(target: Target) -> Target:
    """The thread's own namespace (the graph's, not a subgraph's)."""
    return replace(target, checkpoint_ns="", checkpoint_id=None)


def _in_use(target: Target) -> ConcurrencyConflict:
    return ConcurrencyConflict(
        f"session id {target.session_id!r} is already in use: its thread is not "
        "this user's"
    )


def _split_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(kept inline, stored per version), as the PostgreSQL saver splits them: a
    delta snapshot is stored, with True inline to mark it."""
    inline: dict[str, Any] = {}
    stored: dict[str, Any] = {}
    for channel, value in values.items():
        if isinstance(value, _DeltaSnapshot):
            stored[channel], inline[channel] = value, True
        elif isinstance(value, INLINE):
            inline[channel] = value
        else:
            stored[channel] = value
    return inline, stored


def _kept(held: tuple[str, str, bytes] | None, item: TaskWrite, replace: bool) -> bool:
    """Whether writing `item` into a slot holding `held` would change nothing."""
    if held is None:
        return False
    return not replace or held == (item.channel, *item.unpack())


def _asks_anew(session: Session, batch: _Batch) -> bool:
    """Whether the batch asks a question the session does not show pending: a
    task that asks again what its stored interrupt asked (after another task's
    resume answered the question shown) is asked again, though its slots
    change nothing."""
    return batch.question is not None and batch.question != session.pending_question


def _stamp_of(saved: Session | None) -> Stamp | None:
    """The stamp a save left, when no other writer's events were merged in."""
    return None if saved is None else _stamp(saved)


def _stamp(session: Session) -> Stamp:
    """The session's state at this moment, as the saver's memory keys it."""
    return session.version, session.modified_on


def _title(target: Target) -> str:
    """A thread session's title: its thread id (and namespace)."""
    title = target.thread_id
    if target.checkpoint_ns:
        title += f" ({target.checkpoint_ns})"
    return title[:MAX_TITLE_CHARS]
