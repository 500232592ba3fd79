"""A cached session is one stored session, not merely a version: after another
process purges it and starts a new session under its id up to the same
version, loads serve the new session, never the purged one's content."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.http import bearer, write_tokens
from support.langgraph import checkpoint, config

from sessiontrail import SessionTrail
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens


def _purged_and_started_again(trail: SessionTrail, other_trail: SessionTrail) -> None:
    """Cache a session in `trail`, then purge it and store a new one with the
    same id and version from `other_trail`."""
    first = trail.sessions.load_or_create("s", user_id="u")
    first.append_message(role="user", content="my card is 4111 1111 1111 1111")
    trail.sessions.save(first)
    assert trail.sessions.load("s", user_id="u") is not None  # cached
    other_trail.sessions.purge("s", user_id="u", reason="user asked")
    again = other_trail.sessions.load_or_create("s", user_id="u")
    again.append_message(role="user", content="hello")
    other_trail.sessions.save(again)
    assert again.version == first.version


@pytest.mark.parametrize("read", ["load", "load_merged"])
def test_a_read_serves_the_new_session_not_the_purged_one_cached_at_its_version(
    trail: SessionTrail, other_trail: SessionTrail, read: str
) -> None:
    _purged_and_started_again(trail, other_trail)

    served = getattr(trail.sessions, read)("s", user_id="u")

    assert served is not None
    assert [m.content for m in served.messages] == ["hello"]


def test_load_merged_serves_the_new_session_when_the_purged_one_was_longer(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    _purged_and_started_again(trail, other_trail)
    longer = trail.sessions.load("s", user_id="u")  # the new session, cached
    assert longer is not None
    longer.append_message(role="user", content="more")
    trail.sessions.save(longer)
    other_trail.sessions.purge("s", user_id="u")
    short = other_trail.sessions.load_or_create("s", user_id="u")
    short.edit_title("short")
    other_trail.sessions.save(short)
    assert short.version < longer.version

    served = trail.sessions.load_merged("s", user_id="u")

    assert served is not None
    assert (served.title, served.message_count) == ("short", 0)


def test_a_load_after_the_new_session_is_cached_again_is_served_from_the_cache(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    _purged_and_started_again(trail, other_trail)
    assert trail.sessions.load("s", user_id="u") is not None
    reads = trail.store.load

    def counted(*args: object, **kwargs: object) -> object:
        raise AssertionError("read from the log, not the cache")

    trail.store.load = counted  # type: ignore[method-assign]
    try:
        served = trail.sessions.load("s", user_id="u")
    finally:
        trail.store.load = reads  # type: ignore[method-assign]
    assert served is not None
    assert [m.content for m in served.messages] == ["hello"]


def test_http_get_serves_the_chat_another_worker_started_after_purging_it(
    trail: SessionTrail, other_trail: SessionTrail, tmp_path: Path
) -> None:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    ann = bearer("ann")
    with (
        TestClient(create_app(trail, tokens)) as first,
        TestClient(create_app(other_trail, tokens)) as second,
    ):
        body = {"session_id": "c", "title": "questions for my divorce lawyer"}
        assert first.post("/v1/sessions", json=body, headers=ann).status_code == 201
        assert first.get("/v1/sessions/c", headers=ann).status_code == 200  # cached
        purged = second.delete("/v1/sessions/c", params={"purge": "true"}, headers=ann)
        assert purged.status_code == 200, purged.text
        body = {"session_id": "c", "title": "weekend plans"}
        assert second.post("/v1/sessions", json=body, headers=ann).status_code == 201

        served = first.get("/v1/sessions/c", headers=ann).json()

    assert served["title"] == "weekend plans"


def test_langgraph_writes_sent_again_after_a_thread_was_restarted_elsewhere_are_kept(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saver, other = TrailSaver(trail), TrailSaver(other_trail)
    first = checkpoint()
    saver.put(config("t1"), first, {"step": 0}, {})
    target = config("t1", checkpoint_id=first["id"])
    saver.put_writes(target, [("a", 1)], "task")
    other_trail.sessions.purge("langgraph/t1", reason="thread reset")
    other.put(config("t1"), first, {"step": 0}, {})
    other.put_writes(target, [("b", 2)], "other-task")  # the same version again

    saver.put_writes(target, [("a", 1)], "task")

    found = other.get_tuple(target)
    assert found is not None
    assert sorted(found.pending_writes) == [("other-task", "b", 2), ("task", "a", 1)]
