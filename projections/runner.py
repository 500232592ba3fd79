"""Keeps read models current by following the notification log, exactly once.

Each live generation of a projection has a row in `st_projections` holding the
last notification id it applied. A catch-up locks those rows (SQLite: the write
lock; PostgreSQL: `SELECT ... FOR UPDATE`), reads the notifications after them,
applies each to the read models and moves the positions on, in one transaction:
a crash loses the whole batch or none of it, and two processes never apply the
same notification twice.

PostgreSQL can commit inserts out of id order only if inserting transactions
interleave; eventsourcing's recorder takes an EXCLUSIVE lock on the events table
for each insert, so ids become visible in commit order and a reader that has seen
id N will never later see an id below N appear. Gaps left by rolled-back inserts
stay gaps and are safely passed over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Literal

from pydantic import NonNegativeFloat, StrictStr

from ..domain.erasure import Erasure
from ..domain.errors import InvalidInput, SessiontrailError, StorageUnavailable
from ..domain.validation import Count, UserId, validated
from ..domain.values import ProjectionStatus, SyncStatus
from ..infrastructure.event_store import SessionStore
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .batches import (
    BATCH_FAILURES,
    BATCH_SIZE,
    BUILDS,
    REGISTRY_COLUMNS,
    BatchApplier,
    Generation,
    apply_events,
    live_rows,
    save_position,
)
from .inline import Recent, RecentWrites
from .projection import LIVE, Projection
from .rebuild import RETIRED, RETIRED_KEPT, Progress, Rebuilder, drop_retired
from .skips import Skips
from .status import live_table_rows, statuses, sync_status

logger = logging.getLogger(__name__)

SWEEP_EVERY = 10.0
"""Seconds between sweeps of retired generations, done by catch-ups."""


class ProjectionRunner:
    """Catch-up, status and blue/green rebuild of a fixed set of projections.

    `st_projections` has one row per projection: its live generation. A rebuild
    tracks its new generation in `st_projection_builds` and, when it swaps, updates
    the live row in place, so a writer waiting on that row's lock wakes up to the
    new generation rather than a deleted row.
    """

    def __init__(
        self,
        store: SessionStore,
        database: ProjectionDatabase,
        projections: Sequence[type[Projection]],
        skips: Skips,
        mode: Literal["inline", "worker"] = "inline",
    ) -> None:
        """`mode` is the writers' mode in this process, reported by sync_status."""
        self._store = store
        self._skips = skips
        self.mode = mode
        self._database = database
        self._applier = BatchApplier(store)
        self._rebuilder = Rebuilder(database, self._applier)
        self._classes = {projection.name: projection for projection in projections}
        self._recent = RecentWrites()  # what catch_up(until) may apply from memory
        store.on_commit(self._recent.remember)
        self._lock = threading.Lock()
        self._applied = 0  # every current live generation is known to be here
        self._next_sweep = 0.0

    # -- setup ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the registry, and a first generation of each projection it lacks."""
        with self._database.write() as cur:
            for table in (LIVE, BUILDS):
                cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({REGISTRY_COLUMNS})")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {RETIRED} (name TEXT NOT NULL, "
                "generation INTEGER NOT NULL, retired_at DOUBLE PRECISION NOT NULL, "
                "PRIMARY KEY (name, generation))"
            )
            live = live_rows(cur, lock=True)
            for name, projection_class in self._classes.items():
                if name not in live:
                    projection_class(generation=1).create(cur)
                    cur.execute(
                        f"INSERT INTO {LIVE} VALUES (?, 1, ?, 0, 0)",
                        (name, projection_class.version),
                    )

    @validated
    def upgrade(self, progress: Progress | None = None) -> list[str]:
        """Rebuild each projection whose live tables an older version built.

        Returns their names. Tables built by a newer version are left alone: this
        code neither applies events to them nor rebuilds them back.
        """
        outdated = [
            status.name for status in self.status() if status.state == "needs_rebuild"
        ]
        for name in outdated:
            logger.info("rebuilding read model %r for its new version", name)
            self.rebuild(name, progress)
        return outdated

    # -- catching up -------------------------------------------------------------------

    @validated
    def catch_up(self, until: Count | None = None) -> int:
        """Apply every notification up to the head; a no-op if already at `until`.

        Returns the position every current projection has reached.
        """
        return self.after_write(until)

    def after_write(self, until: int | None) -> int:
        """`catch_up`, its argument unchecked: inline mode calls it after each
        write with the notification id the store returned."""
        if until is not None and until <= self._applied:
            return self._applied
        recent = None if until is None else self._recent.take(until)
        if recent is None and until is not None and until <= self._reached():
            return self._applied
        with self._lock:
            if recent is not None and self._apply_recent(recent):
                return self._applied
            while True:
                reached, more = self._catch_up_batch(until)
                self._applied = max(self._applied, reached)
                if not more:
                    return reached

    def _apply_recent(self, recent: Recent) -> bool:
        """A write's own events, applied without reading them back: only when every
        live generation is exactly at the event before them (else, or if a handler
        fails, the caller catches up from the log as usual)."""
        try:
            with self._database.write() as cur:
                generations = self._current(cur)
                first = recent[0][0]
                if (
                    not generations
                    or any(
                        generation.position != first - 1 for generation in generations
                    )
                    or any(isinstance(event, Erasure.UserErased) for _, event in recent)
                ):  # an erasure replays from the log: the catch-up does it
                    return False
                apply_events(cur, generations, list(recent))
                names = [generation.projection.name for generation in generations]
                cur.execute(  # every one is now at the same position: one update
                    f"UPDATE {LIVE} SET position = ? WHERE name IN "
                    f"({', '.join('?' for _ in names)})",
                    (recent[-1][0], *names),
                )
                self._sweep(cur)
        except BATCH_FAILURES:
            return False
        self._applied = max(self._applied, recent[-1][0])
        return True

    def _sweep(self, cur: Cursor) -> None:
        """Now and then, drop generations retired long enough ago."""
        if time.monotonic() > self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            drop_retired(cur, self._classes, older_than=RETIRED_KEPT)

    def _reached(self) -> int:
        """Read (not lock) the position every current projection is at; remember it."""
        with self._database.read() as cur:
            positions = [
                position
                for name, (_, version, position, _) in live_rows(
                    cur, lock=False
                ).items()
                if name in self._classes and self._classes[name].version == version
            ]
        self._applied = max(self._applied, min(positions, default=0))
        return self._applied

    def lagging(self, cur: Cursor) -> int | None:
        """The log's head if the live read models may be behind it, else None: read
        in `cur`'s snapshot where the log shares their database (one query), else
        asked of the store."""
        log_head = self._database.log_head
        if log_head is None:
            head = self._store.head()
            return head if head > self._applied else None
        mine = " OR ".join("(name = ? AND version = ?)" for _ in self._classes)
        [(head, reached)] = cur.execute(
            f"SELECT ({log_head}), (SELECT MIN(position) FROM {LIVE} WHERE {mine})",
            [
                value
                for name, cls in self._classes.items()
                for value in (name, cls.version)
            ],
        ).fetchall()
        return head if reached is not None and (head or 0) > reached else None

    def _catch_up_batch(self, until: int | None) -> tuple[int, bool]:
        """One transaction: lock the live positions, apply the next batch.

        If an event's content makes a handler fail, the batch is redone with each
        event in a savepoint, so only that event is skipped (and counted): one bad
        event never stops the read models.
        """
        try:
            return self._catch_up_once(until, guarded=False)
        except BATCH_FAILURES:
            logger.warning("a catch-up batch failed; redoing it event by event")
            return self._catch_up_once(until, guarded=True)

    def _catch_up_once(self, until: int | None, *, guarded: bool) -> tuple[int, bool]:
        with self._database.write() as cur:
            generations = self._current(cur)
            if not generations:
                return self._applied, False
            start = min(generation.position for generation in generations)
            if until is not None and start >= until:
                return start, False
            notifications = self._applier.notifications(start)
            self._applier.apply(cur, generations, notifications, guarded=guarded)
            for generation in generations:
                save_position(cur, LIVE, generation)
            self._sweep(cur)
            reached = min(generation.position for generation in generations)
            return reached, len(notifications) == BATCH_SIZE

    def _current(self, cur: Cursor) -> list[Generation]:
        """The live generations this code may write: same projection version."""
        generations = []
        for name, (number, version, position, skipped) in live_rows(
            cur, lock=True
        ).items():
            projection_class = self._classes.get(name)
            if projection_class is not None and projection_class.version == version:
                generations.append(
                    Generation(projection_class(number), version, position, skipped)
                )
        return generations

    # -- status ------------------------------------------------------------------------

    def sync_status(self) -> SyncStatus:
        """Seed 4's sync status: in_sync, behind, or offline (database unreachable)."""
        try:
            return sync_status(self.status(), self.mode)
        except StorageUnavailable:
            return SyncStatus(
                state="offline", mode=self.mode, last_synced_position=0, pending=0
            )

    def status(self) -> list[ProjectionStatus]:
        """Per projection: versions, position, head, lag and skipped events."""
        with self._database.read() as cur:
            live = live_rows(cur, lock=False)
        return statuses(self._classes, live, self._store.head(), self._skips)

    @validated
    def rows(self, name: StrictStr) -> dict[str, list[tuple[object, ...]]]:
        """The live rows of a read model, table by table, sorted: for diagnosis and
        for checking that two generations (inline, worker, rebuilt) agree."""
        projection_class = self.projection(name)
        with self._database.read() as cur:
            return live_table_rows(cur, projection_class)

    @validated
    def projection(self, name: StrictStr) -> type[Projection]:
        """The projection called `name`; InvalidInput naming the known ones if none."""
        projection_class = self._classes.get(name)
        if projection_class is None:
            known = ", ".join(sorted(self._classes))
            raise InvalidInput(f"name: no projection {name!r} (known: {known})")
        return projection_class

    # -- rebuild -----------------------------------------------------------------------

    @validated
    def erase_builds(self, user_id: UserId) -> list[str]:
        """Rewrite `user_id`'s rows in each rebuild in progress (a new generation
        not yet live, maybe of another process) up to where it has got; it meets
        the erasure in the log later, before it can go live. Returns their names."""
        with self._database.write() as cur:
            rows = cur.execute(
                f"SELECT name, generation, version, position FROM {BUILDS} "
                f"ORDER BY name{cur.for_update}"
            ).fetchall()
            builds = [
                Generation(self._classes[name](number), version, position, 0)
                for name, number, version, position in rows
                if name in self._classes and self._classes[name].version == version
            ]
            self._applier.erase(cur, builds, user_id)
        return [build.projection.name for build in builds]

    def drop_retired_now(self) -> None:
        """Drop every retired generation now, not after RETIRED_KEPT (an erasure
        must not leave old rows behind); a reader still on one sees it vanish."""
        with self._database.write() as cur:
            drop_retired(cur, self._classes, older_than=-1.0)

    @validated
    def rebuild(
        self, name: StrictStr, progress: Progress | None = None
    ) -> ProjectionStatus:
        """Build a new generation from the whole log beside the live one, then swap.

        Readers keep the live generation until one transaction catches the new one
        up to the head and names it live; events appended meanwhile reach
        whichever generation is live when their writer catches up.
        """
        self._rebuilder.run(self.projection(name), progress, self._store.head)
        return next(status for status in self.status() if status.name == name)

    # -- worker ------------------------------------------------------------------------

    @validated
    def run(self, stop: threading.Event, poll_interval: NonNegativeFloat = 0.5) -> None:
        """Keep every projection current until `stop` is set (the worker mode)."""
        self.upgrade()
        while not stop.is_set():
            try:
                self.catch_up()
            except SessiontrailError:
                logger.warning("projection catch-up failed; retrying", exc_info=True)
            stop.wait(poll_interval)
