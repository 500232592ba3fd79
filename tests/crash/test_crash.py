"""Writers killed with SIGKILL at random moments lose nothing they acknowledged."""

from __future__ import annotations

import sqlite3

import pytest

from crash.harness import run
from sessiontrail import SessionTrail

KILLS = 20
LONG_KILLS = 300
"""The long run (--slow): more kills land in more of a save's moments."""


def check_kills(trail: SessionTrail, kills: int) -> None:
    """`kills` writers killed in turn; then every promise holds."""
    report = run(trail.url, kills=kills, seed=kills)
    assert report.problems == []
    assert report.kills == kills
    assert report.stored_pairs >= report.acknowledged > 0
    if trail.backend == "sqlite":
        path = trail.settings.env["SQLITE_DBNAME"]
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == (
            "ok",
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_loses_no_acknowledged_save(trail: SessionTrail) -> None:
    check_kills(trail, KILLS)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_hundreds_of_times_loses_no_acknowledged_save(
    trail: SessionTrail,
) -> None:
    check_kills(trail, LONG_KILLS)
