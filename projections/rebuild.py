"""Blue/green rebuilds: a new generation filled beside the live one, then swapped.

The swap is one transaction that locks the live registry rows (writers' catch-ups
wait), applies the last notifications to the new generation and updates the live
row in place to name it, so a writer waiting on that row wakes up to the new
generation. The old generation is retired: its tables stay `RETIRED_KEPT` seconds
for readers still on it, then a catch-up drops them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from ..domain.errors import SessiontrailError
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .batches import (
    BATCH_FAILURES,
    BUILDS,
    REBUILD_BATCH_SIZE,
    BatchApplier,
    Generation,
    RegistryRow,
    live_rows,
    save_position,
)
from .projection import LIVE, Projection

logger = logging.getLogger(__name__)

RETIRED = "st_projection_retired"
RETIRED_KEPT = 60.0
"""Seconds a replaced generation's tables outlive the swap, for readers still on it."""

Progress = Callable[[int, int], None]
"""Called as (position reached, head) while a rebuild runs."""
Remaining = Callable[[Generation], int]
"""How many committed events a generation has yet to apply."""


class Rebuilder:
    """Builds new generations of projections and swaps them in."""

    def __init__(self, database: ProjectionDatabase, applier: BatchApplier) -> None:
        self._database = database
        self._applier = applier

    def run(
        self,
        projection_class: type[Projection],
        progress: Progress | None,
        remaining: Remaining,
    ) -> None:
        """Fill a new generation from the whole log, then swap it in."""
        building = self.start(projection_class)
        while self.batch(building, swap=False):
            if progress is not None:
                progress(building.position, building.position + remaining(building))
        with self._database.write() as cur:  # before the swap, which holds writers
            building.projection.settle(cur)
        self.batch(building, swap=True)
        if progress is not None:
            progress(building.position, building.position)

    def start(self, projection_class: type[Projection]) -> Generation:
        """Drop any abandoned build of this projection; create a fresh generation."""
        name = projection_class.name
        with self._database.write() as cur:
            live = cur.execute(
                f"SELECT generation FROM {LIVE} WHERE name = ?", (name,)
            ).fetchone()
            abandoned = cur.execute(
                f"SELECT generation FROM {BUILDS} WHERE name = ?{cur.for_update}",
                (name,),
            ).fetchone()
            if abandoned is not None:
                projection_class(abandoned[0]).drop(cur)
                cur.execute(f"DELETE FROM {BUILDS} WHERE name = ?", (name,))
            retired = cur.execute(
                f"SELECT MAX(generation) FROM {RETIRED} WHERE name = ?", (name,)
            ).fetchone()
            number = 1 + max(
                live[0] if live else 0,
                abandoned[0] if abandoned else 0,
                retired[0] if retired and retired[0] is not None else 0,
            )
            projection = projection_class(number)
            projection.create(cur)
            cur.execute(
                f"INSERT INTO {BUILDS} (name, generation, version, position, skipped) "
                "VALUES (?, ?, ?, 0, 0)",
                (name, number, projection_class.version),
            )
        return Generation(projection, projection_class.version, 0, 0)

    def batch(self, building: Generation, *, swap: bool) -> bool:
        """Apply one batch to the new generation; with `swap`, finish and go live.

        Returns whether more notifications may follow. A batch an event's content
        breaks is redone event by event.
        """
        reached = (building.position, building.skipped, building.log)
        try:
            return self._batch(building, swap=swap, guarded=False)
        except BATCH_FAILURES:
            building.position, building.skipped, building.log = reached  # rolled back
            logger.warning("a rebuild batch failed; redoing it event by event")
            return self._batch(building, swap=swap, guarded=True)

    def _batch(self, building: Generation, *, swap: bool, guarded: bool) -> bool:
        projection = building.projection
        with self._database.write() as cur:
            live = live_rows(cur, lock=swap)  # a swap holds writers back
            row = cur.execute(
                f"SELECT generation FROM {BUILDS} WHERE name = ?{cur.for_update}",
                (projection.name,),
            ).fetchone()
            if row is None or row[0] != projection.generation:
                raise SessiontrailError(
                    f"rebuild of {projection.name!r} was superseded by another one"
                )
            more = True
            while more:
                notifications = self._applier.notifications(
                    building.log, REBUILD_BATCH_SIZE
                )
                self._applier.apply(cur, [building], notifications, guarded=guarded)
                more = len(notifications) == REBUILD_BATCH_SIZE
                if not swap:
                    break
            save_position(cur, BUILDS, building)
            if swap:
                _go_live(cur, building, live.get(projection.name))
            return more


def _go_live(cur: Cursor, building: Generation, old: RegistryRow | None) -> None:
    """Name the new generation live (readers switch in one snapshot); retire the
    old one, whose tables stay for readers still on it."""
    projection = building.projection
    values = (
        projection.generation,
        building.version,
        building.position,
        building.skipped,
        *building.log,
        projection.name,
    )
    if old is None:
        cur.execute(
            f"INSERT INTO {LIVE} (generation, version, position, skipped, "
            "transaction_id, notification_id, name) VALUES (?, ?, ?, ?, ?, ?, ?)",
            values,
        )
    else:
        cur.execute(  # in place: writers waiting on this row see the new one
            f"UPDATE {LIVE} SET generation = ?, version = ?, position = ?, "
            "skipped = ?, transaction_id = ?, notification_id = ? WHERE name = ?",
            values,
        )
        cur.execute(
            f"INSERT INTO {RETIRED} (name, generation, retired_at) VALUES (?, ?, ?)",
            (projection.name, old.generation, time.time()),
        )
    cur.execute(f"DELETE FROM {BUILDS} WHERE name = ?", (projection.name,))


def drop_retired(
    cur: Cursor, classes: Mapping[str, type[Projection]], older_than: float
) -> None:
    """Drop the tables of generations retired more than `older_than` s ago."""
    rows = cur.execute(
        f"SELECT name, generation FROM {RETIRED} WHERE retired_at < ?",
        (time.time() - older_than,),
    ).fetchall()
    for name, generation in rows:
        projection_class = classes.get(name)
        if projection_class is not None:
            projection_class(generation).drop(cur)
        cur.execute(
            f"DELETE FROM {RETIRED} WHERE name = ? AND generation = ?",
            (name, generation),
        )
