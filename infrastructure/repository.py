"""SessionRepository: cache -> storage -> locked, merging writer (seed 1's tiers).

It coordinates; it holds no SQL. Reads go cache-first; writes take the session's
lock, append, and on a conflicting append rebase onto the stored head and retry.
"""

from __future__ import annotations

import builtins
import copy
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Annotated, cast

from pydantic import AwareDatetime, Field, StrictBool

from ..domain.errors import (
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
    SessiontrailError,
    StorageUnavailable,
)
from ..domain.merge import rebase
from ..domain.ports import Order, SessionReads
from ..domain.session import Session, stream_id
from ..domain.validation import (
    Actor,
    Count,
    JsonObject,
    MessageIn,
    ModelName,
    Position,
    SessionId,
    Title,
    UserId,
    validated,
)
from ..domain.values import (
    DroppedEdit,
    HistoryEntry,
    MessagePage,
    Page,
    SaveResult,
    SessionSummary,
)
from .cache import SessionCache
from .event_store import SessionStore, StreamMoved
from .locks import KeyedLocks

logger = logging.getLogger(__name__)

MAX_SAVE_ATTEMPTS = 64
MAX_PAGE = 1000


def _visible(session: Session | None, user_id: str | None) -> Session | None:
    """The session if this caller may see it: live, and theirs when a user is named."""
    if session is None or session.deleted:
        return None
    if user_id is not None and session.user_id != user_id:
        return None
    return session


def _adopt(target: Session, source: Session) -> None:
    """Make `target` the merged state in place, as the caller's object must become."""
    target.__dict__.clear()
    target.__dict__.update(source.__dict__)


def _backoff(attempt: int) -> None:
    """Random, growing pause so racing writers stop colliding in lockstep."""
    time.sleep(random.uniform(0, min(0.05, 0.0005 * 2**attempt)))


def _parse_usage(record: JsonObject | str) -> JsonObject:
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except ValueError as exc:  # bad JSON, or an integer too long to convert
            raise InvalidInput(f"record: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise InvalidInput("record: must be a JSON object")
    return record


class SessionRepository:
    """The session API of seeds 1 and 2, on the event log."""

    def __init__(
        self,
        store: SessionStore,
        cache: SessionCache,
        reads: SessionReads,
        after_write: Callable[[int], object] | None = None,
    ) -> None:
        """`reads` serves lists and pages; `after_write(position)` runs per write."""
        self._store = store
        self._cache = cache
        self._reads = reads
        self._after_write = after_write
        self._locks = KeyedLocks()

    # -- reads -----------------------------------------------------------------

    @validated
    def load(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> Session | None:
        """Cache, then storage; None when absent, or when storage fails (logged).

        A stored event this code cannot read raises VersionIncompatible: None
        would invite the caller to start over a session that exists.
        """
        try:
            return self.try_load(session_id, user_id=user_id)
        except StorageUnavailable:
            logger.warning("load %r failed", session_id, exc_info=True)
            return None

    @validated
    def try_load(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> Session | None:
        """Like `load`, but a storage failure raises StorageUnavailable."""
        cached = self._cache.get(session_id)
        if cached is not None:
            return _visible(cached, user_id)
        stored = _visible(self._store.load(stream_id(session_id)), user_id)
        if stored is not None:
            self._cache.put_if_not_older(stored)
        return stored

    @validated
    def load_or_create(
        self,
        session_id: SessionId,
        *,
        model: ModelName = "",
        user_id: UserId | None = None,
    ) -> Session:
        """The stored session, or a fresh one that is not persisted until `save`."""
        session = self.load(session_id, user_id=user_id)
        if session is None:
            session = Session(session_id=session_id, model=model, user_id=user_id)
        return session

    @validated
    def load_merged(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> Session | None:
        """The newer of the cached and stored copies; never older than one already seen.

        Storage wins when strictly newer, or equally new and still carrying a pending
        question the cached copy lost. Storage failures fall back to the cache.
        """
        cached = self._cache.get(session_id)
        try:
            stored = self._store.load(stream_id(session_id))
        except StorageUnavailable:
            logger.warning("load_merged %r: storage failed", session_id, exc_info=True)
            stored = None
        if stored is None or (cached is not None and not _storage_wins(stored, cached)):
            return _visible(cached, user_id)
        if stored.deleted:
            self._cache.evict(session_id)
        else:
            self._cache.put_if_not_older(stored)
        return _visible(stored, user_id)

    @validated
    def list(
        self,
        *,
        user_id: UserId | None = None,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50,
        cursor: str | None = None,
        order: Order = "updated_desc",
        pinned_first: bool = False,
        include_deleted: bool = False,
    ) -> Page:
        """One page of sessions (newest first by default) from the session index.

        Pass `next_cursor` back for the next page; walking every page yields each
        session that existed at the first page exactly once, while writes go on.
        """
        return self._reads.list(
            user_id=user_id,
            limit=limit,
            cursor=cursor,
            order=order,
            pinned_first=pinned_first,
            include_deleted=include_deleted,
        )

    @validated
    def list_paginated(
        self,
        offset: Count = 0,
        limit: Count | None = None,
        *,
        user_id: UserId | None = None,
        order: Order = "updated_desc",
        pinned_first: bool = False,
        include_deleted: bool = False,
    ) -> builtins.list[SessionSummary]:
        """A window of the list by offset; past the end is empty, None means all."""
        return self._reads.list_paginated(
            offset=offset,
            limit=limit,
            user_id=user_id,
            order=order,
            pinned_first=pinned_first,
            include_deleted=include_deleted,
        )

    @validated
    def messages(
        self,
        session_id: SessionId,
        *,
        last_n: Count | None = None,
        before: Position | None = None,
        limit: Count | None = None,
        user_id: UserId | None = None,
    ) -> MessagePage:
        """The last `last_n` messages (all if None), or `limit` before a position.

        Read from the transcript read model: O(page), whatever the session's
        length. `page.before` fetches the page preceding it.
        """
        if last_n is not None and limit is not None:
            raise InvalidInput("last_n/limit: give one of them (they mean the same)")
        return self._reads.messages(
            session_id,
            user_id=user_id,
            last_n=last_n if limit is None else limit,
            before=before,
        )

    @validated
    def exists(self, session_id: SessionId, *, user_id: UserId | None = None) -> bool:
        """Whether the session is stored, live and (if a user is named) theirs."""
        return _visible(self._store.load(stream_id(session_id)), user_id) is not None

    @validated
    def history(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> builtins.list[HistoryEntry]:
        """The audit timeline: every event, oldest first, deleted sessions included."""
        events = self._store.stream_events(stream_id(session_id))
        owner = events[0] if events else None
        if not isinstance(owner, Session.Started) or (
            user_id is not None and owner.user_id != user_id
        ):
            raise SessionNotFound(f"no session {session_id!r}")
        return [HistoryEntry.of(event) for event in events]

    @validated
    def replay(
        self,
        session_id: SessionId,
        *,
        until: Position | None = None,
        user_id: UserId | None = None,
    ) -> Iterator[tuple[HistoryEntry, Session]]:
        """Each event, oldest first, with a copy of the session right after it."""
        entries = self.history(session_id, user_id=user_id)
        session: Session | None = None
        for event in self._store.stream_events(stream_id(session_id)):
            if until is not None and event.originator_version > until:
                return
            session = cast(Session, event.mutate(session))
            yield entries[event.originator_version - 1], copy.deepcopy(session)

    @validated
    def at(
        self,
        session_id: SessionId,
        *,
        version: Position | None = None,
        at: AwareDatetime | None = None,
        user_id: UserId | None = None,
    ) -> Session | None:
        """The session as it was at a version or a moment; None if it did not exist."""
        if (version is None) == (at is None):
            raise InvalidInput("version/at: give exactly one of them")
        stream = stream_id(session_id)
        if at is not None:
            version = self._store.version_at(stream, at)
            if version is None:
                return None
        session = self._store.load(stream, version=version)
        if session is None or (user_id is not None and session.user_id != user_id):
            return None
        if version is not None and session.version < version:
            raise InvalidInput(
                f"version: {session_id!r} has {session.version} versions, not {version}"
            )
        return session

    # -- writes ------------------------------------------------------------------

    def save(self, session: Session) -> SaveResult:
        """Append the session's new events, merging with concurrent writers; cache it.

        After a save that wrote, the caller's object is the merged, stored state (a
        save with nothing new touches no storage). The result lists the caller's
        title, pin and metadata edits the merge dropped because they were made on
        a copy whose metadata another writer has changed since (each is recorded
        as an EditDropped event); it is falsy when there are none. On failure it
        raises, the cache is untouched and the object keeps its unsaved events.
        """
        if not isinstance(session, Session):
            raise InvalidInput(
                f"session: expected a Session, got {type(session).__name__}"
            )
        with self._locks.hold(session.session_id):
            stored = self._write(session)
        self._cache.put(session)
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
            ]
        )

    def create(self, session: Session) -> None:
        """Store a session never saved before, without merging: if its id is
        already stored (by anyone, deleted or not, a moment earlier included),
        ConcurrencyConflict and nothing is written. The stream's first version is
        the guard, so of several processes creating one id exactly one succeeds."""
        pending = list(session.pending_events) if isinstance(session, Session) else []
        if not pending or not isinstance(pending[0], Session.Started):
            raise InvalidInput("session: expected a new Session, never saved")
        with self._locks.hold(session.session_id):
            try:
                position = self._store.record(session)
            except StreamMoved:
                raise ConcurrencyConflict(
                    f"session id {session.session_id!r} is already in use"
                ) from None
            self._caught_up(session, position)
        self._cache.put(session)

    def save_and_cache(self, session: Session) -> SaveResult | None:
        """`save`, but a failure is logged and the session is cached anyway (the
        result is then None)."""
        try:
            return self.save(session)
        except InvalidInput:
            raise
        except SessiontrailError:
            logger.exception("save %r failed; caching it unsaved", session.session_id)
            self._cache.put(session)
            return None

    @validated
    def edit(
        self,
        session_id: SessionId,
        *,
        title: Title | None = None,
        pinned: StrictBool | None = None,
        metadata: JsonObject | None = None,
        user_id: UserId | None = None,
        actor: Actor = "user",
        if_version: Count | None = None,
    ) -> Session:
        """A person's edit of the title, pin and metadata keys (None removes a key),
        applied to the newest stored state: it is never dropped, and a concurrent
        edit of other metadata keys is kept. Returns the stored session;
        SessionNotFound if it is absent, deleted or another user's. With
        `if_version`, ConcurrencyConflict (nothing written) unless the stored
        session is still at that version.

        Use it for an edit made now, not on a copy loaded earlier: `save` of such
        a copy drops its metadata edits when another writer changed the metadata
        meanwhile (no human edit is clobbered by a stale one).
        """

        def apply(session: Session) -> None:
            if if_version is not None and session.version != if_version:
                raise ConcurrencyConflict(
                    f"if_version: {session_id!r} is at version {session.version}, "
                    f"not {if_version}"
                )
            if title is not None:
                session.edit_title(title, actor=actor)
            if pinned is not None:
                session.set_pinned(pinned, actor=actor)
            if metadata is not None:
                session.update_metadata(metadata, actor=actor)

        edited = self._change(session_id, user_id, apply)
        if edited is None:
            raise SessionNotFound(f"no session {session_id!r}")
        self._cache.put(edited)
        return edited

    @validated
    def delete(
        self,
        session_id: SessionId,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> bool:
        """Soft-delete (a SessionDeleted event); False if it was not there to delete."""
        deleted = self._change(session_id, user_id, lambda s: s.delete(actor=actor))
        self._cache.evict(session_id)
        return deleted is not None

    @validated
    def restore(
        self,
        session_id: SessionId,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> bool:
        """Undo a soft delete; False if the session is not deleted (or not theirs)."""

        def undelete(head: Session | None) -> Session:
            if head is None or not head.deleted:
                raise SessionNotFound(f"no deleted session {session_id!r}")
            if user_id is not None and head.user_id != user_id:
                raise SessionNotFound(f"no deleted session {session_id!r}")
            head.restore(actor=actor)
            return head

        try:
            restored = self._fresh(session_id, undelete)
        except SessionNotFound:
            return False
        self._cache.put(restored)
        return True

    @validated
    def overwrite(
        self,
        session_id: SessionId,
        messages: builtins.list[MessageIn],
        *,
        title: Title | None = None,
        metadata: JsonObject | None = None,
        user_id: UserId | None = None,
        actor: Actor = "runtime",
    ) -> Session:
        """Make the stored session hold exactly these messages (and this title and
        metadata, when given), atomically, with the fewest events; creates it when
        absent and restores it when deleted. Returns the stored session.

        The events are worked out against the newest stored state, under the
        session's lock, and again if another process wrote first. A message given
        without an id (a plain mapping, or a Message built without `id=`) is the
        stored message at its position when every field it gives is equal, so
        re-saving the whole transcript appends only what is new. The given state
        is authoritative: a message stored meanwhile by another writer and missing
        from `messages` is removed by a TranscriptTruncated event, visible in
        `history` and recoverable with `at`.
        """

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

        stored = self._fresh(session_id, replace)
        self._cache.put(stored)
        return stored

    @validated
    def append_token_usage(
        self,
        session_id: SessionId,
        record: JsonObject | str,
        *,
        user_id: UserId | None = None,
        actor: Actor = "runtime",
    ) -> None:
        """Record one token-usage object verbatim; a no-op for a session never saved."""
        usage = _parse_usage(record)
        head = self._change(
            session_id, user_id, lambda s: s.record_token_usage(usage, actor=actor)
        )
        if head is None:
            logger.debug("token usage for unknown session %r ignored", session_id)
        else:
            self._cache.refresh(head)

    def _change(
        self, session_id: str, user_id: str | None, command: Callable[[Session], None]
    ) -> Session | None:
        """Run a command on the newest stored head and save it (see `_fresh`);
        None if the session is not visible."""

        def run(head: Session | None) -> Session:
            visible = _visible(head, user_id)
            if visible is None:
                raise SessionNotFound(f"no session {session_id!r}")
            command(visible)
            return visible

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
        with self._locks.hold(session_id):
            head = edit(self._store.load(stream_id(session_id)))
            self._write(head, redo=edit)
        return head

    def _write(
        self, session: Session, redo: Callable[[Session], Session] | None = None
    ) -> builtins.list[Session.Event]:
        """Append, then bring inline read models up to the write (read-your-writes).

        Returns the events stored.
        """
        position, stored = self._append(session, redo)
        self._caught_up(session, position)
        return stored

    def _caught_up(self, session: Session, position: int | None) -> None:
        """Bring inline read models up to a write that reached `position`; a
        failure is logged: the write is stored, the read models catch up later."""
        if position is not None and self._after_write is not None:
            try:
                self._after_write(position)
            except SessiontrailError:
                logger.warning(
                    "save %r is stored; its read models lag until the next catch-up",
                    session.session_id,
                    exc_info=True,
                )

    def _append(
        self, session: Session, redo: Callable[[Session], Session] | None
    ) -> tuple[int | None, builtins.list[Session.Event]]:
        """Append; if another writer got there first, rebase onto its head (or,
        given `redo`, run it on that head), then retry.

        Returns the notification id reached (None if there was nothing to write)
        and the events stored.
        """
        for attempt in range(MAX_SAVE_ATTEMPTS):
            pending = [cast(Session.Event, event) for event in session.pending_events]
            try:
                return self._store.record(session), pending
            except StreamMoved:
                head = self._store.load(session.id)
                assert head is not None, "a stream that moved on has a head"
                if self._store.holds(session):  # an earlier attempt did commit
                    _adopt(session, head)
                    return self._store.head(), pending
                if redo is None:
                    _rebase(session, head)
                else:
                    head = redo(head)
                _adopt(session, head)
                _backoff(attempt)
        raise ConcurrencyConflict(
            f"save {session.session_id!r}: still conflicting after "
            f"{MAX_SAVE_ATTEMPTS} attempts"
        )


def _rebase(session: Session, head: Session) -> None:
    """Re-apply the session's pending events onto the head by the merge rules."""
    dropped = rebase(session, head)
    if dropped:
        logger.info(
            "save %r: kept the stored edits over %s",
            session.session_id,
            ", ".join(type(event).__name__ for event in dropped),
        )


def _storage_wins(stored: Session, cached: Session) -> bool:
    if stored.version != cached.version:
        return stored.version > cached.version
    return stored.pending_question is not None and cached.pending_question is None
