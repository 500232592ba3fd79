"""Two users' first writes to one thread at once: a config naming a user adds
no namespace to another user's thread, even when the other user starts the
thread between the saver's check of the thread's owners and its write. A
subgraph's first write makes the thread's own session (its root namespace) the
user's first, and making a session is atomic in the log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.langgraph import checkpoint, config

import sessiontrail
from sessiontrail import ConcurrencyConflict, SessionTrail
from sessiontrail.domain.thread_ids import thread_session_id
from sessiontrail.integrations.langgraph import TrailSaver


def put(trail: SessionTrail, namespace: str, user: str, value: int) -> None:
    """A first checkpoint of thread t's namespace for `user`."""
    TrailSaver(trail).put(
        config("t", namespace, user_id=user), checkpoint({"c": [value]}), {}, {"c": 1}
    )


def meanwhile(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]
) -> None:
    """Run `action` right after `trail`'s next read of a thread's owners."""
    read_owners = trail.langgraph.owners

    def owners_then_act(thread_id: str) -> set[str | None]:
        seen = read_owners(thread_id)
        action()
        return seen

    monkeypatch.setattr(trail.langgraph, "owners", owners_then_act)


def test_a_namespace_written_while_the_owner_starts_the_thread_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ann's first checkpoint of thread t commits just after bob's saver has
    read the thread's owners (none yet) and before it writes his namespace of
    t: bob's write is still refused, or his checkpoints sit in ann's thread
    (and go with her copies and deletes)."""
    with sessiontrail.connect(url) as bobs, sessiontrail.connect(url) as anns:
        meanwhile(bobs, monkeypatch, lambda: put(anns, "", "ann", 1))
        with pytest.raises(ConcurrencyConflict, match="in use"):
            put(bobs, "node:1", "bob", 2)
        assert anns.langgraph.owners("t") == {"ann"}
        namespaces = {
            found.config["configurable"]["checkpoint_ns"]
            for found in TrailSaver(anns).list(config("t", None, user_id="ann"))
        }
        assert namespaces == {""}


def test_the_thread_is_the_first_subgraphs_user_and_its_owner_is_refused_after(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other way round: bob's subgraph writes first (its thread's own
    session made his on the way), so ann, who read no owner a moment before,
    can start neither the thread's root nor another of its namespaces."""
    with sessiontrail.connect(url) as bobs, sessiontrail.connect(url) as anns:
        meanwhile(anns, monkeypatch, lambda: put(bobs, "node:1", "bob", 1))
        with pytest.raises(ConcurrencyConflict, match="in use"):
            put(anns, "node:2", "ann", 2)
        with pytest.raises(ConcurrencyConflict, match="in use"):
            put(anns, "", "ann", 3)
        assert bobs.langgraph.owners("t") == {"bob"}


def test_a_users_two_processes_starting_subgraphs_of_one_thread_both_write(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two of ann's processes start subgraphs of her new thread at once: both
    find no root; the other one makes it just before this one does, and this
    one, refused the root, finds it ann's and writes its checkpoint."""
    with sessiontrail.connect(url) as first, sessiontrail.connect(url) as second:
        create = first.sessions.create

        def other_first(session: sessiontrail.Session) -> None:
            put(second, "node:2", "ann", 2)
            create(session)

        monkeypatch.setattr(first.sessions, "create", other_first)
        put(first, "node:1", "ann", 1)
        saver = TrailSaver(first)
        for namespace in ("node:1", "node:2"):
            assert saver.get_tuple(config("t", namespace, user_id="ann")) is not None
        assert first.langgraph.owners("t") == {"ann"}


def test_the_root_a_subgraph_makes_is_the_users_and_holds_no_checkpoint(
    trail: SessionTrail,
) -> None:
    """A subgraph written before its graph's first checkpoint: the thread's own
    session exists, is the user's, and reads as a namespace with no
    checkpoint (get_tuple None), as on LangGraph's savers."""
    put(trail, "node:1", "ann", 1)
    saver = TrailSaver(trail)
    assert saver.get_tuple(config("t", "", user_id="ann")) is None
    root = trail.sessions.load(thread_session_id("t"), user_id="ann")
    assert root is not None and root.user_id == "ann"
    assert trail.sessions.load(thread_session_id("t"), user_id="bob") is None


def test_a_root_written_while_another_user_starts_the_thread_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ann's saver reads no owner of thread t, then bob's subgraph starts t
    (making its root his), then ann writes t's root: refused, and nothing of
    hers is in bob's session."""
    with sessiontrail.connect(url) as bobs, sessiontrail.connect(url) as anns:
        meanwhile(anns, monkeypatch, lambda: put(bobs, "node:1", "bob", 1))
        with pytest.raises(ConcurrencyConflict, match="in use"):
            put(anns, "", "ann", 2)
        root = bobs.sessions.load(thread_session_id("t"), user_id="bob")
        assert root is not None and root.version == 1  # made, never written to


def test_a_namespace_made_through_the_session_api_does_not_take_the_thread(
    trail: SessionTrail,
) -> None:
    """Bob makes a session under an id of ann's thread's namespace with the
    plain session API (as `POST /v1/sessions` does): his saver still cannot put
    checkpoints there, and ann can still start new namespaces of her thread:
    its own session, hers, decides."""
    put(trail, "", "ann", 1)
    squatted = sessiontrail.Session(
        session_id=thread_session_id("t", "node:9"), user_id="bob"
    )
    trail.sessions.create(squatted)
    with pytest.raises(ConcurrencyConflict, match="in use"):
        put(trail, "node:9", "bob", 2)
    put(trail, "node:1", "ann", 3)
    saver = TrailSaver(trail)
    assert saver.get_tuple(config("t", "node:1", user_id="ann")) is not None
    assert saver.get_tuple(config("t", "node:9", user_id="bob")) is None
