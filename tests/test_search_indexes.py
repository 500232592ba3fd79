"""Every list filter is served by an index: the query plans never walk every
session (SQLite's EXPLAIN QUERY PLAN; PostgreSQL's EXPLAIN with sequential scans
priced out, as they would be on a large table)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sessiontrail import SessionTrail
from sessiontrail.infrastructure import sql
from sessiontrail.infrastructure.backends.postgres_cursor import HeldWritesCursor
from sessiontrail.projections.search import SearchProjection
from sessiontrail.projections.sessions import SessionsProjection

FILTERS: list[dict[str, Any]] = [
    {"model": "m1"},
    {"pinned": True},
    {"text": "w3"},
    {"metadata": {"env": "e1"}},
    {"since": datetime(2020, 1, 1, tzinfo=UTC)},
    {"text": "w3", "metadata": {"env": "e1"}, "model": "m3"},
    {"user_id": "u"},  # the indexes of users' lists hold no session of no user
    {"user_id": "u", "pinned_first": True},
]


BULK = 20_000
"""PostgreSQL plans by table statistics: its tables get this many more rows."""


@pytest.fixture
def filled(trail: SessionTrail) -> SessionTrail:
    for number in range(30):
        session = trail.sessions.load_or_create(f"s{number}", model=f"m{number % 5}")
        session.append_message(role="user", content=f"hello w{number}")
        session.update_metadata({"env": f"e{number % 4}"})
        trail.sessions.save(session)
    if trail.backend == "postgresql":
        bulk_rows(trail)
    return trail


def bulk_rows(trail: SessionTrail) -> None:
    """Many more index rows (written straight into the read models), analysed,
    so that the planner prices a walk of every session as it would in use."""
    with trail.read_models.write() as cur:
        sessions = SessionsProjection.live(cur)[0].table("sessions")
        search = SearchProjection.live(cur)[0]
        docs, metadata = search.table("search_docs"), search.table("search_metadata")
        cur.execute(
            f"INSERT INTO {sessions} SELECT 'x' || i, 'x' || i, NULL, '', 0, "
            "'bulk', 1, 2, '', i, i, 0, 2, 0, 0 FROM generate_series(1, ?) i",
            (BULK,),
        )
        cur.execute(
            f"INSERT INTO {docs} (doc, stream, message_id, body, words) "
            "SELECT -i, 'x' || i, 'm', 'filler', to_tsvector('simple', 'filler') "
            "FROM generate_series(1, ?) i",
            (BULK,),
        )
        cur.execute(
            f"INSERT INTO {metadata} SELECT 'x' || i, 'env', '\"bulk\"' "
            "FROM generate_series(1, ?) i",
            (BULK,),
        )
        for table in (sessions, docs, metadata):
            cur.execute(f"ANALYZE {table}")


def recorded(
    monkeypatch: pytest.MonkeyPatch, keep: Callable[[str], bool]
) -> list[tuple[str, Any]]:
    """The statements (and parameters) `keep` selects that the read models'
    cursors execute from now on, on either database (PostgreSQL's cursor holds
    or prepares them: its own `execute`)."""
    seen: list[tuple[str, Any]] = []
    for cursor_class in (sql.Cursor, HeldWritesCursor):

        def recording(
            self: sql.Cursor,
            statement: str,
            params: Any = (),
            execute: Callable[..., sql.Cursor] = cursor_class.execute,
        ) -> sql.Cursor:
            if keep(statement):
                seen.append((statement, params))
            return execute(self, statement, params)

        monkeypatch.setattr(cursor_class, "execute", recording)
    return seen


def list_query(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch, filters: dict[str, Any]
) -> tuple[str, Any]:
    """The SQL (and parameters) of a list page's rows under `filters`."""
    seen = recorded(
        monkeypatch,
        lambda statement: "st_sessions_g" in statement and "ORDER BY" in statement,
    )
    trail.sessions.list(**filters)
    monkeypatch.undo()
    [query] = seen
    return query


def plan(trail: SessionTrail, statement: str, params: Any) -> Iterator[str]:
    with trail.read_models.read() as cur:
        if cur.dialect == "sqlite":
            rows = cur.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
            yield from (str(row[3]) for row in rows)
        else:
            rows = cur.execute("EXPLAIN " + statement, params).fetchall()
            yield from (str(row[0]) for row in rows)


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "+".join(f))
def test_a_filtered_list_never_walks_every_session(
    filled: SessionTrail, monkeypatch: pytest.MonkeyPatch, filters: dict[str, Any]
):
    steps = list(plan(filled, *list_query(filled, monkeypatch, filters)))
    shown = "\n".join(steps)

    walks = [step for step in steps if walks_every_session(step)]
    assert walks == [], shown
    if "text" in filters:
        assert "VIRTUAL TABLE INDEX" in shown or "_words" in shown, shown
    if "metadata" in filters:
        assert "search_metadata_g1_i0" in shown, shown


def walks_every_session(step: str) -> bool:
    """Whether a plan step reads the session index end to end: a scan of the
    table, or of an index bounded only by `deleted` (every live session in list
    order), on either database."""
    return (
        re.match(r"SCAN (s|st_sessions_g\d+)\b", step) is not None
        or re.fullmatch(r"SEARCH s USING (COVERING )?INDEX \S+ \(deleted=\?\)", step)
        is not None
        or "Seq Scan" in step
        or step.strip() == "Index Cond: (deleted = 0)"
    )


def test_a_common_words_list_walks_the_list_in_order_on_postgres(
    filled: SessionTrail, monkeypatch: pytest.MonkeyPatch
):
    if filled.backend != "postgresql":
        pytest.skip("SQLite counts the matches first (test_common_words.py)")
    steps = list(plan(filled, *list_query(filled, monkeypatch, {"text": "filler"})))
    shown = "\n".join(steps)

    assert "Index Scan Backward" in shown, shown
    assert not any("Sort" in step or "Bitmap" in step for step in steps), shown


def test_a_common_words_search_reads_only_its_sessions_documents_on_postgres(
    filled: SessionTrail, monkeypatch: pytest.MonkeyPatch
):
    if filled.backend != "postgresql":
        pytest.skip("SQLite's FTS5 queries: test_common_words.py")
    seen = recorded(  # not the count
        monkeypatch, lambda statement: "@@" in statement and "COUNT(*)" not in statement
    )
    assert filled.sessions.search("filler", limit=5)
    monkeypatch.undo()

    assert seen
    for statement, params in seen:
        shown = "\n".join(plan(filled, statement, params))
        assert "Seq Scan" not in shown and "_words" not in shown, shown


def test_a_rare_words_list_is_driven_by_its_matches_on_postgres(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
):
    """Many documents of varied words, as in use: the planner estimates a rare
    word at a hundred matches or more and, left to itself, hashes every session
    to join them (at 100,000 sessions: 50 ms for 20 matches). The matches drive
    the page instead, each session looked up by its key."""
    if trail.backend != "postgresql":
        pytest.skip("SQLite's matching set drives by a CROSS JOIN (test above)")
    session = trail.sessions.load_or_create("s1")
    session.append_message(role="user", content="hello pelican")
    trail.sessions.save(session)
    with trail.read_models.write() as cur:
        sessions = SessionsProjection.live(cur)[0].table("sessions")
        docs = SearchProjection.live(cur)[0].table("search_docs")
        cur.execute(
            f"INSERT INTO {sessions} SELECT 'x' || i, 'x' || i, NULL, '', 0, "
            "'bulk', 1, 2, '', i, i, 0, 2, 0, 0 FROM generate_series(1, 10000) i"
        )
        cur.execute(
            f"INSERT INTO {docs} (doc, stream, message_id, body, words) "
            "SELECT -i, 'x' || (i %% 10000), 'm' || i, '', "
            "to_tsvector('simple', 'city' || (i %% 1000) || ' weather') "
            "FROM generate_series(1, 400000) i"
        )
        for table in (sessions, docs):
            cur.execute(f"ANALYZE {table}")
    statement, params = list_query(trail, monkeypatch, {"text": "pelican"})
    shown = "\n".join(plan(trail, statement, params))

    assert "Seq Scan" not in shown and "Nested Loop" in shown, shown
    assert [s.session_id for s in trail.sessions.list(text="pelican").items] == ["s1"]


def test_a_rebuilt_search_leaves_no_pending_words_on_postgres(trail: SessionTrail):
    """The rebuild's documents are in the GIN index itself when it goes live,
    not in the pending list every word query would scan until a vacuum."""
    if trail.backend != "postgresql":
        pytest.skip("PostgreSQL's GIN index only")
    for number in range(40):
        session = trail.sessions.load_or_create(f"s{number}")
        session.append_message(role="user", content=f"hello word{number} again")
        trail.sessions.save(session)
    trail.projections.rebuild("search")
    with trail.read_models.write() as cur:
        docs = SearchProjection.live(cur)[0].table("search_docs")
        row = cur.execute(
            "SELECT gin_clean_pending_list(?::regclass)", (f"{docs}_words",)
        ).fetchone()
    assert row is not None and row[0] == 0
    assert [s.session_id for s in trail.sessions.list(text="word7").items] == ["s7"]
