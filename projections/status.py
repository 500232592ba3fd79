"""Where read models stand against the log: each one's versions, position, lag and
skips, seed 4's sync status, and a read model's rows for diagnosis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from ..domain.values import ProjectionStatus, SyncStatus
from ..infrastructure.sql import Cursor
from .projection import Projection
from .skips import Skips

LiveRow = tuple[int, int, int, int]
"""A registry row: generation, version, position, skipped."""


def statuses(
    classes: Mapping[str, type[Projection]],
    live: Mapping[str, LiveRow],
    head: int,
    skips: Skips,
) -> list[ProjectionStatus]:
    """Per projection this code knows, by name: where its live generation is."""
    found = []
    for name, projection_class in sorted(classes.items()):
        _, version, position, skipped = live.get(name, (0, 0, 0, 0))
        found.append(
            ProjectionStatus(
                name=name,
                version=projection_class.version,
                live_version=version,
                position=position,
                head=head,
                lag=max(0, head - position),
                skipped=skipped,
                unreadable_rows=skips.rows(name),
            )
        )
    return found


def sync_status(
    found: Sequence[ProjectionStatus], mode: Literal["inline", "worker"]
) -> SyncStatus:
    """Seed 4's sync status of these read models: in_sync or behind."""
    current = [s for s in found if s.live_version == s.version] or found
    position = min(s.position for s in current)
    head = max(s.head for s in current)
    in_sync = all(s.state == "in_sync" for s in found)
    return SyncStatus(
        state="in_sync" if in_sync else "behind",
        mode=mode,
        last_synced_position=position,
        pending=max(0, head - position),
    )


def live_table_rows(
    cur: Cursor, projection_class: type[Projection]
) -> dict[str, list[tuple[object, ...]]]:
    """The live generation's rows, table by table, sorted by every column."""
    projection, _ = projection_class.live(cur)
    rows = {}
    for table in projection_class.tables:
        physical = projection.table(table.name)
        cur.execute(f"SELECT * FROM {physical} WHERE 1 = 0")
        columns = ", ".join(str(i + 1) for i in range(len(cur.description)))
        rows[table.name] = cur.execute(
            f"SELECT * FROM {physical} ORDER BY {columns}"
        ).fetchall()
    return rows
