"""A save tells its session the chain value it stored, from the save itself: the
process's memory of stream heads (bounded, least recently used dropped first)
may no longer hold it by then."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.http import bearer, write_tokens

from sessiontrail import SessionTrail
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

ANN = bearer("ann")


@pytest.fixture
def forgetful(trail: SessionTrail, monkeypatch: pytest.MonkeyPatch) -> SessionTrail:
    """The trail, its memory of stream heads dropping each head as it is kept
    (as a busy process's does once other streams pushed it out)."""
    monkeypatch.setattr(trail.store._heads, "_size", 0)
    return trail


def test_a_saved_session_holds_the_chain_value_it_stored(
    forgetful: SessionTrail,
) -> None:
    session = forgetful.sessions.load_or_create("c", user_id="ann")
    session.append_message(role="user", content="hi")
    forgetful.sessions.save(session)
    assert session.stored_head is not None
    assert session.stored_head == forgetful.store.chain_value(
        session.id, session.version
    )


def test_an_etag_given_by_a_write_is_accepted_by_the_next_write(
    forgetful: SessionTrail, tmp_path: Path
) -> None:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(forgetful, tokens)) as client:
        made = client.post("/v1/sessions", json={"session_id": "c"}, headers=ANN)
        assert made.status_code == 201, made.text
        edit = client.patch(
            "/v1/sessions/c",
            json={"title": "renamed"},
            headers={**ANN, "If-Match": made.headers["ETag"]},
        )
        assert edit.status_code == 200, edit.text
