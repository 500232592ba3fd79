"""The read models' PostgreSQL cursor holds writes that return nothing and sends
them with the next statement that reads, or with the COMMIT: in order, in the
same transaction, a refused one failing what it went with (postgres_cursor.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail.infrastructure.sql import RowRejected
from sessiontrail.projections.batches import Generation, _applied_alone
from sessiontrail.projections.projection import Projection

ROWS = [(1, "one"), (2, "two")]


@pytest.fixture
def trail(postgres_server: PostgresServer) -> Iterator[sessiontrail.SessionTrail]:
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url) as opened:
        with opened.read_models.write() as cur:
            cur.execute("CREATE TABLE held (id INTEGER PRIMARY KEY, word TEXT)")
        yield opened


def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each exchange with the server psycopg makes from now on."""
    made: list[object] = []
    wait = psycopg.Connection.wait

    def counted(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        made.append(args[0])
        return wait(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "wait", counted)
    return made


def test_held_writes_cost_no_round_trip_of_their_own(
    trail: sessiontrail.SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    with trail.read_models.write() as cur:
        made = exchanges(monkeypatch)
        cur.executemany("INSERT INTO held (id, word) VALUES (?, ?)", ROWS)
        cur.execute("UPDATE held SET word = ? WHERE id = ?", ("uno", 1))
        assert made == []
        monkeypatch.undo()


def test_a_read_sees_the_writes_held_before_it(
    trail: sessiontrail.SessionTrail,
) -> None:
    with trail.read_models.write() as cur:
        cur.executemany("INSERT INTO held (id, word) VALUES (?, ?)", ROWS)
        cur.execute("UPDATE held SET word = ? WHERE id = ?", ("uno", 1))
        assert cur.execute("SELECT id, word FROM held ORDER BY id").fetchall() == [
            (1, "uno"),
            (2, "two"),
        ]


def test_writes_held_at_the_end_commit_with_the_transaction(
    trail: sessiontrail.SessionTrail,
) -> None:
    with trail.read_models.write() as cur:
        cur.executemany("INSERT INTO held (id, word) VALUES (?, ?)", ROWS)
    with trail.read_models.read() as cur:
        assert cur.execute("SELECT count(*) FROM held").fetchall() == [(2,)]


def test_a_refused_held_write_fails_the_statement_it_went_with_as_a_refused_row(
    trail: sessiontrail.SessionTrail,
) -> None:
    """Refused for any reason short of an outage (here a column that is not
    there): the row's fault, so a catch-up redoes its batch event by event."""
    with trail.read_models.write() as cur:
        cur.execute("INSERT INTO held (id, missing) VALUES (?, ?)", (3, "x"))
        with pytest.raises(RowRejected, match="missing"):
            cur.execute("SELECT 1")
    with trail.read_models.read() as cur:
        assert cur.execute("SELECT count(*) FROM held").fetchall() == [(0,)]


class _RefusedThenFails(Projection):
    """A handler that leaves a refused write held, then fails in Python."""

    name = "refused_then_fails"
    version = 1

    def apply(self, event: Any, cur: Any, position: int) -> None:
        cur.execute("INSERT INTO held (id, word) VALUES (?, ?)", (1, "again"))
        raise KeyError("the handler's own mistake")


@pytest.mark.expect_read_model_warnings  # the skip is logged, as it should be
def test_an_event_whose_handler_fails_after_a_refused_held_write_is_skipped(
    trail: sessiontrail.SessionTrail,
) -> None:
    """The rollback to the event's savepoint undoes its held writes: it must
    not send them (the refused one would fail the rollback, and the catch-up
    would stop at this event for good)."""
    with trail.read_models.write() as cur:
        cur.execute("INSERT INTO held (id, word) VALUES (?, ?)", (1, "one"))
    generation = Generation(_RefusedThenFails(0), version=1, position=0, skipped=0)
    with trail.read_models.write() as cur:
        assert not _applied_alone(cur, generation, object(), 1)  # type: ignore[arg-type]
        assert cur.execute("SELECT word FROM held").fetchall() == [("one",)]
