"""The HTTP API against hostile input, on every backend: integers past what the
store takes, many live feeds at once, a session id created twice with different
bodies, and requests racing with one Idempotency-Key."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from support.http import bearer, serve, serving_app, write_tokens

from sessiontrail import SessionTrail
from sessiontrail.domain.errors import InvalidInput
from sessiontrail.server.access import MAX_QUERY_INT
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return Tokens.load(write_tokens(tmp_path / "tokens.json"))


@pytest.fixture
def client(trail: SessionTrail, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def make(client: TestClient, session_id: str, **body: object) -> None:
    made = client.post(
        "/v1/sessions", json={"session_id": session_id, **body}, headers=bearer("ann")
    )
    assert made.status_code == 201, made.text


# -- integers at the door -------------------------------------------------------------

REQUIRED_QUERY = {"from": "1", "to": "1", "text": "hi"}
"""A valid value for each required query parameter."""
TOO_LARGE = (2**53, 2**63, 10**30)


Parameter = tuple[str, str, str, dict[str, str], bool]


def integer_parameters(client: TestClient) -> list[Parameter]:
    """(method, path, parameter, the route's other required parameters, admin)
    for every integer query parameter of every route, as OpenAPI lists them."""
    found = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in operations.items():
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            required = {
                p["name"]: REQUIRED_QUERY[p["name"]] for p in query if p.get("required")
            }
            for parameter in query:
                schema = parameter["schema"]
                kinds = [option.get("type") for option in schema.get("anyOf", [schema])]
                if "integer" in kinds:
                    admin = "admin" in operation.get("tags", [])
                    found.append((method, path, parameter["name"], required, admin))
    return found


def test_every_integer_query_parameter_past_the_bound_is_422_naming_it(
    client: TestClient, trail: SessionTrail
) -> None:
    make(client, "chat-1")
    client.app.state.stopping.set()  # type: ignore[attr-defined]  # a stream let in ends
    walked, problems = integer_parameters(client), []
    for method, path, name, required, admin in walked:
        url = path.format(session_id="chat-1")
        for value in TOO_LARGE:
            before = trail.store.head()
            answer = client.request(
                method,
                url,
                params={**required, name: str(value)},
                headers=bearer("admin" if admin else "ann"),
            )
            detail = answer.json().get("detail", "") if answer.content else ""
            if answer.status_code != 422 or not detail.startswith(f"query.{name}:"):
                problems.append(f"{method} {path} {name}={value}: {answer.text:.120}")
            elif trail.store.head() != before:
                problems.append(f"{method} {path} {name}={value}: wrote something")
    assert len(walked) >= 12 and not problems, "\n".join(problems)


def test_the_diff_names_to_when_to_is_past_the_bound(client: TestClient) -> None:
    make(client, "chat-1")
    answer = client.get(
        f"/v1/sessions/chat-1/diff?from=1&to={2**53}",
        headers=bearer("ann"),
    )
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("query.to:"), answer.text


def test_the_diff_names_to_when_to_is_past_the_last_version(
    client: TestClient,
) -> None:
    make(client, "chat-1")
    answer = client.get("/v1/sessions/chat-1/diff?from=1&to=9", headers=bearer("ann"))
    assert answer.status_code == 422
    assert answer.json()["detail"] == "to: 'chat-1' has 1 versions, not 9"


@pytest.mark.parametrize("value", TOO_LARGE)
def test_a_last_event_id_past_the_bound_is_422_and_streams_nothing(
    client: TestClient, value: int
) -> None:
    client.app.state.stopping.set()  # type: ignore[attr-defined]  # a stream let in ends
    answer = client.get(
        "/v1/events/stream", headers={**bearer("ann"), "Last-Event-ID": str(value)}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == f"Last-Event-ID: at most {MAX_QUERY_INT}"


@pytest.mark.parametrize("where", ["query", "header"])
def test_a_feed_from_the_bound_itself_streams_without_failing(
    client: TestClient, where: str
) -> None:
    make(client, "chat-1")
    client.app.state.stopping.set()  # type: ignore[attr-defined]  # the stream ends
    bound = str(MAX_QUERY_INT)
    resume = {"Last-Event-ID": bound} if where == "header" else {}
    answer = client.get(
        "/v1/events/stream",
        params={"after": bound} if where == "query" else {},
        headers={**bearer("ann"), **resume},
    )  # the client raises the server's error, if the stream failed
    assert answer.status_code == 200 and answer.text == ""


# -- one session id, created twice ----------------------------------------------------

FIRST = {"title": "Trip", "model": "gpt-4o", "metadata": {"lang": "en"}}


def test_creating_a_stored_id_again_with_its_body_is_200_and_writes_nothing(
    client: TestClient, trail: SessionTrail
) -> None:
    make(client, "chat-1", **FIRST)
    before = trail.store.head()
    again = client.post(
        "/v1/sessions", json={"session_id": "chat-1", **FIRST}, headers=bearer("ann")
    )
    assert again.status_code == 200, again.text
    assert (again.json()["title"], again.json()["version"]) == ("Trip", 1)
    assert trail.store.head() == before


@pytest.mark.parametrize(
    "change", [{"title": "Other"}, {"model": "o3"}, {"metadata": {"lang": "de"}}]
)
def test_creating_a_stored_id_with_another_body_is_409_naming_it_nothing_written(
    client: TestClient, trail: SessionTrail, change: dict[str, object]
) -> None:
    make(client, "chat-1", **FIRST)
    before = trail.store.head()
    clash = client.post(
        "/v1/sessions",
        json={"session_id": "chat-1", **FIRST, **change},
        headers=bearer("ann"),
    )
    assert clash.status_code == 409, clash.text
    (name,) = change
    assert f"created with another {name};" in clash.json()["detail"]
    assert trail.store.head() == before
    stored = trail.sessions.load("chat-1", user_id="ann")
    assert (stored.title, stored.model, stored.metadata) == (
        "Trip",
        "gpt-4o",
        {"lang": "en"},
    )


def test_creating_a_stored_id_with_another_body_and_a_key_is_422_for_the_key(
    client: TestClient,
) -> None:
    keyed = {**bearer("ann"), "Idempotency-Key": "k-1"}
    body = {"session_id": "chat-1", **FIRST}
    assert client.post("/v1/sessions", json=body, headers=keyed).status_code == 201
    clash = client.post("/v1/sessions", json={**body, "title": "Other"}, headers=keyed)
    assert clash.status_code == 422
    assert clash.json()["detail"].startswith("Idempotency-Key: 'k-1' was already used")


def test_creating_another_users_id_is_409_and_shows_nothing_of_it(
    client: TestClient,
) -> None:
    make(client, "chat-1", **FIRST)
    clash = client.post(
        "/v1/sessions", json={"session_id": "chat-1", **FIRST}, headers=bearer("bob")
    )
    assert clash.status_code == 409
    assert clash.json() == {"detail": "session id 'chat-1' is already in use"}


def test_creating_an_id_an_admin_did_not_make_or_a_forks_id_is_409(
    client: TestClient,
) -> None:
    make(client, "chat-1", **FIRST)
    forked = client.post(
        "/v1/sessions/chat-1/fork", json={"new_id": "fork-1"}, headers=bearer("ann")
    )
    assert forked.status_code == 201
    for user, session_id in (("admin", "chat-1"), ("ann", "fork-1")):
        clash = client.post(
            "/v1/sessions",
            json={"session_id": session_id, **FIRST},
            headers=bearer(user),
        )
        assert clash.status_code == 409, (user, clash.text)
        assert clash.json()["detail"].endswith("is already in use")


# -- racing requests with one Idempotency-Key -----------------------------------------

RACES = 5


@pytest.fixture
def two_servers(
    trail: SessionTrail, other_trail: SessionTrail, tokens: Tokens
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one database, each with its own trail (as two processes)."""
    with (
        TestClient(create_app(trail, tokens)) as one,
        TestClient(create_app(other_trail, tokens)) as two,
    ):
        yield one, two


def race(
    sends: list[tuple[TestClient, str, dict[str, object], str | None]],
) -> list[httpx.Response]:
    """POST each (client, path, body, Idempotency-Key or None) at once, released
    by one barrier."""
    start = threading.Barrier(len(sends))

    def send(
        client: TestClient, path: str, body: dict[str, object], key: str | None
    ) -> httpx.Response:
        keyed = {} if key is None else {"Idempotency-Key": key}
        start.wait(timeout=30)
        return client.post(path, json=body, headers={**bearer("ann"), **keyed})

    with ThreadPoolExecutor(len(sends)) as pool:
        futures = [pool.submit(send, *one) for one in sends]
        return [future.result(timeout=60) for future in futures]


def test_racing_creates_with_one_key_and_different_bodies_one_wins(
    two_servers: tuple[TestClient, TestClient], trail: SessionTrail
) -> None:
    one, two = two_servers
    for attempt in range(RACES):
        key = f"create-{attempt}"
        answers = race(
            [
                (one, "/v1/sessions", {"title": "from one"}, key),
                (two, "/v1/sessions", {"title": "from two"}, key),
            ]
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [201, 422], [answer.text for answer in answers]
        (won,) = [answer.json() for answer in answers if answer.status_code == 201]
        stored = trail.sessions.load(won["session_id"], user_id="ann")
        assert (stored.title, stored.version) == (won["title"], 1)


def test_racing_creates_of_one_id_with_different_bodies_one_wins(
    two_servers: tuple[TestClient, TestClient], trail: SessionTrail
) -> None:
    one, two = two_servers
    for attempt in range(RACES):
        session_id = f"chat-{attempt}"
        answers = race(
            [
                (one, "/v1/sessions", {"session_id": session_id, "title": "one"}, None),
                (two, "/v1/sessions", {"session_id": session_id, "title": "two"}, None),
            ]
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [201, 409], [answer.text for answer in answers]
        (won,) = [answer.json() for answer in answers if answer.status_code == 201]
        stored = trail.sessions.load(session_id, user_id="ann")
        assert (stored.title, stored.version) == (won["title"], 1)


def test_racing_appends_with_one_key_and_different_bodies_one_wins(
    two_servers: tuple[TestClient, TestClient], trail: SessionTrail
) -> None:
    one, two = two_servers
    make(one, "chat-1")
    path = "/v1/sessions/chat-1/messages"
    for attempt in range(RACES):
        key = f"append-{attempt}"
        answers = race(
            [
                (one, path, {"role": "user", "content": f"one {attempt}"}, key),
                (two, path, {"role": "user", "content": f"two {attempt}"}, key),
            ]
        )
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [201, 422], [answer.text for answer in answers]
        (won,) = [answer.json() for answer in answers if answer.status_code == 201]
        stored = trail.sessions.load("chat-1", user_id="ann").messages
        assert stored[-1].id == won["message"]["id"]
        assert stored[-1].content == won["message"]["content"]
        assert len(stored) == attempt + 1


def test_a_save_names_the_messages_it_skipped_as_already_held(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    trail.sessions.save(trail.sessions.load_or_create("chat-1"))
    first = trail.sessions.load("chat-1")
    second = other_trail.sessions.load("chat-1")
    first.append_message(role="user", content="first", id="m-1")
    second.append_message(role="user", content="second", id="m-1")
    second.append_message(role="user", content="new", id="m-2")
    assert trail.sessions.save(first).skipped == []
    assert other_trail.sessions.save(second).skipped == ["m-1"]
    stored = trail.sessions.load("chat-1").messages
    assert [(m.id, m.content) for m in stored] == [("m-1", "first"), ("m-2", "new")]


# -- many live feeds ------------------------------------------------------------------

SHARED_POOL = 40
"""Threads in the pool every sync route shares (anyio's default limiter)."""
DEADLINE = 10.0


def follow(client: httpx.Client, user: str = "ann") -> httpx.Response:
    """A live feed, open: its response has begun (the caller closes it)."""
    request = client.build_request("GET", "/v1/events/stream", headers=bearer(user))
    return client.send(request, stream=True)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A client that keeps as many connections open as the tests ask for."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    with httpx.Client(timeout=DEADLINE, limits=limits) as client:
        yield client


def test_more_open_feeds_than_the_shared_pool_leave_the_server_answering(
    trail: SessionTrail, tokens: Tokens, http: httpx.Client
) -> None:
    app = create_app(
        trail, tokens, poll_interval=1.0, max_streams_per_caller=SHARED_POOL + 5
    )
    with serving_app(app) as url:
        http.base_url = httpx.URL(url)
        feeds = []
        try:
            for _ in range(SHARED_POOL + 5):
                feeds.append(follow(http))
                assert feeds[-1].status_code == 200
            started = time.monotonic()
            health = http.get("/health")
            listed = http.get("/v1/sessions", headers=bearer("ann"))
            assert (health.status_code, listed.status_code) == (200, 200)
            assert time.monotonic() - started < DEADLINE
            assert app.state.feeds.open == SHARED_POOL + 5
        finally:
            for feed in feeds:
                feed.close()
        deadline = time.monotonic() + DEADLINE
        while app.state.feeds.open:
            assert time.monotonic() < deadline, f"{app.state.feeds.open} still open"
            time.sleep(0.01)


def test_a_feed_past_the_cap_is_503_and_a_closed_feed_frees_its_slot(
    trail: SessionTrail, tokens: Tokens, http: httpx.Client
) -> None:
    app = create_app(trail, tokens, max_streams=2)
    with serving_app(app) as url:
        http.base_url = httpx.URL(url)
        first, second = follow(http), follow(http)
        try:
            assert (first.status_code, second.status_code) == (200, 200)
            refused = http.get("/v1/events/stream", headers=bearer("ann"))
            assert refused.status_code == 503
            assert refused.headers["Retry-After"] == "5"
            assert "at most 2 live feeds" in refused.json()["detail"]
            first.close()
            deadline = time.monotonic() + DEADLINE
            while (third := follow(http)).status_code == 503:
                third.close()
                assert time.monotonic() < deadline, "the closed feed kept its slot"
                time.sleep(0.01)
            assert third.status_code == 200
            third.close()
        finally:
            first.close()
            second.close()


def test_one_caller_past_its_share_is_429_and_others_still_follow(
    trail: SessionTrail, tokens: Tokens, http: httpx.Client
) -> None:
    """One token holding feeds open cannot take the slots of every other user:
    past its share its next feed is refused, and others' are not."""
    app = create_app(trail, tokens, max_streams=10, max_streams_per_caller=2)
    with serving_app(app) as url:
        http.base_url = httpx.URL(url)
        held = [follow(http), follow(http)]
        try:
            assert [feed.status_code for feed in held] == [200, 200]
            refused = http.get("/v1/events/stream", headers=bearer("ann"))
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "5"
            assert "at most 2 live feeds per caller" in refused.json()["detail"]
            held.append(follow(http, "bob"))
            held.append(follow(http, "admin"))
            assert [feed.status_code for feed in held[2:]] == [200, 200]
            assert app.state.feeds.open == 4
            held.pop(0).close()
            deadline = time.monotonic() + DEADLINE
            while (again := follow(http)).status_code == 429:
                again.close()
                assert time.monotonic() < deadline, "the closed feed kept its share"
                time.sleep(0.01)
            assert again.status_code == 200
            held.append(again)
        finally:
            for feed in held:
                feed.close()


def test_a_negative_cap_is_refused_naming_it(
    trail: SessionTrail, tokens: Tokens
) -> None:
    with pytest.raises(InvalidInput, match=r"^max_streams: must be >= 0"):
        create_app(trail, tokens, max_streams=-1)
    with pytest.raises(InvalidInput, match=r"^max_streams_per_caller: must be >= 0"):
        create_app(trail, tokens, max_streams_per_caller=-1)


@pytest.mark.parametrize(
    ("option", "second_caller", "refusal"),
    [("--max-streams", "bob", 503), ("--max-streams-per-caller", "ann", 429)],
)
def test_serve_takes_the_feed_caps(
    tmp_path: Path, option: str, second_caller: str, refusal: int
) -> None:
    """A cap of one: ann's feed takes it, the next one (bob's past the server's
    cap, ann's own past her share) is refused."""
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with serve(url, tmp_path, option, "1") as served:
        feed = follow(served.client)
        try:
            assert feed.status_code == 200
            refused = served.client.get(
                "/v1/events/stream", headers=bearer(second_caller)
            )
            assert refused.status_code == refusal
        finally:
            feed.close()
