"""PostgreSQL statements planned once per connection: PREPARE, then EXECUTE.

The event INSERT and the read models' statements go client-bound, several in
one message (postgres_cursor.py, postgres_store.py): psycopg cannot prepare
those, so the server planned each of them on every save, which cost it more
time than running them. Here each such statement is PREPAREd once on a
connection (its `%s` placeholders become `$1`, `$2`, ...) and then sent as
`EXECUTE name(values)`, the values still written in by the client, in the same
message as before: no round trip is added. The first use sends the PREPARE at
the head of that message.

What a connection has prepared is remembered beside it. psycopg prepares
nothing on these connections (`prepare_threshold` None): it would DEALLOCATE
ALL of them after a rollback. After a message that failed, the record may be
wrong (a PREPARE ran, a later statement did not; the server lost them, or a
table's change broke one): the next message starts with DEALLOCATE ALL and
prepares afresh what it uses. A connection that lost its statements otherwise
fails the next EXECUTE with "prepared statement does not exist"; one whose
statement no longer matches its tables, because another process changed the
type of a column it returns or the columns a `*` stands for (an upgrade), fails
it with "cached plan must not change result type". (A column added to a table
whose columns a statement names, or a table dropped and made again alike, is
no matter: the server plans the statement again; a rebuild's new generation
has statements of its own.) Either way (`lost`), a message that opens its
transaction (nothing written yet) answers by sending itself again afresh
(`resent_once`); in the middle of one, the read models' cursor fails as
StatementsChanged, an outage and not a row's fault, which a catch-up answers by
running its transaction once more. A connection keeps at most KEPT of
them (statements whose text varies, an IN list's length, would pile up): past
that, the next message starts afresh too.

Behind a pooler in transaction mode (pgbouncer's default) a session's
statements do not follow it from one transaction to the next: the URL's
`prepared_statements=off` sends every statement as it is (planned each time).
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg

PREPARED = ("INSERT ", "UPDATE ", "DELETE ", "SELECT ", "WITH ")
"""How the statements prepared begin; others (BEGIN, SET, SAVEPOINT, COMMIT,
NOTIFY, DROP) go as they are."""
KEPT = 500
"""The most statements a connection keeps prepared before it starts afresh."""
LOST = (
    psycopg.errors.InvalidSqlStatementName,  # EXECUTE of a name not prepared
    psycopg.errors.DuplicatePreparedStatement,  # PREPARE of a name prepared
)
"""What the server says when a connection's record of its statements is wrong."""
CHANGED_RESULT = "RevalidateCachedQuery"
"""The server's function that refuses to run a prepared statement whose result's
columns its tables changed (SQLSTATE 0A000, "cached plan must not change result
type"): told apart from other unsupported features by where it is raised, which
the server reports unlocalised."""
SWITCH = "POSTGRES_PREPARED_STATEMENTS"
"""The env key of the URL's `prepared_statements` option: on (default) or off."""
_PLACEHOLDER = re.compile(r"%%|%s")
Answer = TypeVar("Answer")


def prepares_statements(env: Mapping[str, str]) -> bool:
    """Whether the settings let statements be prepared (see above)."""
    return env.get(SWITCH, "on") == "on"


def unprepared_by_psycopg(connection: psycopg.Connection[Any]) -> None:
    """psycopg prepares nothing on `connection`: this module does (see above)."""
    connection.prepare_threshold = None


class Prepared:
    """The names of the statements one connection has prepared, and whether that
    record may be wrong (`stale`: start afresh)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.stale = False


_CONNECTIONS: weakref.WeakKeyDictionary[Any, Prepared] = weakref.WeakKeyDictionary()


def prepared(connection: psycopg.Connection[Any]) -> Prepared:
    """The record of `connection`'s prepared statements (empty for a new one)."""
    found = _CONNECTIONS.get(connection)
    if found is None:
        found = _CONNECTIONS[connection] = Prepared()
    return found


class Preparer:
    """Turns statements into EXECUTEs on one connection, collecting the PREPAREs
    they need, which `run` sends first in the next message."""

    def __init__(self, client: psycopg.ClientCursor[Any], enabled: bool) -> None:
        self._client = client
        self._enabled = enabled
        self._record = prepared(client.connection)
        self._preparing: dict[str, str] = {}
        """Name -> PREPARE statement, not yet sent."""
        self._afresh = False
        """The next message starts with DEALLOCATE ALL."""

    def statement(self, sql: str, params: Sequence[Any] = ()) -> str:
        """`sql` (psycopg's `%s` placeholders) with `params` written in, as an
        EXECUTE of its prepared form where it can be prepared."""
        if not self._enabled or not sql.lstrip()[:7].upper().startswith(PREPARED):
            return self._client.mogrify(sql, params)
        if self._record.stale and not self._afresh:
            self._afresh, self._record.names = True, set()
        name = statement_name(sql)
        if name not in self._record.names and name not in self._preparing:
            self._preparing[name] = f"PREPARE {name} AS {_numbered(sql)}"
        if not params:
            return f"EXECUTE {name}"
        values = ", ".join(["%s"] * len(params))
        return self._client.mogrify(f"EXECUTE {name}({values})", params)

    def run(self, first: str, statements: Sequence[str]) -> int:
        """Execute `first` (if any), the PREPAREs the statements need, then
        `statements`, as one message; returns how many results come before
        `statements`' own. If it fails, the record may be wrong: the next
        message starts afresh."""
        head = [first] if first else []
        head += ["DEALLOCATE ALL"] if self._afresh else []
        head += self._preparing.values()
        stale = self._record.stale and not self._afresh  # and stays so
        names, self._preparing, self._afresh = self._preparing, {}, False
        self._record.stale = True  # until the message is known to have run
        self._client.execute("; ".join([*head, *statements]))
        self._record.names.update(names)
        self._record.stale = stale or len(self._record.names) > KEPT
        return len(head)


def statement_name(sql: str) -> str:
    """The name `sql` is prepared under: the same on every connection."""
    return "st_" + hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()


def lost(exc: BaseException) -> bool:
    """Whether `exc` (or its cause) says the server's prepared statements no
    longer match the record or the tables (see above): the connection's fault,
    gone once it starts afresh, never a row's."""
    return any(
        isinstance(error, LOST)
        or (
            isinstance(error, psycopg.errors.FeatureNotSupported)
            and error.diag.source_function == CHANGED_RESULT
        )
        for error in (exc, exc.__cause__)
    )


def resent_once(send: Callable[[], Answer], rollback: Callable[[], None]) -> Answer:
    """`send()`; if the server's prepared statements did not match (`lost`),
    roll back and send once more, afresh (see above). Only for a message whose
    transaction the failure rolls back whole: one that opens it, or is all of
    it."""
    try:
        return send()
    except Exception as exc:
        if not lost(exc):
            raise
    rollback()
    return send()


def _numbered(sql: str) -> str:
    """psycopg's placeholders as PostgreSQL's: `%s` -> `$1`, `$2`, ...; `%%` -> `%`."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)
