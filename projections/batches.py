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

from eventsourcing.persistence import Notification

from ..domain.event_model import EventModel
from ..infrastructure.event_store import SessionStore, storage_errors
from ..infrastructure.log_position import LOG_START, LogPosition, sequence_after
from ..infrastructure.sql import Cursor, RowRejected, is_outage
from .projection import LIVE, Projection

logger = logging.getLogger(__name__)

BUILDS = "st_projection_builds"
BATCH_SIZE = 1000
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


def live_rows(cur: Cursor, *, lock: bool) -> dict[str, RegistryRow]:
    """name -> its live generation's row, locked in name order."""
    suffix = cur.for_update if lock else ""
    rows = cur.execute(
        "SELECT name, generation, version, position, skipped, transaction_id, "
        f"notification_id FROM {LIVE} ORDER BY name{suffix}"
    ).fetchall()
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
    cur.execute(
        f"UPDATE {table} SET position = ?, skipped = ?, transaction_id = ?, "
        "notification_id = ? WHERE name = ?",
        (
            generation.position,
            generation.skipped,
            *generation.log,
            generation.projection.name,
        ),
    )


def apply_events(
    cur: Cursor,
    generations: Sequence[Generation],
    events: Sequence[tuple[LogPosition, EventModel | None]],
    *,
    guarded: bool = False,
) -> None:
    """Apply each (log position, event) to every generation not yet past it, as
    its next numbered position; None is an event that could not be read:
    skipped and counted."""
    for log, event in events:
        for generation in generations:
            if log <= generation.log:
                continue
            generation.log = log
            generation.position = position = sequence_after(generation.position, log)
            if event is None:
                generation.skipped += 1
            elif not guarded:
                _apply(cur, generation, event, position)
            elif not _applied_alone(cur, generation, event, position):
                generation.skipped += 1


class BatchApplier:
    """Reads the notifications after a position and folds them into generations."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def notifications(
        self, after: LogPosition
    ) -> Sequence[tuple[LogPosition, Notification]]:
        """The next batch of the log after `after`, in log order."""
        return self._store.notifications(after, BATCH_SIZE)

    def apply(
        self,
        cur: Cursor,
        generations: Sequence[Generation],
        notifications: Sequence[tuple[LogPosition, Notification]],
        *,
        guarded: bool = False,
    ) -> None:
        """Apply each notification to every generation not yet past it."""
        decoded = [(log, event) for (log, _), event in self._decoded(notifications)]
        apply_events(cur, generations, decoded, guarded=guarded)

    def _decoded(
        self, notifications: Sequence[tuple[LogPosition, Notification]]
    ) -> Iterator[tuple[tuple[LogPosition, Notification], EventModel | None]]:
        """Each notification with its event; None for one that cannot be read
        (whatever decoding raised, short of the database failing: opening a
        user's sealed fields reads their key)."""
        for item in notifications:
            _, notification = item
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


def _apply(
    cur: Cursor, generation: Generation, event: EventModel, position: int
) -> None:
    """Apply one event; EventRejected if the handler fails other than by an outage."""
    try:
        generation.projection.apply(event, cur, position)
    except Exception as exc:
        if is_outage(exc):
            raise
        raise EventRejected(
            f"read model {generation.projection.name} failed on notification "
            f"{position} ({type(event).__name__}): {type(exc).__name__}: {exc}"
        ) from exc


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
