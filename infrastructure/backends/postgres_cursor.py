"""The read models' cursor on PostgreSQL: writes held and sent with what follows.

A catch-up holds the applier lock (postgres.py) from its first statement to its
COMMIT, and every other writer waits for it: each round trip under the lock is
time they all wait. Most of a catch-up's statements are writes whose answer
nobody reads (an INSERT, UPDATE or DELETE returning no rows, each row of an
executemany). So this cursor binds them here (psycopg's client-side binding)
and holds them; the next statement that reads, or the COMMIT, goes in the same
message after them: one round trip for the writes of several read models. The
statements still run in order, in the same transaction, so a read sees the
writes before it.

A held write the database refuses fails the statement it went with, as
RowRejected: the batch is redone event by event, each event's writes sent
inside its own savepoint (`flush`), so only the bad event is skipped.

Every statement, a read's too, goes as an EXECUTE of a statement prepared once
on the connection (postgres_prepared.py): the server plans none of them again.
Many rows at once (a rebuild's batch) go at once through psycopg's executemany
instead, each planned (psycopg prepares nothing on these connections), which
costs the server less than as many EXECUTEs, each of which sets up a portal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ..sql import Cursor, Params, RowRejected, StatementsChanged
from .postgres_prepared import Preparer, lost, resent_once

HELD_WRITES = ("INSERT ", "UPDATE ", "DELETE ")
"""How statements this cursor may hold begin (and none of them says RETURNING)."""
MANY_ROWS = 64
"""An executemany of more rows than this goes as psycopg sends it, at once."""
HELD_CHARACTERS = 1 << 20
"""Held writes past this much SQL are sent without waiting for a reader."""


class HeldWritesCursor(Cursor):
    """A PostgreSQL Cursor that holds writes returning nothing (see above)."""

    def __init__(self, cursor: psycopg.Cursor[Any], *, prepares: bool) -> None:
        """`prepares`: statements go as EXECUTEs of statements prepared once on
        the connection (postgres_prepared.py)."""
        super().__init__(cursor, "postgresql")
        self._client = psycopg.ClientCursor(cursor.connection)
        self._preparer = Preparer(self._client, prepares)
        self._held: list[str] = []
        self._held_characters = 0
        self._answered: Any = cursor
        """The cursor holding the last statement's rows."""

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        if _holdable(sql):
            self._hold(self._bound(sql, params))
        else:
            self._send(self._bound(sql, params))
        return self

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if len(rows) > MANY_ROWS or not _holdable(sql):
            self.flush()
            super().executemany(sql, rows)
            return
        for row in rows:
            self._hold(self._bound(sql, row))

    def results(self, statements: Sequence[tuple[str, Params]]) -> list[list[Any]]:
        return self._send(
            "; ".join(self._bound(sql, params) for sql, params in statements),
            collect=True,
        )

    def begin(self, first: str, statements: Sequence[str]) -> None:
        """Open the transaction: `first` (BEGIN ...) and `statements` (without
        parameters) in one message, standing on the last one's rows; sent again
        if the connection had lost a prepared statement (nothing is written
        before them)."""

        def send() -> None:
            self._send(
                "; ".join(self._preparer.statement(sql) for sql in statements),
                first=first,
            )

        resent_once(send, self._client.connection.rollback)

    def flush(self) -> None:
        """Send the held writes now (errors then belong to the caller)."""
        if self._held:
            self._send("")

    def discard(self) -> None:
        """Drop the held writes unsent: the caller rolls back past them (a
        refused one among them must not fail the rollback)."""
        self._held, self._held_characters = [], 0

    def finish(self, ending: str) -> None:
        """Send the held writes with `ending` (the COMMIT), in one message."""
        try:
            self._send(ending)
        finally:
            self._client.close()

    def fetchone(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._answered.fetchone()
        return row

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._answered.fetchall())

    @property
    def description(self) -> Sequence[Any]:
        return tuple(self._answered.description or ())

    def _bound(self, sql: str, params: Params) -> str:
        """The statement with its values written in, as the server will run it."""
        return self._preparer.statement(self._sql(sql), params)

    def _hold(self, statement: str) -> None:
        self._held.append(statement)
        self._held_characters += len(statement)
        if self._held_characters > HELD_CHARACTERS:
            self.flush()

    def _send(
        self, last: str, *, collect: bool = False, first: str = ""
    ) -> list[list[Any]]:
        """`first` (if any), the PREPAREs the statements need, the held writes
        and then `last` (maybe several statements), as one message. The cursor
        then stands on the last statement's rows; with `collect`, the rows of
        each of `last`'s statements are returned instead."""
        statements = [*self._held, last] if last else self._held
        held = len(self._held)
        self._held, self._held_characters = [], 0
        found: list[list[Any]] = []
        try:
            ahead = self._preparer.run(first, statements)
            while True:
                if collect:
                    found.append(self._rows())
                if not self._client.nextset():
                    break
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as exc:
            if lost(exc):  # this connection's statements, not a row's fault
                raise StatementsChanged(f"update read models: {exc}") from exc
            if not held:
                raise
            raise RowRejected(f"update read models: {exc}") from exc
        self._answered = self._client
        return found[ahead + held :]

    def _rows(self) -> list[Any]:
        return self._client.fetchall() if self._client.description else []


def _holdable(sql: str) -> bool:
    """Whether a statement is a write that returns no rows (see HELD_WRITES)."""
    head = sql.lstrip()[:7].upper()
    return head.startswith(HELD_WRITES) and "RETURNING" not in sql.upper()
