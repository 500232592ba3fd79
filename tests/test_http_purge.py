"""`DELETE /v1/sessions/{id}?purge=true`: the owner or an admin purges; another
user gets the same 404 as for a missing session; the soft delete is unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.http import bearer, write_tokens
from test_http_api import make, say

from sessiontrail import SessionTrail
from sessiontrail.server.access import etag
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens


@pytest.fixture
def client(trail: SessionTrail, tmp_path: Path) -> Iterator[TestClient]:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def test_the_owner_purges_their_session(client: TestClient) -> None:
    make(client, "ann", "chat-1")
    say(client, "ann", "chat-1", "forget me")
    purged = client.delete(
        "/v1/sessions/chat-1?purge=true&reason=asked", headers=bearer("ann")
    )
    assert purged.status_code == 200, purged.text
    assert purged.json()["events"] == 2 and purged.json()["chain_ok"]
    gone = client.get("/v1/sessions/chat-1", headers=bearer("ann"))
    assert gone.status_code == 404
    feed = client.get("/v1/events", headers=bearer("ann")).json()["items"]
    assert [(e["event"], e["actor"]) for e in feed] == [("SessionPurged", "ann")]


def test_another_users_purge_is_the_404_of_a_missing_session(
    client: TestClient,
) -> None:
    make(client, "ann", "chat-1")
    theirs = client.delete("/v1/sessions/chat-1?purge=true", headers=bearer("bob"))
    missing = client.delete("/v1/sessions/chat-9?purge=true", headers=bearer("bob"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == {
        **missing.json(),
        "detail": missing.json()["detail"].replace("chat-9", "chat-1"),
    }
    assert client.get("/v1/sessions/chat-1", headers=bearer("ann")).status_code == 200


def test_an_admin_purges_anyones_session(client: TestClient) -> None:
    make(client, "ann", "chat-1")
    purged = client.delete("/v1/sessions/chat-1?purge=true", headers=bearer("admin"))
    assert purged.status_code == 200
    assert client.get("/v1/sessions/chat-1", headers=bearer("ann")).status_code == 404


def test_without_purge_a_delete_stays_a_soft_delete(client: TestClient) -> None:
    make(client, "ann", "chat-1")
    deleted = client.delete("/v1/sessions/chat-1", headers=bearer("ann"))
    assert deleted.status_code == 204
    restored = client.post("/v1/sessions/chat-1/restore", headers=bearer("ann"))
    assert restored.status_code == 200


@pytest.mark.parametrize("purge", ["true", "false"])
def test_a_delete_with_an_old_if_match_is_412_and_deletes_nothing(
    client: TestClient, purge: str
) -> None:
    make(client, "ann", "chat-1")
    seen = client.get("/v1/sessions/chat-1", headers=bearer("ann")).headers["ETag"]
    say(client, "ann", "chat-1", "written after the client looked")

    refused = client.delete(
        f"/v1/sessions/chat-1?purge={purge}",
        headers={**bearer("ann"), "If-Match": seen},
    )

    assert refused.status_code == 412
    now = client.get("/v1/sessions/chat-1", headers=bearer("ann"))
    assert now.status_code == 200 and refused.headers["ETag"] == now.headers["ETag"]
    done = client.delete(
        f"/v1/sessions/chat-1?purge={purge}",
        headers={**bearer("ann"), "If-Match": now.headers["ETag"]},
    )
    assert done.status_code == (200 if purge == "true" else 204)
    assert client.get("/v1/sessions/chat-1", headers=bearer("ann")).status_code == 404


def soft_deleted(client: TestClient) -> str:
    """Ann's chat-1, made and then soft-deleted; its ETag before the delete."""
    make(client, "ann", "chat-1")
    before = client.get("/v1/sessions/chat-1", headers=bearer("ann")).headers["ETag"]
    deleted = client.delete("/v1/sessions/chat-1", headers=bearer("ann"))
    assert deleted.status_code == 204
    return str(before)


def purge_then_restore(client: TestClient, if_match: str) -> tuple[int, int]:
    """The status of a purge of chat-1 with this If-Match, then of a restore."""
    purged = client.delete(
        "/v1/sessions/chat-1?purge=true",
        headers={**bearer("ann"), "If-Match": if_match},
    )
    restored = client.post("/v1/sessions/chat-1/restore", headers=bearer("ann"))
    return purged.status_code, restored.status_code


@pytest.mark.parametrize("if_match", ["version", "*"])
def test_a_soft_deleted_session_is_purged_with_if_match(
    client: TestClient, trail: SessionTrail, if_match: str
) -> None:
    soft_deleted(client)
    stored = trail.store.load(trail.store.ids.stream("chat-1"))
    assert stored is not None and stored.deleted
    deleted_at = etag(stored)  # the delete is a version

    matching = deleted_at if if_match == "version" else "*"
    assert purge_then_restore(client, matching) == (200, 404)


def test_a_soft_deleted_session_is_not_purged_with_an_old_if_match(
    client: TestClient,
) -> None:
    before = soft_deleted(client)

    assert purge_then_restore(client, before) == (412, 200)


def test_a_reason_without_purge_is_422_naming_reason_and_deletes_nothing(
    client: TestClient,
) -> None:
    make(client, "ann", "chat-1")
    refused = client.delete("/v1/sessions/chat-1?reason=why", headers=bearer("ann"))
    assert refused.status_code == 422, refused.text
    assert "reason" in refused.json()["detail"]
    assert client.get("/v1/sessions/chat-1", headers=bearer("ann")).status_code == 200


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("purge=true&purge=false", "purge"),
        ("purge=false&purge=true", "purge"),
        ("purge=true&reason=first&reason=second", "reason"),
    ],
)
def test_a_repeated_parameter_is_422_and_deletes_nothing(
    client: TestClient, query: str, named: str
) -> None:
    make(client, "ann", "chat-1")
    refused = client.delete(f"/v1/sessions/chat-1?{query}", headers=bearer("ann"))
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith(f"{named}:")
    assert client.get("/v1/sessions/chat-1", headers=bearer("ann")).status_code == 200
