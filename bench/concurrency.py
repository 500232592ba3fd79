"""Throughput of racing writers (threads, processes) on one and on many sessions.

    .venv/bin/python bench/concurrency.py [--writers 4] [--appends 50]

Each writer appends and saves one message at a time, released by a barrier;
prints appends/s and checks that every acknowledged message is stored once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.postgres import PostgresServer
from support.workers import race_appends, race_in_processes

import sessiontrail


def threads(url: str, ids: list[str], appends: int) -> list[list[str]]:
    start = threading.Barrier(len(ids))
    with ThreadPoolExecutor(len(ids)) as pool:
        futures = [
            pool.submit(race_appends, url, sid, f"w{n}", appends, start)
            for n, sid in enumerate(ids)
        ]
        return [future.result() for future in futures]


def processes(url: str, ids: list[str], appends: int) -> list[list[str]]:
    reports = race_in_processes(url, ids, appends)
    failures = [report for report in reports if isinstance(report, str)]
    if failures:
        raise RuntimeError(f"writers failed: {failures}")
    return [report for report in reports if isinstance(report, list)]


def measure(url: str, mode: str, ids: list[str], appends: int) -> str:
    run = threads if mode == "threads" else processes
    started = time.monotonic()
    acknowledged = run(url, ids, appends)
    elapsed = time.monotonic() - started  # includes process start-up for processes
    expected = sum(len(a) for a in acknowledged)
    with sessiontrail.connect(url) as trail:
        stored = sum(_stored_messages(trail, s) for s in set(ids))
    ok = "ok" if stored == expected == len(ids) * appends else "LOST WRITES"
    return f"{expected / elapsed:8.0f} appends/s  {stored}/{expected} stored  {ok}"


def _stored_messages(trail: sessiontrail.SessionTrail, session_id: str) -> int:
    """How many messages a session the writers made holds (it must exist)."""
    session = trail.sessions.load_merged(session_id)
    assert session is not None, session_id
    return len(session.messages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--appends", type=int, default=50)
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        for backend in ("sqlite", "postgres"):
            for mode in ("threads", "processes"):
                for shape in ("one session", "own sessions"):
                    if backend == "sqlite":
                        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
                    else:
                        url = server.url(server.new_schema())
                    ids = (
                        ["one"] * args.writers
                        if shape == "one session"
                        else [f"s{n}" for n in range(args.writers)]
                    )
                    result = measure(url, mode, ids, args.appends)
                    label = (
                        f"{backend:8} {mode:9} {args.writers} x {args.appends} {shape}"
                    )
                    print(f"{label:42} {result}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
