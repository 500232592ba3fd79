"""The locked, merging writer under `trail.sessions`: every write of a chat session.

A write takes the session's lock in this process, appends, and on a conflicting
append (another process wrote first) rebases onto the stored head by the merge
rules, or redoes an edit made now on that head, and retries. After a write it
brings the inline read models up to it (read-your-writes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import cast

from ..domain.aggregate import adopt
from ..domain.errors import (
    ChecksumMismatch,
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
)
from ..domain.merge import rebase
from ..domain.session import Session, stream_id
from ..domain.validation import JsonObject
from ..domain.values import DroppedEdit, Message, SaveResult
from .appends import AfterWrite, attempts, caught_up, gave_up
from .event_store import SessionStore, StreamMoved
from .locks import KeyedLocks
from .log_position import LogPosition

logger = logging.getLogger(__name__)


def visible(session: Session | None, user_id: str | None) -> Session | None:
    """The session if this caller may see it: live, and theirs when a user is named."""
    if session is None or session.deleted:
        return None
    if user_id is not None and session.user_id != user_id:
        return None
    return session


class SessionWriter:
    """Appends chat sessions' events, merging with concurrent writers."""

    def __init__(self, store: SessionStore, after_write: AfterWrite | None) -> None:
        """`after_write(position)` runs after each write (inline read models)."""
        self._store = store
        self._after_write = after_write
        self._locks = KeyedLocks()

    def holding(self, session_id: str) -> AbstractContextManager[None]:
        """This process's lock of one session: writes of it wait while held."""
        return self._locks.hold(session_id)

    def save(self, session: Session) -> SaveResult:
        """Append the session's new events, rebasing onto what others stored
        meanwhile; the session becomes the merged, stored state. Returns the
        edits the merge dropped and the messages it skipped."""
        appending = _message_ids(session.pending_events)
        with self._locks.hold(session.session_id):
            position, stored = self._append(session, redo=None)
            caught_up(self._after_write, position, f"save {session.session_id!r}")
        kept = set(_message_ids(stored))
        return SaveResult(
            dropped=[
                DroppedEdit(
                    edit=event.edit,
                    changes=event.changes,
                    actor=event.actor,
                    version=event.originator_version,
                )
                for event in stored
                if isinstance(event, Session.EditDropped)
            ],
            skipped=[message_id for message_id in appending if message_id not in kept],
        )

    def append_unmoved(self, session: Session) -> bool:
        """Append the session's new events only if its stream still ends where
        the session was read (no merge); False, nothing written, if another
        writer appended, deleted or purged since: the caller redoes its edit on
        a fresh load."""
        with self._locks.hold(session.session_id):
            try:
                position = self._store.record(session)
            except StreamMoved:
                return False
            caught_up(self._after_write, position, f"save {session.session_id!r}")
        return True

    def create(self, session: Session) -> None:
        """Store a session never saved before, without merging (see
        SessionRepository.create)."""
        pending = list(session.pending_events) if isinstance(session, Session) else []
        if not pending or not isinstance(pending[0], Session.Started):
            raise InvalidInput("session: expected a new Session, never saved")
        if self._store.ids.session(session.session_id) != session.session_id:
            raise _in_use(session)  # stored before ids were NFC, as spelt then
        with self._locks.hold(session.session_id):
            try:
                position = self._store.record(session)
            except StreamMoved:
                raise _in_use(session) from None
            caught_up(self._after_write, position, f"save {session.session_id!r}")

    def edit(
        self,
        session_id: str,
        user_id: str | None,
        actor: str,
        *,
        title: str | None,
        pinned: bool | None,
        metadata: JsonObject | None,
        if_version: int | None,
    ) -> Session:
        """A person's edit, made on the newest head (see SessionRepository.edit)."""

        def apply(session: Session) -> None:
            _check_version(session, if_version)
            if title is not None:
                session.edit_title(title, actor=actor)
            if pinned is not None:
                session.set_pinned(pinned, actor=actor)
            if metadata is not None:
                session.update_metadata(metadata, actor=actor)

        edited = self._change(session_id, user_id, apply)
        if edited is None:
            raise SessionNotFound(f"no session {session_id!r}")
        return edited

    def delete(
        self,
        session_id: str,
        user_id: str | None,
        actor: str,
        if_version: int | None = None,
    ) -> Session | None:
        """Soft-delete; the stored session, or None if it was not there to delete."""

        def delete(session: Session) -> None:
            _check_version(session, if_version)
            session.delete(actor=actor)

        return self._change(session_id, user_id, delete)

    def restore(
        self, session_id: str, user_id: str | None, actor: str
    ) -> Session | None:
        """Undo a soft delete; None if the session is not deleted (or not theirs)."""

        def undelete(head: Session | None) -> Session:
            if head is None or not head.deleted:
                raise SessionNotFound(f"no deleted session {session_id!r}")
            if user_id is not None and head.user_id != user_id:
                raise SessionNotFound(f"no deleted session {session_id!r}")
            head.restore(actor=actor)
            return head

        try:
            return self._fresh(session_id, undelete)
        except SessionNotFound:
            return None

    def overwrite(
        self,
        session_id: str,
        messages: list[Message],
        user_id: str | None,
        actor: str,
        *,
        title: str | None,
        metadata: JsonObject | None,
    ) -> Session:
        """Make the stored session exactly these messages (and title and metadata,
        when given), worked out on the newest head (see SessionRepository.overwrite)."""

        def replace(head: Session | None) -> Session:
            if head is not None and user_id is not None and head.user_id != user_id:
                raise SessionNotFound(f"no session {session_id!r}")
            if head is None:
                head = Session(session_id=session_id, user_id=user_id, actor=actor)
            head.restore(actor=actor)
            head.replace_messages(messages, actor=actor)
            if title is not None:
                head.edit_title(title, actor=actor)
            if metadata is not None:
                gone = {key: None for key in head.metadata if key not in metadata}
                head.update_metadata({**metadata, **gone}, actor=actor)
            return head

        return self._fresh(session_id, replace)

    def record_usage(
        self, session_id: str, user_id: str | None, usage: JsonObject, actor: str
    ) -> Session | None:
        """Record a token-usage object; None for a session not visible."""
        return self._change(
            session_id, user_id, lambda s: s.record_token_usage(usage, actor=actor)
        )

    def _change(
        self, session_id: str, user_id: str | None, command: Callable[[Session], None]
    ) -> Session | None:
        """Run a command on the newest stored head and save it (see `_fresh`);
        None if the session is not visible to `user_id`."""

        def run(head: Session | None) -> Session:
            found = visible(head, user_id)
            if found is None:
                raise SessionNotFound(f"no session {session_id!r}")
            command(found)
            return found

        try:
            return self._fresh(session_id, run)
        except SessionNotFound:
            return None

    def _fresh(
        self, session_id: str, edit: Callable[[Session | None], Session]
    ) -> Session:
        """`edit` the stored head (None: no such stream) under the session's lock
        and append what it did. If another process appended first, `edit` its new
        head instead of rebasing: an edit made now applies to the newest state,
        so the merge never drops it as stale."""
        session_id = self._store.ids.session(session_id)
        with self._locks.hold(session_id):
            head = edit(self._store.load(stream_id(session_id)))
            position, _ = self._append(head, redo=edit)
            caught_up(self._after_write, position, f"save {session_id!r}")
        return head

    def _append(
        self, session: Session, redo: Callable[[Session], Session] | None
    ) -> tuple[LogPosition | None, list[Session.Event]]:
        """Append; if another writer got there first, rebase onto its head (or,
        given `redo`, run it on that head), then retry.

        Returns the notification id reached (None if there was nothing to write)
        and the events stored.
        """
        for _ in attempts():
            pending = cast(list[Session.Event], list(session.pending_events))
            try:
                return self._store.record(session), pending
            except StreamMoved:
                head = self._head_of(session)
                if self._held(session):  # an earlier attempt did commit
                    adopt(session, head)
                    return self._store.head_position(), pending
                if redo is None:
                    _rebase(session, head)
                else:
                    head = redo(head)
                adopt(session, head)
        raise gave_up(f"save {session.session_id!r}")

    def _head_of(self, session: Session) -> Session:
        """The stored head of the session `session` was built on, after another
        writer's append beat it. SessionNotFound if that session was purged since:
        its stream is gone, or holds a new session started under the same id (by
        anyone), which a stale writer must never merge into."""
        head = self._store.load(session.id)  # a purge meanwhile reads as one
        if head is None or not _same_session(session, head):
            raise SessionNotFound(
                f"session {session.session_id!r} was purged"
            ) from None
        return head

    def _held(self, session: Session) -> bool:
        """Whether the session's pending events are stored already; a stream that
        a purge cut from under the check is the purge, not a broken chain."""
        try:
            return self._store.holds(session)
        except ChecksumMismatch:
            self._head_of(session)  # SessionNotFound if purged meanwhile
            raise


def _message_ids(events: Sequence[object]) -> list[str]:
    """The ids of the messages these events append, in order."""
    return [
        event.message.id
        for event in events
        if isinstance(event, Session.MessageAppended)
    ]


def _in_use(session: Session) -> ConcurrencyConflict:
    return ConcurrencyConflict(f"session id {session.session_id!r} is already in use")


def _check_version(session: Session, if_version: int | None) -> None:
    """ConcurrencyConflict unless the session is at `if_version` (None: any)."""
    if if_version is not None and session.version != if_version:
        raise ConcurrencyConflict(
            f"if_version: {session.session_id!r} is at version {session.version}, "
            f"not {if_version}"
        )


def _same_session(session: Session, head: Session) -> bool:
    """Whether `head` continues the stored session `session` was loaded from: the
    same first event (its time) and owner. A session never stored yet merges
    onto whatever was started under its id meanwhile."""
    if session.version == len(session.pending_events):
        return True
    return (head.created_on, head.user_id) == (session.created_on, session.user_id)


def _rebase(session: Session, head: Session) -> None:
    """Re-apply the session's pending events onto the head by the merge rules."""
    dropped = rebase(session, head)
    if dropped:
        logger.info(
            "save %r: kept the stored edits over %s",
            session.session_id,
            ", ".join(type(event).__name__ for event in dropped),
        )
