"""CPU per durable save: W1's appends on tmpfs (the disk taken out), side by side.

    .venv/bin/python bench/save_cpu.py                       # sessiontrail, both modes
    /tmp/peers-venv/bin/python bench/save_cpu.py --openai    # + OpenAI SQLiteSession
    .venv/bin/python bench/save_cpu.py --before /work/main/.venv/bin/python
    /tmp/peers-venv/bin/python bench/save_cpu.py --openai --raw --sleep 0.5
    /tmp/peers-venv/bin/python bench/save_cpu.py --openai --raw --dir /var/tmp

The peer harness's W1 (bench/peers.py: 20 sessions x 100 messages, each appended
and saved by its own call, round-robin) times wall clock on a real disk, where
on a shared machine the fsync of each commit decides it. This runs the same
appends in a directory on tmpfs (/dev/shm), where an fsync costs nothing, and
reports the CPU time of the process per append (time.process_time: every
thread's, so the SDK's thread hop counts), median of the rounds. Every cell is a
fresh process; the stores (and, with --before, another checkout's Python) take
turns in each round, so a busy minute falls on all of them. Ratios within one
run are what count.

`--raw` adds the control: the same number of rows inserted by bare sqlite3, one
INSERT per commit into a table keyed like the events table (WAL, synchronous
FULL). `--sleep MS` sleeps that long before each append (untimed: process time
stops while asleep), as a save on a disk sleeps in the previous commit's fsync;
`--dir` runs the cells in another directory, such as one on the disk. Together
they tell the CPU a wait adds to the same code (caches gone cold while the
thread slept) from the CPU the disk itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from literals import Turn, projection_mode

if TYPE_CHECKING:
    from sessiontrail import Mode

SESSIONS = 20
TEXT = "x" * 188
RECORD = b"r" * 750  # about a worker save's record: its sealed message and chain


def pause(seconds: float) -> None:
    """The wait before each append (none when 0): process time stops meanwhile."""
    if seconds:
        time.sleep(seconds)


def content(session: int, message: int) -> str:
    return f"[s{session:04d}-m{message}]" + TEXT


def sessiontrail_cell(mode: Mode, messages: int, directory: str, wait: float) -> float:
    """CPU seconds per append and save, through the public API."""
    import sessiontrail

    with sessiontrail.connect(
        f"sqlite:///{directory}/trail.db", projections=mode
    ) as trail:
        sessions = []
        for i in range(SESSIONS):
            session = sessiontrail.Session(session_id=f"s{i:04d}", user_id="bench")
            trail.sessions.save(session)
            sessions.append(session)
        started = time.process_time()
        for m in range(messages):
            for i, session in enumerate(sessions):
                role: Turn = "user" if m % 2 == 0 else "assistant"
                pause(wait)
                session.append_message(role=role, content=content(i, m))
                trail.sessions.save(session)
        return (time.process_time() - started) / (SESSIONS * messages)


def openai_cell(messages: int, directory: str, wait: float) -> float:
    """The same appends through the OpenAI Agents SDK's SQLiteSession.add_items."""
    from agents import SQLiteSession  # the peers' venv (bench/peers_setup.sh)

    async def appends() -> float:
        path = f"{directory}/openai.db"
        sessions = [SQLiteSession(f"s{i:04d}", path) for i in range(SESSIONS)]
        for session in sessions:
            await session.get_items(limit=1)  # opens its connection, untimed
        started = time.process_time()
        for m in range(messages):
            for i, session in enumerate(sessions):
                role: Turn = "user" if m % 2 == 0 else "assistant"
                pause(wait)
                await session.add_items([{"role": role, "content": content(i, m)}])
        return (time.process_time() - started) / (SESSIONS * messages)

    return asyncio.run(appends())


def raw_cell(messages: int, directory: str, wait: float) -> float:
    """The control: as many bare sqlite3 INSERTs, each its own durable commit."""
    connection = sqlite3.connect(f"{directory}/raw.db", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(
            "CREATE TABLE records (stream TEXT, version INTEGER, state BLOB, "
            "PRIMARY KEY (stream, version))"
        )
        started = time.process_time()
        for m in range(messages):
            for i in range(SESSIONS):
                pause(wait)
                connection.execute(
                    "INSERT INTO records VALUES (?, ?, ?)", (f"s{i:04d}", m, RECORD)
                )
        return (time.process_time() - started) / (SESSIONS * messages)
    finally:
        connection.close()


def run_cell(store: str, messages: int, root: str, wait: float) -> float:
    directory = tempfile.mkdtemp(dir=root)
    try:
        if store == "openai":
            return openai_cell(messages, directory, wait)
        if store == "raw":
            return raw_cell(messages, directory, wait)
        return sessiontrail_cell(projection_mode(store), messages, directory, wait)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=50, help="per session")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--openai", action="store_true", help="add SQLiteSession")
    parser.add_argument("--raw", action="store_true", help="add bare sqlite3")
    parser.add_argument("--sleep", type=float, default=0.0, help="ms before each")
    parser.add_argument("--dir", default="/dev/shm", help="where the files go")
    parser.add_argument("--before", help="another checkout's Python, run beside")
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    if options.cell:
        store, messages, root, wait = options.cell
        print(run_cell(store, int(messages), root, float(wait)))
        return
    pythons = {"after" if options.before else "this": sys.executable}
    if options.before:
        pythons = {"before": options.before, **pythons}
    cells = [(tree, mode) for tree in pythons for mode in ("worker", "inline")]
    if options.openai:
        cells.append(("peer", "openai"))
    if options.raw:
        cells.append(("peer", "raw"))
    found: dict[str, list[float]] = {f"{tree} {store}": [] for tree, store in cells}
    wait = str(options.sleep / 1000)  # seconds, as the cell takes it
    for round_ in range(options.rounds):
        for tree, store in cells[round_ % len(cells) :] + cells[: round_ % len(cells)]:
            python = pythons.get(tree, sys.executable)
            done = subprocess.run(
                [
                    python,
                    __file__,
                    "--cell",
                    store,
                    str(options.messages),
                    options.dir,
                    wait,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            found[f"{tree} {store}"].append(float(done.stdout.split()[-1]))
    medians = {name: statistics.median(values) for name, values in found.items()}
    report: dict[str, Any] = {
        "messages_per_session": options.messages,
        "sessions": SESSIONS,
        "rounds": options.rounds,
        "directory": options.dir,
        "sleep_ms": options.sleep,
        "cpu_ms_per_save": {k: [v * 1000 for v in vs] for k, vs in found.items()},
        "median_ms": {k: v * 1000 for k, v in medians.items()},
    }
    print(
        f"CPU per append + durable save in {options.dir}, "
        f"{options.sleep} ms asleep before each, median of {options.rounds}:"
    )
    for name, value in medians.items():
        line = f"  {name:<16} {value * 1000:.4f} ms"
        if "peer openai" in medians and name != "peer openai":
            line += f"  ({value / medians['peer openai']:.2f}x OpenAI's)"
        print(line)
    if options.before:
        for mode in ("worker", "inline"):
            ratio = medians[f"after {mode}"] / medians[f"before {mode}"]
            print(f"  {mode}: after / before = {ratio:.3f}")
    if options.json_out:
        options.json_out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
