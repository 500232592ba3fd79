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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import Notification

from ..domain.erasure import Erasure
from ..domain.event_model import EventModel
from ..infrastructure.event_store import SessionStore, storage_errors
from ..infrastructure.gc_pause import gc_paused
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
    "position BIGINT NOT NULL, skipped BIGINT NOT NULL"
)


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


def live_rows(cur: Cursor, *, lock: bool) -> dict[str, tuple[int, int, int, int]]:
    """name -> (generation, version, position, skipped), locked in name order."""
    suffix = cur.for_update if lock else ""
    rows = cur.execute(
        f"SELECT name, generation, version, position, skipped FROM {LIVE} "
        f"ORDER BY name{suffix}"
    ).fetchall()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def save_position(cur: Cursor, table: str, generation: Generation) -> None:
    """Record where a generation has got to, in its registry table."""
    cur.execute(
        f"UPDATE {table} SET position = ?, skipped = ? WHERE name = ?",
        (generation.position, generation.skipped, generation.projection.name),
    )


def apply_events(
    cur: Cursor,
    generations: Sequence[Generation],
    events: Sequence[tuple[int, EventModel | None]],
    *,
    guarded: bool = False,
) -> None:
    """Apply each (position, event) to every generation not yet past it; None is
    an event that could not be read: skipped and counted. Unguarded, each
    generation gets its part as one batch (`Projection.apply_batch`)."""
    if not guarded:
        for generation in generations:
            _apply_batch(cur, generation, events)
        return
    for position, event in events:
        for generation in generations:
            if position <= generation.position:
                continue
            generation.position = position
            if event is None or not _applied_alone(cur, generation, event, position):
                generation.skipped += 1


class BatchApplier:
    """Reads the notifications after a position and folds them into generations."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def notifications(
        self, after: int, limit: int = BATCH_SIZE
    ) -> Sequence[Notification]:
        """The next batch of the log after `after`, in id order."""
        return self._store.notifications(after, limit)

    def apply(
        self,
        cur: Cursor,
        generations: Sequence[Generation],
        notifications: Sequence[Notification],
        *,
        guarded: bool = False,
    ) -> None:
        """Apply each notification to every generation not yet past it; at a
        user's erasure, rewrite that user's rows first (`erase`). The collector
        waits meanwhile: a batch's decoded events are many objects, no cycles."""
        with gc_paused():
            self._apply(cur, generations, notifications, guarded=guarded)

    def _apply(
        self,
        cur: Cursor,
        generations: Sequence[Generation],
        notifications: Sequence[Notification],
        *,
        guarded: bool,
    ) -> None:
        decoded = [(n.id, event) for n, event in self._decoded(notifications)]
        start = 0
        for index, (position, event) in enumerate(decoded):
            if isinstance(event, Erasure.UserErased):
                reached = [generation.position for generation in generations]
                apply_events(
                    cur, generations, decoded[start : index + 1], guarded=guarded
                )
                passing = [
                    generation
                    for generation, before in zip(generations, reached, strict=True)
                    if before < position
                ]
                self.erase(cur, passing, event.user_id, guarded=guarded)
                start = index + 1
        apply_events(cur, generations, decoded[start:], guarded=guarded)

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
        is gone, so they read erased) through the same handlers. O(the user's
        rows and events), in the caller's transaction: readers see all or none."""
        for generation in generations:
            projection = generation.projection
            streams = projection.owned_streams(cur, user_id)
            if not streams:
                continue
            projection.forget(cur, user_id, streams)
            notifications = self._store.stream_notifications(
                [UUID(stream) for stream in streams], generation.position
            )
            replay = [(n.id, event) for n, event in self._decoded(notifications)]
            again = Generation(projection, generation.version, 0, 0)
            apply_events(cur, [again], replay, guarded=guarded)

    def _decoded(
        self, notifications: Sequence[Notification]
    ) -> Iterator[tuple[Notification, EventModel | None]]:
        """Each notification with its event; None for one that cannot be read
        (whatever decoding raised, short of the database failing: opening a
        user's sealed fields reads their key)."""
        for notification in notifications:
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
                yield notification, None
                continue
            yield notification, event if isinstance(event, EventModel) else None


def _apply_batch(
    cur: Cursor,
    generation: Generation,
    events: Sequence[tuple[int, EventModel | None]],
) -> None:
    """Apply the events past the generation's position as one batch;
    EventRejected if the handlers fail other than by an outage."""
    todo = [
        (position, event)
        for position, event in events
        if position > generation.position
    ]
    if not todo:
        return
    readable = [(position, event) for position, event in todo if event is not None]
    try:
        generation.projection.apply_batch(cur, readable)
    except Exception as exc:
        if is_outage(exc):
            raise
        raise EventRejected(
            f"read model {generation.projection.name} failed on notifications "
            f"{todo[0][0]} to {todo[-1][0]}: {type(exc).__name__}: {exc}"
        ) from exc
    generation.position = todo[-1][0]
    generation.skipped += len(todo) - len(readable)


def _applied_alone(
    cur: Cursor, generation: Generation, event: EventModel, position: int
) -> bool:
    """Apply one event inside a savepoint; False (and undone) if its handler fails
    with anything but an outage. The rollback is itself a check that the database
    still answers: if it does not, that failure is raised, and nothing is skipped."""
    cur.execute("SAVEPOINT apply_one")
    try:
        generation.projection.apply(event, cur, position)
    except Exception as exc:
        if is_outage(exc):
            raise
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
