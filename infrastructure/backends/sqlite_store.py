"""eventsourcing's SQLite factory with the busy timeout in fractional seconds: it
reads SQLITE_LOCK_TIMEOUT as whole seconds, while sqlite3 waits any fraction, so
`sqlite:///chats.db?lock_timeout=0.3` waits 0.3 s for another writer's lock."""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment, EnvType

BUSY_TIMEOUT = "SESSIONTRAIL_SQLITE_BUSY_SECONDS"
"""The exact busy timeout, in seconds; SQLITE_LOCK_TIMEOUT holds it rounded up."""


class Factory(SQLiteFactory):
    """eventsourcing's SQLite factory; its connections wait the exact busy timeout."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        exact = self.env.get(BUSY_TIMEOUT)
        if exact is not None:
            # Read when each connection opens (sqlite3.connect takes float seconds).
            self.datastore.pool.lock_timeout = float(exact)  # type: ignore[assignment]
