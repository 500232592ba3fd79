"""Where a PostgreSQL save's server time goes, statement by statement.

    .venv/bin/python bench/pg_plans.py [--before TREE] [--mode inline|worker]
        [--saves 300] [--top 20] [--rounds 1]

Starts a throwaway server (no fsync, no autovacuum) with pg_stat_statements
loaded and planning tracked, saves one append at a time to one session from one process
(this tree's code, then TREE's), and prints for each statement its planning
and execution time per save, in microseconds: which statements the server
plans on every save and what that costs; and the CPU per save of the server
(its processes serving the saving process, from /proc) and of that process,
and the wall time of each applier transaction (BEGIN to COMMIT: how long a
catch-up holds the applier lock, at one writer), medians of `--rounds` rounds,
the trees in turns. With `--child URL MODE SAVES` it is
the saving process itself: it warms up, clears the statistics, saves, and
prints them as JSON lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import psycopg
from literals import projection_mode
from support.postgres import PostgresServer, count_statements
from trees import child_output, in_turns

import sessiontrail
from sessiontrail.infrastructure.backends.postgres import PostgresDatabase

HERE = Path(__file__).resolve()
WARM_UP = 30
"""Saves before the statistics are cleared: every pooled connection used."""
STATISTICS = (
    "SELECT calls, plans, total_plan_time, total_exec_time, query "
    "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
    "WHERE datname = current_database())"
)


def server_cpu(connection: psycopg.Connection[Any]) -> float:
    """CPU seconds the server processes of the other connections have used."""
    pids = connection.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    ).fetchall()
    ticks = 0
    for (pid,) in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def timed_catch_ups() -> list[float]:
    """Wall seconds of each applier transaction from now on, from its BEGIN
    to its COMMIT: the time it holds the applier lock, plus one round trip."""
    held: list[float] = []
    applying = PostgresDatabase.applying

    @contextlib.contextmanager
    def timed(self: PostgresDatabase, *args: Any) -> Iterator[Any]:
        start = time.perf_counter()
        with applying(self, *args) as found:
            yield found
        held.append(time.perf_counter() - start)

    PostgresDatabase.applying = timed  # type: ignore[method-assign,assignment]
    return held


def child(url: str, mode: sessiontrail.Mode, saves: int, dsn: str) -> None:
    """Save `saves` appends after a warm-up; print the server's and this
    process's CPU ms per save, then each statement's totals."""
    with (
        sessiontrail.connect(url, projections=mode) as trail,
        psycopg.connect(dsn, autocommit=True) as connection,
    ):
        session_id = uuid.uuid4().hex
        session = trail.sessions.load_or_create(session_id)
        for count in range(WARM_UP + saves):
            if count == WARM_UP:
                connection.execute("SELECT pg_stat_statements_reset()")
                server, client = server_cpu(connection), time.process_time()
                held = timed_catch_ups()
            session.append_message(role="user", content=f"{session_id}-{count}")
            trail.sessions.save(session)
        server, client = server_cpu(connection) - server, time.process_time() - client
        hold = statistics.median(held) * 1000 if held else 0.0
        print(json.dumps([server * 1000 / saves, client * 1000 / saves, hold]))
    with psycopg.connect(dsn, autocommit=True) as connection:
        for calls, plans, plan, run, query in connection.execute(STATISTICS):
            if "pg_stat_statements" not in query:
                print(json.dumps([calls, plans, plan, run, " ".join(query.split())]))


def report(name: str, lines: list[str], saves: int, top: int) -> None:
    """Per-save planning and execution (us), the costliest statements first."""
    server, client, hold = json.loads(lines[0])
    rows = [json.loads(line) for line in lines[1:]]
    rows.sort(key=lambda row: -(row[2] + row[3]))
    plan = sum(row[2] for row in rows) * 1000 / saves
    run = sum(row[3] for row in rows) * 1000 / saves
    print(
        f"{name}: planning {plan:.0f} us/save, executing {run:.0f} us/save; "
        f"CPU per save: server {server:.3f} ms, client {client:.3f} ms; "
        f"applier transaction {hold:.3f} ms (median)"
    )
    print("  calls/save plans/save  plan-us  exec-us  statement")
    for calls, plans, plan_ms, exec_ms, query in rows[:top]:
        print(
            f"  {calls / saves:10.2f} {plans / saves:10.2f} "
            f"{plan_ms * 1000 / saves:8.1f} {exec_ms * 1000 / saves:8.1f}  "
            f"{query[:110]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path)
    parser.add_argument("--mode", choices=("inline", "worker"), default="inline")
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", nargs=4, metavar=("URL", "MODE", "SAVES", "DSN"))
    options = parser.parse_args()
    if options.child:
        url, mode, saves, dsn = options.child
        child(url, projection_mode(mode), int(saves), dsn)
        return
    trees = ["before", "after"] if options.before else ["after"]
    server = PostgresServer()
    try:
        server.start()
        count_statements(server)
        cpu: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
        for turn, name, tree in in_turns(options.before, options.rounds):
            lines = child_output(
                tree,
                HERE,
                [
                    server.url(server.new_schema()),
                    options.mode,
                    str(options.saves),
                    server.dsn(),
                ],
            ).splitlines()
            server_ms, client_ms, hold_ms = json.loads(lines[0])
            cpu[name].append((server_ms, client_ms, hold_ms))
            if turn == 0:
                report(f"{name} ({options.mode})", lines, options.saves, options.top)
        print(
            f"CPU ms per save, medians of {options.rounds} rounds of "
            f"{options.saves} saves (load average {os.getloadavg()[0]:.1f}):"
        )
        for name, rounds in cpu.items():
            each = ", ".join("/".join(f"{v:.3f}" for v in r) for r in rounds)
            print(
                f"  {name}: server {statistics.median(r[0] for r in rounds):.3f}, "
                f"client {statistics.median(r[1] for r in rounds):.3f}, applier "
                f"transaction {statistics.median(r[2] for r in rounds):.3f} "
                f"(rounds: {each})"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
