"""SessionRepository (seed 1) on every backend: memory, a SQLite file, PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import OperationalError
from freezegun import freeze_time

from sessiontrail import (
    ConcurrencyConflict,
    InvalidInput,
    PendingQuestion,
    Session,
    SessionNotFound,
    SessionTrail,
    StorageUnavailable,
    aio,
    connect,
)


def stored_versions(trail: SessionTrail, session_id: str) -> int:
    """How many events the log holds for a session (0 if none)."""
    try:
        return len(trail.sessions.history(session_id))
    except SessionNotFound:
        return 0


def break_storage(trail: SessionTrail, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every read and write of this trail's database fail as a dead server does."""

    def fail(*args: object, **kwargs: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(trail.store.recorder, "insert_events", fail)
    monkeypatch.setattr(trail.store.recorder, "select_events", fail)
    if trail.store.snapshots is not None:
        monkeypatch.setattr(trail.store.snapshots.recorder, "select_events", fail)


def saved(trail: SessionTrail, session_id: str = "chat", **kwargs: object) -> Session:
    s = trail.sessions.load_or_create(session_id, model="gpt-4o", **kwargs)
    s.append_message(role="user", content="hello")
    trail.sessions.save(s)
    return s


# -- reads ----------------------------------------------------------------------


def test_unknown_id_loads_as_none(trail: SessionTrail) -> None:
    repo = trail.sessions
    assert repo.load("nope") is None
    assert repo.try_load("nope") is None
    assert repo.load_merged("nope") is None
    assert repo.exists("nope") is False
    assert repo.at("nope", version=1) is None
    with pytest.raises(SessionNotFound):
        repo.history("nope")


def test_load_or_create_is_not_persisted_until_saved(trail: SessionTrail) -> None:
    s = trail.sessions.load_or_create("new", model="gpt-4o", user_id="alice")
    assert (s.session_id, s.model, s.user_id, s.version) == (
        "new",
        "gpt-4o",
        "alice",
        1,
    )
    assert trail.sessions.exists("new") is False
    assert trail.sessions.load("new") is None
    trail.sessions.save(s)
    assert trail.sessions.exists("new") is True


def test_load_or_create_returns_the_stored_session(trail: SessionTrail) -> None:
    first = saved(trail)
    again = trail.sessions.load_or_create("chat", model="other")
    assert again.version == first.version and again.model == "gpt-4o"


def test_every_message_field_round_trips(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    s = trail.sessions.load_or_create("fields")
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    sent = [
        s.append_message(role="system", content="be brief"),
        s.append_message(
            role="assistant",
            content="",
            id="a-1",
            reasoning="need data",
            content_parts=[
                {"type": "text", "text": "é ✓ 日本"},
                {"type": "image", "n": 1.5},
            ],
            tool_calls=[
                {
                    "id": "call-1",
                    "name": "search",
                    "arguments": {"q": "x", "n": [1, None]},
                },
                {"id": "call-2", "name": "raw", "arguments": '{"json": "string"}'},
            ],
            created_at=when,
            metadata={"tokens": 12, "nested": {"ok": True}},
        ),
        s.append_message(
            role="tool", content="found", tool_call_id="call-1", tool_success=False
        ),
    ]
    trail.sessions.save(s)
    loaded = other_trail.sessions.load("fields")
    assert loaded is not None
    assert loaded.messages == sent
    assert loaded.messages[1].created_at == when


def test_title_and_pin_versions_persist(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    s = saved(trail)
    s.edit_title("One")
    s.edit_title("Two")
    s.set_pinned(True)
    s.update_metadata({"tags": ["a"]})
    trail.sessions.save(s)
    loaded = other_trail.sessions.load("chat")
    assert loaded is not None
    assert (loaded.title, loaded.pinned, loaded.metadata) == (
        "Two",
        True,
        {"tags": ["a"]},
    )
    assert (loaded.title_version, loaded.metadata_version) == (2, 4)
    assert loaded.version == s.version == 6


def test_model_and_pending_question_persist(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    s = saved(trail)
    s.set_model("gpt-5")
    question = PendingQuestion(
        tool_call_id="c1", tool_name="ask", question="Which?", options=["a", "b"]
    )
    s.set_pending_question(question)
    trail.sessions.save(s)
    loaded = other_trail.sessions.load("chat")
    assert loaded is not None and loaded.model == "gpt-5"
    assert loaded.pending_question == question


# -- users ----------------------------------------------------------------------


def test_another_users_session_looks_missing(trail: SessionTrail) -> None:
    saved(trail, user_id="alice")
    repo = trail.sessions
    assert repo.load("chat", user_id="alice") is not None
    assert repo.load("chat", user_id="bob") is None
    assert repo.try_load("chat", user_id="bob") is None
    assert repo.load_merged("chat", user_id="bob") is None
    assert repo.exists("chat", user_id="bob") is False
    assert repo.at("chat", version=1, user_id="bob") is None
    assert repo.delete("chat", user_id="bob") is False
    with pytest.raises(SessionNotFound):
        repo.history("chat", user_id="bob")
    versions = stored_versions(trail, "chat")
    repo.append_token_usage("chat", {"tokens": 1}, user_id="bob")
    assert stored_versions(trail, "chat") == versions
    assert repo.exists("chat", user_id="alice")


def test_a_new_session_cannot_take_another_users_id(trail: SessionTrail) -> None:
    saved(trail, user_id="alice")
    intruder = trail.sessions.load_or_create("chat", user_id="bob")
    assert intruder.version == 1  # bob sees no session "chat": a fresh one
    intruder.append_message(role="user", content="mine now?")
    with pytest.raises(ConcurrencyConflict, match="already in use"):
        trail.sessions.save(intruder)
    assert [m.content for m in trail.sessions.load_merged("chat").messages] == ["hello"]


# -- bad input --------------------------------------------------------------------


def test_bad_input_writes_nothing(trail: SessionTrail) -> None:
    s = saved(trail)
    versions = stored_versions(trail, "chat")
    with pytest.raises(InvalidInput, match="title"):
        s.edit_title("")
    with pytest.raises(InvalidInput, match="role"):
        s.append_message(role="wizard", content="x")
    trail.sessions.save(s)
    for bad in ([1, 2], "not json", "[1]", {"x": float("inf")}, 42):
        with pytest.raises(InvalidInput, match="record"):
            trail.sessions.append_token_usage("chat", bad)
    with pytest.raises(InvalidInput, match="session"):
        trail.sessions.save("chat")
    with pytest.raises(InvalidInput, match="session_id"):
        trail.sessions.load("")
    with pytest.raises(InvalidInput, match="user_id"):
        trail.sessions.load("chat", user_id="")
    assert stored_versions(trail, "chat") == versions


# -- history and time travel --------------------------------------------------------


def test_history_shows_who_did_what_and_when(trail: SessionTrail) -> None:
    with freeze_time("2026-01-02 03:04:05"):
        s = trail.sessions.load_or_create("h", model="gpt-4o")
        s.append_message(role="user", content="hi")
    with freeze_time("2026-01-02 03:05:00"):
        s.edit_title("Plan")
        s.set_pinned(True, actor="alice")
    trail.sessions.save(s)
    history = trail.sessions.history("h")
    assert [(h.version, h.event, h.actor) for h in history] == [
        (1, "Started", "runtime"),
        (2, "MessageAppended", "runtime"),
        (3, "TitleEdited", "user"),
        (4, "PinChanged", "alice"),
    ]
    first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [h.timestamp for h in history] == [
        first,
        first,
        *[first + timedelta(seconds=55)] * 2,
    ]
    assert history[2].payload == {
        "title": "Plan",
        "title_version": 1,
        "metadata_version": 1,
        "source": "user",
    }
    assert history[1].payload["message"]["content"] == "hi"


def test_at_version_shows_the_session_as_it_was(trail: SessionTrail) -> None:
    s = saved(trail)
    s.edit_title("Later")
    s.append_message(role="assistant", content="second")
    trail.sessions.save(s)
    then = trail.sessions.at("chat", version=2)
    assert then is not None
    assert (then.version, then.title, [m.content for m in then.messages]) == (
        2,
        "",
        ["hello"],
    )
    with pytest.raises(InvalidInput, match="version"):
        trail.sessions.at("chat", version=99)
    with pytest.raises(InvalidInput, match="version"):
        trail.sessions.at("chat", version=0)


def test_at_a_moment_shows_the_session_as_it_was(trail: SessionTrail) -> None:
    with freeze_time("2026-03-01 10:00:00"):
        s = trail.sessions.load_or_create("t")
        s.append_message(role="user", content="morning")
    with freeze_time("2026-03-01 15:00:00"):
        s.append_message(role="user", content="afternoon")
    trail.sessions.save(s)
    noon = datetime(2026, 3, 1, 12, tzinfo=UTC)
    then = trail.sessions.at("t", at=noon)
    assert then is not None and [m.content for m in then.messages] == ["morning"]
    assert trail.sessions.at("t", at=noon - timedelta(days=1)) is None
    with pytest.raises(InvalidInput, match="at"):
        trail.sessions.at("t", at=datetime(2026, 3, 1, 12))  # naive
    with pytest.raises(InvalidInput, match="exactly one"):
        trail.sessions.at("t")


# -- delete / restore ---------------------------------------------------------------


def test_deleted_sessions_load_as_none_until_restored(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saved(trail)
    assert trail.sessions.delete("chat") is True
    assert trail.sessions.delete("chat") is False
    for repo in (trail.sessions, other_trail.sessions):
        assert repo.load("chat") is None
        assert repo.exists("chat") is False
    assert [h.event for h in trail.sessions.history("chat")][-1] == "SessionDeleted"
    assert trail.sessions.restore("chat") is True
    assert trail.sessions.restore("chat") is False
    restored = other_trail.sessions.load("chat")
    assert restored is not None and [m.content for m in restored.messages] == ["hello"]
    assert trail.sessions.delete("unknown") is False
    assert trail.sessions.restore("unknown") is False


def test_a_stale_writer_cannot_write_into_a_deleted_session(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    stale = saved(trail)
    other_trail.sessions.delete("chat")
    stale.append_message(role="assistant", content="too late")
    with pytest.raises(SessionNotFound, match="deleted"):
        trail.sessions.save(stale)
    assert [h.event for h in trail.sessions.history("chat")][-1] == "SessionDeleted"


# -- token usage --------------------------------------------------------------------


def test_token_usage_is_a_no_op_before_the_first_save(trail: SessionTrail) -> None:
    s = trail.sessions.load_or_create("u")
    trail.sessions.append_token_usage("u", {"input_tokens": 5})
    assert trail.sessions.exists("u") is False
    trail.sessions.save(s)
    assert stored_versions(trail, "u") == 1


def test_token_usage_is_kept_verbatim(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saved(trail)
    record = {"model": "gpt-4o", "input_tokens": 10, "cost": 0.25, "extra": {"a": [1]}}
    trail.sessions.append_token_usage("chat", record)
    trail.sessions.append_token_usage("chat", '{"output_tokens": 7}')
    loaded = other_trail.sessions.load("chat")
    assert loaded is not None
    assert loaded.token_usage == [record, {"output_tokens": 7}]
    assert trail.sessions.history("chat")[-1].event == "TokenUsageRecorded"


# -- the cache tier -----------------------------------------------------------------


def test_a_storage_hit_back_fills_the_cache(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(other_trail)
    assert trail.sessions.load("chat") is not None  # from storage
    break_storage(trail, monkeypatch)
    cached = trail.sessions.load("chat")  # storage is down: only the cache can answer
    assert cached is not None and cached.messages[0].content == "hello"


def test_load_serves_what_another_process_wrote_since_the_copy_was_cached(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saved(trail)  # cached by this trail
    theirs = other_trail.sessions.load("chat")
    theirs.append_message(role="assistant", content="from elsewhere")
    other_trail.sessions.save(theirs)
    loaded = trail.sessions.load("chat")
    assert loaded.version == theirs.version
    assert loaded.messages[-1].content == "from elsewhere"
    assert trail.sessions.load_merged("chat").version == theirs.version


def test_a_cached_copy_the_log_has_not_moved_past_is_served_without_a_load(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = saved(trail)

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded from storage")

    monkeypatch.setattr(trail.store, "load", no_load)
    assert trail.sessions.load("chat").version == mine.version


def test_load_gives_none_once_another_process_deleted_the_cached_session(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saved(trail)
    other_trail.sessions.delete("chat")
    assert trail.sessions.load("chat") is None
    assert len(trail.sessions._cache) == 0


def test_load_merged_never_goes_back_to_an_older_copy(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = saved(trail)
    with monkeypatch.context() as broken:
        break_storage(trail, broken)
        s.append_message(role="user", content="unsaved")
        trail.sessions.save_and_cache(s)  # fails, but caches the newer copy
    stored = trail.sessions.try_load("chat")
    assert stored.version == s.version  # the cached, unsaved copy
    assert trail.sessions.load_merged("chat").version == s.version
    assert trail.sessions.load("chat").messages[-1].content == "unsaved"


def test_load_merged_prefers_storage_that_still_has_the_pending_question(
    trail: SessionTrail,
) -> None:
    s = saved(trail)
    s.set_pending_question({"tool_call_id": "q", "tool_name": "ask", "question": "?"})
    trail.sessions.save(s)
    lost = trail.sessions.load("chat")
    lost.pending_question = None  # a cached copy that lost it, same version
    trail.sessions._cache.put(lost)
    merged = trail.sessions.load_merged("chat")
    assert merged.pending_question is not None
    assert trail.sessions.load("chat").pending_question is not None


def test_a_failed_save_raises_and_leaves_the_cache_alone(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = saved(trail)
    s.append_message(role="user", content="will fail")
    with monkeypatch.context() as broken:
        break_storage(trail, broken)
        with pytest.raises(StorageUnavailable, match="closed the connection"):
            trail.sessions.save(s)
    assert len(s.pending_events) == 1  # still unsaved, can be retried
    assert trail.sessions.load("chat").version == s.version - 1
    trail.sessions.save(s)
    assert trail.sessions.load_merged("chat").version == s.version == 3


def test_save_and_cache_logs_the_failure(
    trail: SessionTrail,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = saved(trail)
    s.append_message(role="user", content="x")
    break_storage(trail, monkeypatch)
    with caplog.at_level(logging.ERROR):
        trail.sessions.save_and_cache(s)
    assert "save 'chat' failed" in caplog.text
    assert trail.sessions.load("chat").version == s.version


def test_try_load_surfaces_storage_errors_and_load_swallows_them(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(trail)
    other = connect(trail.url)
    try:
        break_storage(other, monkeypatch)
        with pytest.raises(StorageUnavailable):
            other.sessions.try_load("chat")
        assert other.sessions.load("chat") is None
        with pytest.raises(StorageUnavailable):
            other.sessions.exists("chat")
    finally:
        other.close()


def test_the_cache_is_bounded(url: str) -> None:
    with connect(url, cache_size=2) as small:
        for i in range(5):
            saved(small, f"s{i}")
        assert len(small.sessions._cache) == 2
    with pytest.raises(InvalidInput, match="cache_size"):
        connect(url, cache_size=-1)


def test_the_cache_keeps_at_most_cache_messages_messages(url: str) -> None:
    with connect(url, cache_messages=250) as small:
        for name in ("a", "b", "c"):
            session = small.sessions.load_or_create(name)
            for number in range(99):
                session.append_message(role="user", content=f"{name} {number}")
            small.sessions.save(session)  # each copy weighs 100

        assert sorted(small.sessions._cache._sessions) == ["b", "c"]
    with pytest.raises(InvalidInput, match="cache_messages"):
        connect(url, cache_messages=-1)


def test_the_async_trail_takes_the_same_cache_bounds(url: str) -> None:
    async def fill() -> tuple[int, list[str]]:
        async with await aio.connect(url, cache_size=3, cache_messages=150) as small:
            for name in ("a", "b"):
                session = await small.sessions.load_or_create(name)
                for number in range(99):
                    session.append_message(role="user", content=f"{name} {number}")
                await small.sessions.save(session)
            cache = small.sync.sessions._cache
            return cache.max_size, sorted(cache._sessions)

    assert asyncio.run(fill()) == (3, ["b"])


def test_long_sessions_load_through_snapshots(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    s = trail.sessions.load_or_create("long")
    for i in range(249):
        s.append_message(role="user", content=f"m{i}")
    trail.sessions.save(s)
    loaded = other_trail.sessions.load("long")
    assert loaded is not None and loaded.to_state() == s.to_state()
    assert loaded.messages == s.messages
    snapshots = list(trail.store.snapshots.get(s.id))
    assert [snap.originator_version for snap in snapshots][-1] == 250  # the save's own
    assert trail.sessions.at("long", version=150).messages[-1].content == "m148"


def test_a_save_crossing_the_snapshot_interval_snapshots_its_own_state(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save whose events pass version 100 in their middle (a checkpoint and
    its messages, a batch of items) snapshots the session it saved, at the
    save's version: no replay of the hundred events before it."""
    s = trail.sessions.load_or_create("long")
    for i in range(98):
        s.append_message(role="user", content=f"m{i}")
    trail.sessions.save(s)  # version 99
    replays: list[object] = []
    replay = type(trail.store.repository).get
    monkeypatch.setattr(
        type(trail.store.repository),
        "get",
        lambda repository, *args, **kwargs: (
            replays.append(args) or replay(repository, *args, **kwargs)
        ),
    )
    for i in range(98, 101):
        s.append_message(role="user", content=f"m{i}")
    trail.sessions.save(s)  # versions 100 to 102
    assert replays == []
    snapshots = list(trail.store.snapshots.get(s.id))
    assert [snap.originator_version for snap in snapshots][-1] == 102
    loaded = trail.sessions.load("long")
    assert loaded is not None and loaded.to_state() == s.to_state()


def test_only_the_newest_snapshot_of_a_session_is_kept(
    trail: SessionTrail, url: str
) -> None:
    if url.startswith("memory:"):
        pytest.skip("memory:// keeps every snapshot; it goes away with its process")
    s = trail.sessions.load_or_create("long")
    for i in range(249):
        s.append_message(role="user", content=f"m{i}")
        if i % 10 == 9:
            trail.sessions.save(s)
    trail.sessions.save(s)
    snapshots = list(trail.store.snapshots.get(s.id))
    assert [snap.originator_version for snap in snapshots] == [201]


def test_what_a_caller_does_to_a_loaded_session_never_reaches_the_cache(
    trail: SessionTrail,
) -> None:
    """The cache hands out copies (shallow where values are immutable): editing
    any container of a loaded session leaves the next load untouched."""
    session = trail.sessions.load_or_create("mine")
    session.append_message(role="user", content="hello")
    session.update_metadata({"nested": {"depth": 1}})
    trail.sessions.save(session)
    trail.sessions.append_token_usage("mine", {"usage": {"tokens": 3}})

    loaded = trail.sessions.load("mine")
    loaded.messages.append(loaded.messages[0])
    loaded.metadata["nested"]["depth"] = 2
    loaded.metadata["extra"] = True
    loaded.token_usage[0]["usage"]["tokens"] = 99
    loaded.append_message(role="user", content="unsaved")

    again = trail.sessions.load("mine")
    assert [m.content for m in again.messages] == ["hello"]
    assert again.metadata == {"nested": {"depth": 1}}
    assert again.token_usage == [{"usage": {"tokens": 3}}]
    assert not again.pending_events
    assert again.messages[0] is loaded.messages[0]  # immutable values are shared
