"""A session's transcript fold: copies share what it holds, at no cost whatever its
length, and stay independent of each other and of what callers do to the lists
they are given."""

from __future__ import annotations

import threading
from copy import deepcopy
from typing import Any

import pytest

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain import session as session_module
from sessiontrail.domain.log_fold import LogFold


class Item:
    """An item with an id, as messages have."""

    def __init__(self, ident: str) -> None:
        self.id = ident

    def __repr__(self) -> str:
        return f"Item({self.id!r})"


class CountingList(list[Any]):
    """A list that counts how often its items are gone through or copied."""

    visits = 0

    def __iter__(self) -> Any:
        CountingList.visits += 1
        return super().__iter__()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            CountingList.visits += 1
        return super().__getitem__(index)


def held(*idents: str) -> LogFold[Item]:
    return LogFold([Item(ident) for ident in idents])


def ids(fold: LogFold[Item]) -> list[str]:
    return [item.id for item in fold.items()]


def test_a_copy_of_held_items_goes_through_none_of_them() -> None:
    fold: LogFold[Item] = LogFold(CountingList(Item(str(n)) for n in range(1000)))
    CountingList.visits = 0

    twin = fold.copy()
    fold.append(Item("new"))
    twin.copy()

    assert CountingList.visits == 0
    assert len(twin.items()) == 1000


def test_copies_see_their_own_appends_only() -> None:
    fold = held("a", "b")
    twin = fold.copy()

    fold.append(Item("only in the fold"))
    twin.append(Item("only in the twin"))
    fold.append(Item("the fold again"))

    assert ids(fold) == ["a", "b", "only in the fold", "the fold again"]
    assert ids(twin) == ["a", "b", "only in the twin"]


def test_a_removal_reaches_no_copy() -> None:
    fold = held("a", "b", "c")
    twin = fold.copy()

    fold.remove(frozenset({"b"}))
    fold.append(Item("d"))

    assert ids(fold) == ["a", "c", "d"]
    assert ids(twin) == ["a", "b", "c"]


def test_a_callers_edits_of_the_items_it_was_given_reach_no_copy() -> None:
    fold = held("a", "b", "c")
    given = fold.items()
    twin = fold.copy()

    given.pop()
    given[0] = Item("changed")
    given.sort(key=lambda item: item.id, reverse=True)
    fold.append(Item("d"))

    assert ids(twin) == ["a", "b", "c"]
    assert ids(twin.copy()) == ["a", "b", "c"]


def test_the_list_given_follows_the_folds_own_appends() -> None:
    fold = held("a")
    given = fold.items()

    fold.append(Item("b"))

    assert [item.id for item in given] == ["a", "b"]
    assert fold.items() is given


def test_copies_appending_in_threads_at_once_each_keep_their_own() -> None:
    fold = held("start")
    copies = [fold.copy() for _ in range(4)]
    barrier = threading.Barrier(len(copies))

    def append(number: int, copy: LogFold[Item]) -> None:
        barrier.wait(timeout=30)
        for turn in range(2000):
            copy.append(Item(f"{number}-{turn}"))

    threads = [
        threading.Thread(target=append, args=(number, copy))
        for number, copy in enumerate(copies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    for number, copy in enumerate(copies):
        assert ids(copy) == ["start"] + [f"{number}-{turn}" for turn in range(2000)]
    assert ids(fold) == ["start"]


@pytest.mark.parametrize("edit", ["pop", "set", "sort", "clear"])
def test_what_the_writer_does_to_its_sessions_messages_never_reaches_a_load(
    trail: SessionTrail, edit: str
) -> None:
    session = sessiontrail.Session(session_id="held", user_id="u")
    for number in range(5):
        session.append_message(role="user", content=f"m{number}")
    trail.sessions.save(session)
    messages = session.messages

    if edit == "pop":
        messages.pop()
    elif edit == "set":
        messages[0] = messages[1]
    elif edit == "sort":
        messages.sort(key=lambda message: message.content, reverse=True)
    else:
        messages.clear()

    loaded = trail.sessions.load("held", user_id="u")
    assert loaded is not None
    assert [m.content for m in loaded.messages] == [f"m{n}" for n in range(5)]


def test_items_a_fold_hands_out_as_copies_stay_as_stored() -> None:
    fold: LogFold[dict[str, Any]] = LogFold(
        [{"tokens": 1}], hand=lambda record: dict(record)
    )
    twin = fold.copy()

    fold.items()[0]["tokens"] = 99
    fold.append({"tokens": 2})
    fold.items()[1]["tokens"] = 98

    assert twin.items() == [{"tokens": 1}]
    assert fold.copy().items() == [{"tokens": 1}, {"tokens": 2}]


def test_a_copy_of_a_session_goes_through_none_of_its_usage_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = sessiontrail.Session(session_id="usage", user_id="u")
    for turn in range(1000):
        session.record_token_usage({"turn": turn, "usage": {"tokens": 3}})
    copied = []

    def counting_copy(value: Any) -> Any:
        copied.append(value)
        return value

    monkeypatch.setattr(session_module, "_json_copy", counting_copy)
    twin = deepcopy(session)
    twin.record_token_usage({"turn": "only in the twin"})

    assert len(copied) <= 1  # the metadata, whatever the records
    assert len(session.token_usage) == 1000
    assert twin.token_usage[-1] == {"turn": "only in the twin"}


def test_what_the_writer_does_to_its_sessions_usage_records_never_reaches_a_load(
    trail: SessionTrail,
) -> None:
    session = sessiontrail.Session(session_id="held", user_id="u")
    session.record_token_usage({"usage": {"tokens": 3}})
    trail.sessions.save(session)

    session.token_usage[0]["usage"]["tokens"] = 99
    session.token_usage[0]["extra"] = True

    loaded = trail.sessions.load("held", user_id="u")
    assert loaded is not None
    assert loaded.token_usage == [{"usage": {"tokens": 3}}]


def test_what_a_fold_holds_is_not_what_a_caller_did_to_its_list() -> None:
    fold = held("a", "b", "c")
    given = fold.items()

    del given[-1]
    given.insert(0, Item("inserted"))

    assert [item.id for item in fold.held()] == ["a", "b", "c"]
    assert [item.id for item in fold.last(2)] == ["b", "c"]
    assert [item.id for item in fold.last(10)] == ["a", "b", "c"]


def test_a_sessions_commands_decide_with_its_messages_not_the_callers_list() -> None:
    session = sessiontrail.Session(session_id="held", user_id="u")
    for number in range(3):
        session.append_message(role="user", content=f"m{number}")
    given = session.messages
    given.reverse()

    session.truncate(2)

    assert [m.content for m in session.last_messages(5)] == ["m0", "m1"]
    assert session.message_count == 2


def unread(*idents: str) -> tuple[LogFold[Item], list[int]]:
    """A fold not read yet, and the count of its reads of the log."""
    reads: list[int] = []

    def load() -> list[Item]:
        reads.append(1)
        return [Item(ident) for ident in idents]

    return LogFold(load=load), reads


def test_a_fold_not_read_yet_and_its_copies_read_it_once() -> None:
    fold, reads = unread("a", "b")
    copies = [fold.copy() for _ in range(3)]

    for copy in [fold, *copies]:
        assert ids(copy) == ["a", "b"]

    assert len(reads) == 1


def test_copies_of_a_fold_not_read_yet_keep_their_own_effects() -> None:
    fold, _ = unread("a", "b", "c")
    fold.append(Item("shared effect"))
    twin = fold.copy()
    fold.append(Item("only in the fold"))
    twin.remove(frozenset({"b"}))
    twin.append(Item("only in the twin"))

    assert ids(twin) == ["a", "c", "shared effect", "only in the twin"]
    assert ids(fold) == ["a", "b", "c", "shared effect", "only in the fold"]
    assert ids(fold.copy()) == ids(fold)


def test_a_copy_of_a_fold_read_by_another_copy_starts_from_what_was_read() -> None:
    fold, reads = unread("a")
    reader = fold.copy()
    reader.append(Item("appended after the read"))
    assert ids(reader) == ["a", "appended after the read"]

    later = fold.copy()

    assert ids(later) == ["a"]
    assert len(reads) == 1
