"""What a retention rule expires, read by index ranges: never a scan of sessions.

Each query walks one index range, oldest first, in pages past a keyset cursor:
- the global rule: the session index's `(deleted, updated_at, session_id)`;
- a user rule: its `(user_id, deleted, updated_at, session_id)`;
- a metadata rule: the retention read model's `(key, value, deleted, updated_at,
  stream)`.
A range holds the sessions of the rule's scope last updated before its cutoff;
the caller drops those a more specific rule governs. Soft-delete rules walk live
sessions only (`deleted = 0`), purge rules live and soft-deleted ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..domain.retention import Rule, canonical_value
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .retention import RetentionProjection
from .sessions import SessionsProjection

Key = tuple[int, str]
"""Where a walk is: the last row's updated_at and its tie-breaker."""

_COLUMNS = "s.stream, s.session_id, s.user_id, s.updated_at, s.version, s.deleted"


@dataclass(frozen=True)
class Candidate:
    """A session in a rule's range: what expiring it needs and re-checks."""

    stream: str
    session_id: str
    user_id: str | None
    updated_at: int
    version: int
    deleted: bool


class RetentionReads:
    """Index-range reads of the session index and the retention read model."""

    def __init__(self, database: ProjectionDatabase) -> None:
        self._database = database

    def count(self, rule: Rule, cutoff: int, deleted: int) -> int:
        """How many sessions the rule's range holds (those a more specific rule
        governs included): the size of the walk, for a progress bar."""
        with self._database.read() as cur:
            sql, params = self._range_in(cur, rule, cutoff, deleted, None)
            row = cur.execute(f"SELECT COUNT(*) FROM ({sql}) r", params).fetchone()
        return 0 if row is None else int(row[0])

    def page(
        self, rule: Rule, cutoff: int, deleted: int, after: Key | None, limit: int
    ) -> list[tuple[Key, Candidate]]:
        """Up to `limit` sessions of the rule's range past `after`, oldest first,
        each with its key (where the next page starts)."""
        with self._database.read() as cur:
            sql, params = self._range_in(cur, rule, cutoff, deleted, after)
            rows = cur.execute(f"{sql} LIMIT ?", (*params, limit)).fetchall()
        return [
            (
                (int(row[3]), str(row[6])),
                Candidate(
                    row[0], row[1], row[2], int(row[3]), int(row[4]), bool(row[5])
                ),
            )
            for row in rows
        ]

    def metadata(
        self, streams: Sequence[str], keys: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        """The values of `keys` in each of `streams`' metadata (canonical JSON)."""
        found: dict[str, dict[str, str]] = {stream: {} for stream in streams}
        if not streams or not keys:
            return found
        with self._database.read() as cur:
            table = RetentionProjection.live(cur)[0].table("retention_metadata")
            rows = cur.execute(
                f"SELECT stream, key, value FROM {table} "
                f"WHERE stream IN ({', '.join('?' * len(streams))}) "
                f"AND key IN ({', '.join('?' * len(keys))})",
                (*streams, *keys),
            ).fetchall()
        for stream, key, value in rows:
            found[stream][key] = value
        return found

    def _range_in(
        self,
        cur: Cursor,
        rule: Rule,
        cutoff: int,
        deleted: int,
        after: Key | None,
    ) -> tuple[str, list[Any]]:
        """The SELECT of the rule's range past `after`, ordered by its index."""
        sessions = SessionsProjection.live(cur)[0].table("sessions")
        if rule.scope == "metadata":
            table = RetentionProjection.live(cur)[0].table("retention_metadata")
            source = f"{table} m JOIN {sessions} s ON s.stream = m.stream"
            clauses = ["m.key = ?", "m.value = ?", "m.deleted = ?"]
            params: list[Any] = [rule.key, canonical_value(rule), deleted]
            at, tie = "m.updated_at", "m.stream"
        else:
            source = f"{sessions} s"
            clauses, params = ["s.deleted = ?"], [deleted]
            if rule.scope == "user":
                clauses.insert(0, "s.user_id = ?")
                params.insert(0, rule.user_id)
            at, tie = "s.updated_at", "s.session_id"
        clauses.append(f"{at} < ?")
        params.append(cutoff)
        if after is not None:
            clauses.append(f"({at} > ? OR ({at} = ? AND {tie} > ?))")
            params += [after[0], after[0], after[1]]
        return (
            f"SELECT {_COLUMNS}, {tie} FROM {source} "
            f"WHERE {' AND '.join(clauses)} ORDER BY {at}, {tie}",
            params,
        )
