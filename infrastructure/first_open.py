"""Opening a fresh database from many processes at once, on either backend.

- PostgreSQL fails concurrent CREATE ... IF NOT EXISTS ("tuple concurrently
  updated"): a session-level advisory lock lets one process create the tables while
  the others wait, then find them there.
- SQLite: eventsourcing switches a new file to WAL on its first connection, and that
  switch fails at once with "database is locked" when another process switches or
  writes at the same moment. The file is switched here first, waiting that out.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from .backends.postgres_store import apply_bounds
from .settings import POSTGRES_FACTORY, postgres_bounds

ADVISORY_KEY = 0x5E55_7A11  # "sesstail": any fixed 64-bit key of our own


@contextmanager
def opening(env: dict[str, str]) -> Iterator[None]:
    """Make the database ready for eventsourcing to open it, racing processes safe."""
    module = env.get("PERSISTENCE_MODULE")
    if module == POSTGRES_FACTORY:
        with _advisory_lock(env):
            yield
        return
    if module == "eventsourcing.sqlite":
        _switch_to_wal(env["SQLITE_DBNAME"], float(env["SQLITE_LOCK_TIMEOUT"]))
    yield


@contextmanager
def _advisory_lock(env: dict[str, str]) -> Iterator[None]:
    with psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        autocommit=True,
    ) as connection:
        # Another process may be opening the whole log first: wait for it as long
        # as a statement may run (statement_timeout), not as briefly as for a row
        # lock (lock_timeout 0 leaves the statement's bound alone in charge).
        apply_bounds(connection, {**postgres_bounds(env), "lock_timeout": 0})
        connection.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
        yield


def _switch_to_wal(path: str, timeout: float) -> None:
    """Put the file in WAL mode (a no-op once it is), retrying while it is locked."""
    deadline = time.monotonic() + timeout
    while True:
        connection = sqlite3.connect(path, timeout=timeout)
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"could not switch {path} to WAL mode")
        time.sleep(random.uniform(0.005, 0.05))
