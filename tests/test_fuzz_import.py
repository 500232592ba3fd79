"""Hostile import files: every line of an export, and every value in it, replaced by
something odd (huge numbers, huge strings, control characters, NaN and infinity,
deep nesting, lone surrogates, wrong types). Each case is refused with one error
naming the line and the field, with nothing written; or accepted, and then the
export reads back exactly what the file said (and `-f json` is valid JSON)."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sessiontrail
from sessiontrail import InvalidInput, SessionTrail
from sessiontrail.domain.limits import MAX_ID_CHARS, MAX_JSON_DEPTH, MAX_TEXT_CHARS

HUGE_DIGITS = "@@more digits than Python converts@@"  # written as 5,000 digits


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"d": value}
    return value


def export_lines(trail: SessionTrail) -> list[dict[str, Any]]:
    out = io.StringIO()
    trail.exporter.write(out)
    lines = out.getvalue().split("\n")  # only "\n" ends a line, not U+0085 or U+2028
    return [json.loads(line) for line in lines if line]


@pytest.fixture(scope="module")
def original() -> list[dict[str, Any]]:
    return every_kind_of_event()


def every_kind_of_event() -> list[dict[str, Any]]:
    """An export holding every kind of event an import can carry."""
    with sessiontrail.connect("memory://") as trail:
        session = sessiontrail.Session(session_id="chat", user_id="ann", title="Trip")
        session.update_metadata({"lang": "en", "n": 1})
        session.append_message(
            role="user", content="hi", metadata={"k": [1, 2.5, None, True]}
        )
        session.append_message(
            role="assistant",
            tool_calls=[{"id": "c1", "name": "f", "arguments": {"q": "x"}}],
        )
        session.append_message(role="tool", tool_call_id="c1", content="42")
        session.append_message(
            role="user", content_parts=[{"type": "image", "url": "u"}]
        )
        session.edit_title("Plan")
        session.set_pinned(True)
        session.set_model("m")
        session.set_pending_question(
            {"tool_call_id": "c2", "tool_name": "ask", "question": "ok?"}
        )
        session.resolve_question()
        session.record_token_usage({"prompt_tokens": 3, "cost": 0.5})
        session.truncate(3)
        trail.sessions.save(session)
        qa = trail.qa
        qa.create_qa_entry("chat", "q", "a", user_id="ann", qa_id="e1")
        qa.update_qa_entry("chat", "e1", {"feedback_score": 4}, user_id="ann")
        qa.append_agent_trace_step(
            "ann", "chat", {"trace_id": "t1", "method_params": {"p": 1}}
        )
        qa.set_graph_context("chat", "graph", user_id="ann")
        qa.delete_qa_entry("chat", "e1", user_id="ann")
        return export_lines(trail)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value where another value can go."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def replaced(line: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = json.loads(json.dumps(line))
    holder = changed
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return changed


def write(path: Path, lines: list[Any]) -> Path:
    """JSON lines as Python writes them: NaN and Infinity as bare words, lone
    surrogates as \\u escapes."""
    text = "".join(json.dumps(line) + "\n" for line in lines)
    path.write_text(text.replace(json.dumps(HUGE_DIGITS), "1" + "0" * 4999))
    return path


characters = st.characters(exclude_categories=())  # NUL, controls, surrogates
hostile = st.one_of(
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**400, 10**4000, HUGE_DIGITS]),
    st.floats(),  # NaN and infinities included
    st.text(characters, max_size=20),
    st.sampled_from(["\x1b[31mred", "a\x00b", "\ud800", "\udfff x"]),
    st.builds(
        lambda char, size: char * size,
        st.sampled_from(["x", "é", "\x07"]),
        st.sampled_from(
            [MAX_ID_CHARS + 1, 5000, MAX_TEXT_CHARS + 1, 3 * MAX_TEXT_CHARS]
        ),
    ),
    st.sampled_from(
        [nested(MAX_JSON_DEPTH - 3), nested(MAX_JSON_DEPTH + 1), nested(100)]
    ),
    st.sampled_from([None, True, False, [], {}, "3", 3, 3.5, [1, "x"], {"a": 1}]),
    st.dictionaries(st.text(characters, max_size=5), st.integers(), max_size=2),
)
plausible = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=10),
    st.integers(-1000, 1000),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=2),
)
"""Values the API takes: so that both outcomes, accept and refuse, are seen."""
FUZZ = settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    deadline=None,
)


def refusal(trail: SessionTrail, file: Path, **options: Any) -> str | None:
    """Import `file`; the error's message if it is refused, else None."""
    try:
        trail.importer.import_file(file, **options)
    except InvalidInput as error:
        return str(error)
    return None


def outcome(file: Path, lines: list[dict[str, Any]], changed_line: int) -> None:
    """Refused naming the changed line, with nothing written; or accepted, and
    the export says exactly what the file said."""
    with sessiontrail.connect("memory://") as trail:
        message = refusal(trail, file)
        if message is None:
            reads_back_exactly(trail, lines)
            event("accepted and read back")
            return
        assert message.startswith(f"line {changed_line}: "), message
        assert "\n" not in message
        assert trail.store.head() == 0, "a refused import wrote something"
        event("refused")


def reads_back_exactly(trail: SessionTrail, lines: list[dict[str, Any]]) -> None:
    """The export holds every value `lines` gave, as given (what they left out
    comes back as its default); it imports back exactly; `-f json` is JSON."""
    exported = export_lines(trail)
    kept(lines, exported, "lines")
    with sessiontrail.connect("memory://") as elsewhere:
        elsewhere.importer.import_file(write_export(exported))
        assert export_lines(elsewhere) == exported
    document = io.StringIO()
    trail.exporter.write(document, format="json")
    json.loads(document.getvalue(), parse_constant=_not_json)


def kept(given: Any, exported: Any, where: str) -> None:
    """Every value of `given` is in `exported`, equal and of the same JSON type."""
    if isinstance(given, dict):
        assert isinstance(exported, dict), where
        for key, value in given.items():
            assert key in exported, f"{where}.{key}"
            kept(value, exported[key], f"{where}.{key}")
    elif isinstance(given, list):
        assert isinstance(exported, list) and len(exported) == len(given), where
        for index, (one, other) in enumerate(zip(given, exported, strict=True)):
            kept(one, other, f"{where}.{index}")
    else:
        assert (type(exported), exported) == (type(given), given), where


def write_export(lines: list[dict[str, Any]]) -> Path:
    directory = Path(tempfile.mkdtemp())
    return write(directory / "export.jsonl", lines)


def _not_json(word: str) -> Any:
    raise AssertionError(f"export wrote {word}, which is not JSON")


@FUZZ
@given(data=st.data(), value=st.one_of(plausible, hostile))
def test_any_value_of_an_export_replaced(
    original: list[dict[str, Any]], tmp_path_factory: Any, data: Any, value: Any
) -> None:
    index = data.draw(st.integers(0, len(original) - 1), label="line")
    path = data.draw(st.sampled_from(list(paths(original[index]))), label="path")
    lines = list(original)
    lines[index] = replaced(original[index], path, value)
    file = write(tmp_path_factory.mktemp("fuzz") / "in.jsonl", lines)
    outcome(file, lines, index + 1)


@FUZZ
@given(data=st.data(), key=st.text(characters, min_size=1, max_size=8))
def test_an_unknown_key_anywhere_in_an_export(
    original: list[dict[str, Any]], tmp_path_factory: Any, data: Any, key: str
) -> None:
    index = data.draw(st.integers(0, len(original) - 1), label="line")
    holders = [()] + [
        path
        for path in paths(original[index])
        if isinstance(_at(original[index], path), dict)
    ]
    path = data.draw(st.sampled_from(holders), label="object")
    lines = list(original)
    line = json.loads(json.dumps(original[index]))
    holder = _at(line, path)
    if key in holder:
        return
    holder[key] = 1
    lines[index] = line
    file = write(tmp_path_factory.mktemp("fuzz") / "in.jsonl", lines)
    outcome(file, lines, index + 1)


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@FUZZ
@given(
    content=st.one_of(plausible, hostile),
    metadata=st.one_of(plausible, hostile),
    arguments=st.one_of(plausible, hostile),
)
def test_a_chat_file_of_odd_messages(
    tmp_path_factory: Any, content: Any, metadata: Any, arguments: Any
) -> None:
    message = {
        "role": "assistant",
        "content": content,
        "metadata": metadata,
        "tool_calls": [{"id": "c1", "name": "f", "arguments": arguments}],
    }
    file = write(tmp_path_factory.mktemp("fuzz") / "chat.jsonl", [message])
    with sessiontrail.connect("memory://") as trail:
        message = refusal(trail, file, session_id="chat")
        if message is not None:
            assert message.startswith("line 1: "), message
            assert trail.store.head() == 0, "a refused import wrote something"
            event("refused")
            return
        [stored] = trail.sessions.load("chat").messages
        if isinstance(content, list):  # OpenAI's parts: kept as content_parts
            assert stored.content_parts == content
        else:
            assert stored.content == ("" if content is None else content)
        assert stored.metadata == (metadata or {})
        assert stored.tool_calls[0].arguments == arguments
        exported = export_lines(trail)
        reads_back_exactly(trail, exported)
    event("accepted and read back")


ISSUE_CASES = {
    "a 3,000,000-character message": (
        (2, "payload", "message", "content"),
        "x" * 3_000_000,
        "payload.message.content: 3,000,000 characters",
    ),
    "a 5,000-character session id": (
        (0, "payload", "session_id"),
        "s" * 5000,
        "payload.session_id: String should have at most 256 characters",
    ),
    "a title with ESC characters": (
        (0, "payload", "title"),
        "\x1b[31mTrip",
        "payload.title: Value error, must not contain control characters",
    ),
    "NaN in metadata": (
        (0, "payload", "metadata", "x"),
        float("nan"),
        "payload.metadata.x: must be a finite number",
    ),
    "100-level nesting": (
        (0, "payload", "metadata", "x"),
        nested(100),
        "nested deeper than 32 levels",
    ),
    "a lone surrogate": (
        (2, "payload", "message", "content"),
        "\ud800",
        "payload.message.content: not valid Unicode",
    ),
    "a 310-digit integer": (
        (2, "payload", "message", "metadata", "n"),
        10**309,
        "payload.message.metadata.n: integers must lie between",
    ),
    "a message id with ESC": (
        (2, "payload", "message", "id"),
        "m\x1b[2J",
        "payload.message: Value error, id must not contain control characters",
    ),
    "a version given as text": (
        (1, "version"),
        "2",
        "version: would read back as 2, not as given",
    ),
    "a flag given as text": (
        (7, "payload", "pinned"),
        "yes",
        "payload.pinned: would read back as true, not as given",
    ),
    "a time given as a number": (
        (1, "timestamp"),
        1_700_000_000,
        'timestamp: would read back as "2023-11-14T22:13:20Z", not as given',
    ),
}


ISSUE_CASES |= {
    "a later line naming another user": (
        (1, "user_id"),
        "bob",
        "session stream of 'chat': user_id 'bob', but the stream belongs to 'ann'",
    ),
    "a stream starting at version 2": (
        (0, "version"),
        2,
        "session stream of 'chat': must start with its own start event at version 1",
    ),
}


@pytest.mark.parametrize("case", ISSUE_CASES)
def test_each_case_is_refused_at_its_line_naming_the_field(
    original: list[dict[str, Any]], tmp_path: Path, case: str
) -> None:
    (index, *path), value, expected = ISSUE_CASES[case]
    lines = list(original)
    lines[index] = replaced(original[index], tuple(path), value)
    with sessiontrail.connect("memory://") as trail:
        message = refusal(trail, write(tmp_path / "in.jsonl", lines))
        assert message is not None
        assert re.match(rf"line {index + 1}: .*{re.escape(expected)}", message)
        assert trail.store.head() == 0


def test_an_odd_key_is_quoted_escaped_and_short_in_the_error(
    original: list[dict[str, Any]], tmp_path: Path
) -> None:
    """An error message never carries a key's control characters (a terminal
    would obey them) nor all of a huge key."""
    line = json.loads(json.dumps(original[0]))
    line["\x1b[2J\nspoof: ok" + "k" * 1000] = 1
    with sessiontrail.connect("memory://") as trail:
        message = refusal(trail, write(tmp_path / "in.jsonl", [line]))
        assert message is not None
        assert message.startswith("line 1: \\x1b[2J\\nspoof: ok")
        assert message.isprintable() and len(message) < 200, message
