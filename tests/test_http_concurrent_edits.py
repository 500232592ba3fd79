"""People's PATCHes racing each other on a real `sessiontrail serve` process: an
edit answered 200 is stored, whatever else was edited at the same moment."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from support.http import bearer, serving
from support.postgres import PostgresServer

CLIENTS, ROUNDS = 8, 5


def race_patches(client: httpx.Client) -> dict[str, httpx.Response]:
    """CLIENTS clients PATCH a key each, at once, ROUNDS times, no If-Match."""
    ann = bearer("ann")
    assert client.post("/v1/sessions", json={"session_id": "s"}, headers=ann).is_success
    answers: dict[str, httpx.Response] = {}
    start = threading.Barrier(CLIENTS)

    def edit(number: int) -> None:
        with httpx.Client(base_url=client.base_url, timeout=60) as own:
            for round_ in range(ROUNDS):
                key = f"k{number}-{round_}"
                start.wait(timeout=60)
                answers[key] = own.patch(
                    "/v1/sessions/s", json={"metadata": {key: round_}}, headers=ann
                )

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(answers) == CLIENTS * ROUNDS
    return answers


def assert_every_acknowledged_edit_is_stored(client: httpx.Client) -> None:
    answers = race_patches(client)
    stored = client.get("/v1/sessions/s", headers=bearer("ann")).json()["metadata"]
    statuses = {key: answer.status_code for key, answer in answers.items()}
    assert set(statuses.values()) == {200}, statuses
    missing = sorted(key for key in answers if key not in stored)
    assert missing == []
    shown = {key: answer.json()["metadata"] for key, answer in answers.items()}
    assert sorted(key for key in answers if key not in shown[key]) == []


def test_concurrent_patches_answered_200_are_all_stored_on_sqlite(
    tmp_path: Path,
) -> None:
    with serving(f"sqlite:///{tmp_path / 'trail.db'}", tmp_path) as (client, _):
        assert_every_acknowledged_edit_is_stored(client)


def test_concurrent_patches_answered_200_are_all_stored_on_postgresql(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = postgres_server.url(postgres_server.new_schema())
    with serving(url, tmp_path) as (client, _):
        assert_every_acknowledged_edit_is_stored(client)
