"""SessionRepository: `trail.sessions`, a session's cache, storage and writer tiers
on the event log.

cache -> storage -> the locked, merging writer. Reads go cache-first and fall back
to the event store; writes go to the writer (`session_writer.py`) and then into
the cache; lists and transcript pages come from read models, history and `at`
from the log (`history.py`). It coordinates; it holds no SQL.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator
from typing import Annotated, Protocol

from pydantic import AwareDatetime, Field, StrictBool

from ..domain.errors import (
    InvalidInput,
    SessionNotFound,
    SessiontrailError,
    StorageUnavailable,
)
from ..domain.ports import Order, SessionReads
from ..domain.purge import PurgeReport
from ..domain.search import SearchHit, SearchText, session_filter
from ..domain.session import Session, stream_id
from ..domain.thread_ids import fork_id, thread_of
from ..domain.validation import (
    Actor,
    Count,
    JsonObject,
    JsonObjectOrText,
    MessageIn,
    ModelName,
    Position,
    SessionId,
    Title,
    UserId,
    validated,
)
from ..domain.values import HistoryEntry, MessagePage, Page, SaveResult, SessionSummary
from .cache import SessionCache
from .event_store import SessionStore
from .history import SessionHistory
from .session_writer import SessionWriter, visible

logger = logging.getLogger(__name__)

MAX_PAGE = 1000


class SessionPurger(Protocol):
    """What carries out `purge` (sessiontrail/privacy/purge.py)."""

    def purge(
        self,
        session_id: str,
        *,
        user_id: str | None,
        actor: str,
        reason: str,
        if_version: int | None,
    ) -> PurgeReport: ...


class SessionRepository:
    """The session API (load, list, save, edit, history) on the event log."""

    def __init__(
        self,
        store: SessionStore,
        cache: SessionCache,
        reads: SessionReads,
        writer: SessionWriter,
        history: SessionHistory,
        purger: SessionPurger | None = None,
    ) -> None:
        """`reads` serves lists and pages; `writer` appends; `history` travels;
        `purger` deletes sessions for good."""
        self._store = store
        self._cache = cache
        self._reads = reads
        self._writer = writer
        self._history = history
        self._purger = purger

    # -- reads: cache, then storage -----------------------------------------------

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
        cached = self._cache.get(session_id)  # cached under its stored spelling
        if cached is None:
            session_id = self._store.ids.session(session_id)
            cached = self._cache.get(session_id)
        if cached is not None and self._current(cached, session_id):
            return visible(cached, user_id)
        loaded = self._store.load(stream_id(session_id))
        stored = visible(loaded, user_id)
        if loaded is None or loaded.deleted:
            self._cache.evict(session_id)  # deleted or purged by another process
        elif stored is not None:
            self._cache.put_if_not_older(stored)
        return stored

    def _current(self, cached: Session, session_id: str) -> bool:
        """Whether a cached copy can be served: the log's last record is still
        the one it was read at, the same version and chain value (another
        process may have written since, or purged it and started a new session
        under its id up to the same version; one indexed read), or it carries
        edits not stored yet (kept for the next save to merge), or the log
        cannot be read now (the cache answers through an outage). A copy of a
        purged session is evicted, so the newer one loaded next replaces it."""
        if cached.pending_events:
            return True
        try:
            head = self._store.stream_head(cached.id)
        except StorageUnavailable:
            logger.warning("load %r: served from the cache", cached.session_id)
            return True
        if head == (cached.version, cached.stored_head):
            return True
        if head[0] <= cached.version:  # a stream only grows, unless purged
            self._cache.evict(session_id)
        return False

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
        try:
            session_id = self._store.ids.session(session_id)
            stored = self._store.load(stream_id(session_id))
        except StorageUnavailable:
            logger.warning("load_merged %r: storage failed", session_id, exc_info=True)
            stored = None
        cached = self._cache.get(session_id)
        if stored is None or (
            cached is not None and not self._storage_wins(stored, cached)
        ):
            return visible(cached, user_id)
        if stored.deleted:
            self._cache.evict(session_id)
        else:
            self._cache.put_if_not_older(stored)
        return visible(stored, user_id)

    def _storage_wins(self, stored: Session, cached: Session) -> bool:
        """Whether the stored copy is served over the cached one: it is newer,
        or another stored session (the cached one's was purged since: its chain
        value differs at the same version, or the log ends before the cached
        version), or equally new and still carrying a pending question the
        cached copy lost. A cached copy with unsaved edits is newer by version."""
        if cached.pending_events:
            if stored.version != cached.version:
                return stored.version > cached.version
        elif stored.version < cached.version:  # saved meanwhile, or purged?
            return not self._current(cached, cached.session_id)
        elif (stored.version, stored.stored_head) != (
            cached.version,
            cached.stored_head,
        ):
            return True
        return stored.pending_question is not None and cached.pending_question is None

    @validated
    def exists(self, session_id: SessionId, *, user_id: UserId | None = None) -> bool:
        """Whether the session is stored, live and (if a user is named) theirs."""
        stored = self._store.load(self._store.ids.stream(session_id))
        return visible(stored, user_id) is not None

    # -- reads: read models ---------------------------------------------------------

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
        text: SearchText | None = None,
        model: ModelName | None = None,
        pinned: StrictBool | None = None,
        metadata: JsonObject | None = None,
        since: AwareDatetime | None = None,
        until: AwareDatetime | None = None,
    ) -> Page:
        """One page of sessions (newest first by default) from the session index.

        Pass `next_cursor` back for the next page; walking every page yields each
        session that existed at the first page exactly once, while writes go on.
        Filters (all must hold, each served by an index): `text` every word in
        the title or in one message, `model`, `pinned`, `metadata` top-level keys
        equal to these values, `since`/`until` last updated in [since, until).
        The order stays the list's; `search` ranks by relevance instead.
        """
        return self._reads.list(
            user_id=user_id,
            limit=limit,
            cursor=cursor,
            order=order,
            pinned_first=pinned_first,
            include_deleted=include_deleted,
            filters=session_filter(text, model, pinned, metadata, since, until),
        )

    @validated
    def search(
        self,
        text: SearchText,
        *,
        user_id: UserId | None = None,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 20,
        include_deleted: bool = False,
    ) -> builtins.list[SearchHit]:
        """The sessions whose title or one message holds every word of `text`,
        best match first (bm25 on SQLite, ts_rank on PostgreSQL; ties newest
        first), each with its matching message ids and a snippet."""
        return self._reads.search(
            text, user_id=user_id, include_deleted=include_deleted, limit=limit
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
            self._store.ids.session(session_id),
            user_id=user_id,
            last_n=last_n if limit is None else limit,
            before=before,
        )

    # -- reads: the log, as it was ----------------------------------------------------

    @validated
    def history(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> builtins.list[HistoryEntry]:
        """The audit timeline: every event, oldest first, deleted sessions included."""
        return self._history.history(session_id, user_id)

    @validated
    def replay(
        self,
        session_id: SessionId,
        *,
        until: Position | None = None,
        user_id: UserId | None = None,
    ) -> Iterator[tuple[HistoryEntry, Session]]:
        """Each event, oldest first, with a copy of the session right after it."""
        return self._history.replay(session_id, until, user_id)

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
        return self._history.at(session_id, version, at, user_id)

    # -- writes -----------------------------------------------------------------------

    def save(self, session: Session) -> SaveResult:
        """Append the session's new events, merging with concurrent writers; cache it.

        After a save that wrote, the caller's object is the merged, stored state (a
        save with nothing new touches no storage). The result lists the caller's
        title, pin and metadata edits the merge dropped because they were made on
        a copy whose metadata another writer has changed since (each is recorded
        as an EditDropped event); it is falsy when there are none. On failure it
        raises, the cache is untouched and the object keeps its unsaved events;
        but a session found purged (SessionNotFound) leaves the cache too, so the
        next `load_or_create` starts a new one.
        """
        if not isinstance(session, Session):
            raise InvalidInput(
                f"session: expected a Session, got {type(session).__name__}"
            )
        try:
            result = self._writer.save(session)
        except SessionNotFound:
            self._cache.evict(session.session_id)
            raise
        self._cache.put(session)
        return result

    def append_unmoved(self, session: Session) -> bool:
        """Append a session's new events without merging, for a writer that
        keeps the session it last saved instead of loading it again (the
        LangGraph savers): only if its stream still ends where that session
        was saved, else False, nothing written (another writer, a delete or a
        purge since), and the caller loads it afresh and redoes its edit. The
        cache drops its copy, older now."""
        if not isinstance(session, Session):
            raise InvalidInput(
                f"session: expected a Session, got {type(session).__name__}"
            )
        appended = self._writer.append_unmoved(session)
        self._cache.evict(session.session_id)
        return appended

    def create(self, session: Session) -> None:
        """Store a session never saved before, without merging: if its id is
        already stored (by anyone, deleted or not, a moment earlier included),
        ConcurrencyConflict and nothing is written. The stream's first version is
        the guard, so of several processes creating one id exactly one succeeds."""
        self._writer.create(session)
        self._cache.put(session)

    @validated
    def fork(
        self,
        session_id: SessionId,
        *,
        at_version: Position | None = None,
        at: AwareDatetime | None = None,
        new_id: SessionId | None = None,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> Session:
        """A new session equal to `session_id` as it was at `at_version` or the
        moment `at` (now, if neither): title, model, metadata, messages (same ids)
        and a pending question; not its pin, usage records or history. Its first
        event, `Forked`, names the source and version; the source is untouched.
        `new_id` defaults to a fresh id; one already in use is ConcurrencyConflict
        and nothing is written. Another user's session is SessionNotFound."""
        fork = self.forked(
            session_id,
            at_version=at_version,
            at=at,
            new_id=new_id,
            user_id=user_id,
            actor=actor,
        )
        self.create(fork)
        return fork

    @validated
    def forked(
        self,
        session_id: SessionId,
        *,
        at_version: Position | None = None,
        at: AwareDatetime | None = None,
        new_id: SessionId | None = None,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> Session:
        """The session `fork` would store, not stored yet (its events pending),
        for a caller that stores several in one transaction."""
        if at_version is not None and at is not None:
            raise InvalidInput("at_version/at: give at most one of them")
        if at_version is None and at is None:
            source = self.try_load(session_id, user_id=user_id)
        else:
            source = self._history.at(
                session_id, at_version, at, user_id, named="at_version"
            )
        if (
            source is None
            and at is not None
            and self.exists(session_id, user_id=user_id)
        ):
            raise InvalidInput(f"at: {session_id!r} did not exist yet at {at}")
        if source is None or (source.deleted and at_version is None and at is None):
            raise SessionNotFound(f"no session {session_id!r}")
        if source.deleted:
            raise InvalidInput(f"at_version/at: {session_id!r} was deleted then")
        fork = Session.forked(
            session_id=new_id or fork_id(source.session_id),
            model=source.model,
            user_id=source.user_id,
            title=source.title,
            metadata=source.metadata,
            actor=actor,
            source_id=source.session_id,
            source_version=source.version,
        )
        fork.replace_messages(source.messages, actor=actor)
        if source.pending_question is not None:
            fork.set_pending_question(source.pending_question, actor=actor)
        if thread_of(source.session_id) and thread_of(fork.session_id):
            events = self._store.events_until(source.id, source.version)
            fork.carry_checkpoints(events, actor=actor)
        return fork

    def save_and_cache(self, session: Session) -> SaveResult | None:
        """`save`, but a failure is logged and the session is cached anyway (the
        result is then None), unless it was purged: that is never cached again."""
        try:
            return self.save(session)
        except InvalidInput:
            raise
        except SessionNotFound:
            logger.warning("save %r: it was purged", session.session_id)
            return None
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

        edited = self._writer.edit(
            session_id,
            user_id,
            actor,
            title=title,
            pinned=pinned,
            metadata=metadata,
            if_version=if_version,
        )
        self._cache.put(edited)
        return edited

    @validated
    def delete(
        self,
        session_id: SessionId,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
        if_version: Count | None = None,
    ) -> bool:
        """Soft-delete (a SessionDeleted event); False if it was not there to delete.
        With `if_version`, ConcurrencyConflict (nothing written) unless the stored
        session is still at that version."""
        deleted = self._writer.delete(session_id, user_id, actor, if_version)
        self._cache.evict(session_id if deleted is None else deleted.session_id)
        return deleted is not None

    def purge(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        actor: str = "user",
        reason: str = "",
        if_version: int | None = None,
    ) -> PurgeReport:
        """Delete the session for good: its records, snapshots, Q&A and every
        read model's rows; a `SessionPurged` record keeps who, when, why and how
        much (see privacy/purge.py). SessionNotFound if it is not there or, with
        `user_id`, another user's, alike. With `if_version`, ConcurrencyConflict
        (nothing deleted) unless the session is still at that version."""
        if self._purger is None:
            raise SessionNotFound(f"no session {session_id!r}")
        return self._purger.purge(
            session_id,
            user_id=user_id,
            actor=actor,
            reason=reason,
            if_version=if_version,
        )

    @validated
    def restore(
        self,
        session_id: SessionId,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
    ) -> bool:
        """Undo a soft delete; False if the session is not deleted (or not theirs)."""

        restored = self._writer.restore(session_id, user_id, actor)
        if restored is None:
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

        stored = self._writer.overwrite(
            session_id, messages, user_id, actor, title=title, metadata=metadata
        )
        self._cache.put(stored)
        return stored

    @validated
    def append_token_usage(
        self,
        session_id: SessionId,
        record: JsonObjectOrText,
        *,
        user_id: UserId | None = None,
        actor: Actor = "runtime",
    ) -> bool:
        """Record one token-usage object verbatim; a no-op for a session never
        saved (or deleted, or another user's). Whether it was stored."""
        head = self._writer.record_usage(session_id, user_id, record, actor)
        if head is None:
            logger.debug("token usage for unknown session %r ignored", session_id)
            return False
        self._cache.refresh(head)
        return True
