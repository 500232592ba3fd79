"""The event store: an eventsourcing Application holding every session stream.

It appends (sealing, chaining and inserting events in one transaction), loads
aggregates, and reads the log's head and its notifications in order, each on
the database its backend names (`backends/`). This is the one edge where
eventsourcing's and the drivers' errors become ours: a conflicting append is
`StreamMoved`, any other storage failure `StorageUnavailable`.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import EventSourcingError
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    Mapper,
    Notification,
    RecordConflictError,
    StoredEvent,
)
from eventsourcing.utils import Environment, EnvType, get_topic

from ..domain.aggregate import adopt
from ..domain.errors import (
    ChecksumMismatch,
    ConcurrencyConflict,
    KeyRequired,
    StorageUnavailable,
)
from ..domain.event_model import EventModel
from ..domain.key_check import KEY_CHECK_STREAM, KeyCheck
from ..domain.ports import TranscriptIndex
from ..domain.qa import QASession
from ..domain.session import Session
from .backends import Backend
from .chain import ChainHeads, stream_of, unframe
from .checked_reads import CheckedEventStore
from .gc_pause import gc_paused
from .keys import KEY_VARIABLE, master_key
from .log_position import LOG_START, LogPosition
from .mapper import JsonTranscoder, PydanticMapper, content_owner
from .session_ids import StoredIds
from .sql import Cursor
from .user_keys import KeyDestroyed, UserKeys

logger = logging.getLogger(__name__)

SNAPSHOT_INTERVAL = 100
SEAL_ATTEMPTS = 3
"""Times an append is sealed before it gives up: each retry follows an erasure
of one of its users (their key destroyed) since it was sealed."""
Loaded = TypeVar("Loaded")
Committed = Callable[[Sequence[tuple[LogPosition, EventModel]]], None]
"""Told, in the appending thread, each (position, event) an append committed."""
InAppend = Callable[[Cursor, Sequence[tuple[LogPosition, EventModel]]], None]
"""Run in an append's own transaction, after its inserts, with each (position,
event) it inserts (where the backend's read models share that transaction)."""


class StreamMoved(ConcurrencyConflict):
    """Another writer appended to the stream first; the caller should rebase."""


class AppendAlone(Exception):
    """Raised by an `in_append` hook that cannot write its part: the append is
    rolled back and done again without the hook."""


_STORAGE_FAILURES = (EventSourcingError, OSError, psycopg.Error, sqlite3.Error)


class StorageErrors(contextlib.AbstractContextManager[None]):
    """Re-raises any eventsourcing or driver failure as StorageUnavailable (a
    conflicting append as StreamMoved). A class, not a generator: every save
    and every cache hit's key check passes through one."""

    __slots__ = ("action",)

    def __init__(self, action: str) -> None:
        self.action = action

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, RecordConflictError):
            raise StreamMoved(f"{self.action}: the stream moved on") from exc
        if isinstance(exc, _STORAGE_FAILURES):
            raise StorageUnavailable(f"{self.action}: {exc}") from exc


def storage_errors(action: str) -> StorageErrors:
    """Re-raise any eventsourcing or driver failure as StorageUnavailable."""
    return StorageErrors(action)


class SessionStore(Application[UUID]):
    """Every session and Q&A stream in one eventsourcing application, on the
    database `backend` names; snapshots every 100 events."""

    name = "sessiontrail"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Session: SNAPSHOT_INTERVAL,
        QASession: SNAPSHOT_INTERVAL,
    }

    def __init__(self, backend: Backend) -> None:
        super().__init__(env=backend.env)
        self.backend = backend
        self._write_lock = backend.write_lock(self.recorder)
        self._heads = ChainHeads(self.recorder)
        self._committed: list[Committed] = []
        self._in_append: InAppend | None = None
        self.transcript_index: TranscriptIndex | None = None
        """Set by the trail: answers loaded sessions' id questions (read models)."""
        with storage_errors("open the user key table"):
            table = backend.key_table(self.recorder)
        self.keys = UserKeys(table, master_key(backend.env.get("CIPHER_KEY")))
        self.wakeups = backend.wakeups(self.recorder)
        """Waits for new events: followers take a ticket, read, then wait."""
        cast(PydanticMapper, self.mapper).keys = self.keys
        self.ids = StoredIds(lambda stream: self.has_stream(stream))
        """Which stream a caller's session id names (see session_ids.py)."""

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the explicit mapping, never os.environ: trails must not leak."""
        return Environment(name, {"IS_SNAPSHOTTING_ENABLED": "y", **(env or {})})

    def construct_event_store(self) -> EventStore[UUID]:
        """Loads check each stream's hash chain over what they read."""
        return CheckedEventStore(mapper=self.mapper, recorder=self.recorder)

    @property
    def _checked(self) -> CheckedEventStore:
        return cast(CheckedEventStore, self.events)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=JsonTranscoder(), mapper_class=PydanticMapper
        )

    def load(self, stream: UUID, version: int | None = None) -> Session | None:
        """The stored session (at `version`, if given); None for an empty stream.

        A load reads the snapshot, then the records after it: a purge committed
        between the two leaves records the snapshot's chain value cannot anchor,
        which reads as a broken chain. The load is read again once: a purge then
        reads as what the stream holds now, while a chain that is really broken
        fails again."""
        return _read_twice(lambda: self._load(stream, version))

    def _load(self, stream: UUID, version: int | None) -> Session | None:
        with storage_errors(f"load stream {stream}"), gc_paused():
            self.keys.note_opened()
            try:
                session: Session = self.repository.get(stream, version=version)
            except AggregateNotFoundError:
                return None
        session.stored_head = self._checked.walked_head(stream, session.version)
        owner = content_owner(session.user_id)
        session.read_under = None if owner is None else self.keys.opened_with(owner)
        session.attach(self, self.transcript_index)
        return session

    def events_until(self, stream: UUID, version: int) -> list[EventModel]:
        """The stream's events from the first to `version`, oldest first (what a
        loaded session reads its transcript from, when asked)."""
        with storage_errors(f"read stream {stream}"), gc_paused():
            return cast(list[EventModel], list(self.events.get(stream, lte=version)))

    def key_of(self, user_id: str | None) -> str | None:
        """The id of the user's current key, as of at most the key cache's age
        (None: they have none; "": their content is not sealed)."""
        owner = content_owner(user_id)
        if owner is None:
            return ""
        with storage_errors(f"read the key of {owner!r}"):
            return self.keys.key_id(owner)

    def head_at(self, stream: UUID, version: int) -> bytes | None:
        """The chain value of the stream's record at `version` (None for none, or
        a record older than the chain): one indexed read, not decoded."""
        # Newest first, one record: memory:// walks a stream from one end.
        with storage_errors(f"read stream {stream}"):
            found = self.recorder.select_events(stream, lte=version, desc=True, limit=1)
        if not found or found[0].originator_version != version:
            return None
        return unframe(found[0].state)[0]

    def load_qa(self, stream: UUID) -> QASession | None:
        """The stored Q&A session of a stream; None for an empty stream. Read
        again once on a chain mismatch, as `load` is (a purge racing the read)."""
        return _read_twice(lambda: self._load_qa(stream))

    def _load_qa(self, stream: UUID) -> QASession | None:
        with storage_errors(f"load stream {stream}"), gc_paused():
            try:
                qa: QASession = self.repository.get(stream)
            except AggregateNotFoundError:
                return None
        return qa

    def record(self, session: Session | QASession) -> LogPosition | None:
        """Append the session's pending events; they stay pending if this fails.

        Returns the log position of the last event appended (None if none was).
        """
        events = list(session.pending_events)
        if not events:
            return None
        position = self._insert(
            events,
            f"save session {session.session_id!r}",
            {session.id: content_owner(session.user_id)},
            session,
        )
        session.pending_events.clear()
        return position

    def append_imported(
        self, events: Sequence[EventModel], owners: Mapping[UUID, str | None]
    ) -> LogPosition | None:
        """Append events built elsewhere (an import), in one transaction; `owners`
        names each stream's user. Returns the last position (None if none)."""
        if not events:
            return None
        return self._insert(events, "import events", dict(owners))

    def _insert(
        self,
        events: Sequence[Any],
        action: str,
        owners: Mapping[UUID, str | None] | None = None,
        source: Session | QASession | None = None,
    ) -> LogPosition | None:
        """Seal, link the events into their streams' chains and insert them in one
        transaction; snapshot the streams that crossed a snapshot interval (from
        `source`, the aggregate that made them, when it is at that version).

        Content sealed with a key that an erasure destroyed meanwhile (this
        process still remembered it) is sealed again with the user's key as it
        is now, and the insert retried: the erasure came first, so this is new
        content, as any saved after it. `source`, which may hold what the
        erasure erased, then becomes what its stream reads now."""
        resealed = False
        for _ in range(SEAL_ATTEMPTS):
            with storage_errors(action):  # sealing may make the user's key
                records, sealed = self._sealed(events, owners or {})
            try:
                with storage_errors(action), self._write_lock:
                    linked = self._heads.link(records)
                    positions = self._insert_linked(linked, events, sealed)
                break
            except StreamMoved:  # a head remembered here may be purged and reused
                self._heads.forget({stream_of(record) for record in records})
                raise
            except KeyDestroyed as destroyed:
                self.keys.forget(destroyed.user_id)
                resealed = True
        else:
            raise ConcurrencyConflict(
                f"{action}: its user was erased each time it was sealed"
            )
        self._heads.remember(linked)
        if isinstance(source, Session):  # its head, from this save (not memory)
            source.stored_head = _head_of(linked, source.id)
            source.attach(self, self.transcript_index)  # a transcript unread: as now
        self._tell(positions, events)
        if source is not None and (resealed or self._outlived(source, sealed)):
            source = self._read_anew(source)
        for stream, version in _snapshot_points(events, source):
            self._snapshot(stream, version, source)
        return positions[-1] if positions else None

    def _outlived(self, source: Session | QASession, sealed: Mapping[str, str]) -> bool:
        """Whether `source` holds its user's fields opened with a key that is no
        longer theirs (erased by another process since it was read, and a new
        key made since: this append's key check then passes). Else it becomes a
        copy of what it just sealed with: its key."""
        if not isinstance(source, Session) or source.user_id is None:
            return False
        owner = content_owner(source.user_id)
        if owner is None:
            return False
        now = sealed.get(owner)
        if now is None:  # this append sealed nothing of theirs
            if source.read_under is None:
                return False  # nor does the copy hold anything opened
            try:
                with storage_errors(f"read the key of {owner!r}"):
                    now = self.keys.key_id(owner)
            except StorageUnavailable:
                return True  # cannot tell: read anew
        if source.read_under is not None and now != source.read_under:
            return True
        source.read_under = now
        return False

    def _read_anew(self, aggregate: Session | QASession) -> Session | QASession | None:
        """Make `aggregate` what its stream reads now, in place (an erasure since
        it was loaded: it holds content that reads erased); None if that read
        fails (the append is stored already; a snapshot due is then taken from
        the log, never from the object)."""
        try:
            stored = (
                self.load(aggregate.id)
                if isinstance(aggregate, Session)
                else self.load_qa(aggregate.id)
            )
        except StorageUnavailable:
            logger.warning("re-reading %s failed", aggregate.id, exc_info=True)
            return None
        if stored is not None:
            adopt(aggregate, stored)
        return aggregate

    def _sealed(
        self, events: Sequence[Any], owners: Mapping[UUID, str | None]
    ) -> tuple[list[StoredEvent], dict[str, str]]:
        """The events' records, each owner's personal fields sealed with their
        key, and the key each owner's fields were sealed with."""
        mapper = cast(PydanticMapper, self.mapper)
        sealings = {
            owner: self.keys.sealing(owner)
            for owner in set(owners.values())
            if owner is not None
        }
        records = []
        for event in events:
            owner = owners.get(event.originator_id)
            sealing = None if owner is None else sealings[owner]
            records.append(mapper.stored(event, owner, sealing))
        sealed = {
            sealing.user_id: sealing.key_id
            for sealing in sealings.values()
            if sealing.key_id is not None
        }
        return records, sealed

    def _insert_linked(
        self,
        linked: Sequence[StoredEvent],
        events: Sequence[Any],
        sealed: Mapping[str, str],
    ) -> list[LogPosition]:
        """Insert in one transaction, running the `in_append` hook in it if set;
        KeyDestroyed unless every key in `sealed` is still stored."""
        hook = self._in_append
        if hook is None:
            return self.backend.insert(self.recorder, linked, sealed)

        def within(cur: Cursor, positions: Sequence[LogPosition]) -> None:
            hook(cur, list(zip(positions, events, strict=True)))

        try:
            return self.backend.insert_within(self.recorder, linked, within, sealed)
        except AppendAlone:
            return self.backend.insert(self.recorder, linked, sealed)

    def in_append(self, hook: InAppend) -> None:
        """Run `hook` inside each append's transaction, before it commits, where
        the backend can (SQLite: inline read models write their rows there). If
        it raises AppendAlone, the append is done again without it; anything
        else it raises fails the append."""
        self._in_append = hook

    def purge(self, expected: Mapping[UUID, int], record: Any) -> dict[UUID, int]:
        """Delete the `expected` streams' records and snapshots (each stream must
        still end at the version given: else StreamMoved, nothing deleted) and
        append the aggregate `record`'s events, in one transaction; returns the
        records deleted per stream."""
        events = list(record.collect_events())
        mapper = cast(PydanticMapper, self.mapper)
        records = [mapper.stored(event, None) for event in events]
        snapshots = self.snapshots.recorder if self.snapshots is not None else None
        with storage_errors("purge streams"), self._write_lock:
            linked = self._heads.link(records)
            purged = self.backend.purge(self.recorder, snapshots, expected, linked)
        self._heads.forget(expected)
        self._heads.remember(linked)
        self._tell(purged.positions, events)
        return purged.deleted

    def _tell(self, positions: Sequence[LogPosition], events: Sequence[Any]) -> None:
        """Tell the listeners what an append committed."""
        if positions:
            committed = list(zip(positions, events, strict=True))
            for listener in self._committed:
                listener(committed)

    def on_commit(self, listener: Committed) -> None:
        """Tell `listener` what each append of this store committed, right after
        the commit, in the appending thread (inline read models use it); it must
        not raise: the append is already stored."""
        self._committed.append(listener)

    def record_aggregate(self, aggregate: Any) -> LogPosition | None:
        """Append any aggregate's pending events (checkpoints, the key check)."""
        events = list(aggregate.collect_events())
        return (
            self._insert(events, f"record {type(aggregate).__name__}")
            if events
            else None
        )

    def check_key(self) -> None:
        """Fail with KeyRequired unless the configured key (or its absence) fits
        the log; the first trail opened with a key writes the record checked."""
        for _ in range(2):
            with storage_errors("read the key check"):
                found = self.recorder.select_events(KEY_CHECK_STREAM, limit=1)
            if found:
                try:
                    self.mapper.to_domain_event(found[0])
                except KeyRequired:
                    raise KeyRequired(
                        "this log is encrypted: give its key "
                        f"(connect(key=...) or ${KEY_VARIABLE})"
                    ) from None
                except ChecksumMismatch:
                    raise KeyRequired(
                        "the key does not open this log (not the key it was "
                        "encrypted with)"
                    ) from None
                return
            if not self.mapper.cipher:
                return
            try:
                self.record_aggregate(KeyCheck.start())
            except StreamMoved:
                continue  # another trail wrote it first: check that one
            return

    def every_event(
        self,
        batch: int = 1000,
        *,
        after: LogPosition = LOG_START,
        types: Sequence[type[EventModel]] = (),
    ) -> Iterator[EventModel]:
        """Every event of every stream in log order, read `batch` at a time: those
        after the position `after`, and only of `types` when given (filtered by the
        database, so only those are read and decoded). A one-off read: every event
        committed before it is read once; one committed meanwhile may be or not."""
        topics = [get_topic(event_type) for event_type in types]
        while True:
            found = self.notifications(after, batch, topics, settled=False)
            with storage_errors("read the notification log"):
                events = [
                    cast(EventModel, self.mapper.to_domain_event(n)) for _, n in found
                ]
            yield from events
            if len(found) < batch:
                return
            after = found[-1][0]

    def head(self) -> int:
        """The newest notification id in the log (0 when empty)."""
        with storage_errors("read the notification log"):
            return self.backend.head(self.recorder)

    def notifications(
        self,
        after: LogPosition,
        limit: int,
        topics: Sequence[str] = (),
        *,
        settled: bool = True,
    ) -> list[tuple[LogPosition, Notification]]:
        """Up to `limit` notifications after the position `after`, in log order
        (undecoded; only of `topics` when given). `settled`: only those no later
        commit can precede, what a follower of the log may apply (see
        log_position.py); else every one committed."""
        with storage_errors("read the notification log"):
            return self.backend.notifications(
                self.recorder, after, limit, topics, settled=settled
            )

    def head_position(self) -> LogPosition:
        """The position of the last committed event in log order."""
        with storage_errors("read the notification log"):
            return self.backend.head_position(self.recorder)

    def pending(self, after: LogPosition) -> int:
        """How many committed events come after `after` in the log."""
        with storage_errors("read the notification log"):
            return self.backend.pending(self.recorder, after)

    def moved_past(self, after: LogPosition) -> bool:
        """Whether any committed event comes after `after` (one row read)."""
        with storage_errors("read the notification log"):
            return self.backend.pending(self.recorder, after, at_most=1) > 0

    def follows(self, before: LogPosition, first: LogPosition) -> bool:
        """Whether the event at `first` comes right after `before` in the log and
        may be applied now (nothing can still commit between them)."""
        with storage_errors("read the notification log"):
            return self.backend.follows(self.recorder, before, first)

    def after_opening(self) -> None:
        """What the log needs once opened (see Backend.after_opening)."""
        with storage_errors("prepare the log"):
            self.backend.after_opening(self.recorder)

    def close(self) -> None:
        self.wakeups.close()
        super().close()

    def stream_notifications(
        self, streams: Sequence[UUID], until: LogPosition
    ) -> list[tuple[LogPosition, Notification]]:
        """Every notification of `streams` up to the position `until`, in log order
        (undecoded): what an erasure replays into the read models."""
        with storage_errors("read the streams of an erasure"):
            return self.backend.stream_notifications(self.recorder, streams, until)

    def purged_places(
        self, after: LogPosition, until: LogPosition
    ) -> list[LogPosition]:
        """Where purged rows were after `after` up to `until` (Backend's)."""
        with storage_errors("read where purged events were"):
            return self.backend.purged_places(self.recorder, after, until)

    def sequence_numbers(self, positions: Sequence[LogPosition]) -> list[int]:
        """The number read models gave the event at each log position."""
        with storage_errors("number the events of an erasure"):
            return self.backend.sequence_numbers(self.recorder, positions)

    def holds(self, session: Session) -> bool:
        """Whether the session's pending events are already stored, exactly.

        True after an ambiguous failure (committed, but the reply was lost): the
        events at those versions are equal in every field, time included.
        """
        pending = list(session.pending_events)
        if not pending:
            return False
        with storage_errors(f"read stream {session.id}"):
            stored = list(
                self.events.get(
                    session.id,
                    gt=pending[0].originator_version - 1,
                    lte=pending[-1].originator_version,
                )
            )
        return stored == pending

    def has_stream(self, stream: UUID) -> bool:
        """Whether the stream has a record (read, not decoded: no key needed)."""
        with storage_errors(f"read stream {stream}"):
            return bool(self.recorder.select_events(stream, desc=True, limit=1))

    def stream_version(self, stream: UUID) -> int:
        """The stream's last version (0 when it has no events)."""
        return self.stream_head(stream)[0]

    def stream_head(self, stream: UUID) -> tuple[int, bytes | None]:
        """The stream's last version (0 when it has no events) and that record's
        chain value (None for none, or a record older than the chain), compared
        with a session's `stored_head`: one indexed read of the last record, not
        decoded (no key needed; every hundredth save and every cache hit ask)."""
        with storage_errors(f"read stream {stream}"):
            last = self.recorder.select_events(stream, desc=True, limit=1)
        if not last:
            return 0, None
        return last[0].originator_version, unframe(last[0].state)[0]

    def chain_value(self, stream: UUID, version: int) -> bytes:
        """The chain value of a stream's record at `version`, read from the
        database (never from what this process remembers writing)."""
        with storage_errors(f"read stream {stream}"):
            return self._heads.stored_value(stream, version)

    def _take_snapshot(
        self, stream: UUID, version: int, source: Session | QASession | None
    ) -> None:
        """eventsourcing's take_snapshot, but of `source` when it is that stream
        at that version (the writer's own object: its state is what a replay of
        the stream gives, with no replay), and a session's message count is
        always known in it: one whose log holds a truncation written before
        truncations said what they left counts its transcript from the log, once."""
        assert self.snapshots is not None
        aggregate: Session | QASession
        if source is not None and (source.id, source.version) == (stream, version):
            aggregate = source  # loaded sessions are attached; new ones count
        else:
            aggregate = self.repository.get(stream, version=version)
            if isinstance(aggregate, Session):
                aggregate.attach(self, self.transcript_index)
        snapshot = getattr(type(aggregate), "Snapshot", None)
        if snapshot is None:
            return  # a kind that keeps no snapshots (checkpoints, purge records)
        if isinstance(aggregate, Session):
            aggregate.message_count  # noqa: B018 - counted (and kept) if unknown
        self.snapshots.put([snapshot.take(aggregate)])

    def _snapshot(
        self, stream: UUID, version: int, source: Session | QASession | None = None
    ) -> None:
        """Best effort: the events are committed; no snapshot only costs replay.

        Only the newest snapshot of a stream is kept (a load needs no other;
        `at` and verify fold the events from the first), so the snapshots of a
        session take the same room whatever its length. A snapshot whose stream
        was purged while it was taken is deleted again: read after the snapshot
        is stored, a purge either came later (and deleted it) or is seen here."""
        try:
            self._take_snapshot(stream, version, source)
        except IntegrityError:
            pass  # another writer took the same snapshot first
        except EventSourcingError:
            logger.warning(
                "snapshot of %s at %d failed", stream, version, exc_info=True
            )
            return
        assert self.snapshots is not None
        try:
            with storage_errors(f"prune snapshots of {stream}"), self._write_lock:
                self.backend.prune_snapshots(self.snapshots.recorder, stream, version)
            if self.stream_version(stream) < version:  # purged while it was taken
                with storage_errors(f"drop snapshot of {stream}"), self._write_lock:
                    self.backend.prune_snapshots(
                        self.snapshots.recorder, stream, version + 1
                    )
        except StorageUnavailable:
            logger.warning("pruning the snapshots of %s failed", stream, exc_info=True)


def _snapshot_points(
    events: Sequence[Any], source: Session | QASession | None
) -> list[tuple[UUID, int]]:
    """The (stream, version) snapshots these events call for: one per stream
    that reached a multiple of the snapshot interval, at that version, or at
    `source`'s own version when it made that stream's events (its state is the
    snapshot then, with no replay; a save of several events that crossed the
    interval in its middle replayed a hundred events to take it)."""
    points: dict[UUID, int] = {}
    for event in events:
        if event.originator_version % SNAPSHOT_INTERVAL == 0:
            stream = event.originator_id
            if source is not None and source.id == stream:
                points[stream] = source.version
            else:
                points[stream] = event.originator_version
    return list(points.items())


def _read_twice(read: Callable[[], Loaded]) -> Loaded:
    """`read()`, and once more if it met a broken chain: a purge committed
    between a snapshot's read and the records' read looks like one, and the
    second read sees the stream as the purge left it (a real break fails again)."""
    try:
        return read()
    except ChecksumMismatch:
        return read()


def _head_of(linked: Sequence[StoredEvent], stream: UUID) -> bytes | None:
    """The chain value of the last of `linked` in `stream`."""
    last = [record for record in linked if stream_of(record) == stream][-1]
    return unframe(last.state)[0]
