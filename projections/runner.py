"""Keeps read models current by following the notification log, exactly once.

Each live generation of a projection has a row in `st_projections` holding the
last notification id it applied. A catch-up locks those rows (SQLite: the write
lock; PostgreSQL: `SELECT ... FOR UPDATE`), reads the notifications after them,
applies each to the read models and moves the positions on, in one transaction:
a crash loses the whole batch or none of it, and two processes never apply the
same notification twice.

The log is read in (transaction id, notification id) order, on PostgreSQL only
below the oldest running transaction (infrastructure/log_position.py): a reader
past a position never later sees an event appear behind it, though PostgreSQL
writers take no table lock and commit out of id order. So a catch-up never waits
for that horizon inside its transaction (it would hold the registry rows while
another transaction, holding the horizon, waits for them): it applies what the
log gives and commits; an inline writer waits for its own write outside, bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import NonNegativeFloat, StrictStr

from ..domain.erasure import Erasure
from ..domain.errors import InvalidInput, SessiontrailError, StorageUnavailable
from ..domain.event_model import EventModel
from ..domain.purge import Purge
from ..domain.validation import UserId, validated
from ..domain.values import ProjectionStatus, SyncStatus
from ..infrastructure.backends.base import DEFAULT_LOCK_TIMEOUT, Positioned
from ..infrastructure.event_store import AppendAlone, SessionStore
from ..infrastructure.log_position import LOG_START, LogPosition
from ..infrastructure.sql import Cursor, ProjectionDatabase, StatementsChanged
from .batches import (
    BATCH_FAILURES,
    BATCH_SIZE,
    BUILDS,
    LIVE_ROWS,
    REGISTRY_COLUMNS,
    BatchApplier,
    Generation,
    Known,
    RegistryRow,
    add_log_columns,
    apply_events,
    live_rows,
    registry,
    save_positions,
)
from .catch_up_lock import CatchUpLock
from .inline import Recent, RecentWrites
from .projection import LIVE, Projection
from .rebuild import RETIRED, RETIRED_KEPT, Progress, Rebuilder, drop_retired
from .skips import Skips
from .status import live_table_rows, statuses, sync_status

logger = logging.getLogger(__name__)

REPLAYED = (Erasure.UserErased, Purge.SessionPurged)
"""Events whose read-model change reads the log beyond them (an erasure replays
the user's streams; a purge forgets streams first): never applied from memory."""

SWEEP_EVERY = 10.0
"""Seconds between sweeps of retired generations, done by catch-ups."""
STOP_CHECK = 0.1
"""Seconds at most between a worker's checks of its stop event while it waits."""
LOOKED = "SELECT CAST(? AS BIGINT) AS t, CAST(? AS BIGINT) AS n"
"""Where the least advanced generation is, as `applying` read it: the log is
read after it without reading the registry again."""
BEHIND_RECHECK = (0.0005, 0.02)
"""Seconds between looks at a log whose next events wait for older transactions
to end: from the first to the second, doubling."""


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
        wait: float = 5.0,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        """`mode` is the writers' mode in this process, reported by sync_status;
        inline, the runner applies each write's own events as the store tells it
        what the write committed (see inline.py). `wait`: the longest an inline
        catch-up waits for older transactions to end before its write's events
        can be applied (the lock wait bound). `lock_timeout`: the longest a
        catch-up waits for another thread's that moves the read models on in
        none of that time (the URL's lock timeout; see catch_up_lock.py)."""
        self._store = store
        self._wait = wait
        self._skips = skips
        self.mode = mode
        self._database = database
        self._applier = BatchApplier(store)
        self._rebuilder = Rebuilder(database, self._applier)
        self._classes = {projection.name: projection for projection in projections}
        self._recent = RecentWrites()  # what catch_up(until) may apply from memory
        self._in_append = threading.local()  # what the last append applied in it
        if mode == "inline":  # worker mode's writers never catch up after a write
            store.on_commit(self._recent.remember)
            store.in_append(self._apply_in_append)
            store.on_commit(self._applied_in_append)
            database.announce_catch_ups()
        self._catching_up = CatchUpLock(lock_timeout)
        self._lowest = self._lowest_query()
        self._applied = LOG_START  # every current live generation is known to be here
        self._sequence = 0  # ... and has numbered its events up to this one
        self._next_sweep = 0.0

    # -- setup ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the registry, and a first generation of each projection it lacks."""
        with self._database.write() as cur:
            for table in (LIVE, BUILDS):
                cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({REGISTRY_COLUMNS})")
                add_log_columns(cur, table)
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
                        f"INSERT INTO {LIVE} (name, generation, version, position, "
                        "skipped) VALUES (?, 1, ?, 0, 0)",
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
    def catch_up(self, until: LogPosition | None = None) -> int:
        """Apply every notification the log gives now; with `until` (a write's log
        position: inline mode), also wait until that write is applied.

        The wait is for transactions older than the write to end (PostgreSQL), done
        outside any transaction and bounded by the lock wait bound: past it,
        StorageUnavailable (the write is stored; its read models catch up later).
        Another thread's catch-up is waited for while it moves the read models on
        (with `until`, only until it has applied that write), then
        StorageUnavailable too: once it moved them in none of the lock timeout,
        or after PROGRESSING_WAIT lock timeouts in all.
        Returns the position every current projection has reached.
        """
        return self.after_write(until)

    def after_write(self, until: LogPosition | None) -> int:
        """`catch_up`, its argument unchecked: inline mode calls it after each
        write with the notification id the store returned."""
        if until is not None and until <= self._applied:
            return self._sequence
        recent = None if until is None else self._recent.take(until)
        if recent is None and until is not None and until <= self._reached():
            return self._sequence
        if not self._catching_up.take(
            None if until is None else lambda: self.has_applied(until)
        ):
            return self._sequence  # another thread's catch-up applied the write
        try:
            return self._catch_up_held(until, recent)
        finally:
            self._catching_up.release()

    def catch_up_unless_running(self) -> None:
        """A read's catch-up (inline mode): apply what the log gives, unless
        another thread of this process is applying already (a write's catch-up,
        an erasure rewriting a user's rows): the read then reads the read models
        as they are rather than wait for it. Each write's own thread applies
        that write before it returns, so no write that returned is missed."""
        if not self._catching_up.try_take():
            return
        try:
            self._catch_up_held(None, None)
        finally:
            self._catching_up.release()

    def _catch_up_held(self, until: LogPosition | None, recent: Recent | None) -> int:
        """`after_write`'s work, under the catch-up lock."""
        if (
            recent is not None
            and not self._database.shares_catch_ups
            and self._apply_recent(recent)
        ):
            return self._sequence
        known = dict(recent or ())
        deadline, pause = time.monotonic() + self._wait, BEHIND_RECHECK[0]
        while True:
            reached, more = self._catch_up_batch(until, known)
            if more:
                continue
            if until is None or reached >= until:
                return self._sequence
            if time.monotonic() > deadline:
                raise StorageUnavailable(
                    f"read models: events before {until} still wait for older "
                    f"transactions to end after {self._wait} s"
                )
            time.sleep(pause)
            pause = min(2 * pause, BEHIND_RECHECK[1])

    def _apply_recent(self, recent: Recent) -> bool:
        """A write's own events, applied without reading them back, in a
        transaction of the read models (see `_apply_here`; if a handler fails,
        the caller catches up from the log as usual)."""
        try:
            with self._database.write() as cur:
                generations = self._apply_here(cur, recent)
        except BATCH_FAILURES:
            return False
        if generations is None:
            return False
        self._remember(generations)
        return True

    def _apply_in_append(
        self, cur: Cursor, recent: Sequence[tuple[LogPosition, EventModel]]
    ) -> None:
        """A write's own events, applied in its own transaction (SQLite): the rows
        and positions commit with the events. If a handler fails, the append is
        redone without them (AppendAlone) and the catch-up after the write
        applies the events from the log, skipping only the bad one."""
        cur.sealer = self._database.sealer
        try:
            generations = self._apply_here(cur, list(recent))
        except BATCH_FAILURES as exc:
            raise AppendAlone(str(exc)) from exc
        self._in_append.applied = (recent[-1][0], generations)

    def _applied_in_append(
        self, committed: Sequence[tuple[LogPosition, EventModel]]
    ) -> None:
        """After an append's commit: the read models are where it applied them."""
        applied = getattr(self._in_append, "applied", None)
        self._in_append.applied = None
        if applied is not None and applied[1] and applied[0] == committed[-1][0]:
            self._remember(applied[1])

    def _apply_here(self, cur: Cursor, recent: Recent) -> list[Generation] | None:
        """Apply a write's own events in `cur`'s transaction and move the positions
        past them, only when every live generation is exactly at the event before
        them in the log; None (nothing written) when not."""
        live = live_rows(cur, lock=True)
        generations = self._generations(live)
        if not generations:
            return None
        base = generations[0].log
        if any(generation.log != base for generation in generations):
            return None
        if any(isinstance(event, REPLAYED) for _, event in recent):
            return None  # erasures and purges: catch-ups do those
        if not self._store.follows(base, recent[0][0]):
            return None
        apply_events(cur, generations, recent)
        save_positions(cur, LIVE, generations, every_row=len(generations) == len(live))
        self._sweep(cur)
        return generations

    def _remember(self, generations: list[Generation]) -> None:
        """Every current generation is at least where the least advanced one is."""
        lowest = min(generations, key=lambda generation: generation.log)
        self._moved_to(lowest.log, lowest.position)

    def _moved_to(self, log: LogPosition, position: int) -> None:
        """Every current generation is at `log` (its event number `position`)
        or past it: remember it, and tell those waiting for the catch-up lock
        that the read models moved on, if they did."""
        if log > self._applied:
            self._applied, self._sequence = log, position
            self._catching_up.moved()

    def _sweep(self, cur: Cursor) -> None:
        """Now and then, drop generations retired long enough ago."""
        if time.monotonic() > self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            drop_retired(cur, self._classes, older_than=RETIRED_KEPT)

    def _reached(self) -> LogPosition:
        """Read (not lock) where every current projection is; remember it."""
        with self._database.read() as cur:
            row = cur.execute(self._lowest).fetchone()
        return self._reached_at((None, None, None) if row is None else row)

    def _reached_at(self, looked: Sequence[Any]) -> LogPosition:
        """Where every current projection is, from a row of `_lowest` (None
        values: there is none); remember it."""
        transaction_id, notification_id, position = looked
        if transaction_id is not None:
            self._moved_to(LogPosition(transaction_id, notification_id), position)
        return self._applied

    def behind(self) -> bool:
        """Whether the log holds committed events the read models have not applied
        (some may wait for older transactions to end)."""
        return self._store.moved_past(self._reached())

    def has_applied(self, position: LogPosition) -> bool:
        """Whether every live read model is known, in memory, to have applied the
        log up to `position` (no read: False may only mean not known)."""
        return position <= self._applied

    def lagging(self, cur: Cursor) -> bool:
        """Whether the live read models may be behind the log: read in `cur`'s
        snapshot where the log shares their database (one query), else asked of
        the store."""
        log_after = self._database.log_after
        if log_after is None:
            return self._store.head_position() > self._applied
        [(behind,)] = cur.execute(
            "SELECT " + log_after.format(position=self._lowest)
        ).fetchall()
        return bool(behind)

    def _lowest_query(self) -> str:
        """A query of where the least advanced live generation this code writes
        is: its log position (columns t and n) and its number. Without
        parameters, so that `applying` can send it with BEGIN: the names (words
        of this code's own) and versions are written in."""
        mine = " OR ".join(
            f"(name = '{name}' AND version = {int(cls.version)})"
            for name, cls in self._classes.items()
        )
        return (
            "SELECT transaction_id AS t, notification_id AS n, position FROM "
            f"{LIVE} WHERE {mine} ORDER BY transaction_id, notification_id LIMIT 1"
        )

    def _catch_up_batch(
        self, until: LogPosition | None, known: Known | None = None
    ) -> tuple[LogPosition, bool]:
        """One transaction: lock the live positions, apply the next batch (`known`:
        events this process wrote, by position, used instead of decoding them).

        If an event's content makes a handler fail, the batch is redone with each
        event in a savepoint, so only that event is skipped (and counted): one bad
        event never stops the read models. A transaction that met prepared
        statements another process's change of a table broke is run once more
        (StatementsChanged): that is no event's fault.
        """
        try:
            return self._catch_up_afresh(until, known, guarded=False)
        except BATCH_FAILURES:
            logger.warning("a catch-up batch failed; redoing it event by event")
            return self._catch_up_afresh(until, known, guarded=True)

    def _catch_up_afresh(
        self, until: LogPosition | None, known: Known | None, *, guarded: bool
    ) -> tuple[LogPosition, bool]:
        """`_catch_up_once`, run once more if its statements had changed."""
        try:
            return self._catch_up_once(until, known, guarded=guarded)
        except StatementsChanged:
            return self._catch_up_once(until, known, guarded=guarded)

    def _catch_up_once(
        self, until: LogPosition | None, known: Known | None, *, guarded: bool
    ) -> tuple[LogPosition, bool]:
        """Returns where the read models are and whether a full batch was applied
        (go on at once). Where another process applies (PostgreSQL), this one
        waits for it rather than queueing to apply the same events again."""

        def covered(looked: Sequence[Any]) -> bool:
            return until is not None and self._reached_at(looked) >= until

        with self._database.applying(self._lowest, covered) as (cur, apply, looked):
            if not apply:
                return self._applied, False
            generations, read, places = self._current_and_next(cur, looked)
            if not generations:
                return self._applied, False
            start = min(generation.log for generation in generations)
            if until is not None and start >= until:
                self._remember(generations)
                return start, False
            notifications = (
                read if read is not None else self._applier.notifications(start)
            )
            if notifications:
                self._applier.apply(
                    cur,
                    generations,
                    notifications,
                    guarded=guarded,
                    known=known,
                    places=places if read is not None else None,
                )
                save_positions(cur, LIVE, generations)
                self._database.applied(cur)
            self._sweep(cur)
        self._remember(generations)
        reached = min(generation.log for generation in generations)
        return reached, len(notifications) == BATCH_SIZE

    def _current_and_next(
        self, cur: Cursor, looked: Sequence[Any] | None
    ) -> tuple[list[Generation], Positioned | None, list[LogPosition] | None]:
        """`_current`, the next batch of the log after the least advanced of them
        and where purged rows were after it, read in the same round trip where
        the read models share the log's database; None where they do not, or
        where a rebuild's swap moved the registry between the reads (the caller
        reads the log itself), and None for the places if there may be more than
        were read (the applier reads them).

        The log is read first: locking the registry rows gives this transaction
        an id, below which a later read of the log would stop, leaving out the
        writes that committed since it began. The places are read after the log
        (see BatchApplier.apply). Both start where `looked` (the row of
        `_lowest` that `applying` read under the applier lock) says, rather than
        read the registry again each."""
        statement, places_statement = self._database.log_rows, self._database.log_places
        if statement is None or places_statement is None:
            return self._current(cur), None, None
        position, at = self._lowest, []
        if looked is not None and looked[0] is not None:
            position, at = LOOKED, [looked[0], looked[1]]
        log, places, live = cur.results(
            [
                (statement.format(position=position), [*at, BATCH_SIZE]),
                (places_statement.format(position=position), [*at, BATCH_SIZE]),
                (LIVE_ROWS + cur.for_update, ()),
            ]
        )
        generations = self._generations(registry(live))
        if not generations or (
            log and LogPosition(*log[0][:2]) != min(g.log for g in generations)
        ):
            return generations, None, None
        read = [LogPosition(*place) for place in places]
        full = len(read) == BATCH_SIZE
        return generations, self._database.logged(log), None if full else read

    def _current(self, cur: Cursor) -> list[Generation]:
        """The live generations this code may write: same projection version."""
        return self._generations(live_rows(cur, lock=True))

    def _generations(self, live: dict[str, RegistryRow]) -> list[Generation]:
        """Of the live registry rows, the generations this code may write."""
        generations = []
        for name, row in live.items():
            projection_class = self._classes.get(name)
            if projection_class is not None and projection_class.version == row.version:
                generations.append(
                    Generation(
                        projection_class(row.generation),
                        row.version,
                        row.position,
                        row.skipped,
                        row.log,
                    )
                )
        return generations

    # -- status ------------------------------------------------------------------------

    def sync_status(self) -> SyncStatus:
        """The sync status: in_sync, behind, or offline (database unreachable)."""
        try:
            return sync_status(self.status(), self.mode)
        except StorageUnavailable:
            return SyncStatus(
                state="offline", mode=self.mode, last_synced_position=0, pending=0
            )

    def status(self) -> list[ProjectionStatus]:
        """Per projection: versions, position, head, lag and skipped events.

        `position` numbers the events a read model has applied; `lag` counts the
        committed events after it and `head` is position + lag."""
        with self._database.read() as cur:
            live = live_rows(cur, lock=False)
        return statuses(self._classes, live, self._store.pending, self._skips)

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
                "SELECT name, generation, version, position, transaction_id, "
                f"notification_id FROM {BUILDS} ORDER BY name{cur.for_update}"
            ).fetchall()
            builds = [
                Generation(
                    self._classes[name](number),
                    version,
                    position,
                    0,
                    LogPosition(*log),
                )
                for name, number, version, position, *log in rows
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
        self._rebuilder.run(
            self.projection(name),
            progress,
            lambda generation: self._store.pending(generation.log),
        )
        return next(status for status in self.status() if status.name == name)

    # -- worker ------------------------------------------------------------------------

    @validated
    def run(self, stop: threading.Event, poll_interval: NonNegativeFloat = 0.5) -> None:
        """Keep every projection current until `stop` is set (the worker mode).

        Woken by each insert's NOTIFY on PostgreSQL, else every `poll_interval`;
        while committed events wait for older transactions to end, it looks again
        within milliseconds (an abort sends no NOTIFY)."""
        self.upgrade()
        wakeups, pause = self._store.wakeups, BEHIND_RECHECK[0]
        while not stop.is_set():
            ticket = wakeups.ticket()
            behind = False
            try:
                self.catch_up()
                behind = self._store.moved_past(self._applied)
            except SessiontrailError:
                logger.warning("projection catch-up failed; retrying", exc_info=True)
            if behind:
                stop.wait(pause)
                pause = min(2 * pause, BEHIND_RECHECK[1])
                continue
            pause = BEHIND_RECHECK[0]
            waited_until = time.monotonic() + poll_interval
            while not stop.is_set() and time.monotonic() < waited_until:
                slice_ = min(STOP_CHECK, waited_until - time.monotonic())
                if wakeups.wait(ticket, max(0.0, slice_)):
                    break
