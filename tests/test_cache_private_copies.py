"""Copies of a session (the cache's, each load's) share its messages; a message
is read-only, containers included, so no caller's edit of one reaches another
load while the log holds the original."""

from __future__ import annotations

import contextlib

import pytest

from sessiontrail import SessionTrail
from sessiontrail.domain.values import Message


def test_a_callers_edit_of_a_loaded_messages_metadata_is_refused_and_reaches_no_load(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    session.append_message(role="user", content="hi", metadata={"note": "orig"})
    trail.sessions.save(session)
    mine = trail.sessions.load("c", user_id="u")
    assert mine is not None

    with pytest.raises(TypeError, match="read-only"):
        mine.messages[0].metadata["note"] = "changed by one caller"

    theirs = trail.sessions.load("c", user_id="u")
    assert theirs is not None
    assert theirs.messages[0].metadata == {"note": "orig"}


def test_a_later_load_holds_the_stored_metadata_after_a_callers_edit(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    session.append_message(role="user", content="hi", metadata={"tags": ["orig"]})
    trail.sessions.save(session)
    mine = trail.sessions.load("c", user_id="u")
    assert mine is not None

    with contextlib.suppress(TypeError):
        mine.messages[0].metadata["tags"].append("changed by one caller")

    theirs = trail.sessions.load("c", user_id="u")
    assert theirs is not None and theirs.messages[0].metadata == {"tags": ["orig"]}


def test_a_message_without_metadata_cannot_be_given_some_in_place(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("c", user_id="u")
    appended = session.append_message(role="user", content="hi")
    trail.sessions.save(session)

    with pytest.raises(TypeError, match="read-only"):
        appended.metadata["note"] = "added later"

    loaded = trail.sessions.load("c", user_id="u")
    assert loaded is not None and loaded.messages[0].metadata == {}


def test_nested_lists_and_dicts_of_a_message_are_read_only() -> None:
    message = Message(
        role="assistant",
        content_parts=[{"type": "text", "tags": ["a"]}],
        tool_calls=[{"id": "t", "name": "f", "arguments": {"x": [1]}}],
        metadata={"deep": {"list": [1]}},
    )
    assert message.tool_calls is not None and message.content_parts is not None
    arguments = message.tool_calls[0].arguments
    assert isinstance(arguments, dict)

    edits = [
        lambda: message.metadata["deep"]["list"].append(2),
        lambda: message.content_parts[0]["tags"].append("b"),
        lambda: message.tool_calls.append(message.tool_calls[0]),
        lambda: arguments["x"].append(2),
        lambda: arguments.update(y=1),
    ]
    for edit in edits:
        with pytest.raises(TypeError, match="read-only"):
            edit()
    assert message == Message.model_validate_json(message.model_dump_json())


def test_a_changed_copy_of_a_message_is_built_with_model_copy() -> None:
    message = Message(role="user", content="hi", metadata={"note": "orig"})

    changed = message.model_copy(update={"metadata": {"note": "new"}})

    assert (message.metadata, changed.metadata) == ({"note": "orig"}, {"note": "new"})


def test_a_changed_copy_is_read_only_too_and_its_edit_reaches_no_load(
    trail: SessionTrail,
) -> None:
    """`model_copy(update=...)` skips pydantic's validation, which freezes
    containers: the copy's are frozen all the same, as the session shares it."""
    session = trail.sessions.load_or_create("c", user_id="u")
    session.append_message(role="user", content="hi", id="m1")
    trail.sessions.save(session)
    loaded = trail.sessions.load("c", user_id="u")
    assert loaded is not None
    changed = loaded.messages[0].model_copy(update={"metadata": {"k": 2}})
    loaded.replace_messages([changed])
    trail.sessions.save(loaded)

    with pytest.raises(TypeError, match="read-only"):
        changed.metadata["k"] = "edited by the caller after the save"

    again = trail.sessions.load("c", user_id="u")
    assert again is not None and again.messages[-1].metadata == {"k": 2}
