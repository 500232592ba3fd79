"""Applying the notification log to read-model generations, one batch at a time.

The registry (`st_projections` for live generations, `st_projection_builds` for
rebuilds in progress) holds each generation's position; a batch applies the
notifications after it and moves it on, in the caller's transaction. An event
a handler fails on, whatever it raises short of a database outage, fails the
batch (`EventRejected`), which the caller redoes `guarded`: each event in a
savepoint, so only that event is skipped and counted. No stored event can stop a
read model; an outage stops the batch, which is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from ..domain.erasure import Erasure
from ..domain.event_model import EventModel
from ..domain.purge import Purge
from ..infrastructure.event_store import SessionStore, storage_errors
from ..infrastructure.gc_pause import gc_paused
from ..infrastructure.log_position import (
    LOG_START,
    LogPosition,
    sequence_after,
    sequence_past,
)
from ..infrastructure.sql import Cursor, RowRejected, is_outage
from .projection import LIVE, Projection

logger = logging.getLogger(__name__)

BUILDS = "st_projection_builds"
BATCH_SIZE = 1000
REBUILD_BATCH_SIZE = 5000
"""A rebuild's batches are larger: fewer commits (each may checkpoint SQLite's
write-ahead log) for a write lock held a fraction of a second each time."""
REGISTRY_COLUMNS = (
    "name TEXT PRIMARY KEY, generation INTEGER NOT NULL, version INTEGER NOT NULL, "
    "position BIGINT NOT NULL, skipped BIGINT NOT NULL, "
    "transaction_id BIGINT NOT NULL DEFAULT 0, "
    "notification_id BIGINT NOT NULL DEFAULT 0"
)
"""`position` numbers the events applied (what readers and users see);
(transaction_id, notification_id) is where in the log the generation is."""
LOG_COLUMNS = ("transaction_id", "notification_id")
"""Added to registries from before the log was read by (transaction id, id)."""


class EventRejected(Exception):
    """A handler failed on an event (not an outage): the batch is redone event by
    event so that only that event is skipped. Never leaves the runner."""


BATCH_FAILURES: tuple[type[Exception], ...] = (EventRejected, RowRejected)
"""What makes a batch worth redoing event by event (unlike an outage)."""


@dataclass
class Generation:
    """One generation's registry row, with the projection that writes it."""

    projection: Projection
    version: int
    position: int
    skipped: int
    log: LogPosition = LOG_START


@dataclass(frozen=True)
class RegistryRow:
    """A projection's row in a registry table."""

    generation: int
    version: int
    position: int
    skipped: int
    log: LogPosition


LIVE_ROWS = (
    "SELECT name, generation, version, position, skipped, transaction_id, "
    f"notification_id FROM {LIVE} ORDER BY name"
)
"""The live registry, in name order (the order rows are locked in)."""


def live_rows(cur: Cursor, *, lock: bool) -> dict[str, RegistryRow]:
    """name -> its live generation's row, locked in name order."""
    suffix = cur.for_update if lock else ""
    return registry(cur.execute(LIVE_ROWS + suffix).fetchall())


def registry(rows: Sequence[Sequence[Any]]) -> dict[str, RegistryRow]:
    """name -> its row, from rows of LIVE_ROWS."""
    return {
        row[0]: RegistryRow(row[1], row[2], row[3], row[4], LogPosition(row[5], row[6]))
        for row in rows
    }


def add_log_columns(cur: Cursor, table: str) -> None:
    """Give a registry from before (transaction id, id) positions its two columns;
    a stored position N was the notification id N: (0, N)."""
    cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    present = {column[0] for column in cur.description}
    for column in LOG_COLUMNS:
        if column not in present:
            cur.execute(
                f"ALTER TABLE {table} ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0"
            )
    if LOG_COLUMNS[1] not in present:
        cur.execute(f"UPDATE {table} SET notification_id = position")


def save_position(cur: Cursor, table: str, generation: Generation) -> None:
    """Record where a generation has got to, in its registry table."""
    save_positions(cur, table, [generation])


def save_positions(
    cur: Cursor,
    table: str,
    generations: Sequence[Generation],
    *,
    every_row: bool = False,
) -> None:
    """Record where each generation has got to, one UPDATE per distinct place:
    after a catch-up or a write's own events the read models mostly stand alike,
    so that is one statement (one round trip on PostgreSQL) for all of them.
    `every_row`: the generations are all of `table`'s rows, so when they stand
    alike the UPDATE names none (SQLite then looks up no names: a third of the
    cost, on every inline save)."""
    alike: dict[tuple[int, int, int, int], list[str]] = {}
    for generation in generations:
        place = (generation.position, generation.skipped, *generation.log)
        alike.setdefault(place, []).append(generation.projection.name)
    if every_row and len(alike) == 1:
        [(position, skipped, transaction_id, notification_id)] = alike
        cur.execute(
            f"UPDATE {table} SET position = ?, skipped = ?, transaction_id = ?, "
            "notification_id = ?",
            (position, skipped, transaction_id, notification_id),
        )
        return
    for (position, skipped, transaction_id, notification_id), names in alike.items():
        cur.execute(
            f"UPDATE {table} SET position = ?, skipped = ?, transaction_id = ?, "
            f"notification_id = ? WHERE name IN ({', '.join('?' * len(names))})",
            (position, skipped, transaction_id, notification_id, *names),
        )


def apply_events(
    cur: Cursor,
    generations: Sequence[Generation],
    events: Sequence[tuple[LogPosition, EventModel | None]],
    *,
    guarded: bool = False,
    places: Sequence[LogPosition] = (),
) -> None:
    """Apply each (log position, event) to every generation not yet past it, as
    its next numbered position; None is an event that could not be read:
    skipped and counted. `places`: where purged rows were among them, numbered
    and not applied (../infrastructure/log_position.py). Unguarded, each
    generation gets its part as one batch (`Projection.apply_batch`)."""
    for generation in generations:
        numbered: list[Numbered] = []
        position, passed = generation.position, generation.log
        for log, event in events:
            if log > generation.log:
                if places:
                    position = sequence_past(position, places, passed, log)
                position = sequence_after(position, log)
                numbered.append((log, position, event))
                passed = log
        _apply_numbered(cur, generation, numbered, guarded=guarded)


Numbered = tuple[LogPosition, int, EventModel | None]
"""An event with its place in the log and the number it gets there."""


def _apply_numbered(
    cur: Cursor,
    generation: Generation,
    numbered: Sequence[Numbered],
    *,
    guarded: bool,
) -> None:
    """Apply numbered events to one generation and move it past them."""
    if not numbered:
        return
    if not guarded:
        _apply_batch(cur, generation, numbered)
        return
    for log, position, event in numbered:
        generation.log, generation.position = log, position
        if event is None or not _applied_alone(cur, generation, event, position):
            generation.skipped += 1


Known = Mapping[LogPosition, EventModel]
"""Events this process wrote, by their position: applied without decoding."""


class BatchApplier:
    """Reads the notifications after a position and folds them into generations."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def notifications(
        self, after: LogPosition, limit: int = BATCH_SIZE
    ) -> Sequence[tuple[LogPosition, Notification]]:
        """The next batch of the log after `after`, in log order."""
        return self._store.notifications(after, limit)

    def apply(
        self,
        cur: Cursor,
        generations: Sequence[Generation],
        notifications: Sequence[tuple[LogPosition, Notification]],
        *,
        guarded: bool = False,
        known: Known | None = None,
        places: Sequence[LogPosition] | None = None,
    ) -> None:
        """Apply each notification to every generation not yet past it; at a
        user's erasure, rewrite that user's rows first (`erase`). The collector
        waits meanwhile: a batch's decoded events are many objects, no cycles.
        An event in `known` is taken from there rather than decoded. `places`:
        where purged rows were after the least advanced generation, read after
        `notifications` (every one up to the last notification), or None to read
        them here."""
        with gc_paused():
            self._apply(cur, generations, notifications, guarded, known or {}, places)

    def _apply(
        self,
        cur: Cursor,
        generations: Sequence[Generation],
        notifications: Sequence[tuple[LogPosition, Notification]],
        guarded: bool,
        known: Known,
        given: Sequence[LogPosition] | None,
    ) -> None:
        decoded = [
            (log, event) for (log, _), event in self._decoded(notifications, known)
        ]
        places = self._places(generations, notifications, given)
        start = 0
        for index, (log, event) in enumerate(decoded):
            if isinstance(event, Purge.SessionPurged):
                apply_events(
                    cur,
                    generations,
                    decoded[start:index],
                    guarded=guarded,
                    places=places,
                )
                streams = [str(purged.stream) for purged in event.streams]
                for generation in generations:
                    if generation.log < log:  # not past the purge yet
                        generation.projection.forget_streams(cur, streams)
                start = index  # the purge's own record is applied after
            elif isinstance(event, Erasure.UserErased):
                reached = [generation.log for generation in generations]
                apply_events(
                    cur,
                    generations,
                    decoded[start : index + 1],
                    guarded=guarded,
                    places=places,
                )
                passing = [
                    generation
                    for generation, before in zip(generations, reached, strict=True)
                    if before < log
                ]
                self.erase(cur, passing, event.user_id, guarded=guarded)
                start = index + 1
        apply_events(cur, generations, decoded[start:], guarded=guarded, places=places)

    def _places(
        self,
        generations: Sequence[Generation],
        notifications: Sequence[tuple[LogPosition, Notification]],
        given: Sequence[LogPosition] | None,
    ) -> list[LogPosition]:
        """Where purged rows were among `notifications`, after the least advanced
        generation (`given`, else read now). Read after the notifications, in a
        later snapshot: a purge that committed in between shows both its rows
        (applied) and their places, which are left out here."""
        if not generations or not notifications:
            return []
        after = min(generation.log for generation in generations)
        until = notifications[-1][0]
        if given is None:
            places = self._store.purged_places(after, until) if after < until else []
        else:
            places = [place for place in given if after < place <= until]
        if not places:
            return places
        read = {log for log, _ in notifications}
        return [place for place in places if place not in read]

    def erase(
        self,
        cur: Cursor,
        generations: Sequence[Generation],
        user_id: str,
        *,
        guarded: bool = False,
    ) -> None:
        """Rewrite `user_id`'s rows in each generation to what its position of the
        log now gives: delete them, then replay their streams' events (their key
        is gone, so they read erased) through the same handlers, each at the
        number it had. O(the user's rows and events), in the caller's
        transaction: readers see all or none. The key this process may still
        remember is dropped first: what is replayed opens with what the key
        table holds now."""
        self._store.keys.forget(user_id)
        for generation in generations:
            projection = generation.projection
            streams = projection.owned_streams(cur, user_id)
            if not streams:
                continue
            projection.forget(cur, user_id, streams)
            found = self._store.stream_notifications(
                [UUID(stream) for stream in streams], generation.log
            )
            numbers = self._store.sequence_numbers([log for log, _ in found])
            replay = [
                (log, number, event)
                for ((log, _), event), number in zip(
                    self._decoded(found), numbers, strict=True
                )
            ]
            again = Generation(projection, generation.version, 0, 0)
            _apply_numbered(cur, again, replay, guarded=guarded)

    def _decoded(
        self,
        notifications: Sequence[tuple[LogPosition, Notification]],
        known: Known | None = None,
    ) -> Iterator[tuple[tuple[LogPosition, Notification], EventModel | None]]:
        """Each notification with its event (from `known` if there); None for one
        that cannot be read (whatever decoding raised, short of the database
        failing: opening a user's sealed fields reads their key)."""
        for item in notifications:
            log, notification = item
            if known and log in known:
                yield item, known[log]
                continue
            try:
                with storage_errors(f"decode notification {notification.id}"):
                    event = self._store.mapper.to_domain_event(notification)
            except Exception as exc:
                if is_outage(exc):
                    raise
                logger.warning(
                    "read models skip notification %d (stream %s v%d): %s",
                    notification.id,
                    notification.originator_id,
                    notification.originator_version,
                    exc,
                )
                yield item, None
                continue
            yield item, event if isinstance(event, EventModel) else None


def _apply_batch(
    cur: Cursor, generation: Generation, numbered: Sequence[Numbered]
) -> None:
    """Apply numbered events as one batch and move the generation past them;
    EventRejected if the handlers fail other than by an outage."""
    readable = [
        (position, event) for _, position, event in numbered if event is not None
    ]
    try:
        generation.projection.apply_batch(cur, readable)
    except Exception as exc:
        if is_outage(exc):
            raise
        raise EventRejected(
            f"read model {generation.projection.name} failed on notifications "
            f"{numbered[0][0].notification_id} to {numbered[-1][0].notification_id}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    generation.log, generation.position = numbered[-1][0], numbered[-1][1]
    generation.skipped += len(numbered) - len(readable)


def _applied_alone(
    cur: Cursor, generation: Generation, event: EventModel, position: int
) -> bool:
    """Apply one event inside a savepoint; False (and undone) if its handler fails
    with anything but an outage. The rollback is itself a check that the database
    still answers: if it does not, that failure is raised, and nothing is skipped."""
    cur.execute("SAVEPOINT apply_one")
    try:
        generation.projection.apply(event, cur, position)
        cur.flush()  # a write refused is this event's, inside its savepoint
    except Exception as exc:
        if is_outage(exc):
            raise
        cur.discard()  # writes held since the savepoint: undone with it
        cur.execute("ROLLBACK TO SAVEPOINT apply_one")
        logger.error(
            "read model %s skips notification %d (%s): %s: %s",
            generation.projection.name,
            position,
            type(event).__name__,
            type(exc).__name__,
            exc,
        )
        return False
    cur.execute("RELEASE SAVEPOINT apply_one")
    return True
