"""Whole-word title search over sealed read models, by keyed per-user tokens: a
word finds its owner's sessions, never another user's, and nothing once the
owner is erased; the index holds tokens, not words."""

from __future__ import annotations

import json

import sessiontrail
from sessiontrail import SessionTrail

KEY = sessiontrail.new_key()


def titled(trail: SessionTrail, session_id: str, user: str, title: str) -> None:
    session = trail.sessions.load_or_create(session_id, user_id=user)
    session.edit_title(title)
    trail.sessions.save(session)


def test_a_title_word_finds_its_owners_session_in_any_case(url: str) -> None:
    with sessiontrail.connect(url, key=KEY) as trail:
        titled(trail, "trip", "alice", "Planning the Lisbon trip")
        titled(trail, "work", "alice", "Quarterly report")
        assert trail.search.titled("alice", "lisbon") == ["trip"]
        assert trail.search.titled("alice", "LISBON") == ["trip"]
        assert trail.search.titled("alice", "Lisbo") == []  # whole words only


def test_a_new_title_replaces_the_old_words(url: str) -> None:
    with sessiontrail.connect(url, key=KEY) as trail:
        titled(trail, "trip", "alice", "Lisbon")
        titled(trail, "trip", "alice", "Porto")
        assert trail.search.titled("alice", "lisbon") == []
        assert trail.search.titled("alice", "porto") == ["trip"]


def test_another_users_words_never_match(url: str) -> None:
    with sessiontrail.connect(url, key=KEY) as trail:
        titled(trail, "trip", "alice", "Lisbon")
        titled(trail, "bob-trip", "bob", "Lisbon")
        assert trail.search.titled("alice", "lisbon") == ["trip"]
        assert trail.search.titled("bob", "lisbon") == ["bob-trip"]
        assert trail.search.titled("carol", "lisbon") == []


def test_nothing_matches_once_the_owner_is_erased(url: str) -> None:
    with sessiontrail.connect(url, key=KEY) as trail:
        titled(trail, "trip", "alice", "Lisbon")
        titled(trail, "bob-trip", "bob", "Lisbon")
        trail.erase_user("alice")
        assert trail.search.titled("alice", "lisbon") == []
        assert trail.search.titled("alice", "erased") == []
        assert trail.search.titled("bob", "lisbon") == ["bob-trip"]
        rows = trail.projections.rows("title_tokens")
        assert all(row[0] != "alice" for row in rows["title_tokens"])


def test_the_index_holds_tokens_not_words(url: str) -> None:
    with sessiontrail.connect(url, key=KEY) as trail:
        titled(trail, "trip", "alice", "Lisbon")
        rows = json.dumps(trail.projections.rows("title_tokens"))
        assert "trip" in rows and "lisbon" not in rows.lower()


def test_without_a_key_there_is_no_index(url: str) -> None:
    with sessiontrail.connect(url) as trail:
        titled(trail, "trip", "alice", "Lisbon")
        assert trail.search.titled("alice", "lisbon") == []
        assert trail.projections.rows("title_tokens") == {
            "title_streams": [],
            "title_tokens": [],
        }
