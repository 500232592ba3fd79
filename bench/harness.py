"""What the session-count benchmarks share: the databases to run on, the options,
and printing each measurement's lines as they come."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.postgres import running

import sessiontrail
from sessiontrail.domain.event_model import EventModel
from sessiontrail.domain.session import Session
from sessiontrail.projections.sessions import SessionsProjection

Figures = dict[str, Any]
Measure = Callable[[str, int, int], tuple[list[str], Figures]]
"""(URL, sessions, messages) -> the lines to print and the figures for --json-out."""


def databases(backend: str) -> Iterator[tuple[str, str]]:
    """(name, URL) of a fresh SQLite file and/or a fresh PostgreSQL schema."""
    with tempfile.TemporaryDirectory() as directory:
        if backend in ("sqlite", "both"):
            yield "sqlite", f"sqlite:///{Path(directory) / 'bench.db'}"
        if backend in ("postgres", "both"):
            with running() as server:
                yield "postgresql", server.url(server.new_schema())


def postgres_cpu_seconds() -> float:
    """CPU time (user + system) used so far by every `postgres` process here.

    Counts any PostgreSQL server on the machine, not just the benchmark's."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
        except OSError:  # the process ended while we looked
            continue
        if name.endswith("(postgres"):
            ticks += int(fields.split()[11]) + int(fields.split()[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main(measure: Measure, sessions: int, messages: int) -> None:
    """`--sessions N --messages M --backend sqlite|postgres|both [--json-out F]`,
    then measure on each backend; F holds each backend's figures by its name."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=sessions)
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="both"
    )
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    figures = {}
    for name, url in databases(options.backend):
        print(f"{name}: {options.sessions} sessions x {options.messages} messages")
        lines, figures[name] = measure(url, options.sessions, options.messages)
        print("\n".join(lines), flush=True)
    if options.json_out:
        options.json_out.write_text(json.dumps(figures, indent=1) + "\n")


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


def write_chats(
    trail: sessiontrail.SessionTrail, sessions: int, messages: int, words: str
) -> None:
    """`sessions` titled sessions of `messages` messages, over ten users; each
    message says which turn of which chat it is, then `words`."""
    for number in range(sessions):
        session = trail.sessions.load_or_create(
            f"chat-{number:06d}", model="gpt-4o", user_id=f"user{number % 10}"
        )
        session.edit_title(f"A chat about topic {number}")
        for turn in range(messages):
            session.append_message(
                role="user" if turn % 2 == 0 else "assistant",
                content=f"turn {turn} of chat {number}{words}",
            )
        trail.sessions.save(session)


def events_of(session: Session) -> list[EventModel]:
    """A new session's pending events, for the store's bulk import. Each is an
    `EventModel`, though eventsourcing types them only as aggregate mutators."""
    events: list[EventModel] = []
    for event in session.collect_events():
        if not isinstance(event, EventModel):
            raise TypeError(f"not an EventModel: {event!r}")
        events.append(event)
    return events


def sibling(url: str, suffix: str) -> str:
    """A second, empty database beside `url` (a keyed log needs its own)."""
    if url.startswith("sqlite:///"):
        return url.replace(".db", f"-{suffix}.db")
    base, _, schema = url.rpartition("schema=")
    parts = urlsplit(url)
    host = parse_qs(parts.query)["host"][0]
    database = parts.path.lstrip("/")
    with psycopg.connect(host=host, user=parts.username, dbname=database) as db:
        db.execute(f"CREATE SCHEMA {schema}_{suffix}")
    return f"{base}schema={schema}_{suffix}"


def cell_result(python: str, script: Path, arguments: Sequence[str]) -> str:
    """The last line a `--cell` run of `script` printed under `python` (this
    checkout's or another's interpreter, each cell a fresh process);
    RuntimeError with what it printed on stderr if it failed."""
    result = subprocess.run(
        [python, str(script), "--cell", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"cell {' '.join(arguments)} under {python}:\n{result.stderr}"
        )
    return result.stdout.strip().splitlines()[-1]
