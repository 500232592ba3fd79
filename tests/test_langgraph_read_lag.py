"""The LangGraph saver's reads ask the database whether the read models lag only
when something other than this process's own writes may have moved the log
(SQLite reads on the appending connection, whose `PRAGMA data_version` says
so), and always see what another process wrote, on every backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.langgraph import checkpoint, config

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain.errors import StorageUnavailable
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.projections.runner import ProjectionRunner


@pytest.fixture
def worker_trail(url: str) -> Iterator[SessionTrail]:
    """Another process on the same database whose writes leave the read models
    behind (a worker, not started here, would apply them)."""
    with sessiontrail.connect(url, projections="worker") as opened:
        yield opened


@pytest.fixture
def lag_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the lag queries read models are asked (set before a trail opens)."""
    asked: list[int] = []
    lagging = ProjectionRunner.lagging

    def counted(runner: ProjectionRunner, cur: object) -> bool:
        asked.append(1)
        return lagging(runner, cur)  # type: ignore[arg-type]

    monkeypatch.setattr(ProjectionRunner, "lagging", counted)
    return asked


def put(saver: TrailSaver, step: int) -> str:
    saved = checkpoint({"step": step}, {"step": step})
    saver.put(config("t1"), saved, {"step": step}, {"step": 1})
    return saved["id"]


def latest(saver: TrailSaver) -> str:
    found = saver.get_tuple(config("t1"))
    assert found is not None
    return found.checkpoint["id"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_read_after_this_process_own_put_asks_nothing_about_lag(
    lag_checks: list[int], trail: SessionTrail
) -> None:
    saver = TrailSaver(trail)
    put(saver, 1)
    latest(saver)  # the first read checks once
    lag_checks.clear()

    second = put(saver, 2)

    assert latest(saver) == second
    assert lag_checks == []


def test_a_checkpoint_another_process_put_is_read_at_once(
    trail: SessionTrail, worker_trail: SessionTrail
) -> None:
    saver, other = TrailSaver(trail), TrailSaver(worker_trail)
    put(saver, 1)
    latest(saver)

    theirs = put(other, 2)

    assert latest(saver) == theirs


def test_a_put_after_another_process_put_reads_both(
    trail: SessionTrail, worker_trail: SessionTrail
) -> None:
    saver, other = TrailSaver(trail), TrailSaver(worker_trail)
    put(saver, 1)
    latest(saver)
    put(other, 2)

    mine = put(saver, 3)

    assert latest(saver) == mine
    assert len(list(saver.list(config("t1")))) == 3


@pytest.mark.expect_read_model_warnings
def test_a_put_whose_catch_up_failed_is_read_all_the_same(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    failing: list[int] = []
    apply_here, after_write = ProjectionRunner._apply_here, ProjectionRunner.after_write

    def not_here(runner: ProjectionRunner, cur: Any, recent: Any) -> Any:
        return None if failing else apply_here(runner, cur, recent)

    def stopped(runner: ProjectionRunner, until: Any) -> int:
        if failing:  # as a writer stopped between its commit and its catch-up
            raise StorageUnavailable("read models: stopped for the test")
        return after_write(runner, until)

    monkeypatch.setattr(ProjectionRunner, "_apply_here", not_here)
    monkeypatch.setattr(ProjectionRunner, "after_write", stopped)
    with sessiontrail.connect(url) as trail:
        saver = TrailSaver(trail)
        put(saver, 1)
        latest(saver)
        failing.append(1)
        second = put(saver, 2)
        failing.clear()

        assert latest(saver) == second


def test_threads_put_and_read_under_a_master_key(url: str) -> None:
    """Reads on the appending connection open sealed columns (the user's key
    read on another connection) while other threads append."""
    with sessiontrail.connect(url, key=sessiontrail.new_key()) as trail:
        saver = TrailSaver(trail)
        start = threading.Barrier(4)

        def run(thread: int) -> list[bool]:
            start.wait(timeout=30)
            found = []
            for step in range(8):
                saved = checkpoint({"step": step}, {"step": step})
                mine = config(f"t{thread}", user_id=f"u{thread}")
                saver.put(mine, saved, {"step": step}, {"step": 1})
                read = saver.get_tuple(mine)
                found.append(read is not None and read.checkpoint["id"] == saved["id"])
            return found

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(run, range(4)))

    assert results == [[True] * 8] * 4
