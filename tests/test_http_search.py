"""Search and list filters over HTTP, and unknown query parameters refused."""

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


def chat(client: TestClient, user: str, session_id: str, text: str, **body: object):
    made = client.post(
        "/v1/sessions", json={"session_id": session_id, **body}, headers=bearer(user)
    )
    assert made.status_code == 201, made.text
    said = client.post(
        f"/v1/sessions/{session_id}/messages",
        json={"role": "user", "content": text},
        headers=bearer(user),
    )
    assert said.status_code in (200, 201), said.text


def listed(client: TestClient, user: str, query: str) -> list[str]:
    response = client.get(f"/v1/sessions?{query}", headers=bearer(user))
    assert response.status_code == 200, response.text
    return [item["session_id"] for item in response.json()["items"]]


def test_list_filters_by_words_model_and_metadata(client: TestClient):
    chat(client, "ann", "trip", "what about Lisbon?", model="m1", metadata={"k": 3})
    chat(client, "ann", "other", "Rome then", model="m2", metadata={"k": "3"})

    assert listed(client, "ann", "search=lisbon") == ["trip"]
    assert listed(client, "ann", "model=m2") == ["other"]
    assert listed(client, "ann", "meta=k=3") == ["trip"]
    assert listed(client, "ann", 'meta=k="3"') == ["other"]
    assert listed(client, "ann", "pinned=true") == []


def test_list_filters_by_time(client: TestClient):
    chat(client, "ann", "a", "x")

    assert listed(client, "ann", "since=2000-01-01T00:00:00Z") == ["a"]
    assert listed(client, "ann", "until=2000-01-01T00:00:00Z") == []


def test_search_route_returns_hits_of_the_callers_sessions_only(client: TestClient):
    chat(client, "ann", "mine", "the otter swims")
    chat(client, "bob", "theirs", "the otter swims")

    response = client.get("/v1/search?text=otter", headers=bearer("ann"))

    assert response.status_code == 200, response.text
    [hit] = response.json()
    assert hit["session"]["session_id"] == "mine"
    assert hit["snippet"] == "the **otter** swims"
    assert len(hit["message_ids"]) == 1


def test_a_filter_that_is_not_understood_is_422_naming_it(client: TestClient):
    response = client.get("/v1/sessions?meta=novalue", headers=bearer("ann"))
    assert response.status_code == 422
    assert "meta" in response.json()["detail"]
    response = client.get("/v1/sessions?search=%3F%21", headers=bearer("ann"))
    assert response.status_code == 422
    assert "text" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/sessions?q=Lisbon",
        "/v1/sessions?pined=true",
        "/v1/sessions/any?x=1",
        "/v1/sessions/any/messages?last=1",
        "/v1/sessions/any/history?who=me",
        "/v1/search?text=a&page=2",
    ],
)
def test_an_unknown_query_parameter_is_422_naming_it(client: TestClient, path: str):
    response = client.get(path, headers=bearer("ann"))

    assert response.status_code == 422, response.text
    unknown = path.split("?")[1].split("&")[-1].split("=")[0]
    assert response.json()["detail"].startswith(f"{unknown}: unknown query parameter")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/sessions", "since"),
        ("/v1/sessions/a/history", "since"),
        ("/v1/sessions/a/history", "until"),
        ("/v1/sessions/a/at", "time"),
    ],
)
@pytest.mark.parametrize(
    "moment",
    ["2020-01-01T00:00:00", "2020-01-01", "+5", "-1.5e3", "1.8e9"],
)
def test_a_query_time_not_iso_8601_with_its_offset_is_422_naming_it(
    client: TestClient, path: str, name: str, moment: str
):
    """Without an offset (whose zone?), or a number read as seconds past 1970."""
    chat(client, "ann", "a", "x")

    response = client.get(path, params={name: moment}, headers=bearer("ann"))

    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"query.{name}: "), response.text


@pytest.mark.parametrize(
    "query",
    [
        "pinned=true&pinned=false",
        "since=2020-01-01T00:00:00Z&since=2999-01-01T00:00:00Z",
        "limit=1&limit=2",
        "search=lisbon&search=rome",
    ],
)
def test_a_single_valued_query_parameter_given_twice_is_422_naming_it(
    client: TestClient, query: str
):
    chat(client, "ann", "a", "x")

    response = client.get(f"/v1/sessions?{query}", headers=bearer("ann"))

    assert response.status_code == 422, response.text
    name = query.split("=")[0]
    assert response.json()["detail"] == f"{name}: give it once"


def test_a_repeatable_query_parameter_may_be_given_twice(client: TestClient):
    chat(client, "ann", "trip", "x", metadata={"k": 3, "city": "Lisbon"})
    chat(client, "ann", "other", "y", metadata={"k": 3})

    assert listed(client, "ann", "meta=k=3&meta=city=Lisbon") == ["trip"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/sessions", "since"),
        ("/v1/sessions/a/history", "until"),
        ("/v1/sessions/a/at", "time"),
    ],
)
@pytest.mark.parametrize("moment", ["20260101T000000Z", "2026-W01-1T00:00:00Z"])
def test_an_iso_8601_time_in_another_form_is_one_422_naming_the_accepted_form(
    client: TestClient, path: str, name: str, moment: str
):
    """Python reads these ISO 8601 forms (basic, week date) but the API's
    times are RFC 3339 (`date-time`): refused with the same one message as any
    other time it does not take, naming the form it does."""
    chat(client, "ann", "a", "x")

    response = client.get(path, params={name: moment}, headers=bearer("ann"))

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        f"query.{name}: Value error, must be an ISO 8601 time with its offset, "
        "such as 2026-01-31T09:00:00Z"
    ), response.text
