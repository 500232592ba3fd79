"""Search latency against the number of sessions: a rare word and a common word.

    .venv/bin/python bench/search.py [--sessions 10000 100000] [--messages 20]
                                     [--backend sqlite|postgres|both] [--key]
                                     [--quick]

Each log holds sessions of 20 messages each (a start, a title, the messages),
built as real events (each session's start by the aggregate, its messages
copied from the aggregate's own) and bulk-inserted through the store's import,
sealed and chained, many per transaction; then the session index and the search
read model are built by their batched rebuild (the other read models play no
part in a search). Every message holds the common
word; the rare word is in one message of RARE_SESSIONS sessions. Timed, as
medians of repeats, interleaved: the first page (50) of `list(text=...)` and
`search(text)` for each word. `--quick`: 1,000 and 5,000 sessions of 5 messages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import psycopg
from support.postgres import PostgresServer, running

import sessiontrail
from sessiontrail.domain.event_model import EventModel
from sessiontrail.domain.session import Session
from sessiontrail.domain.values import new_message_id

INSERT_EVENTS = 20_000
RARE_SESSIONS = 20
COMMON, RARE = "weather", "pelican"
USERS = 100
REPEATS = 5
ROUNDS = 3
Figure = dict[str, float]


def fill(trail: sessiontrail.SessionTrail, sessions: int, messages: int) -> float:
    """`sessions` sessions of `messages` messages, bulk-inserted through the
    store's import (sealed, chained, INSERT_EVENTS per transaction); seconds."""
    started = time.perf_counter()
    pending: list[EventModel] = []
    owners: dict[UUID, str | None] = {}
    every = max(1, sessions // RARE_SESSIONS)
    appended = _appended(messages)
    for number in range(sessions):
        user = f"user{number % USERS:03d}"
        session = Session(
            session_id=f"chat-{number:07d}",
            model="gpt-4o",
            user_id=user,
            title=f"chat {number} about topic{number % 97}",
        )
        (start,) = session.collect_events()
        assert isinstance(start, Session.Started)
        pending.append(start)
        pending += _messages(appended, start, number, number % every == 0)
        owners[session.id] = user
        if len(pending) >= INSERT_EVENTS:
            trail.store.append_imported(pending, owners)
            pending, owners = [], {}
    trail.store.append_imported(pending, owners)
    return time.perf_counter() - started


def _appended(messages: int) -> list[Session.MessageAppended]:
    """One session's `MessageAppended` events, made by the aggregate: the
    templates every session's messages are copied from."""
    session = Session(session_id="template", model="gpt-4o")
    for turn in range(messages):
        session.append_message(
            role="user" if turn % 2 == 0 else "assistant", content=""
        )
    return [
        event
        for event in session.collect_events()
        if isinstance(event, Session.MessageAppended)
    ]


def _messages(
    templates: list[Session.MessageAppended],
    start: Session.Started,
    number: int,
    rare: bool,
) -> list[EventModel]:
    """Session `number`'s messages: the templates with its stream, fresh message
    ids, its texts and times after its start (copies skip the aggregate's
    validation of each command, which would dominate the fill)."""
    copies: list[EventModel] = []
    for turn, template in enumerate(templates):
        extra = f" and a {RARE}" if turn == 1 and rare else ""
        when = start.timestamp + timedelta(milliseconds=turn + 1)
        message = template.message.model_copy(
            update={
                "id": new_message_id(),
                "content": f"turn {turn} of chat {number}: the {COMMON} in "
                f"city{(number + turn) % 1000} is mild{extra}",
                "created_at": when,
            }
        )
        copies.append(
            template.model_copy(
                update={
                    "originator_id": start.originator_id,
                    "originator_version": start.originator_version + turn + 1,
                    "timestamp": when,
                    "message": message,
                }
            )
        )
    return copies


def catch_up(trail: sessiontrail.SessionTrail) -> float:
    """Build the session index and the search read model from the whole log by
    their batched rebuild; the other read models play no part in a search."""
    started = time.perf_counter()
    for name in ("sessions", "search"):
        trail.projections.rebuild(name)
    if trail.backend == "postgresql":  # as autovacuum would: the planner's statistics
        with trail.read_models.write() as cur:
            cur.execute("ANALYZE")
    return time.perf_counter() - started


def queries(trail: sessiontrail.SessionTrail) -> dict[str, Callable[[], object]]:
    """The timed calls, by name."""
    repo = trail.sessions
    return {
        f"list {COMMON}": lambda: repo.list(text=COMMON, limit=50),
        f"list {RARE}": lambda: repo.list(text=RARE, limit=50),
        f"list {COMMON} alice": lambda: repo.list(
            text=COMMON, user_id="user007", limit=50
        ),
        f"search {COMMON}": lambda: repo.search(COMMON, limit=20),
        f"search {RARE}": lambda: repo.search(RARE, limit=20),
    }


def build(url: str, sessions: int, messages: int, key: str | None) -> None:
    """Fill the log at `url` and build its read models, unless a previous run
    left them built there (a kept SQLite file)."""
    with sessiontrail.connect(url, key=key, projections="worker") as trail:
        built = {
            status.name: status
            for status in trail.projections.status()
            if status.name in ("sessions", "search")
        }
        if all(each.head > 0 and each.lag == 0 for each in built.values()):
            print(f"  {sessions:,} sessions: built by an earlier run", flush=True)
            return
        filled = fill(trail, sessions, messages)
        caught = catch_up(trail)
        print(
            f"  {sessions:,} sessions: filled in {filled:.1f} s, session index and "
            f"search rebuilt in {caught:.1f} s",
            flush=True,
        )


def measure(urls: dict[int, str], key: str | None) -> dict[int, dict[str, Figure]]:
    """Each query's median wall and CPU milliseconds on each log, by its number
    of sessions; the logs' calls interleaved round by round."""
    with contextlib.ExitStack() as stack:
        trails = {
            size: stack.enter_context(
                sessiontrail.connect(url, key=key, projections="worker")
            )
            for size, url in urls.items()
        }
        calls = {size: queries(trail) for size, trail in trails.items()}
        for each in calls.values():
            for call in each.values():  # warm: caches, the first plan
                call()
        times: dict[tuple[int, str], list[tuple[float, float]]] = {}
        for _ in range(ROUNDS):
            for size, each in calls.items():
                for name, call in each.items():
                    times.setdefault((size, name), []).append(timed(call))
        figures: dict[int, dict[str, Figure]] = {size: {} for size in urls}
        for (size, name), rounds in times.items():
            figures[size][name] = {
                "wall_ms": statistics.median(wall for wall, _ in rounds),
                "cpu_ms": statistics.median(cpu for _, cpu in rounds),
            }
        return figures


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """Median wall and CPU (this process) milliseconds of REPEATS calls."""
    walls, cpus = [], []
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


@contextlib.contextmanager
def logs(
    backend: str, sizes: list[int], messages: int, directory: Path | None
) -> Iterator[dict[int, str]]:
    """A log's URL for each size: SQLite files (kept in `directory` when given,
    else removed) or schemas of one throwaway PostgreSQL server."""
    if backend == "postgresql":
        if directory is None:
            with running() as server:
                yield {size: server.url(server.new_schema()) for size in sizes}
            return
        with kept_server(directory.resolve() / "postgresql") as server:
            yield {size: server.url(schema(server, size, messages)) for size in sizes}
        return
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        directory = directory.resolve()
        directory.mkdir(parents=True, exist_ok=True)
        yield {
            size: f"sqlite:///{directory / f'search-{size}x{messages}.db'}"
            for size in sizes
        }


@contextlib.contextmanager
def kept_server(root: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server whose cluster stays in `root` after the run (started
    again on it by the next run)."""
    server = PostgresServer(root=root)
    if server.data.exists():
        server.resume()
    else:
        server.start()
    try:
        yield server
    finally:
        server.halt()


def schema(server: PostgresServer, sessions: int, messages: int) -> str:
    """The kept schema of the log of `sessions` sessions (created if new)."""
    name = f"search_{sessions}x{messages}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
    return name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="both"
    )
    parser.add_argument("--key", action="store_true", help="with a master key")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--directory", type=Path, help="keep the SQLite logs here (reused if built)"
    )
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    if options.quick:
        options.sessions, options.messages = [1_000, 5_000], 5
    key = sessiontrail.new_key() if options.key else None
    backends = {
        "sqlite": ["sqlite"],
        "postgres": ["postgresql"],
        "both": ["sqlite", "postgresql"],
    }[options.backend]
    found: dict[str, dict[int, dict[str, Figure]]] = {}
    for backend in backends:
        sizes = sorted(options.sessions)
        print(
            f"{backend}: {options.messages} messages a session, key: {bool(key)}",
            flush=True,
        )
        with logs(backend, sizes, options.messages, options.directory) as urls:
            for size, url in urls.items():
                build(url, size, options.messages, key)
            found[backend] = measure(urls, key)
        report(backend, found[backend])
    if options.json_out:
        options.json_out.write_text(json.dumps(found, indent=1) + "\n")


def report(backend: str, figures: dict[int, dict[str, Figure]]) -> None:
    """Each query's times at each size, and at the largest against the smallest."""
    smallest, largest = min(figures), max(figures)
    for size, queries_ in figures.items():
        for name, figure in queries_.items():
            print(
                f"{backend} {size:>7,} {name:<20} {figure['wall_ms']:8.2f} ms wall "
                f"{figure['cpu_ms']:8.2f} ms CPU",
                flush=True,
            )
    for name, figure in figures[largest].items():
        ratio = figure["wall_ms"] / figures[smallest][name]["wall_ms"]
        print(
            f"{backend}: {name} at {largest:,} sessions is {ratio:.2f}x "
            f"its time at {smallest:,}",
            flush=True,
        )


if __name__ == "__main__":
    main()
