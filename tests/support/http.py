"""Tokens and clients for the HTTP API tests."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from sessiontrail.server.auth import digest
from sessiontrail.server.stopping import FeedEndingServer
from support.cli import executable

TOKENS = {"ann": "ann-token-0123456789", "bob": "bob-token-0123456789"}
ADMIN = "admin-token-0123456789"


def write_tokens(path: Path) -> Path:
    """A tokens file for ann, bob and an admin (hashes only, as in production)."""
    entries = [
        {"sha256": digest(token), "user_id": user} for user, token in TOKENS.items()
    ]
    entries.append({"sha256": digest(ADMIN), "admin": True})
    path.write_text(json.dumps(entries))
    return path


def bearer(user: str) -> dict[str, str]:
    """The Authorization header of a user ("admin" for the admin token)."""
    token = ADMIN if user == "admin" else TOKENS[user]
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    """A running `sessiontrail serve`: a client on its port, its log, its process."""

    client: httpx.Client
    log: Path
    process: subprocess.Popen[bytes]
    port: int


@contextmanager
def serve(url: str, tmp_path: Path, *options: str) -> Iterator[Served]:
    """The installed `sessiontrail serve` (with extra `options`) until the block
    ends."""
    port, log = free_port(), tmp_path / "serve.log"
    tokens = write_tokens(tmp_path / "tokens.json")
    command = [executable(), "--db", url, "serve", "--tokens", str(tokens), *options]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        yield Served(client, log, process, port)
        client.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def serving(url: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    """The installed `sessiontrail serve` until the block ends; its log file."""
    with serve(url, tmp_path) as served:
        yield served.client, served.log


@contextmanager
def serving_app(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on a free port, in a thread of this process, until
    the block ends (its live feeds are ended first, as `serve` does); its URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = FeedEndingServer(config, app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped as it started"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the server did not stop"
