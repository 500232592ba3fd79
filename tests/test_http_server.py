"""A real `sessiontrail serve` process on a loopback port, over a real SQLite file
and then a real PostgreSQL server, driven with httpx: isolation, the error paths,
an idempotent retry, a person's PATCH racing a runtime's appends, and the live
change feed delivering every event exactly once across a reconnect."""

from __future__ import annotations

import select
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from support.cli import executable
from support.http import TOKENS, bearer, serve, serving
from support.postgres import PostgresServer

from sessiontrail.infrastructure.user_keys import KEY_CACHE_SECONDS

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
    assert made.status_code == 201 and made.headers["ETag"].startswith('"1-')
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


def resident_bytes(pid: int) -> int:
    """The process's resident memory, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def send_chunked(port: int, path: str, total: int) -> tuple[bytes, int]:
    """POST a JSON message of `total` bytes with Transfer-Encoding: chunked, as
    fast as the server takes it, until it answers; (its answer, bytes sent)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKENS['ann']}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"x" * 65536
    chunks = [b'{"role": "user", "content": "'] + [piece] * (total // len(piece))
    frames = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks]
    frames += [b'2\r\n"}\r\n0\r\n\r\n']
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        pending = memoryview(b"".join(frames[:1]))
        frames = frames[1:]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1)
            if readable:
                break
            if writable and (pending or frames):
                if not pending:
                    pending = memoryview(frames.pop(0))
                try:
                    count = sock.send(pending)
                except OSError:
                    break  # the server closed its end
                sent += count
                pending = pending[count:]
        try:
            while b"\r\n\r\n" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except OSError:
            pass
    return answer, sent


def test_a_chunked_body_over_the_limit_is_413_and_is_not_held(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with serve(url, tmp_path, "--max-body", "100000") as served:
        ann = bearer("ann")
        served.client.post("/v1/sessions", json={"session_id": "chat"}, headers=ann)
        before = resident_bytes(served.process.pid)
        answer, sent = send_chunked(
            served.port, "/v1/sessions/chat/messages", 200_000_000
        )
        grown = resident_bytes(served.process.pid) - before
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 20_000_000  # it stopped reading at the limit
        assert grown < 20_000_000, f"the server grew by {grown} bytes"
        got = served.client.get("/v1/sessions/chat", headers=ann).json()
        assert got["message_count"] == 0 and got["version"] == 1


def closed_within(sock: socket.socket, seconds: float) -> float:
    """How long until the server closed `sock` (fails past `seconds`)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s") from None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_client_too_slow_to_send_its_request_is_cut_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with serve(url, tmp_path, "--read-timeout", "1") as served:
        address = ("127.0.0.1", served.port)
        with socket.create_connection(address) as silent:
            assert closed_within(silent, 10) < 5  # connected, sent nothing
        with socket.create_connection(address) as partial_headers:
            partial_headers.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nAcc")
            assert closed_within(partial_headers, 10) < 5
        with socket.create_connection(address) as partial_body:
            partial_body.sendall(
                b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer " + TOKENS["ann"].encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            assert closed_within(partial_body, 10) < 5
        assert (
            served.client.get("/v1/sessions", headers=bearer("ann")).json()["items"]
            == []
        )  # nothing was written, and a prompt client is served


def test_an_erasure_by_another_process_reaches_the_running_server(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with serve(url, tmp_path) as served:
        ann = bearer("ann")
        made = {"session_id": "chat", "title": "Ann's secret trip"}
        served.client.post("/v1/sessions", json=made, headers=ann)
        title = lambda: served.client.get("/v1/sessions/chat", headers=ann).json()[  # noqa: E731
            "title"
        ]
        assert title() == "Ann's secret trip"  # now in the server's cache
        erased = subprocess.run(
            [executable(), "--db", url, "erase-user", "ann", "--yes"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert erased.returncode == 0, erased.stderr
        started = time.monotonic()
        while title() != "[erased]":
            assert time.monotonic() - started < 15, "still served after 15 s"
            time.sleep(0.2)
        assert time.monotonic() - started <= KEY_CACHE_SECONDS + 1
