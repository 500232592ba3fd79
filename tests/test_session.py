"""The Session aggregate on its own: commands, events, validation, versions."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import RFC_4122, UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessiontrail import InvalidInput, Message, PendingQuestion, Session
from sessiontrail.domain.session import stream_id


def new_session() -> Session:
    return Session(session_id="s-1", model="gpt-4o", user_id="alice")


def test_stream_id_is_stable_per_session_id() -> None:
    assert new_session().id == stream_id("s-1") == Session(session_id="s-1").id
    assert stream_id("s-1") != stream_id("s-2")


def test_a_new_session_is_version_one_with_defaults() -> None:
    s = new_session()
    assert (s.session_id, s.model, s.user_id, s.version) == (
        "s-1",
        "gpt-4o",
        "alice",
        1,
    )
    assert (s.title, s.pinned, s.title_version, s.metadata_version) == ("", False, 0, 0)
    assert s.messages == [] and s.pending_question is None and not s.deleted
    assert s.created_at == s.updated_at


def test_append_message_returns_the_stored_message() -> None:
    s = new_session()
    message = s.append_message(role="user", content="hello")
    assert s.messages == [message]
    assert message.role == "user" and message.content == "hello"
    assert message.id and message.created_at.tzinfo is not None
    assert s.version == 2


def test_every_event_records_its_actor_with_kind_specific_defaults() -> None:
    s = new_session()
    s.append_message(role="user", content="x")
    s.edit_title("T")
    s.set_pinned(True, actor="alice@ui")
    assert [e.actor for e in s.pending_events] == [
        "runtime",
        "runtime",
        "user",
        "alice@ui",
    ]


def test_title_edits_count_title_and_metadata_versions() -> None:
    s = new_session()
    s.edit_title("One")
    s.edit_title("Two")
    s.set_pinned(True)
    s.update_metadata({"tag": "x"})
    assert (s.title, s.title_version, s.metadata_version) == ("Two", 2, 4)


def test_unchanged_values_trigger_no_event() -> None:
    s = new_session()
    s.edit_title("T")
    s.set_pinned(True)
    s.update_metadata({"a": 1})
    version = s.version
    s.edit_title("T")
    s.set_pinned(True)
    s.update_metadata({"a": 1, "missing": None})
    s.set_model("gpt-4o")
    s.resolve_question()
    s.truncate(5)
    assert s.version == version


def test_update_metadata_sets_and_none_removes() -> None:
    s = new_session()
    s.update_metadata({"a": 1, "b": {"nested": [1, 2]}})
    s.update_metadata({"a": None, "c": "x"})
    assert s.metadata == {"b": {"nested": [1, 2]}, "c": "x"}


def test_truncate_keeps_the_first_messages() -> None:
    s = new_session()
    kept = [s.append_message(role="user", content=str(i)) for i in range(2)]
    s.append_message(role="assistant", content="dropped")
    s.truncate(2)
    assert s.messages == kept


def test_pending_question_is_set_and_resolved() -> None:
    s = new_session()
    question = PendingQuestion(tool_call_id="c1", tool_name="ask", question="Which?")
    s.set_pending_question(question)
    assert s.pending_question == question
    s.resolve_question()
    assert s.pending_question is None
    assert isinstance(s.pending_events[-1], Session.QuestionResolved)


def test_pending_question_accepts_a_plain_dict() -> None:
    s = new_session()
    s.set_pending_question(
        {"tool_call_id": "c1", "tool_name": "ask", "question": "Q?", "options": ["a"]}
    )
    assert s.pending_question == PendingQuestion(
        tool_call_id="c1", tool_name="ask", question="Q?", options=["a"]
    )


def test_every_message_field_is_kept() -> None:
    s = new_session()
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    message = s.append_message(
        role="assistant",
        content="calling",
        id="m-1",
        reasoning="because",
        content_parts=[{"type": "text", "text": "calling"}],
        tool_calls=[{"id": "call-1", "name": "search", "arguments": {"q": "x"}}],
        created_at=when,
        metadata={"tokens": 3},
    )
    assert message.id == "m-1" and message.created_at == when
    assert message.tool_calls is not None and message.tool_calls[0].name == "search"
    tool = s.append_message(
        role="tool", content="result", tool_call_id="call-1", tool_success=True
    )
    assert tool.tool_call_id == "call-1" and tool.tool_success is True


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (lambda s: s.append_message(role="robot", content="x"), "role"),
        (lambda s: s.append_message(role="user", content=3), "content"),
        (lambda s: s.append_message(role="tool", content="x"), "tool_call_id"),
        (lambda s: s.append_message(role="user", tool_calls=[{"id": "c"}]), "name"),
        (lambda s: s.append_message(role="user", metadata={"x": {1, 2}}), "metadata"),
        (lambda s: s.append_message(role="user", id=""), "id"),
        (lambda s: s.edit_title(""), "title"),
        (lambda s: s.edit_title("   "), "title"),
        (lambda s: s.edit_title("x" * 257), "title"),
        (lambda s: s.edit_title("a\nb"), "title"),
        (lambda s: s.set_pinned("yes"), "pinned"),
        (lambda s: s.update_metadata({"x": object()}), "changes.x"),
        (lambda s: s.update_metadata({"x": float("nan")}), "changes.x"),
        (lambda s: s.update_metadata(["x"]), "changes"),
        (lambda s: s.set_model("m" * 300), "model"),
        (lambda s: s.truncate(-1), "keep"),
        (lambda s: s.set_pending_question({"tool_call_id": "c"}), "question"),
        (lambda s: s.edit_title("T", actor=""), "actor"),
        (lambda s: s.record_token_usage("not an object"), "record"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(command, field: str) -> None:
    s = new_session()
    s.append_message(role="user", content="before", id="dup")
    before = s.to_state()
    with pytest.raises(InvalidInput, match=field):
        command(s)
    assert s.to_state() == before
    assert s.version == 2 and len(s.pending_events) == 2


def test_a_duplicate_message_id_is_invalid_input() -> None:
    s = new_session()
    s.append_message(role="user", id="m-1")
    with pytest.raises(InvalidInput, match="id: message 'm-1' is already"):
        s.append_message(role="user", id="m-1")
    assert len(s.messages) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"session_id": ""}, "session_id"),
        ({"session_id": "a\x00b"}, "session_id"),
        ({"session_id": "x" * 257}, "session_id"),
        ({"session_id": "ok", "user_id": ""}, "user_id"),
        ({"session_id": "ok", "metadata": {"x": object()}}, "metadata"),
    ],
)
def test_bad_start_values_are_invalid_input(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        Session(**kwargs)


def test_invalid_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="title"):
        new_session().edit_title("")


def test_snapshot_rebuilds_the_same_state() -> None:
    s = new_session()
    s.append_message(role="user", content="x")
    s.edit_title("T")
    s.set_pending_question({"tool_call_id": "c", "tool_name": "t", "question": "q"})
    s.record_token_usage({"input_tokens": 3})
    rebuilt = Session.Snapshot.take(s).mutate(None)
    assert rebuilt.to_state() == s.to_state()
    assert (rebuilt.id, rebuilt.version) == (s.id, s.version)


TITLES = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=50)


@given(st.lists(TITLES, min_size=1))
def test_last_title_edit_wins(titles: list[str]) -> None:
    s = Session(session_id="p", model="m")
    for title in titles:
        s.edit_title(title)
    assert s.title == titles[-1]
    distinct_changes = sum(
        1
        for before, after in zip(["", *titles], titles, strict=False)
        if before != after
    )
    assert s.title_version == s.metadata_version == distinct_changes


@given(st.lists(st.sampled_from(["user", "assistant", "system"]), max_size=30))
def test_messages_keep_append_order(roles: list[str]) -> None:
    s = new_session()
    appended = [
        s.append_message(role=role, content=str(i)) for i, role in enumerate(roles)
    ]
    assert s.messages == appended
    assert all(isinstance(m, Message) for m in s.messages)


def test_a_message_without_an_id_gets_a_new_random_uuid_as_hex_digits() -> None:
    session = Session(session_id="ids")
    ids = [session.append_message(role="user", content=str(n)).id for n in range(200)]
    assert len(set(ids)) == len(ids)
    for message_id in ids:
        parsed = UUID(message_id)
        assert (parsed.hex, parsed.version, parsed.variant) == (message_id, 4, RFC_4122)
