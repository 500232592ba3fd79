"""Where read models stand against the log: each one's versions, position, lag and
skips, the sync status, and a read model's rows for diagnosis."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from ..domain.values import ProjectionStatus, SyncStatus
from ..infrastructure.log_position import LOG_START, LogPosition
from ..infrastructure.sql import Cursor
from .batches import RegistryRow
from .projection import Projection
from .skips import Skips


def statuses(
    classes: Mapping[str, type[Projection]],
    live: Mapping[str, RegistryRow],
    pending: Callable[[LogPosition], int],
    skips: Skips,
) -> list[ProjectionStatus]:
    """Per projection this code knows, by name: where its live generation is.

    `position` numbers the events it has applied; `lag` counts the committed events
    after it in the log (`pending`), and `head` is position + lag."""
    lags: dict[LogPosition, int] = {}
    found = []
    for name, projection_class in sorted(classes.items()):
        row = live.get(name)
        log = LOG_START if row is None else row.log
        if log not in lags:
            lags[log] = pending(log)
        position = 0 if row is None else row.position
        found.append(
            ProjectionStatus(
                name=name,
                version=projection_class.version,
                live_version=0 if row is None else row.version,
                position=position,
                head=position + lags[log],
                lag=lags[log],
                skipped=0 if row is None else row.skipped,
                unreadable_rows=skips.rows(name),
            )
        )
    return found


def sync_status(
    found: Sequence[ProjectionStatus], mode: Literal["inline", "worker"]
) -> SyncStatus:
    """The sync status of these read models: in_sync or behind."""
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
