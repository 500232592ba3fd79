"""Filters on the session list and ranked search, on every backend."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import sessiontrail
from sessiontrail import InvalidInput, SessionTrail


def start(
    trail: SessionTrail,
    session_id: str,
    *messages: str,
    title: str = "",
    model: str = "gpt-4o",
    user_id: str | None = None,
    metadata: dict[str, object] | None = None,
) -> None:
    session = trail.sessions.load_or_create(session_id, model=model, user_id=user_id)
    if title:
        session.edit_title(title)
    for text in messages:
        session.append_message(role="user", content=text)
    if metadata:
        session.update_metadata(metadata)
    trail.sessions.save(session)


def ids(trail: SessionTrail, **filters: object) -> list[str]:
    page = trail.sessions.list(limit=1000, **filters)  # type: ignore[arg-type]
    return [summary.session_id for summary in page.items]


def test_text_finds_a_word_of_any_message(trail: SessionTrail):
    start(trail, "trip", "plan a week", "what about Lisbon in May?", "and Porto")
    start(trail, "other", "plan a week in Rome")

    assert ids(trail, text="lisbon") == ["trip"]


def test_text_finds_a_word_of_the_title(trail: SessionTrail):
    start(trail, "trip", "hello", title="Lisbon weekend")
    start(trail, "other", "hello", title="Rome")

    assert ids(trail, text="Lisbon") == ["trip"]


def test_every_word_must_match_in_one_message_or_the_title(trail: SessionTrail):
    start(trail, "both", "red apples and green pears")
    start(trail, "one", "red apples")

    assert ids(trail, text="apples pears") == ["both"]


def test_unicode_words_match_with_or_without_accents(trail: SessionTrail):
    start(trail, "fr", "un café à Lisboa, s'il vous plaît")
    start(trail, "ja", "東京 に 行く")
    start(trail, "none", "nothing here")

    assert ids(trail, text="café") == ["fr"]
    assert ids(trail, text="東京") == ["ja"]


def test_ids_and_code_tokens_match_as_written(trail: SessionTrail):
    start(trail, "code", "the call_42 failed with ERR-7731")
    start(trail, "other", "the call 41 worked")

    assert ids(trail, text="call_42") == ["code"]
    assert ids(trail, text="ERR-7731") == ["code"]


def test_text_keeps_the_lists_order_newest_first(trail: SessionTrail):
    for name in ("a", "b", "c"):
        start(trail, name, "the same word: kiwi")

    assert ids(trail, text="kiwi") == ["c", "b", "a"]


def test_cursor_pages_with_a_filter_walk_every_match_once(trail: SessionTrail):
    for number in range(7):
        start(trail, f"m{number}", "mango" if number % 2 == 0 else "melon")
    seen: list[str] = []
    page = trail.sessions.list(text="mango", limit=2)
    seen += [item.session_id for item in page.items]
    while page.next_cursor:
        start(trail, "m6", "more mango")  # moves while the walk goes on
        page = trail.sessions.list(text="mango", limit=2, cursor=page.next_cursor)
        seen += [item.session_id for item in page.items]

    assert sorted(seen) == ["m0", "m2", "m4", "m6"]


def test_a_cursor_is_only_good_for_the_same_filters(trail: SessionTrail):
    for number in range(3):
        start(trail, f"m{number}", "mango")
    page = trail.sessions.list(text="mango", limit=1)
    assert page.next_cursor is not None

    with pytest.raises(InvalidInput, match="cursor"):
        trail.sessions.list(text="melon", limit=1, cursor=page.next_cursor)


def test_a_word_only_in_a_removed_message_matches_nothing(trail: SessionTrail):
    start(trail, "cut", "keep this", "forget the secret word zebra")
    session = trail.sessions.load("cut")
    assert session is not None
    session.truncate(1)
    trail.sessions.save(session)

    assert ids(trail, text="zebra") == []
    assert ids(trail, text="keep") == ["cut"]


def test_a_deleted_session_matches_only_when_deleted_ones_are_listed(
    trail: SessionTrail,
):
    start(trail, "gone", "walrus")
    session = trail.sessions.load("gone")
    assert session is not None
    session.delete()
    trail.sessions.save(session)

    assert ids(trail, text="walrus") == []
    assert ids(trail, text="walrus", include_deleted=True) == ["gone"]


def test_another_users_sessions_never_match(trail: SessionTrail):
    start(trail, "mine", "a shared word: otter", user_id="alice")
    start(trail, "theirs", "a shared word: otter", user_id="bob")

    assert ids(trail, text="otter", user_id="alice") == ["mine"]
    assert [
        hit.session.session_id
        for hit in trail.sessions.search("otter", user_id="alice")
    ] == ["mine"]


def test_model_filter(trail: SessionTrail):
    start(trail, "a", "x", model="gpt-4o")
    start(trail, "b", "x", model="claude")

    assert ids(trail, model="claude") == ["b"]


def test_pinned_filter(trail: SessionTrail):
    start(trail, "a", "x")
    start(trail, "b", "x")
    session = trail.sessions.load("a")
    assert session is not None
    session.set_pinned(True)
    trail.sessions.save(session)

    assert ids(trail, pinned=True) == ["a"]
    assert ids(trail, pinned=False) == ["b"]


def test_metadata_equality_on_top_level_keys(trail: SessionTrail):
    start(trail, "a", "x", metadata={"env": "prod", "tries": 3})
    start(trail, "b", "x", metadata={"env": "dev", "tries": 3})
    start(trail, "c", "x")

    assert ids(trail, metadata={"env": "prod"}) == ["a"]
    assert ids(trail, metadata={"tries": 3}) == ["b", "a"]
    assert ids(trail, metadata={"tries": "3"}) == []
    assert ids(trail, metadata={"env": "dev", "tries": 3}) == ["b"]


def test_metadata_filter_follows_edits_and_removals(trail: SessionTrail):
    start(trail, "a", "x", metadata={"env": "prod"})
    session = trail.sessions.load("a")
    assert session is not None
    session.update_metadata({"env": None})
    trail.sessions.save(session)

    assert ids(trail, metadata={"env": "prod"}) == []


def test_since_and_until_bound_the_last_update(trail: SessionTrail):
    start(trail, "old", "x")
    start(trail, "new", "x")
    old = trail.sessions.load("old")
    new = trail.sessions.load("new")
    assert old is not None and new is not None

    assert ids(trail, since=new.updated_at) == ["new"]
    assert ids(trail, until=new.updated_at) == ["old"]
    assert ids(trail, since=old.updated_at, until=new.updated_at) == ["old"]


def test_since_after_until_is_refused(trail: SessionTrail):
    start(trail, "a", "x")
    session = trail.sessions.load("a")
    assert session is not None

    with pytest.raises(InvalidInput, match="since"):
        trail.sessions.list(
            since=session.updated_at, until=session.updated_at - timedelta(1)
        )


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_text_without_a_word_is_refused(trail: SessionTrail, text: str):
    with pytest.raises(InvalidInput, match="text"):
        trail.sessions.list(text=text)
    with pytest.raises(InvalidInput, match="text"):
        trail.sessions.search(text)


def test_search_returns_matching_message_ids_and_a_snippet(trail: SessionTrail):
    start(trail, "trip", "plan a week", "what about Lisbon in May?", "Lisbon it is")
    session = trail.sessions.load("trip")
    assert session is not None

    [hit] = trail.sessions.search("lisbon")

    assert hit.session.session_id == "trip"
    assert hit.message_ids == [m.id for m in session.messages[1:]]
    assert not hit.title_matched
    assert "**Lisbon**" in hit.snippet


def test_search_ranks_the_better_match_first(trail: SessionTrail):
    start(trail, "weak", "a long message " + "filler " * 60 + "heron once")
    start(trail, "strong", "heron heron heron")
    start(trail, "none", "no bird")

    assert [hit.session.session_id for hit in trail.sessions.search("heron")] == [
        "strong",
        "weak",
    ]


def test_search_says_when_the_title_matched(trail: SessionTrail):
    start(trail, "t", "hello", title="Weekend in Lisbon")

    [hit] = trail.sessions.search("lisbon")

    assert hit.title_matched
    assert hit.message_ids == []


def test_a_retitled_session_matches_its_new_title_only(trail: SessionTrail):
    start(trail, "t", "hello", title="Lisbon")
    session = trail.sessions.load("t")
    assert session is not None
    session.edit_title("Porto")
    trail.sessions.save(session)

    assert ids(trail, text="lisbon") == []
    assert ids(trail, text="porto") == ["t"]


def test_search_survives_a_rebuild(trail: SessionTrail):
    start(trail, "a", "pelican", metadata={"env": "prod"})

    trail.projections.rebuild("search")

    assert ids(trail, text="pelican") == ["a"]
    assert ids(trail, metadata={"env": "prod"}) == ["a"]


def test_an_event_nothing_searchable_comes_from_costs_search_no_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(sqlite3, "connect", traced)
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'log.db'}") as trail:
        start(trail, "trip", "plan a week", user_id="ann")
        session = trail.sessions.load("trip")
        assert session is not None
        session.set_pinned(True)
        statements.clear()

        trail.sessions.save(session)

        assert any("st_sessions" in statement for statement in statements)
        assert not [s for s in statements if "st_search" in s]


def test_a_message_holding_a_nul_is_searchable_on_every_backend(
    trail: SessionTrail,
):
    """PostgreSQL text holds no NUL: such a message was skipped by the search
    read model there (and counted), found on SQLite."""
    start(trail, "trip", "first\x00Lisbon in May")

    assert ids(trail, text="lisbon") == ["trip"]
    assert {s.name: s.skipped for s in trail.projections.status()}["search"] == 0
