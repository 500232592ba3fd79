"""A real `sessiontrail serve` process on a loopback port, over a real SQLite file
and then a real PostgreSQL server, driven with httpx: isolation, the error paths,
an idempotent retry, a person's PATCH racing a runtime's appends, and the live
change feed delivering every event exactly once across a reconnect."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from support.cli import executable
from support.http import bearer, serving
from support.postgres import PostgresServer

RUNTIME_APPENDS, UI_RENAMES = 30, 8


def feed_positions(client: httpx.Client, after: int, want: int) -> list[int]:
    """Read the SSE feed from `after` until `want` events came; their positions."""
    positions: list[int] = []
    headers = {**bearer("ann"), "Last-Event-ID": str(after)}
    with client.stream("GET", "/v1/events/stream", headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("id: "):
                positions.append(int(line[4:]))
                if len(positions) == want:
                    break
    return positions


def exercise(client: httpx.Client, log: Path, hold_storage: object) -> None:
    """Everything the issue asks of a real server, against whichever database."""
    ann, bob = bearer("ann"), bearer("bob")
    assert client.get("/v1/sessions").status_code == 401
    made = client.post("/v1/sessions", json={"session_id": "chat"}, headers=ann)
    assert made.status_code == 201 and made.headers["ETag"] == '"1"'
    assert client.get("/v1/sessions/chat", headers=bob).status_code == 404
    assert client.get("/v1/sessions/nope", headers=ann).status_code == 404
    bad = client.post("/v1/sessions/chat/messages", json={"role": "x"}, headers=ann)
    assert bad.status_code == 422 and "role" in bad.json()["detail"]
    key = {**ann, "Idempotency-Key": "retry-1"}
    first = client.post(
        "/v1/sessions/chat/messages",
        json={"role": "user", "content": "secret"},
        headers=key,
    )
    again = client.post(
        "/v1/sessions/chat/messages",
        json={"role": "user", "content": "secret"},
        headers=key,
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()

    stale = client.patch(
        "/v1/sessions/chat", json={"title": "x"}, headers={**ann, "If-Match": '"1"'}
    )
    assert stale.status_code == 412 and stale.json()["message_count"] == 1

    def runtime() -> None:
        for number in range(RUNTIME_APPENDS):
            sent = client.post(
                "/v1/sessions/chat/messages",
                json={"role": "assistant", "content": f"step {number}"},
                headers=ann,
            )
            assert sent.status_code == 201

    conflicts = []

    def person() -> None:
        for number in range(UI_RENAMES):
            etag = client.get("/v1/sessions/chat", headers=ann).headers["ETag"]
            while True:
                renamed = client.patch(
                    "/v1/sessions/chat",
                    json={"title": f"title {number}"},
                    headers={**ann, "If-Match": etag},
                )
                if renamed.status_code == 200:
                    break
                assert renamed.status_code == 412
                conflicts.append(number)
                etag = renamed.headers["ETag"]  # "someone else changed it": retry

    threads = [threading.Thread(target=runtime), threading.Thread(target=person)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    final = client.get("/v1/sessions/chat", headers=ann).json()
    assert final["message_count"] == 1 + RUNTIME_APPENDS  # nothing lost
    assert final["title"] == f"title {UI_RENAMES - 1}"
    history = [
        e["event"] for e in client.get("/v1/sessions/chat/history", headers=ann).json()
    ]
    assert history.count("TitleEdited") == UI_RENAMES

    client.post("/v1/sessions", json={"session_id": "bobs"}, headers=bob)
    client.post(
        "/v1/sessions/bobs/messages", json={"role": "user", "content": "b"}, headers=bob
    )
    every = []
    after = 0
    while True:
        page = client.get(f"/v1/events?after={after}", headers=ann).json()
        assert {entry["session_id"] for entry in page["items"]} <= {"chat"}
        every += [entry["position"] for entry in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert len(every) == 1 + 1 + RUNTIME_APPENDS + UI_RENAMES  # none of bob's
    half = len(every) // 2
    first_half = feed_positions(client, 0, half)
    rest = feed_positions(client, first_half[-1], len(every) - half)  # reconnect
    assert first_half + rest == every  # each once, in log order, none of bob's

    with hold_storage():  # type: ignore[operator]
        down = client.post(
            "/v1/sessions/chat/messages",
            json={"role": "user", "content": "z"},
            headers=ann,
        )
    assert down.status_code == 503 and down.headers["Retry-After"] == "1"
    assert client.get("/health").status_code == 200

    logged = log.read_text()
    assert '"path": "/v1/sessions/{session_id}/messages"' in logged
    assert "secret" not in logged  # access logs carry no message content


def test_a_served_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "trail.db"

    @contextmanager
    def hold() -> Iterator[None]:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.close()

    with serving(f"sqlite:///{path}?lock_timeout=1", tmp_path) as (client, log):
        exercise(client, log, hold)


def test_a_served_postgresql_database(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema) + "&lock_timeout=1"

    @contextmanager
    def hold() -> Iterator[None]:
        with psycopg.connect(postgres_server.dsn()) as holder:
            holder.execute(f"LOCK TABLE {schema}.sessiontrail_events IN EXCLUSIVE MODE")
            yield
            holder.rollback()

    with serving(url, tmp_path) as (client, log):
        exercise(client, log, hold)


@pytest.mark.parametrize("args", [["--tokens", "/nonexistent.json"]])
def test_serve_refuses_a_missing_tokens_file(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [executable(), "--db", f"sqlite:///{tmp_path / 't.db'}", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "tokens file /nonexistent.json" in done.stderr
