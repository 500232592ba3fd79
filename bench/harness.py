"""What the session-count benchmarks share: the databases to run on, the options,
and printing each measurement's lines as they come."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.postgres import running

import sessiontrail
from sessiontrail.projections.sessions import SessionsProjection

Measure = Callable[[str, int, int], list[str]]


def databases(backend: str) -> Iterator[tuple[str, str]]:
    """(name, URL) of a fresh SQLite file and/or a fresh PostgreSQL schema."""
    with tempfile.TemporaryDirectory() as directory:
        if backend in ("sqlite", "both"):
            yield "sqlite", f"sqlite:///{Path(directory) / 'bench.db'}"
        if backend in ("postgres", "both"):
            with running() as server:
                yield "postgresql", server.url(server.new_schema())


def main(measure: Measure, sessions: int, messages: int) -> None:
    """`--sessions N --messages M --backend sqlite|postgres|both`, then measure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=sessions)
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="both"
    )
    options = parser.parse_args()
    for name, url in databases(options.backend):
        print(f"{name}: {options.sessions} sessions x {options.messages} messages")
        for line in measure(url, options.sessions, options.messages):
            print(line, flush=True)


def median_ms(call: Callable[[], object], repeats: int = 50) -> float:
    """The median wall time of `repeats` calls, in milliseconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def raw_first_page(trail: sessiontrail.SessionTrail) -> Callable[[], object]:
    """The list baseline: the same first page as one indexed query, same table."""

    def query() -> object:
        with trail.read_models.read() as cur:
            tables, _ = SessionsProjection.live(cur)
            return cur.execute(
                "SELECT session_id, user_id, title, pinned, model, message_count, "
                "created_at, updated_at, version, deleted, preview "
                f"FROM {tables.table('sessions')} WHERE deleted = 0 "
                "ORDER BY updated_at DESC, session_id DESC LIMIT 50"
            ).fetchall()

    return query
