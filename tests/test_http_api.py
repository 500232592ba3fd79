"""The HTTP API in process (httpx through FastAPI's TestClient), on every backend:
authentication, per-user isolation, ETags and 412, idempotent retries, the JSON
change feed, validation and storage errors."""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from support.cli import failure, invoke
from support.http import ADMIN, bearer, write_tokens

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Caller, Tokens, digest
from sessiontrail.server.routers import session_parts


@pytest.fixture
def client(trail: SessionTrail, tmp_path: Path) -> Iterator[TestClient]:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def make(client: TestClient, user: str, session_id: str, **body: object) -> dict:
    response = client.post(
        "/v1/sessions", json={"session_id": session_id, **body}, headers=bearer(user)
    )
    assert response.status_code == 201, response.text
    return response.json()


def say(
    client: TestClient, user: str, session_id: str, text: str, **headers: str
) -> httpx.Response:
    return client.post(
        f"/v1/sessions/{session_id}/messages",
        json={"role": "user", "content": text},
        headers={**bearer(user), **headers},
    )


def test_no_token_or_a_bad_one_is_401_except_health_and_docs(
    client: TestClient,
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = client.get("/v1/sessions", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200


def test_a_session_read_shows_what_another_process_wrote(
    client: TestClient, other_trail: SessionTrail
) -> None:
    make(client, "ann", "chat-1")
    say(client, "ann", "chat-1", "hello")  # this server holds the session cached
    elsewhere = other_trail.sessions.load("chat-1", user_id="ann")
    elsewhere.append_message(role="assistant", content="from another worker")
    other_trail.sessions.save(elsewhere)
    got = client.get("/v1/sessions/chat-1", headers=bearer("ann"))
    assert got.headers["ETag"].startswith('"3-') and got.json()["message_count"] == 2


def test_usage_for_a_session_deleted_after_the_owner_check_is_404_not_stored(
    client: TestClient, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(client, "ann", "chat-1")
    checked = session_parts._owner

    def then_deleted_elsewhere(*args: object) -> object:
        found = checked(*args)  # type: ignore[arg-type]
        other_trail.sessions.delete("chat-1")  # another process, right now
        return found

    monkeypatch.setattr(session_parts, "_owner", then_deleted_elsewhere)
    answer = client.post(
        "/v1/sessions/chat-1/usage", json={"total_tokens": 42}, headers=bearer("ann")
    )
    assert answer.status_code == 404
    other_trail.sessions.restore("chat-1")
    assert other_trail.usage.records("chat-1") == []


def test_append_token_usage_says_whether_it_stored_the_record(
    trail: SessionTrail,
) -> None:
    assert trail.sessions.append_token_usage("never-saved", {"n": 1}) is False
    trail.sessions.save(trail.sessions.load_or_create("chat-1"))
    assert trail.sessions.append_token_usage("chat-1", {"n": 1}) is True


def test_docs_can_be_private(trail: SessionTrail, tmp_path: Path) -> None:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens, public_docs=False)) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/docs").status_code == 404


def test_a_session_through_the_api(client: TestClient) -> None:
    made = make(client, "ann", "chat-1", title="Trip", metadata={"lang": "en"})
    assert (made["title"], made["version"], made["user_id"]) == ("Trip", 1, "ann")
    first = say(client, "ann", "chat-1", "hello")
    assert first.status_code == 201 and first.headers["ETag"].startswith('"2-')
    say(client, "ann", "chat-1", "again")
    page = client.get("/v1/sessions/chat-1/messages?last_n=1", headers=bearer("ann"))
    assert [m["content"] for m in page.json()["items"]] == ["again"]
    got = client.get("/v1/sessions/chat-1", headers=bearer("ann"))
    assert got.headers["ETag"].startswith('"3-') and got.json()["message_count"] == 2
    listed = client.get("/v1/sessions", headers=bearer("ann")).json()
    assert [s["session_id"] for s in listed["items"]] == ["chat-1"]
    history = client.get("/v1/sessions/chat-1/history?actor=ann", headers=bearer("ann"))
    assert [e["event"] for e in history.json()] == [
        "Started",
        "MessageAppended",
        "MessageAppended",
    ]
    assert (
        client.delete("/v1/sessions/chat-1", headers=bearer("ann")).status_code == 204
    )
    assert client.get("/v1/sessions/chat-1", headers=bearer("ann")).status_code == 404
    restored = client.post("/v1/sessions/chat-1/restore", headers=bearer("ann"))
    assert restored.status_code == 200 and restored.json()["deleted"] is False


def test_another_users_session_is_404_everywhere(client: TestClient) -> None:
    make(client, "ann", "chat-1")
    say(client, "ann", "chat-1", "private")
    for method, path, body in (
        ("GET", "/v1/sessions/chat-1", None),
        ("PATCH", "/v1/sessions/chat-1", {"title": "mine now"}),
        ("DELETE", "/v1/sessions/chat-1", None),
        ("POST", "/v1/sessions/chat-1/restore", None),
        ("POST", "/v1/sessions/chat-1/messages", {"role": "user", "content": "x"}),
        ("GET", "/v1/sessions/chat-1/messages", None),
        ("GET", "/v1/sessions/chat-1/history", None),
    ):
        response = client.request(method, path, json=body, headers=bearer("bob"))
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/v1/sessions", headers=bearer("bob")).json()["items"] == []
    assert client.get("/v1/events", headers=bearer("bob")).json()["items"] == []
    ann = client.get("/v1/sessions/chat-1/messages", headers=bearer("ann")).json()
    assert [m["content"] for m in ann["items"]] == ["private"]  # bob changed nothing
    admin = client.get("/v1/sessions", headers=bearer("admin")).json()
    assert [s["session_id"] for s in admin["items"]] == ["chat-1"]
    assert client.post("/v1/verify", headers=bearer("ann")).status_code == 403
    assert client.post("/v1/verify", headers=bearer("admin")).json()["ok"] is True
    assert {
        p["name"] for p in client.get("/v1/projections", headers=bearer("admin")).json()
    } >= {"sessions"}


def test_a_stale_if_match_is_412_with_the_current_session(client: TestClient) -> None:
    etag = client.post(
        "/v1/sessions", json={"session_id": "chat-1"}, headers=bearer("ann")
    ).headers["ETag"]
    say(client, "ann", "chat-1", "the runtime wrote meanwhile")
    stale = client.patch(
        "/v1/sessions/chat-1",
        json={"title": "Renamed"},
        headers={**bearer("ann"), "If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.json()["message_count"] == 1 and stale.json()["title"] == ""
    fresh = client.patch(
        "/v1/sessions/chat-1",
        json={"title": "Renamed", "pinned": True, "metadata": {"k": "v"}},
        headers={**bearer("ann"), "If-Match": stale.headers["ETag"]},
    )
    assert fresh.status_code == 200
    assert (
        fresh.json()["title"],
        fresh.json()["pinned"],
        fresh.json()["metadata"],
    ) == ("Renamed", True, {"k": "v"})
    merged = client.patch(
        "/v1/sessions/chat-1", json={"metadata": {"k": None}}, headers=bearer("ann")
    )
    assert merged.json()["metadata"] == {} and merged.json()["message_count"] == 1


def test_a_retried_post_with_the_same_key_writes_once(client: TestClient) -> None:
    first = client.post(
        "/v1/sessions", json={}, headers={**bearer("ann"), "Idempotency-Key": "k1"}
    )
    again = client.post(
        "/v1/sessions", json={}, headers={**bearer("ann"), "Idempotency-Key": "k1"}
    )
    assert (first.status_code, again.status_code) == (201, 200)
    session_id = first.json()["session_id"]
    assert again.json()["session_id"] == session_id
    sent = say(client, "ann", session_id, "once", **{"Idempotency-Key": "m1"})
    retried = say(client, "ann", session_id, "once", **{"Idempotency-Key": "m1"})
    other = say(client, "ann", session_id, "twice", **{"Idempotency-Key": "m2"})
    assert (sent.status_code, retried.status_code, other.status_code) == (201, 200, 201)
    assert sent.json() == retried.json()
    page = client.get(
        f"/v1/sessions/{session_id}/messages", headers=bearer("ann")
    ).json()
    assert [m["content"] for m in page["items"]] == ["once", "twice"]
    bobs = client.post(
        "/v1/sessions", json={}, headers={**bearer("bob"), "Idempotency-Key": "k1"}
    )
    assert bobs.status_code == 201 and bobs.json()["session_id"] != session_id


def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    client: TestClient,
) -> None:
    make(client, "ann", "chat-1")
    bad_role = client.post(
        "/v1/sessions/chat-1/messages",
        json={"role": "robot", "content": "x"},
        headers=bearer("ann"),
    )
    assert bad_role.status_code == 422 and "role" in bad_role.json()["detail"]
    bad_limit = client.get("/v1/sessions?limit=0", headers=bearer("ann"))
    assert bad_limit.status_code == 422 and "limit" in bad_limit.json()["detail"]
    unknown = client.patch(
        "/v1/sessions/chat-1", json={"colour": "red"}, headers=bearer("ann")
    )
    assert unknown.status_code == 422 and "colour" in unknown.json()["detail"]
    long_id = client.post(
        "/v1/sessions", json={"session_id": "x" * 300}, headers=bearer("ann")
    )
    assert long_id.status_code == 422 and "session_id" in long_id.json()["detail"]
    taken = client.post(
        "/v1/sessions", json={"session_id": "chat-1"}, headers=bearer("bob")
    )
    assert taken.status_code == 409
    assert (
        client.get("/v1/sessions/chat-1", headers=bearer("ann")).json()["version"] == 1
    )


def test_a_body_over_the_limit_is_413(trail: SessionTrail, tmp_path: Path) -> None:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens, max_body_bytes=1000)) as client:
        make(client, "ann", "chat-1")
        response = say(client, "ann", "chat-1", "x" * 2000)
        assert response.status_code == 413
        assert (
            client.get("/v1/sessions/chat-1", headers=bearer("ann")).json()[
                "message_count"
            ]
            == 0
        )


def test_the_change_feed_pages_every_visible_event_once(client: TestClient) -> None:
    make(client, "ann", "a")
    make(client, "bob", "b")
    for number in range(5):
        say(client, "ann", "a", f"m{number}")
        say(client, "bob", "b", f"n{number}")
    seen, after = [], 0
    while True:
        page = client.get(
            f"/v1/events?after={after}&limit=2", headers=bearer("ann")
        ).json()
        seen += page["items"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    positions = [entry["position"] for entry in seen]
    assert positions == sorted(set(positions)) and len(positions) == 6
    assert {entry["session_id"] for entry in seen} == {"a"}


def test_storage_down_is_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "trail.db"
    with sessiontrail.connect(f"sqlite:///{path}?lock_timeout=1") as trail:
        tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
        with TestClient(create_app(trail, tokens)) as client:
            make(client, "ann", "chat-1")
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")  # another process holds the database
            try:
                response = say(client, "ann", "chat-1", "blocked")
            finally:
                holder.close()
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            assert say(client, "ann", "chat-1", "later").status_code == 201


def test_what_hangs_off_a_session(client: TestClient) -> None:
    make(client, "ann", "chat-1")
    ann = bearer("ann")
    question = {"tool_call_id": "c1", "tool_name": "ask", "question": "Which city?"}
    asked = client.put(
        "/v1/sessions/chat-1/pending-question", json=question, headers=ann
    )
    assert asked.json()["pending_question"]["question"] == "Which city?"
    resolved = client.delete("/v1/sessions/chat-1/pending-question", headers=ann)
    assert resolved.json()["pending_question"] is None
    say(client, "ann", "chat-1", "later gone")
    then = client.get("/v1/sessions/chat-1/at?version=1", headers=ann).json()
    assert then["session"]["version"] == 1 and then["messages"] == []
    assert client.get("/v1/sessions/chat-1/at", headers=ann).status_code == 422
    usage = {"model": "gpt-4o", "input_tokens": 7, "output_tokens": 3}
    assert (
        client.post("/v1/sessions/chat-1/usage", json=usage, headers=ann).status_code
        == 204
    )
    totals = client.get("/v1/sessions/chat-1/usage", headers=ann).json()["totals"]
    assert totals["input_tokens"] == 7 and totals["records"] == 1
    made = client.post(
        "/v1/sessions/chat-1/qa", json={"question": "q?", "answer": "a."}, headers=ann
    )
    qa_id = made.json()["qa_id"]
    patched = client.patch(
        f"/v1/sessions/chat-1/qa/{qa_id}", json={"feedback_score": 5}, headers=ann
    )
    assert patched.status_code == 204
    bad_score = client.patch(
        f"/v1/sessions/chat-1/qa/{qa_id}", json={"feedback_score": 9}, headers=ann
    )
    assert (
        bad_score.status_code == 422 and "feedback_score" in bad_score.json()["detail"]
    )
    entries = client.get("/v1/sessions/chat-1/qa", headers=ann).json()
    assert [(e["question"], e["feedback_score"]) for e in entries] == [("q?", 5)]
    assert (
        client.put(
            "/v1/sessions/chat-1/graph-context", json={"context": "g"}, headers=ann
        ).status_code
        == 204
    )
    assert client.get("/v1/sessions/chat-1/graph-context", headers=ann).json() == {
        "context": "g"
    }
    step = {"trace_id": "t1", "origin_function": "search", "status": "ok"}
    assert (
        client.post("/v1/sessions/chat-1/traces", json=step, headers=ann).status_code
        == 201
    )
    steps = client.get("/v1/sessions/chat-1/traces?last_n=5", headers=ann).json()
    assert [s["trace_id"] for s in steps] == ["t1"]
    assert (
        client.delete(f"/v1/sessions/chat-1/qa/{qa_id}", headers=ann).status_code == 204
    )
    assert client.get("/v1/sessions/chat-1/qa", headers=ann).json() == []
    for method, path, body in (
        ("PUT", "/v1/sessions/chat-1/pending-question", question),
        ("GET", "/v1/sessions/chat-1/at?version=1", None),
        ("POST", "/v1/sessions/chat-1/usage", usage),
        ("GET", "/v1/sessions/chat-1/usage", None),
        ("POST", "/v1/sessions/chat-1/qa", {"question": "q", "answer": "a"}),
        ("GET", "/v1/sessions/chat-1/qa", None),
        ("GET", "/v1/sessions/chat-1/graph-context", None),
        ("GET", "/v1/sessions/chat-1/traces", None),
    ):
        response = client.request(method, path, json=body, headers=bearer("bob"))
        assert response.status_code == 404, (method, path, response.text)


def test_the_committed_openapi_schema_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", Path(__file__).parent.parent / "scripts" / "export_openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET.read_text() == module.schema(), (
        "docs/openapi.json is stale: run scripts/export_openapi.py"
    )


def test_the_token_command_adds_a_hash_and_prints_the_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    made = invoke("token", "ann", "--tokens", str(tokens)).stdout.strip()
    admin = invoke("token", "--admin", "--tokens", str(tokens)).stdout.strip()
    loaded = Tokens.load(tokens)
    assert loaded.caller(made) == Caller("ann")
    assert loaded.caller(admin) == Caller(None, True, digest(admin)[:8])
    assert made not in tokens.read_text() and admin not in tokens.read_text()
    assert failure("token", "--tokens", str(tokens)).startswith("error: give a USER_ID")


ADMIN_ACTOR = f"admin:{digest(ADMIN)[:8]}"


def test_every_write_records_the_token_user_as_its_actor(
    client: TestClient, trail: SessionTrail
) -> None:
    ann = bearer("ann")
    make(client, "ann", "chat-1")
    question = {"tool_call_id": "c1", "tool_name": "ask", "question": "Which?"}
    writes = [
        ("PATCH", "/v1/sessions/chat-1", {"title": "T", "pinned": True}),
        ("POST", "/v1/sessions/chat-1/messages", {"role": "user", "content": "hi"}),
        ("PUT", "/v1/sessions/chat-1/pending-question", question),
        ("DELETE", "/v1/sessions/chat-1/pending-question", None),
        ("POST", "/v1/sessions/chat-1/usage", {"total_tokens": 3}),
        (
            "POST",
            "/v1/sessions/chat-1/qa",
            {"question": "q", "answer": "a", "qa_id": "e"},
        ),
        ("PATCH", "/v1/sessions/chat-1/qa/e", {"feedback_score": 4}),
        ("DELETE", "/v1/sessions/chat-1/qa/e", None),
        ("PUT", "/v1/sessions/chat-1/graph-context", {"context": "g"}),
        ("POST", "/v1/sessions/chat-1/traces", {"trace_id": "t1"}),
        ("DELETE", "/v1/sessions/chat-1", None),
        ("POST", "/v1/sessions/chat-1/restore", None),
    ]
    for method, path, body in writes:
        response = client.request(method, path, json=body, headers=ann)
        assert response.status_code < 300, (method, path, response.text)
    session_actors = [entry.actor for entry in trail.sessions.history("chat-1")]
    qa_actors = [entry.actor for entry in trail.qa.history("chat-1", user_id="ann")]
    assert len(session_actors) == 9 and set(session_actors) == {"ann"}
    assert set(qa_actors) - {"system"} == {"ann"} and len(qa_actors) >= 5
    renamed = client.patch(
        "/v1/sessions/chat-1", json={"title": "by admin"}, headers=bearer("admin")
    )
    assert renamed.status_code == 200
    assert trail.sessions.history("chat-1")[-1].actor == ADMIN_ACTOR


def test_an_admin_token_made_with_a_name_writes_as_that_name(
    trail: SessionTrail, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    made = invoke("token", "--admin", "--name", "dana", "--tokens", str(tokens))
    with TestClient(create_app(trail, Tokens.load(tokens))) as client:
        admin = {"Authorization": f"Bearer {made.stdout.strip()}"}
        trail.sessions.save(sessiontrail.Session(session_id="s", user_id="ann"))
        client.patch("/v1/sessions/s", json={"pinned": True}, headers=admin)
    assert trail.sessions.history("s")[-1].actor == "admin:dana"
    assert failure(
        "token", "--admin", "--name", "a\nb", "--tokens", str(tokens)
    ).startswith("error: tokens file")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/events?after={n}",
        "/v1/sessions/chat-1/at?version={n}",
        "/v1/sessions/chat-1/messages?last_n={n}",
        "/v1/sessions/chat-1/messages?before={n}&limit=1",
        "/v1/sessions/chat-1/messages?before=1&limit={n}",
        "/v1/sessions/chat-1/traces?last_n={n}",
        "/v1/sessions/chat-1/qa?last_n={n}",
        "/v1/events/stream?after={n}",
    ],
)
def test_an_integer_past_64_bits_in_a_query_is_422_naming_it(
    client: TestClient, path: str
) -> None:
    make(client, "ann", "chat-1")
    response = client.get(path.format(n=2**63), headers=bearer("ann"))
    assert response.status_code == 422, response.text
    name = path.split("{n}")[0].rsplit("?", 1)[-1].rsplit("&", 1)[-1].rstrip("=")
    assert name in response.json()["detail"]


def test_a_huge_last_event_id_is_422(client: TestClient) -> None:
    response = client.get(
        "/v1/events/stream",
        headers={**bearer("ann"), "Last-Event-ID": "9" * 5000},
    )
    assert response.status_code == 422 and "Last-Event-ID" in response.text


@pytest.mark.parametrize("last_event_id", ["abc", "-1", "1.5", "0x10"])
def test_a_last_event_id_that_is_not_a_position_is_422_naming_it(
    client: TestClient, last_event_id: str
) -> None:
    client.app.state.stopping.set()  # a stream it did open ends at once
    response = client.get(
        "/v1/events/stream",
        headers={**bearer("ann"), "Last-Event-ID": last_event_id},
    )
    assert response.status_code == 422, response.text
    assert "Last-Event-ID" in response.json()["detail"]


def test_if_match_star_or_a_list_naming_the_version_matches(
    client: TestClient,
) -> None:
    tags = ""
    for number in range(2):
        make(client, "ann", f"chat-{number}")
        moved = say(client, "ann", f"chat-{number}", "moves the version to 2")
        if_match = "*" if number == 0 else f'"1-00000000", {moved.headers["ETag"]}'
        tags = if_match
        renamed = client.patch(
            f"/v1/sessions/chat-{number}",
            json={"title": "renamed"},
            headers={**bearer("ann"), "If-Match": if_match},
        )
        assert renamed.status_code == 200, (if_match, renamed.text)
    stale = client.patch(
        "/v1/sessions/chat-1",
        json={"title": "late"},
        headers={**bearer("ann"), "If-Match": tags},
    )
    assert stale.status_code == 412


def test_several_if_match_lines_are_one_list(client: TestClient) -> None:
    """RFC 9110: a list header sent as several lines means their joined list."""
    make(client, "ann", "chat-1")
    tag = say(client, "ann", "chat-1", "moves the version to 2").headers["ETag"]
    renamed = client.patch(
        "/v1/sessions/chat-1",
        json={"title": "renamed"},
        headers=[*bearer("ann").items(), ("If-Match", '"9"'), ("If-Match", tag)],
    )
    assert renamed.status_code == 200, renamed.text
    stale = client.patch(
        "/v1/sessions/chat-1",
        json={"title": "late"},
        headers=[*bearer("ann").items(), ("If-Match", tag), ("If-Match", '"9"')],
    )
    assert stale.status_code == 412


def test_a_weak_if_match_never_matches_and_writes_nothing(
    client: TestClient, trail: SessionTrail
) -> None:
    make(client, "ann", "chat-1")
    tag = client.get("/v1/sessions/chat-1", headers=bearer("ann")).headers["ETag"]
    head = trail.store.head()
    renamed = client.patch(
        "/v1/sessions/chat-1",
        json={"title": "renamed"},
        headers={**bearer("ann"), "If-Match": f"W/{tag}"},
    )
    assert renamed.status_code == 412, renamed.text
    assert trail.store.head() == head


def test_an_idempotency_key_reused_with_another_body_is_422(
    client: TestClient,
) -> None:
    make(client, "ann", "chat-1")
    key = {"Idempotency-Key": "k1"}
    assert say(client, "ann", "chat-1", "first", **key).status_code == 201
    again = say(client, "ann", "chat-1", "first", **key)
    other = say(client, "ann", "chat-1", "something else", **key)
    assert again.status_code == 200
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    started = client.post(
        "/v1/sessions", json={"title": "A"}, headers={**bearer("ann"), **key}
    )
    retried = client.post(
        "/v1/sessions", json={"title": "A"}, headers={**bearer("ann"), **key}
    )
    reused = client.post(
        "/v1/sessions", json={"title": "B"}, headers={**bearer("ann"), **key}
    )
    assert (started.status_code, retried.status_code) == (201, 200)
    assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["detail"]
    messages = client.get("/v1/sessions/chat-1/messages", headers=bearer("ann"))
    assert [m["content"] for m in messages.json()["items"]] == ["first"]


def test_only_an_admin_erases_a_user_and_is_recorded_as_its_actor(
    client: TestClient, trail: SessionTrail
) -> None:
    make(client, "ann", "chat-1", title="Ann's secret trip")
    refused = client.post("/v1/users/ann/erase", headers=bearer("ann"))
    assert refused.status_code == 403
    assert (
        client.get("/v1/sessions/chat-1", headers=bearer("ann")).json()["title"]
        == "Ann's secret trip"
    )
    erased = client.post("/v1/users/ann/erase", headers=bearer("admin"))
    assert erased.status_code == 200 and erased.json()["had_key"] is True
    got = client.get("/v1/sessions/chat-1", headers=bearer("ann")).json()
    assert got["title"] == "[erased]"
    [record] = [
        e for e in trail.store.every_event() if type(e).__name__ == "UserErased"
    ]
    assert record.actor == ADMIN_ACTOR


@pytest.mark.parametrize(
    "bad", ["a\x00b", "tab\there", "line\n", "esc\x1b[31m", "del\x7f"]
)
def test_control_characters_in_item_ids_are_refused_naming_the_field(
    client: TestClient, trail: SessionTrail, bad: str
) -> None:
    make(client, "ann", "chat-1")
    ann = bearer("ann")
    qa = client.post(
        "/v1/sessions/chat-1/qa",
        json={"question": "q", "answer": "a", "qa_id": bad},
        headers=ann,
    )
    assert qa.status_code == 422 and "qa_id" in qa.json()["detail"]
    step = client.post(
        "/v1/sessions/chat-1/traces", json={"trace_id": bad}, headers=ann
    )
    assert step.status_code == 422 and "trace_id" in step.json()["detail"]
    session = trail.sessions.load("chat-1")
    with pytest.raises(sessiontrail.InvalidInput, match=r"^id: "):
        session.append_message(role="user", content="x", id=bad)
    message = sessiontrail.Message(id=bad, role="user")
    with pytest.raises(sessiontrail.InvalidInput, match=r"^messages\.0: .*\bid\b"):
        trail.sessions.overwrite("chat-1", [message])
    assert trail.qa.get_all_qa_entries("chat-1", user_id="ann") == []
    assert trail.qa.get_agent_trace_steps("ann", "chat-1") == []
    assert [e.event for e in trail.sessions.history("chat-1")] == ["Started"]


def test_only_an_admin_sets_and_reads_retention_rules_recorded_as_its_actor(
    client: TestClient, trail: SessionTrail
) -> None:
    rule = {"days": 30, "action": "purge", "key": "tenant", "value": "acme"}
    assert (
        client.put("/v1/retention/rules", json=rule, headers=bearer("ann")).status_code
        == 403
    )
    assert client.get("/v1/retention", headers=bearer("ann")).status_code == 403
    assert trail.retention.history() == []
    done = client.put("/v1/retention/rules", json=rule, headers=bearer("admin"))
    assert done.status_code == 200, done.text
    shown = client.get("/v1/retention", headers=bearer("admin")).json()
    assert shown["rules"] == [{**rule, "user_id": None}]
    assert shown["set_by"] == ADMIN_ACTOR
    bad = client.put("/v1/retention/rules", json={"days": 0}, headers=bearer("admin"))
    assert bad.status_code == 422 and "days" in bad.text
    removed = client.delete(
        "/v1/retention/rules?key=tenant&value=acme", headers=bearer("admin")
    )
    assert removed.json() == {"removed": True}
    history = client.get("/v1/retention/history", headers=bearer("admin")).json()
    assert [change["actor"] for change in history] == [ADMIN_ACTOR] * 2


def test_retention_apply_over_http_is_a_dry_run_unless_asked(
    client: TestClient, trail: SessionTrail
) -> None:
    make(client, "ann", "chat-new")
    with freeze_time(datetime.now(UTC) - timedelta(days=40)):
        old = trail.sessions.load_or_create("chat-old", user_id="ann")
        old.append_message(role="user", content="long ago")
    trail.sessions.save(old)
    trail.retention.set(30)
    assert client.post("/v1/retention/apply", headers=bearer("ann")).status_code == 403
    listed = client.post("/v1/retention/apply", headers=bearer("admin")).json()
    assert listed["dry_run"] is True
    assert [e["session_id"] for e in listed["expired"]] == ["chat-old"]
    assert trail.sessions.load("chat-old") is not None
    done = client.post("/v1/retention/apply?dry_run=false", headers=bearer("admin"))
    assert [e["session_id"] for e in done.json()["expired"]] == ["chat-old"]
    assert trail.sessions.load("chat-old") is None
    assert trail.sessions.history("chat-old")[-1].actor == ADMIN_ACTOR
    assert client.get("/v1/sessions/chat-new", headers=bearer("ann")).status_code == 200


WRONG_JSON: dict[str, tuple[object, ...]] = {
    "integer": (True, "5", 5.0),
    "boolean": (1, 0, "yes", "true"),
}
"""Wrong-typed JSON values a lax check would coerce into the field's type."""
WRONG_QUERY: dict[str, tuple[str, ...]] = {
    "integer": ("5.0", "+5", " 5", "5_000", "true"),
    "boolean": ("yes", "1", "on", "0"),
    "date-time": ("5", "1700000000", "1.5", "+5", "1.5e3", "2020-01-01T00:00:00"),
}
"""Query values a lax parse would read as the parameter's type."""
REQUIRED = {
    "role": "user",
    "question": "q?",
    "answer": "a",
    "tool_call_id": "c1",
    "tool_name": "ask",
    "trace_id": "t1",
    "days": 30,
    "context": "graph",
    "text": "hi",
    "from": "1",
    "to": "1",
}
"""A valid value for each required body field or query parameter."""
UNTYPED_BODIES = {("patch", "/v1/sessions/{session_id}/qa/{qa_id}"): "feedback_score"}
"""Bodies whose fields the schema does not list (a dict of changes): the
integer field to walk."""


def kind(schema: dict) -> str | None:
    """'integer', 'boolean' or 'date-time' for a scalar (or nullable) schema."""
    for option in schema.get("anyOf", [schema]):
        if option.get("format") == "date-time":
            return "date-time"
        if option.get("type") in ("integer", "boolean"):
            return str(option["type"])
    return None


def body_schema(app: object, operation: dict) -> dict:
    """The JSON schema of the operation's body ({} without one)."""
    content = operation.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    schemas = app.openapi()["components"]["schemas"]  # type: ignore[attr-defined]
    found: dict = schemas.get(ref.rsplit("/", 1)[-1], {})
    return found


def test_every_route_refuses_wrong_types_by_name_and_writes_nothing(
    client: TestClient, trail: SessionTrail
) -> None:
    make(client, "ann", "walk")
    created = client.post(
        "/v1/sessions/walk/qa",
        json={"question": "q", "answer": "a"},
        headers=bearer("ann"),
    )
    names = {"session_id": "walk", "qa_id": created.json()["qa_id"], "user_id": "ann"}
    client.app.state.stopping.set()  # type: ignore[attr-defined]  # a stream let in ends
    problems = []
    walked = 0
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in operations.items():
            url = path.format(**names)
            admin = "admin" in operation.get("tags", [])
            headers = {"Authorization": f"Bearer {ADMIN}"} if admin else bearer("ann")
            body = body_schema(client.app, operation)
            fields = {
                name: of
                for name, field in body.get("properties", {}).items()
                if (of := kind(field)) in WRONG_JSON
            }
            if (method, path) in UNTYPED_BODIES:
                fields[UNTYPED_BODIES[method, path]] = "integer"
            required = {name: REQUIRED[name] for name in body.get("required", [])}
            tries = [
                (name, bad, {"json": {**required, name: bad}})
                for name, of in fields.items()
                for bad in WRONG_JSON[of]
            ]
            query = {
                p["name"]: p
                for p in operation.get("parameters", [])
                if p["in"] == "query"
            }
            base = {n: REQUIRED[n] for n, p in query.items() if p.get("required")}
            tries += [
                (name, bad, {"params": {**base, name: bad}})
                for name, parameter in query.items()
                for bad in WRONG_QUERY.get(kind(parameter["schema"]) or "", ())
            ]
            walked += len(tries)
            for name, bad, request in tries:
                before = trail.store.head()
                answer = client.request(method, url, headers=headers, **request)
                said = f"{method.upper()} {path} {name}={bad!r}"
                if answer.status_code != 422 or name not in answer.json()["detail"]:
                    problems.append(f"{said}: {answer.status_code} {answer.text:.100}")
                elif trail.store.head() != before:
                    problems.append(f"{said}: refused, but something was written")
    assert walked > 80 and not problems, "\n".join(problems)


def test_a_usage_number_too_large_for_a_double_is_422_naming_its_field(
    client: TestClient,
) -> None:
    make(client, "ann", "chat-1")
    answer = client.post(
        "/v1/sessions/chat-1/usage",
        content=b'{"input_tokens_details": {"cached": 1e400}}',
        headers={**bearer("ann"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "record.input_tokens_details.cached: Input should be a finite number"
    )
