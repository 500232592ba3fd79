"""Real races: threads and OS processes released together, no caller-side retry."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.postgres import PostgresServer
from support.workers import open_at_once, race_appends, race_in_processes

import sessiontrail
from sessiontrail import SessionTrail

WRITERS, APPENDS = 4, 25


def check_all_stored(
    trail: SessionTrail, per_session: dict[str, list[list[str]]]
) -> None:
    """Every acknowledged message stored once, each writer's in its own order,
    and every hash chain intact after the rebases the races caused."""
    for session_id, writers in per_session.items():
        stored = [m.content for m in trail.sessions.load_merged(session_id).messages]
        expected = [content for acknowledged in writers for content in acknowledged]
        assert len(stored) == len(set(stored)) == len(expected)
        assert set(stored) == set(expected)
        for acknowledged in writers:
            prefix = acknowledged[0].rsplit("-", 1)[0] + "-"
            assert [c for c in stored if c.startswith(prefix)] == acknowledged
    report = trail.verify()
    assert report.ok, report.problems
    assert report.streams == len(per_session)


def run_threads(url: str, session_ids: list[str], shared: SessionTrail | None) -> dict:
    start = threading.Barrier(len(session_ids))
    with ThreadPoolExecutor(len(session_ids)) as pool:
        futures = [
            pool.submit(race_appends, url, sid, f"w{n}", APPENDS, start, shared)
            for n, sid in enumerate(session_ids)
        ]
        results = [future.result(timeout=300) for future in futures]
    per_session: dict[str, list[list[str]]] = {}
    for session_id, acknowledged in zip(session_ids, results, strict=True):
        per_session.setdefault(session_id, []).append(acknowledged)
    return per_session


@pytest.mark.parametrize("shared_trail", [True, False], ids=["one-trail", "own-trails"])
def test_threads_appending_to_one_session_lose_nothing(
    trail: SessionTrail, shared_trail: bool
) -> None:
    per_session = run_threads(
        trail.url, ["one"] * WRITERS, trail if shared_trail else None
    )
    check_all_stored(trail, per_session)
    assert trail.sessions.load_merged("one").version == 1 + WRITERS * APPENDS


def test_threads_on_their_own_sessions_lose_nothing(trail: SessionTrail) -> None:
    per_session = run_threads(trail.url, [f"s{n}" for n in range(WRITERS)], trail)
    check_all_stored(trail, per_session)


def run_processes(url: str, session_ids: list[str]) -> dict[str, list[list[str]]]:
    reports = race_in_processes(url, session_ids, APPENDS)
    assert [r for r in reports if isinstance(r, str)] == []
    per_session: dict[str, list[list[str]]] = {}
    for session_id, acknowledged in zip(session_ids, reports, strict=True):
        assert isinstance(acknowledged, list)
        per_session.setdefault(session_id, []).append(acknowledged)
    return per_session


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_appending_to_one_session_lose_nothing(trail: SessionTrail) -> None:
    check_all_stored(trail, run_processes(trail.url, ["one"] * WRITERS))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_on_their_own_sessions_lose_nothing(trail: SessionTrail) -> None:
    check_all_stored(trail, run_processes(trail.url, [f"p{n}" for n in range(WRITERS)]))


def test_postgres_writers_outnumbering_the_pool_lose_nothing(
    postgres_server: PostgresServer,
) -> None:
    url = (
        postgres_server.url(postgres_server.new_schema())
        + "&pool_size=2&max_overflow=0"
    )
    with sessiontrail.connect(url) as small_pool:
        ids = ["one"] * 4 + [f"own{n}" for n in range(4)]
        check_all_stored(small_pool, run_threads(url, ids, small_pool))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_opening_a_fresh_database_at_once_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    context = multiprocessing.get_context("spawn")
    for round_number in range(8):
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'fresh{round_number}.db'}"
        else:
            server = request.getfixturevalue("postgres_server")
            url = server.url(server.new_schema())
        start, results = context.Barrier(WRITERS), context.Queue()
        openers = [
            context.Process(target=open_at_once, args=(url, start, results))
            for _ in range(WRITERS)
        ]
        for opener in openers:
            opener.start()
        outcomes = [results.get(timeout=120) for _ in openers]
        for opener in openers:
            opener.join(timeout=60)
        assert outcomes == ["ok"] * WRITERS
        with sessiontrail.connect(url) as trail:
            assert len(trail.sessions.load("opened").messages) == WRITERS
