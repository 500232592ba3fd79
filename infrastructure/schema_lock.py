"""Serialise table creation: PostgreSQL fails concurrent CREATE TABLE IF NOT EXISTS.

Several processes opening a fresh database at once would race in the catalog
("tuple concurrently updated"); a session-level advisory lock lets one create the
tables while the others wait, then find them there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

ADVISORY_KEY = 0x5E55_7A11  # "sesstail": any fixed 64-bit key of our own


@contextmanager
def creating_tables(env: dict[str, str]) -> Iterator[None]:
    """Hold the advisory lock while tables are created (PostgreSQL only)."""
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        yield
        return
    with psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        autocommit=True,
    ) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
        yield
