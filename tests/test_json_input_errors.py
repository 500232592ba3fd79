"""A JSON value refused inside an object given as input (a usage record,
metadata) is named by its place in that object, as users wrote it: never by the
type tags pydantic's validation of JSON values adds to the path."""

from __future__ import annotations

import math

import pytest

from sessiontrail import InvalidInput, Session, SessionTrail


def refusal(call: object, *args: object) -> str:
    with pytest.raises(InvalidInput) as refused:
        call(*args)  # type: ignore[operator]
    return str(refused.value)


def test_a_usage_number_too_large_for_a_double_is_refused_naming_its_field(
    trail: SessionTrail,
) -> None:
    trail.sessions.save(trail.sessions.load_or_create("chat-1"))
    usage = {"input_tokens_details": {"cached": [1, 1e400]}}
    message = refusal(trail.sessions.append_token_usage, "chat-1", usage)
    assert message == (
        "record.input_tokens_details.cached.1: Input should be a finite number"
    )
    assert trail.usage.records("chat-1") == []


def test_usage_given_as_json_text_is_refused_naming_its_field(
    trail: SessionTrail,
) -> None:
    trail.sessions.save(trail.sessions.load_or_create("chat-1"))
    text = '{"total_tokens": 1e400}'
    message = refusal(trail.sessions.append_token_usage, "chat-1", text)
    assert message == "record.total_tokens: Input should be a finite number"


def test_keys_named_like_json_types_stay_in_the_field_named() -> None:
    session = Session(session_id="chat-1")
    message = refusal(session.update_metadata, {"dict": {"float": [math.nan]}})
    assert message == "changes.dict.float.0: Input should be a finite number"
