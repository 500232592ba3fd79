"""The limits every command's event meets: the quick check (run on every save)
refuses exactly what the walk that names the field refuses."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.json_values import nested, texts

from sessiontrail import InvalidInput
from sessiontrail.domain.limits import (
    MAX_EVENT_CHARS,
    MAX_INTEGER,
    MAX_JSON_DEPTH,
    MAX_TEXT_CHARS,
    MIN_INTEGER,
    _refuse,
    _within_limits,
    check_payload,
)
from sessiontrail.domain.values import Message, ToolCall

numbers = st.one_of(
    st.integers(min_value=MIN_INTEGER - 2, max_value=MAX_INTEGER + 2),
    st.sampled_from([MIN_INTEGER - 1, MIN_INTEGER, MAX_INTEGER, MAX_INTEGER + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
json_like = st.recursive(
    st.none() | numbers | texts,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=10,
)


# Models built unchecked, so that they may hold any value the walks must judge.
messages = st.builds(
    lambda content, metadata, arguments: Message.model_construct(
        role="assistant",
        content=content,
        metadata=metadata,
        tool_calls=[ToolCall.model_construct(id="c1", name="f", arguments=arguments)],
    ),
    texts,
    st.dictionaries(texts, json_like, max_size=3),
    json_like,
)
values = st.one_of(
    json_like,
    messages,
    st.sampled_from([nested(MAX_JSON_DEPTH - 1), nested(MAX_JSON_DEPTH)]),
    st.sampled_from([b"bytes", object(), math.nan]),
)
payloads = st.dictionaries(st.text(max_size=8), values, max_size=4)


def refused_by_the_named_walk(payload: dict[str, Any]) -> bool:
    try:
        _refuse(payload)
    except InvalidInput:
        return True
    return False


@given(payloads)
def test_the_quick_check_passes_exactly_what_the_named_walk_passes(
    payload: dict[str, Any],
) -> None:
    assert _within_limits(payload) == (not refused_by_the_named_walk(payload))


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"content": "\ud800"}, "content: not valid Unicode"),
        ({"meta": {"\udc00": 1}}, "meta (a key): not valid Unicode"),
        ({"n": MAX_INTEGER + 1}, "n: integers must lie between"),
        ({"f": [1.0, math.inf]}, "f.1: must be a finite number"),
        ({"deep": nested(MAX_JSON_DEPTH + 1)}, "nested deeper than"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "text: 1,000,001 characters"),
        (
            {f"t{i}": "x" * MAX_TEXT_CHARS for i in range(5)},
            f"over {MAX_EVENT_CHARS:,} characters",
        ),
    ],
)
def test_each_limit_is_refused_naming_the_field(
    payload: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(named)):
        check_payload(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"n": MAX_INTEGER, "m": MIN_INTEGER, "yes": True, "f": 1.5},
        {"deep": nested(MAX_JSON_DEPTH - 1)},
        {"text": "x" * MAX_TEXT_CHARS},
        {f"t{i}": "x" * MAX_TEXT_CHARS for i in range(4)},
    ],
)
def test_values_at_each_limit_pass(payload: dict[str, Any]) -> None:
    check_payload(payload)
    assert _within_limits(payload)
