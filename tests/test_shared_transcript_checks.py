"""The checks before a copy of a session uses the transcript another copy read
(domain/log_fold.py `_Base`, domain/session.py `attach`): the session still
stored under the same user key. A read made while an erasure is under way is
never shared; a cached copy still shows what was read when storage is down, as
the cache still answers then; the check costs one record, on every backend.
From a hostile re-review, with what held."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from support.postgres import PostgresServer
from support.unread import contents, transcript_left_out, unread_copy

import sessiontrail
from sessiontrail import Session, SessionTrail
from sessiontrail.domain.errors import SessionNotFound, StorageUnavailable

# -- what held ---------------------------------------------------------------------


def test_a_copy_of_another_trail_stops_showing_erased_content_within_the_key_cache(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process keeps a shared read taken before the erasure for at most
    KEY_CACHE_SECONDS (here shortened), never longer."""
    monkeypatch.setattr("sessiontrail.infrastructure.user_keys.KEY_CACHE_SECONDS", 0.2)
    transcript_left_out(trail)
    elsewhere = unread_copy(other_trail)
    assert contents(elsewhere)[-1] == "secret 149"  # the shared read, with key K1

    trail.erase_user("u")
    again = trail.sessions.load_or_create("c2", user_id="u")
    again.append_message(role="user", content="new key")  # the user's key K2
    trail.sessions.save(again)

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        copy = other_trail.sessions.load("c", user_id="u")
        assert copy is not None
        if not any("secret" in text for text in contents(copy)):
            return
        time.sleep(0.05)
    pytest.fail("another trail still shows the erased transcript past the key cache")


def test_a_user_with_no_key_at_the_read_and_one_since_reads_the_same_transcript(
    trail: SessionTrail,
) -> None:
    """A shared read made while the user had no key (erased: a stored session
    cannot exist without one before) and asked for after new sealed content
    made them one: the stamp changed, the copy reads again at its own version,
    and shows exactly that version, erased."""
    transcript_left_out(trail)
    trail.erase_user("u")
    first, second = unread_copy(trail), unread_copy(trail)
    assert trail.store.key_of("u") is None
    assert not any("secret" in text for text in contents(first))

    writer = trail.sessions.load("c", user_id="u")
    assert writer is not None
    writer.append_message(role="user", content="first sealed")
    trail.sessions.save(writer)
    assert trail.store.key_of("u") is not None

    assert len(second.messages) == 150  # its version's transcript, read again
    assert not any("secret" in text for text in contents(second))
    assert "first sealed" not in contents(second)


def test_a_copy_that_read_its_own_transcript_answers_from_memory_in_an_outage(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcript_left_out(trail)
    copy = unread_copy(trail)
    assert contents(copy)[-1] == "secret 149"

    def away(*args: Any) -> Any:
        raise StorageUnavailable("read: the database is away")

    monkeypatch.setattr(trail.store, "head_at", away)
    monkeypatch.setattr(trail.store, "key_of", away)
    assert contents(copy)[-1] == "secret 149"
    assert copy.message_count == 150


def test_threads_reading_a_shared_read_with_no_erasure_all_show_the_transcript(
    trail: SessionTrail,
) -> None:
    transcript_left_out(trail)
    copies = [unread_copy(trail) for _ in range(8)]
    start = threading.Barrier(len(copies))
    shown: list[list[str]] = []

    def read(copy: Session) -> None:
        start.wait(timeout=10)
        shown.append(contents(copy))

    threads = [threading.Thread(target=read, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert [texts[-1] for texts in shown] == ["secret 149"] * len(copies)


def test_a_purge_between_the_stamp_and_the_load_is_not_read_as_the_session(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stamp passes, then a purge lands before the load: SessionNotFound."""
    transcript_left_out(trail)
    copy = unread_copy(trail)
    key_of = trail.store.key_of

    def then_purged(user: str | None) -> str | None:
        found = key_of(user)
        monkeypatch.setattr(trail.store, "key_of", key_of)
        trail.sessions.purge("c", user_id="u")
        return found

    monkeypatch.setattr(trail.store, "key_of", then_purged)
    with pytest.raises(SessionNotFound):
        copy.messages  # noqa: B018


# -- what failed -------------------------------------------------------------------


def test_a_copy_asked_after_an_erasure_shows_nothing_another_read_during_it(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another thread (a request) reads a copy's transcript while the erasure
    runs, just after the user's key is destroyed (erase_user destroys it first,
    then rewrites the read models). A copy asked once the erasure has ended
    must show what a copy reading for itself then would: nothing erased."""
    transcript_left_out(trail)
    during, after = unread_copy(trail), unread_copy(trail)
    keys = trail.store.keys
    destroy = keys.destroy
    read_during: list[list[str]] = []

    def destroy_then_read(user_id: str) -> bool:
        destroyed = destroy(user_id)
        read_during.append(contents(during))  # stamp: no key; rows: not yet erased
        return destroyed

    monkeypatch.setattr(keys, "destroy", destroy_then_read)
    trail.erase_user("u")
    assert read_during

    alone = unread_copy(trail)  # a copy of its own, read after the erasure
    assert not any("secret" in text for text in contents(alone))
    # Before: "secret 0" .. "secret 149", the rows `during` read.
    assert not any("secret" in text for text in contents(after))


def test_a_cached_copy_shows_the_transcript_read_before_an_outage_during_it(
    own_postgres: PostgresServer,
) -> None:
    """docs/reliability.md: "`load` of a cached session still answers" in an
    outage; docs/performance.md: sharing the read was chosen over a copy that
    reads its own, which "no longer answered during an outage"."""
    url = own_postgres.url(own_postgres.new_schema()) + "&connect_timeout=1"
    with sessiontrail.connect(url) as trail:
        transcript_left_out(trail)
        assert contents(unread_copy(trail))[-1] == "secret 149"  # the shared read

        own_postgres.halt()
        try:
            cached = unread_copy(trail)  # the cache answers
            shown: list[str] | BaseException
            try:
                shown = contents(cached)
            except StorageUnavailable as exc:
                shown = exc  # before: after about 12 s of retries
        finally:
            own_postgres.resume()
        assert isinstance(shown, list) and shown[-1] == "secret 149"


def test_a_copy_reusing_the_shared_read_on_memory_visits_few_records() -> None:
    """The stamp's check that the session is still stored reads one record
    (one indexed read on SQLite and PostgreSQL); on memory:// it must not walk
    the stream, or each cache hit that shows a transcript costs O(length)."""
    with sessiontrail.connect(f"memory://{uuid.uuid4().hex}") as trail:
        transcript_left_out(trail)
        assert contents(unread_copy(trail))[-1] == "secret 149"
        copy = unread_copy(trail)
        recorder = trail.store.recorder
        stream = str(copy.id)
        visited: list[int] = []

        class Counting(dict):  # type: ignore[type-arg]
            """The stream's version index, noting each version it lists, in
            either order."""

            def keys(self) -> Any:
                return CountedKeys(self)

        class CountedKeys:
            def __init__(self, index: dict[int, Any]) -> None:
                self._index = index

            def __iter__(self) -> Any:
                for key in iter(self._index):
                    visited.append(key)
                    yield key

            def __reversed__(self) -> Any:
                for key in reversed(self._index):
                    visited.append(key)
                    yield key

        index = recorder._stored_events_index  # type: ignore[attr-defined]
        index[stream] = Counting(index[stream])
        assert contents(copy)[-1] == "secret 149"
        assert len(visited) <= 2, f"visited {len(visited)} of {copy.version}"
