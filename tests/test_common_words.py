"""A filter matching many sessions (a common word, a common metadata value) is
served by walking the list in its order and testing each session, not by
collecting every match first; the pages are exactly those the matching set
gives. COMMON is lowered here so a few sessions count as many."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_search import start

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.infrastructure import sql
from sessiontrail.projections.session_list import doc_ranges, filters, keyset
from sessiontrail.projections.session_list import search as ranked_search

KEY = sessiontrail.new_key()


@pytest.fixture(params=["plain", "keyed"])
def trail_of_words(url: str, request: pytest.FixtureRequest) -> Iterator[SessionTrail]:
    """Twelve sessions: every one says kiwi, every third also lime; half are
    alice's, some pinned, some tagged."""
    key = KEY if request.param == "keyed" else None
    with sessiontrail.connect(url, key=key) as trail:
        for number in range(12):
            words = ["kiwi"] + (["lime"] if number % 3 == 0 else [])
            start(
                trail,
                f"s{number:02d}",
                "hello",
                " ".join(words),
                user_id="alice" if number % 2 else None,
                metadata={"env": "prod"} if number % 4 else None,
            )
        yield trail


def skip_where_the_planner_chooses(trail: SessionTrail) -> None:
    """PostgreSQL without a key: its planner walks or collects by its statistics
    (test_search_indexes.py checks the plan)."""
    keyed = bool(trail.projections.rows("search")["search_tokens"])
    if trail.backend == "postgresql" and not keyed:
        pytest.skip("PostgreSQL's planner chooses")


def pages(trail: SessionTrail, **filters: object) -> list[list[str]]:
    """Every page of a filtered list, three at a time, as session ids."""
    found, cursor = [], None
    while True:
        page = trail.sessions.list(limit=3, cursor=cursor, **filters)  # type: ignore[arg-type]
        found.append([summary.session_id for summary in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return found


FILTERS = [
    {"text": "kiwi"},
    {"text": "lime kiwi"},
    {"text": "kiwi", "user_id": "alice"},
    {"text": "kiwi", "metadata": {"env": "prod"}},
    {"metadata": {"env": "prod"}},
]


@pytest.mark.parametrize("query", FILTERS, ids=repr)
def test_a_walked_list_gives_the_pages_the_matching_set_gives(
    trail_of_words: SessionTrail,
    query: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    by_set = pages(trail_of_words, **query)
    monkeypatch.setattr(filters, "COMMON", 1)

    assert pages(trail_of_words, **query) == by_set


def first_page_without(
    trail: SessionTrail,
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    name: str,
    what: str,
) -> list[str]:
    """The first page of the common word kiwi with `module.name` made to fail,
    saying `what` the page should not have done."""
    monkeypatch.setattr(filters, "COMMON", 1)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(what)

    monkeypatch.setattr(module, name, refuse)
    page = trail.sessions.list(text="kiwi", limit=3)
    return [summary.session_id for summary in page.items]


def skip_unless_fts5(trail: SessionTrail) -> None:
    """SQLite without a key: its FTS5 table serves the words."""
    if trail.backend == "postgresql" or trail.store.keys.master_set:
        pytest.skip("SQLite's FTS5 table only")


def test_a_common_words_first_page_does_not_collect_every_match(
    trail_of_words: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_where_the_planner_chooses(trail_of_words)

    assert first_page_without(
        trail_of_words,
        monkeypatch,
        keyset,
        "matching_set",
        "the first page collected every match",
    ) == ["s11", "s10", "s09"]


def test_a_walk_that_does_not_fill_its_page_falls_back_to_the_matching_set(
    trail_of_words: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filters, "COMMON", 1)
    monkeypatch.setattr(keyset, "WALK_BUDGET", 0)
    monkeypatch.setattr(keyset, "WALK_EXTRA", 2)  # two sessions: s11, s10

    page = trail_of_words.sessions.list(text="lime", limit=3)

    assert [summary.session_id for summary in page.items] == ["s09", "s06", "s03"]


def test_a_list_shorter_than_the_walks_budget_is_walked_whole(
    trail_of_words: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_where_the_planner_chooses(trail_of_words)
    monkeypatch.setattr(filters, "COMMON", 1)

    def collect(*args: object) -> None:
        raise AssertionError("a short list collected every match")

    monkeypatch.setattr(keyset, "matching_set", collect)

    page = trail_of_words.sessions.list(text="lime", user_id="alice", limit=50)
    assert [summary.session_id for summary in page.items] == ["s09", "s03"]


BATCHING = [
    {},
    {"RANGE_GAP": 0},  # every document its own FTS5 range
    {"LONG_SESSION": 0},  # every session looked up on its own
]


@pytest.mark.parametrize("settings", BATCHING, ids=repr)
@pytest.mark.parametrize("query", FILTERS[:4], ids=repr)
def test_a_walk_testing_text_in_batches_gives_the_pages_the_matching_set_gives(
    trail_of_words: SessionTrail,
    query: dict[str, object],
    settings: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    by_set = pages(trail_of_words, **query)
    monkeypatch.setattr(filters, "COMMON", 1)
    for name, value in settings.items():
        monkeypatch.setattr(doc_ranges if name == "RANGE_GAP" else filters, name, value)

    assert pages(trail_of_words, **query) == by_set


def test_a_common_words_walk_on_sqlite_tests_no_session_by_itself(
    trail_of_words: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_unless_fts5(trail_of_words)

    assert first_page_without(
        trail_of_words,
        monkeypatch,
        filters,
        "_text_test",
        "a session's documents were looked up one by one",
    ) == ["s11", "s10", "s09"]


def hits(trail: SessionTrail, text: str, **options: object) -> list[object]:
    """A search's hits as plain values: session, message ids, title, snippet."""
    return [
        (hit.session.session_id, hit.message_ids, hit.title_matched, hit.snippet)
        for hit in trail.sessions.search(text, **options)  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize(
    ("text", "options"),
    [("kiwi", {}), ("lime kiwi", {}), ("kiwi", {"user_id": "alice"})],
    ids=repr,
)
def test_a_common_words_search_ranks_as_scoring_every_match_does(
    trail_of_words: SessionTrail,
    text: str,
    options: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every_match = hits(trail_of_words, text, **options)
    monkeypatch.setattr(filters, "COMMON", 1)  # the newest 100 sessions: all 12

    assert hits(trail_of_words, text, **options) == every_match


def skip_when_keyed(trail: SessionTrail) -> None:
    """Under a key a search does not rank: it lists matches newest first."""
    if trail.store.keys.master_set:
        pytest.skip("no ranking under a key")


def test_a_common_words_search_ranks_the_newest_sessions_holding_it(
    trail_of_words: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_when_keyed(trail_of_words)
    monkeypatch.setattr(filters, "COMMON", 1)
    monkeypatch.setattr(ranked_search, "RANKED_SESSIONS", 3)

    def every_match(*args: object, **kwargs: object) -> None:
        raise AssertionError("every match was scored")

    monkeypatch.setattr(ranked_search, "_all_ranked", every_match)

    found = {hit.session.session_id for hit in trail_of_words.sessions.search("kiwi")}
    assert found == {"s11", "s10", "s09"}


def test_a_common_words_search_on_sqlite_asks_for_bm25_once(
    trail_of_words: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_unless_fts5(trail_of_words)
    monkeypatch.setattr(filters, "COMMON", 1)
    ranking: list[str] = []
    execute = sql.Cursor.execute

    def recording(self: sql.Cursor, statement: str, params: Any = ()) -> sql.Cursor:
        if "MATCH" in statement and "rank" in statement:  # each scans the word's list
            ranking.append(statement)
        return execute(self, statement, params)

    monkeypatch.setattr(sql.Cursor, "execute", recording)
    assert trail_of_words.sessions.search("kiwi", limit=5)

    assert len(ranking) == 1, ranking
