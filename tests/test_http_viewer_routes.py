"""What the viewer needs from the server: its files, who the token names, and
a diff between two versions (run on every backend, without a browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.http import bearer, write_tokens

from sessiontrail import SessionTrail
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens


@pytest.fixture
def client(trail: SessionTrail, tmp_path: Path) -> Iterator[TestClient]:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def test_the_page_and_its_files_are_served_with_a_strict_policy(client: TestClient):
    page = client.get("/")
    script = client.get("/viewer/app.js")

    assert page.status_code == 200 and "<main" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("name", ["router.py", "..%2Fapp.py", "nope.js"])
def test_nothing_but_the_viewers_files_is_served(client: TestClient, name: str):
    assert client.get(f"/viewer/{name}").status_code == 404


def test_me_names_the_tokens_user(client: TestClient):
    assert client.get("/v1/me", headers=bearer("ann")).json() == {
        "user_id": "ann",
        "admin": False,
        "actor": "ann",
    }


def test_diff_lists_messages_added_and_fields_changed(
    client: TestClient, trail: SessionTrail
):
    session = trail.sessions.load_or_create("chat", user_id="ann")
    session.append_message(role="user", content="one")
    session.edit_title("Two")
    session.append_message(role="user", content="three")
    trail.sessions.save(session)

    response = client.get("/v1/sessions/chat/diff?from=2&to=4", headers=bearer("ann"))

    assert response.status_code == 200, response.text
    change = response.json()
    assert [m["content"] for m in change["added"]] == ["three"]
    assert change["removed"] == []
    assert change["fields"] == {"title": ["", "Two"]}


def test_diff_of_another_users_session_is_404(client: TestClient, trail: SessionTrail):
    session = trail.sessions.load_or_create("chat", user_id="ann")
    session.append_message(role="user", content="one")
    trail.sessions.save(session)

    response = client.get("/v1/sessions/chat/diff?from=1&to=2", headers=bearer("bob"))

    assert response.status_code == 404
