"""`trail.compact` (`sessiontrail compact`): give the disk back after purges,
and make the deleted rows' bytes leave the database files.

- SQLite: the search indexes are merged, then VACUUM rewrites the file (it
  shrinks by the free pages) and the write-ahead log is truncated. It holds the
  write lock for the whole rewrite, O(the remaining file): other writers wait
  (up to the URL's lock_timeout, then StorageUnavailable); readers go on.
- PostgreSQL: VACUUM (ANALYZE) of every table: space reused, nothing blocked,
  the bytes stay in the files. `full=True`: VACUUM FULL, table by table under an
  exclusive lock, which removes them. WAL segments and backups keep what they
  held until they are recycled.
- memory://: nothing to do.
"""

from __future__ import annotations

import time

from ..domain.values import Value
from ..infrastructure.sql import ProjectionDatabase


class CompactReport(Value):
    """What a compaction did: sizes in bytes (0 where not measured) and time."""

    before: int
    after: int
    seconds: float
    full: bool


def compact(database: ProjectionDatabase, full: bool) -> CompactReport:
    """Rewrite the database the read models share with the log (see above)."""
    started = time.monotonic()
    before, after = database.rewrite(full)
    return CompactReport(
        before=before,
        after=after,
        seconds=round(time.monotonic() - started, 3),
        full=full,
    )
