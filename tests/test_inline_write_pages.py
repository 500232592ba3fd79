"""What an inline append writes to a SQLite file, table by table and index by index:
each B-tree written is pages fsynced by every save, so none is written that a
query does not need (`tests/support/wal_pages.py` reads the write-ahead log)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.projections.search import SearchProjection
from tests.support.wal_pages import pages_written

SESSIONS = 5
APPENDS = 4


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "trail.db"


@pytest.fixture
def trail(path: Path) -> Iterator[SessionTrail]:
    with sessiontrail.connect(f"sqlite:///{path}") as opened:
        yield opened


def appends_write(
    trail: SessionTrail, path: Path, user_id: str | None = "u"
) -> Counter[str]:
    """The pages each table and index gets from inline appends to sessions of
    `user_id` (started and saved first, outside the count)."""
    sessions = []
    for number in range(SESSIONS):
        session = trail.sessions.load_or_create(f"s{number}", user_id=user_id)
        trail.sessions.save(session)
        sessions.append(session)
    with pages_written(path) as written:
        for turn in range(APPENDS):
            for session in sessions:
                session.append_message(role="user", content=f"turn {turn} hello")
                trail.sessions.save(session)
    return written


def trees_of(written: Counter[str], table: str) -> set[str]:
    """The B-trees of a read model's `table` (any generation) that were written:
    the table's own name, its indexes by number, or 'key' (SQLite's index of a
    declared key)."""
    pattern = re.compile(rf"^(sqlite_autoindex_)?st_{table}_g\d+(_i\d+|_\d+)?$")
    trees = set()
    for name in written:
        match = pattern.match(name)
        if match:
            index = match.group(2)
            trees.add("key" if match.group(1) else index[1:] if index else "table")
    return trees


def test_an_append_leaves_the_session_ids_index_unwritten(
    trail: SessionTrail, path: Path
) -> None:
    written = appends_write(trail, path)

    assert trees_of(written, "sessions") == {"table", "i0", "i1", "i2", "i3", "i4"}


def test_an_append_to_a_session_of_no_user_leaves_the_users_list_indexes_unwritten(
    trail: SessionTrail, path: Path
) -> None:
    written = appends_write(trail, path, user_id=None)

    assert trees_of(written, "sessions") == {"table", "i0", "i2", "i4"}


def test_an_audit_entry_of_no_user_is_in_no_index_of_users(
    trail: SessionTrail, path: Path
) -> None:
    written = appends_write(trail, path, user_id=None)

    assert trees_of(written, "audit") == {"table", "i0", "i1", "i3"}


def test_an_audit_entry_is_stored_by_its_position_with_no_index_of_it(
    trail: SessionTrail, path: Path
) -> None:
    written = appends_write(trail, path)

    assert trees_of(written, "audit") == {"table", "i0", "i1", "i2", "i3"}


def test_a_list_move_is_stored_by_its_position_with_no_index_at_all(
    trail: SessionTrail, path: Path
) -> None:
    written = appends_write(trail, path)

    assert trees_of(written, "session_moves") == {"table"}


def test_search_keeps_one_copy_of_a_documents_text(
    trail: SessionTrail, path: Path
) -> None:
    written = appends_write(trail, path)

    assert not [
        name for name in written if re.match(r"st_search_words_g\d+_content$", name)
    ]


def test_search_keeps_no_size_per_document(trail: SessionTrail, path: Path) -> None:
    written = appends_write(trail, path)

    assert not [
        name for name in written if re.match(r"st_search_words_g\d+_docsize$", name)
    ]


def assert_words_match_documents(trail: SessionTrail) -> None:
    """FTS5's own check of its index against the text it reads from the
    documents: a word left behind or missing fails it."""
    with trail.read_models.write() as cur:
        words = SearchProjection.live(cur)[0].table("search_words")
        cur.execute(
            f"INSERT INTO {words} ({words}, rank) VALUES ('integrity-check', 1)"
        )


def wordy_session(trail: SessionTrail, session_id: str) -> None:
    session = trail.sessions.load_or_create(session_id)
    session.edit_title("first title")
    for number in range(6):
        session.append_message(role="user", content=f"message {number} word{number}")
    trail.sessions.save(session)


def test_the_words_index_matches_the_documents_after_a_title_edit_and_truncation(
    trail: SessionTrail,
) -> None:
    wordy_session(trail, "s")
    session = trail.sessions.load("s")
    assert session is not None
    session.edit_title("second title")
    session.truncate(2)
    trail.sessions.save(session)

    assert_words_match_documents(trail)


def test_the_words_index_matches_the_documents_after_a_purge(
    trail: SessionTrail,
) -> None:
    wordy_session(trail, "kept")
    wordy_session(trail, "purged")
    trail.sessions.purge("purged")

    assert_words_match_documents(trail)
