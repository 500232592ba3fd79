"""The session cache's two bounds: how many sessions it keeps, and how many
messages their copies may hold in memory together (a copy holds its transcript
once read). Beyond either, the least recently used copies go, the newest always
stays."""

from __future__ import annotations

from sessiontrail import Session
from sessiontrail.infrastructure.cache import SessionCache


def session(name: str, messages: int) -> Session:
    built = Session(session_id=name, user_id="u")
    for number in range(messages):
        built.append_message(role="user", content=f"{name} {number}")
    return built


def cached(cache: SessionCache, *names: str) -> list[str]:
    return [name for name in names if cache.get(name) is not None]


def test_copies_over_the_message_bound_go_least_recently_used_first() -> None:
    cache = SessionCache(10, max_messages=250)
    cache.put(session("a", 99))  # weighs 100 (the session and its messages)
    cache.put(session("b", 99))
    assert cache.get("a") is not None  # a is now the more recently used

    cache.put(session("c", 99))

    assert cached(cache, "a", "b", "c") == ["a", "c"]


def test_the_newest_copy_stays_however_many_messages_it_holds() -> None:
    cache = SessionCache(10, max_messages=50)
    cache.put(session("small", 1))

    cache.put(session("long", 500))

    assert cached(cache, "small", "long") == ["long"]


def test_a_copy_replaced_evicted_or_cleared_leaves_its_room() -> None:
    cache = SessionCache(10, max_messages=300)
    grown = session("a", 99)
    cache.put(grown)
    grown.append_message(role="user", content="one more")
    cache.put(grown)  # replaces a's copy: weighs 101, not 100 + 101
    cache.put(session("b", 99))
    assert cached(cache, "a", "b") == ["a", "b"]

    cache.evict("a")
    cache.put(session("c", 99))
    assert cached(cache, "b", "c") == ["b", "c"]

    cache.clear()
    for name in ("d", "e"):
        cache.put(session(name, 99))
    assert cached(cache, "d", "e") == ["d", "e"]


def test_the_session_bound_still_holds() -> None:
    cache = SessionCache(2)
    for name in ("a", "b", "c"):
        cache.put(session(name, 1))

    assert cached(cache, "a", "b", "c") == ["b", "c"]
