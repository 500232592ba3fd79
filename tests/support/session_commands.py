"""Random session commands for property tests of the read models, and the fresh
database each example writes them to."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from sessiontrail import ConcurrencyConflict, Session, SessionNotFound, SessionTrail

SESSIONS = [("a", "alice"), ("b", "alice"), ("c", "bob"), ("d", None)]

command = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(SESSIONS), st.text(max_size=20)),
    st.tuples(st.just("truncate"), st.sampled_from(SESSIONS), st.integers(0, 4)),
    st.tuples(
        st.just("title"), st.sampled_from(SESSIONS), st.text("ab Zé", max_size=9)
    ),
    st.tuples(st.just("pin"), st.sampled_from(SESSIONS), st.booleans()),
    st.tuples(st.just("model"), st.sampled_from(SESSIONS), st.sampled_from("xyz")),
    st.tuples(st.just("usage"), st.sampled_from(SESSIONS), st.integers(0, 1000)),
    st.tuples(
        st.just("metadata"),
        st.sampled_from(SESSIONS),
        st.dictionaries(st.sampled_from("kl"), st.none() | st.text("xy", max_size=2)),
    ),
    st.tuples(st.just("delete"), st.sampled_from(SESSIONS), st.none()),
    st.tuples(st.just("restore"), st.sampled_from(SESSIONS), st.none()),
    st.tuples(
        st.just("start"), st.sampled_from(SESSIONS), st.text("ab Zé", max_size=9)
    ),
    st.tuples(st.just("catch_up"), st.none(), st.none()),
)


def run(
    trail: SessionTrail, name: str, target: tuple[str, str | None], arg: Any
) -> None:
    session_id, user_id = target
    repo = trail.sessions
    if name == "delete":
        repo.delete(session_id)
        return
    if name == "restore":
        repo.restore(session_id)
        return
    if name == "start":  # a new session with a title and metadata from the start
        started = Session(session_id, "m", user_id, title=arg, metadata={"k": arg})
        with contextlib.suppress(ConcurrencyConflict):  # the id is taken
            repo.create(started)
        return
    if name == "usage":
        repo.append_token_usage(session_id, {"total_tokens": arg, "cost": arg / 8})
        return
    session = repo.load_or_create(session_id, model="m", user_id=user_id)
    if name == "append":
        session.append_message(role="user", content=arg)
    elif name == "truncate":
        session.truncate(arg)
    elif name == "title" and arg.strip():
        session.edit_title(arg)
    elif name == "pin":
        session.set_pinned(arg)
    elif name == "model":
        session.set_model(arg)
    elif name == "metadata":
        session.update_metadata(arg)
    # Refused by design: reusing a deleted id, writing to a session the other
    # trail deleted meanwhile (this trail's cached copy is stale).
    with contextlib.suppress(ConcurrencyConflict, SessionNotFound):
        repo.save(session)


def new_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "memory":
        return f"memory://{uuid.uuid4().hex}"
    if backend == "sqlite":
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'trail.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(server.new_schema())
