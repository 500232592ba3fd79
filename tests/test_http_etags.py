"""A session's ETag names one stored session at one version: a purged id used
again counts its versions from 1 again, and a tag of the purged session must
not match the new one (RFC 9110: a strong validator changes whenever the
representation does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.http import bearer, write_tokens

from sessiontrail import SessionTrail
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

ANN = bearer("ann")


@pytest.fixture
def client(trail: SessionTrail, tmp_path: Path) -> Iterator[TestClient]:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def _started(client: TestClient, title: str) -> str:
    """Start chat `c` with this title; its ETag."""
    body = {"session_id": "c", "title": title}
    made = client.post("/v1/sessions", json=body, headers=ANN)
    assert made.status_code == 201, made.text
    return made.headers["ETag"]


def _purged(client: TestClient) -> None:
    gone = client.delete("/v1/sessions/c", params={"purge": "true"}, headers=ANN)
    assert gone.status_code == 200, gone.text


def test_an_etag_of_a_purged_session_does_not_match_the_new_session_of_its_id(
    client: TestClient,
) -> None:
    _started(client, "old chat")
    seen = client.get("/v1/sessions/c", headers=ANN).headers["ETag"]
    _purged(client)
    _started(client, "someone's new chat")

    edit = client.patch(
        "/v1/sessions/c", json={"title": "renamed"}, headers={**ANN, "If-Match": seen}
    )

    assert edit.status_code == 412, edit.text
    assert client.get("/v1/sessions/c", headers=ANN).json()["title"] == (
        "someone's new chat"
    )


def test_a_delete_with_an_etag_of_a_purged_session_deletes_nothing(
    client: TestClient,
) -> None:
    seen = _started(client, "old chat")
    _purged(client)
    _started(client, "someone's new chat")

    gone = client.delete("/v1/sessions/c", headers={**ANN, "If-Match": seen})

    assert gone.status_code == 412, gone.text
    assert client.get("/v1/sessions/c", headers=ANN).status_code == 200


def test_the_etag_of_a_read_matches_the_one_its_write_answered(
    client: TestClient,
) -> None:
    made = _started(client, "chat")

    read = client.get("/v1/sessions/c", headers=ANN).headers["ETag"]

    assert read == made and read.startswith('"1-')


def test_a_bare_version_as_if_match_is_412_with_the_etag_to_use(
    client: TestClient,
) -> None:
    """The ETag of earlier releases (`"1"`) names no session: the client is told
    the current ETag and retries with it."""
    made = _started(client, "chat")

    edit = client.patch(
        "/v1/sessions/c", json={"title": "renamed"}, headers={**ANN, "If-Match": '"1"'}
    )

    assert (edit.status_code, edit.headers["ETag"]) == (412, made)
