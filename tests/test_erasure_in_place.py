"""Erasure rewrites only the erased user's rows, in the live read models, and
leaves them exactly as a rebuild from the erased log would: no rebuild runs, a
rebuild in progress keeps no plaintext, and a reader sees all of it or none."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from test_erasure import write_everything
from test_sealed_read_models import write_adk, write_langgraph

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.infrastructure.sql import Cursor, Params
from sessiontrail.projections.batches import BatchApplier
from sessiontrail.projections.projection import LIVE

READ_MODELS = ("adk", "audit", "langgraph", "qa", "sessions", "usage")


def write_users(url: str, trail: SessionTrail) -> None:
    for user in ("alice", "bob"):
        write_adk(url, None, user)
        write_everything(trail, user)
        write_langgraph(trail, user)


def generations(trail: SessionTrail) -> dict[str, int]:
    with trail.read_models.read() as cur:
        rows = cur.execute(f"SELECT name, generation FROM {LIVE}").fetchall()
    return {str(name): int(number) for name, number in rows}


def every_row(trail: SessionTrail) -> dict[str, dict[str, list[tuple[object, ...]]]]:
    return {name: trail.projections.rows(name) for name in READ_MODELS}


def test_an_erasure_rewrites_the_live_generation_without_a_rebuild(url: str) -> None:
    with sessiontrail.connect(url) as trail:
        write_users(url, trail)
        before = generations(trail)
        trail.erase_user("alice")
        assert generations(trail) == before
        assert "MARK-alice" not in json.dumps(every_row(trail), default=str)
        assert "MARK-bob" in json.dumps(every_row(trail), default=str)


def test_an_erased_read_model_equals_a_rebuild_of_the_erased_log(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sessiontrail.connect(url) as trail:
        write_users(url, trail)
        trail.erase_user("alice")
        erased = every_row(trail)
        # the reference: the log replayed plainly (alice's events read erased)
        monkeypatch.setattr(BatchApplier, "erase", lambda *args, **kwargs: None)
        for name in READ_MODELS:
            trail.projections.rebuild(name)
        assert every_row(trail) == erased


def test_a_rebuild_in_progress_keeps_no_plaintext_of_an_erased_user(url: str) -> None:
    with sessiontrail.connect(url) as trail:
        write_users(url, trail)
        runner = trail.projections
        rebuilder = runner._rebuilder
        building = rebuilder.start(runner.projection("sessions"))
        rebuilder.batch(building, swap=False)  # the whole (small) log, not live yet
        with trail.read_models.read() as cur:
            table = building.projection.table("sessions")
            rows = cur.execute(f"SELECT title FROM {table}").fetchall()
        titles = [row[0] for row in rows]
        assert "MARK-alice renamed" in titles
        trail.erase_user("alice")  # the build is not live: it stays a build
        with trail.read_models.read() as cur:
            rows = [
                cur.execute(
                    f"SELECT * FROM {building.projection.table(name)}"
                ).fetchall()
                for name in ("sessions", "messages")
            ]
        assert "MARK-alice" not in json.dumps(rows, default=str)
        assert "MARK-bob" in json.dumps(rows, default=str)


class PlanningCursor(Cursor):
    """Records SQLite's plan of each statement before running it."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection.cursor(), "sqlite")
        self.plans: list[str] = []

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        plan = super().execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        self.plans += [str(row[3]) for row in plan]
        return super().execute(sql, params)


def test_finding_a_users_streams_reads_an_index_in_every_read_model(
    tmp_path: Path,
) -> None:
    # Only the user's own rows are read, so an erasure costs what they hold.
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with sessiontrail.connect(url) as trail:
        write_users(url, trail)
        names = [status.name for status in trail.projections.status()]
        classes = [trail.projections.projection(name) for name in names]
    with contextlib.closing(sqlite3.connect(tmp_path / "trail.db")) as connection:
        for projection_class in classes:
            cur = PlanningCursor(connection)
            projection, _ = projection_class.live(cur)
            cur.plans.clear()
            projection.owned_streams(cur, "alice")
            scans = [plan for plan in cur.plans if plan.startswith("SCAN")]
            assert scans == [], projection_class.name
