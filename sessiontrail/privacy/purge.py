"""`trail.sessions.purge`: delete one session for good, and keep a record of it.

Steps, under the session's lock in this process: walk the session's stream and
its Q&A stream (hash chain, counts, owner, token counts); then, in one
transaction, delete both streams' records and snapshots and append a
`SessionPurged` record (domain/purge.py) in a stream of its own. The delete only
goes through if each stream still ends where the walk ended, else the purge
walks again. Then the session is dropped from the cache, the read models catch
up (each forgets the streams' rows when it meets the purge's record), and on
SQLite the write-ahead log is truncated so no file keeps the deleted bytes but
the stale copies SQLite's b-tree may keep until `compact`.

A writer that read the session before the purge cannot bring it back: an append
that continues a stream must still find the record it follows (backends/).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from ..domain.errors import ConcurrencyConflict, SessionNotFound
from ..domain.purge import Purge, PurgedStream, PurgeReport
from ..domain.qa import DEFAULT_USER
from ..domain.session import stream_id
from ..domain.validation import Actor, Count, Reason, SessionId, UserId, validated
from ..infrastructure.appends import attempts, gave_up
from ..infrastructure.event_store import SessionStore, StreamMoved
from ..infrastructure.log_reader import LogReader
from ..projections.runner import ProjectionRunner
from .purge_walk import StreamWalk

MAX_ATTEMPTS = 8


class Purger:
    """Carries out purges for one trail."""

    def __init__(
        self,
        store: SessionStore,
        reader: LogReader,
        hold: Callable[[str], AbstractContextManager[None]],
        projections: ProjectionRunner,
        evict: Callable[[str], None],
        compact: Callable[[], bool],
    ) -> None:
        """`hold(session_id)` is the writers' lock of one session in this
        process; `compact` truncates SQLite's write-ahead log (False: a reader
        elsewhere still holds it; True on other databases)."""
        self._store = store
        self._reader = reader
        self._hold = hold
        self._projections = projections
        self._evict = evict
        self._compact = compact

    @validated
    def purge(
        self,
        session_id: SessionId,
        *,
        user_id: UserId | None = None,
        actor: Actor = "user",
        reason: Reason = "",
        if_version: Count | None = None,
    ) -> PurgeReport:
        """Delete the session's records, snapshots and Q&A for good, and record
        who purged it, when and why. SessionNotFound if there is no such session
        or (with `user_id`) it is another user's, alike. A soft-deleted session
        may be purged. Either Unicode spelling of the id names it. With
        `if_version`, ConcurrencyConflict (nothing deleted) unless the session is
        at that version when its records are deleted: a write that lands after
        the caller looked is never purged unseen."""
        session_id = self._store.ids.session(session_id)  # its stored spelling
        with self._hold(session_id):
            for _ in attempts(MAX_ATTEMPTS):
                purged, record = self._walk(session_id, user_id, actor, reason)
                now = purged[0].last_version
                if if_version is not None and now != if_version:
                    raise ConcurrencyConflict(
                        f"session {session_id!r} is at version {now}, "
                        f"not {if_version}: not purged"
                    )
                expected = {stream.stream: stream.last_version for stream in purged}
                try:
                    deleted = self._store.purge(expected, record)
                except StreamMoved:
                    continue  # a writer got in: walk again
                break
            else:
                raise gave_up(f"purge {session_id!r}", MAX_ATTEMPTS)
        self._evict(session_id)
        self._projections.catch_up()
        session, *qa = purged
        return PurgeReport(
            session_id=session_id,
            user_id=record.user_id,
            events=deleted[session.stream],
            snapshots=session.snapshots,
            qa_events=sum(deleted[stream.stream] for stream in qa),
            last_version=session.last_version,
            last_hash=session.last_hash,
            chain_ok=not session.chain,
            log_compacted=self._compact(),
        )

    def _walk(
        self, session_id: str, user_id: str | None, actor: str, reason: str
    ) -> tuple[list[PurgedStream], Purge]:
        """The streams to delete as they are now (the session's, then its Q&A
        stream's if it has one), and the purge's record, not yet stored."""
        session = StreamWalk(self._store, self._reader, stream_id(session_id))
        session.walk(decode=True)
        started = session.started
        owner = started.user_id if started is not None else None
        if session.events == 0 or (
            user_id is not None and (started is None or owner != user_id)
        ):
            raise SessionNotFound(f"no session {session_id!r}")
        qa_stream = self._store.ids.qa_stream(owner or DEFAULT_USER, session_id)
        qa = StreamWalk(self._store, self._reader, qa_stream).walk(decode=False)
        purged = [session.purged("session")]
        if qa.events:
            purged.append(qa.purged("qa"))
        record = Purge.record(
            session_id,
            owner,
            actor=actor,
            reason=reason,
            streams=purged,
            usage=session.usage,
        )
        return purged, record
