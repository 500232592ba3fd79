"""Writers killed with SIGKILL at random moments lose nothing they acknowledged."""

from __future__ import annotations

import sqlite3

import pytest

from crash.harness import run
from sessiontrail import SessionTrail

KILLS = 20


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_loses_no_acknowledged_save(trail: SessionTrail) -> None:
    report = run(trail.url, kills=KILLS, seed=KILLS)
    assert report.problems == []
    assert report.kills == KILLS
    assert report.stored_pairs >= report.acknowledged > 0
    if trail.backend == "sqlite":
        path = trail.settings.env["SQLITE_DBNAME"]
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == (
            "ok",
        )
