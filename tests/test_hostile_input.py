"""Hostile input through every public entry point: accepted and read back exactly,
or refused with InvalidInput naming the field, and then nothing was written."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from support.cli import invoke
from support.json_values import characters, nested, texts

import sessiontrail
from sessiontrail import InvalidInput, SessionTraceStep, SessionTrail
from sessiontrail.domain.limits import MAX_JSON_DEPTH

numbers = st.one_of(
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans()
)
json_like = st.recursive(
    st.none() | numbers | texts,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4)
    ),
    max_leaves=12,
)


not_json = st.sampled_from([b"bytes", {1, 2}, object(), 1j, math.nan, (1, 2)])
anything = st.one_of(
    texts,
    json_like,
    not_json,
    st.sampled_from([nested(MAX_JSON_DEPTH - 1), nested(MAX_JSON_DEPTH + 5)]),
)
objects = st.one_of(st.dictionaries(texts, anything, max_size=3), anything)
# Half plausible, half hostile: so that both paths, accept and refuse, are taken.
text_or_anything = st.one_of(st.text(max_size=30), anything)
object_or_anything = st.one_of(st.dictionaries(st.text(max_size=8), json_like), objects)

LISTED_USERS = ["ann", "bob"]

FUZZ = settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.fixture(scope="module")
def shared() -> Iterator[SessionTrail]:
    """One in-memory trail for the whole module: hypothesis runs many examples.

    It starts with sessions of two users, so that listings by user have something
    to leave out."""
    with sessiontrail.connect("memory://hostile") as trail:
        for number, user_id in enumerate(LISTED_USERS * 2):
            session_id = f"{user_id}-{number}"
            trail.sessions.save(sessiontrail.Session(session_id, user_id=user_id))
        yield trail


def attempt(
    trail: SessionTrail,
    fields: str,
    write: Callable[[], Any],
    check: Callable[[Any], None],
) -> None:
    """Run `write`; if it is refused, the error names one of `fields` and the log
    did not move; otherwise `check` sees what it returned."""
    head = trail.store.head()
    refused: InvalidInput | None = None
    try:
        result = write()
    except InvalidInput as error:
        refused = error
    if refused is not None:
        assert re.search(rf"\b({fields})\b", str(refused)), str(refused)
        assert trail.store.head() == head, "a refused write wrote something"
        event("refused")
        return
    check(result)
    event("accepted and read back")


counter = iter(range(10**9))


def fresh(trail: SessionTrail) -> str:
    session_id = f"fuzz-{next(counter)}"
    trail.sessions.save(trail.sessions.load_or_create(session_id))
    return session_id


@FUZZ
@given(
    session_id=text_or_anything,
    user_id=text_or_anything,
    model=text_or_anything,
    title=text_or_anything,
)
@example(session_id="chat", user_id="ann", model="gpt-4o", title="Hello")  # accepted
def test_starting_a_session(session_id, user_id, model, title):
    with sessiontrail.connect("memory://") as trail:  # ids repeat across examples

        def write() -> None:
            session = sessiontrail.Session(
                session_id=session_id, user_id=user_id, model=model, title=title
            )
            trail.sessions.save(session)

        def check(_: object) -> None:
            loaded = trail.sessions.load(session_id, user_id=user_id)
            assert (loaded.session_id, loaded.user_id) == (session_id, user_id)
            assert (loaded.model, loaded.title) == (model, title)

        attempt(trail, "session_id|user_id|model|title", write, check)


@FUZZ
@given(
    content=text_or_anything,
    message_id=st.one_of(st.none(), texts),
    metadata=object_or_anything,
)
def test_appending_a_message(shared: SessionTrail, content, message_id, metadata):
    session_id = fresh(shared)

    def write() -> sessiontrail.Message:
        session = shared.sessions.load(session_id)
        message = session.append_message(
            role="user", content=content, id=message_id, metadata=metadata
        )
        shared.sessions.save(session)
        return message

    def check(message: sessiontrail.Message) -> None:
        shared.sessions._cache.evict(session_id)
        [stored] = shared.sessions.load(session_id).messages
        assert stored == message
        assert (stored.content, stored.metadata) == (content, metadata or {})

    attempt(shared, "content|id|metadata", write, check)


@FUZZ
@given(arguments=object_or_anything, name=text_or_anything)
def test_tool_calls(shared: SessionTrail, arguments, name):
    session_id = fresh(shared)

    def write() -> sessiontrail.Message:
        session = shared.sessions.load(session_id)
        call = {"id": "c1", "name": name, "arguments": arguments}
        message = session.append_message(role="assistant", tool_calls=[call])
        shared.sessions.save(session)
        return message

    def check(message: sessiontrail.Message) -> None:
        shared.sessions._cache.evict(session_id)
        [stored] = shared.sessions.load(session_id).messages
        assert stored == message and stored.tool_calls[0].arguments == arguments

    attempt(shared, "tool_calls", write, check)


@FUZZ
@given(changes=object_or_anything)
def test_metadata_edits(shared: SessionTrail, changes):
    session_id = fresh(shared)

    def write() -> None:
        session = shared.sessions.load(session_id)
        session.update_metadata(changes)
        shared.sessions.save(session)

    def check(_: object) -> None:
        shared.sessions._cache.evict(session_id)
        expected = {k: v for k, v in changes.items() if v is not None}
        assert shared.sessions.load(session_id).metadata == expected

    attempt(shared, "changes", write, check)


@FUZZ
@given(title=text_or_anything)
def test_title_edits(shared: SessionTrail, title):
    session_id = fresh(shared)

    def write() -> None:
        session = shared.sessions.load(session_id)
        session.edit_title(title)
        shared.sessions.save(session)

    def check(_: object) -> None:
        shared.sessions._cache.evict(session_id)
        assert shared.sessions.load(session_id).title == title.strip()  # trimmed

    attempt(shared, "title", write, check)


json_texts = st.one_of(
    st.builds(json.dumps, json_like),
    st.just("1" * 1_000_000),  # an integer past Python's conversion limit
)


@FUZZ
@given(record=st.one_of(object_or_anything, json_texts))
def test_token_usage(shared: SessionTrail, record):
    session_id = fresh(shared)

    def write() -> None:
        shared.sessions.append_token_usage(session_id, record)

    def check(_: object) -> None:
        shared.sessions._cache.evict(session_id)
        expected = json.loads(record) if isinstance(record, str) else record
        assert shared.sessions.load(session_id).token_usage == [expected]

    attempt(shared, "record", write, check)


@FUZZ
@given(
    question=text_or_anything,
    answer=text_or_anything,
    context=st.one_of(st.none(), text_or_anything),
    qa_id=st.one_of(st.none(), text_or_anything),
)
def test_qa_entries(shared: SessionTrail, question, answer, context, qa_id):
    session_id = fresh(shared)

    def write() -> str:
        return shared.qa.create_qa_entry(
            session_id, question, answer, context=context, qa_id=qa_id
        )

    def check(entry_id: str) -> None:
        [entry] = shared.qa.get_all_qa_entries(session_id)
        assert (entry.id, entry.question, entry.answer, entry.context) == (
            entry_id,
            question,
            answer,
            context,
        )

    attempt(shared, "question|answer|context|qa_id", write, check)


@FUZZ
@given(params=object_or_anything, returned=json_like, query=text_or_anything)
def test_trace_steps(shared: SessionTrail, params, returned, query):
    session_id = fresh(shared)

    def write() -> dict[str, Any]:
        step = {
            "trace_id": "t",
            "method_params": params,
            "method_return_value": returned,
            "memory_query": query,
        }
        shared.qa.append_agent_trace_step(None, session_id, step)
        return step

    def check(step: dict[str, Any]) -> None:
        assert shared.qa.get_agent_trace_steps(None, session_id) == [
            SessionTraceStep(**step)
        ]

    attempt(shared, "step|method_params|method_return_value|memory_query", write, check)


@FUZZ
@given(
    cursor=st.one_of(st.none(), anything),
    limit=st.one_of(st.integers(1, 5), st.integers(-3, 2000), anything),
    user_id=st.one_of(st.none(), st.sampled_from(LISTED_USERS), text_or_anything),
)
@example(cursor=None, limit=1, user_id=None)  # the accepting path, every run
@example(cursor=None, limit=3, user_id="ann")
def test_listing(shared: SessionTrail, cursor, limit, user_id):
    def write() -> sessiontrail.Page:
        return shared.sessions.list(limit=limit, cursor=cursor, user_id=user_id)

    def check(page: sessiontrail.Page) -> None:
        """The page is the listing's first `limit` sessions (no cursor a list did
        not return is accepted), all the user's; its cursor continues right after."""
        assert cursor is None, f"a made-up cursor was accepted: {cursor!r}"
        size = len(page.items)
        listed = shared.sessions.list_paginated(user_id=user_id)
        assert page.items == listed[:size]
        assert size == min(int(limit), len(listed))
        if user_id is not None:
            assert {item.user_id for item in page.items} <= {user_id}
        if page.next_cursor is None:
            assert size == len(listed)
        else:
            rest = shared.sessions.list(
                limit=limit, cursor=page.next_cursor, user_id=user_id
            )
            assert rest.items == listed[size : 2 * size]

    attempt(shared, "cursor|limit|user_id", write, check)


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(session_id=st.text(characters, min_size=1, max_size=20))
def test_the_cli_never_crashes_on_odd_ids(tmp_path_factory, session_id):
    url = f"sqlite:///{tmp_path_factory.getbasetemp() / 'cli-fuzz.db'}"
    for command in (["show", session_id], ["history", session_id], ["--json", "ls"]):
        if command[0] == "--json":
            command = ["ls", "--json"]
        result = invoke("--db", url, "--user", session_id, *command)
        assert result.exit_code in (0, 1), result.stdout + result.stderr
        if result.exit_code == 1:
            assert result.stderr.startswith("error: "), result.stderr


INJECTIONS = [
    "'; DROP TABLE stored_events; --",
    '" OR 1=1 --',
    "Robert'); DROP TABLE students;--",
    "1; DELETE FROM st_sessions_g1",
    "%s%s%s",
    "?",
    "$1",
    "\\'; SELECT pg_sleep(10); --",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_injection_strings_are_just_data(trail: SessionTrail) -> None:
    for text in INJECTIONS:
        session = trail.sessions.load_or_create(text, user_id=text, model=text)
        session.edit_title(text)
        session.append_message(
            role="user", content=text, id=text, metadata={text: text}
        )
        trail.sessions.save(session)
        trail.qa.create_qa_entry(text, text, text, user_id=text, qa_id=text)
    for text in INJECTIONS:
        loaded = trail.sessions.load(text, user_id=text)
        assert (loaded.title, loaded.messages[0].content, loaded.messages[0].id) == (
            text,
            text,
            text,
        )
        assert [
            e.question for e in trail.qa.get_all_qa_entries(text, user_id=text)
        ] == [text]
        assert [s.session_id for s in trail.sessions.list(user_id=text).items] == [text]
    assert len(trail.sessions.list(limit=50).items) == len(INJECTIONS)
    assert trail.verify().ok
