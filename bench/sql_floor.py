"""What a save's SQL costs alone: the floor under sessiontrail's write path on SQLite.

    .venv/bin/python bench/sql_floor.py [--sessions 20] [--appends 30]
        [--threads 4] [--turns 10] [--workloads inline,worker,langgraph]
        [--dir DIR] [--json-out F]

Each workload runs once through sessiontrail while every statement it sends to
SQLite is recorded (connections, statements with their parameters, commits, in
order). Then, in one timed loop, save by save and interleaved so that the
machine's load falls on all alike:

- sessiontrail does the same save live, on a file of its own;
- the recorded statements of that save are replayed through bare `sqlite3`, on
  a copy of the recorded run built by replaying everything before it: the same
  rows, indexes, pages and commits (WAL, synchronous FULL, as recorded), with no
  Python above the driver;
- the peer the target is set against does its own write: OpenAI's
  `SQLiteSession.add_items` (one message) and a bare `INSERT` + commit on a WAL
  file for W1's appends, LangGraph's `SqliteSaver.put` for checkpoints.

Workloads: `inline` and `worker` are W1's appends (`--sessions` sessions,
`--appends` each, round-robin; one message appended and saved per call) with the
read models applied in the save or left to a worker; `langgraph` is the chat
graph of bench/langgraph_saver.py (`--threads` threads, `--turns` turns each) put
into `TrailSaver` (read models inline), its pending writes between the puts.

The replayed SQL is a floor for the write path as designed: no change to
sessiontrail's Python can make a save cheaper than its own statements. Where that
floor is already above a target, the target asks for fewer rows, pages or
commits per save, not for faster code. The replay is checked: every table of the
replayed file holds as many rows as the recorded one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from literals import projection_mode

import sessiontrail
from sessiontrail.integrations.langgraph import TrailSaver

if TYPE_CHECKING:
    from openai.types.responses import EasyInputMessageParam

Entry = tuple[Any, ...]
"""One recorded step: (kind, connection number, ...)."""
Times = dict[str, list[tuple[float, float]]]
"""Per writer: (wall s, CPU s) of each save."""


class Recording:
    """Every statement sent to SQLite while it is on, and where each save began
    and ended in that list."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.saves: list[tuple[int, int]] = []
        self._connections = 0

    def connected(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
        self._connections += 1
        self.entries.append(("connect", self._connections, args, kwargs))
        return self._connections

    @contextmanager
    def save(self) -> Iterator[None]:
        """Mark the statements sent inside as one save's."""
        began = len(self.entries)
        yield
        self.saves.append((began, len(self.entries)))


def recorded_connections(recording: Recording) -> Callable[..., sqlite3.Connection]:
    """A stand-in for `sqlite3.connect` whose connections log into `recording`."""
    connect = sqlite3.connect

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = ()) -> Any:
            recording.entries.append(("execute", self._number(), sql, parameters))
            return super().execute(sql, parameters)

        def executemany(self, sql: str, parameters: Any) -> Any:
            rows = list(parameters)
            recording.entries.append(("executemany", self._number(), sql, rows))
            return super().executemany(sql, rows)

        def _number(self) -> int:
            """Which recorded connection this cursor runs on."""
            connection = self.connection
            assert isinstance(connection, Connection)
            return connection.number

    class Connection(sqlite3.Connection):
        number = 0

        def cursor(self, factory: Any = Cursor) -> Any:
            return super().cursor(factory)

        def execute(self, sql: str, parameters: Any = ()) -> Any:
            recording.entries.append(("execute", self.number, sql, parameters))
            return super().execute(sql, parameters)

        def executemany(self, sql: str, parameters: Any) -> Any:
            rows = list(parameters)
            recording.entries.append(("executemany", self.number, sql, rows))
            return super().executemany(sql, rows)

        def executescript(self, script: str) -> Any:
            recording.entries.append(("executescript", self.number, script))
            return super().executescript(script)

        def commit(self) -> None:
            recording.entries.append(("commit", self.number))
            super().commit()

        def rollback(self) -> None:
            recording.entries.append(("rollback", self.number))
            super().rollback()

    def recorded(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, factory=Connection, **kwargs)
        connection.number = recording.connected(args, kwargs)
        return connection

    return recorded


class Replay:
    """The recorded statements sent again through bare sqlite3, in another folder."""

    def __init__(self, recording: Recording, recorded_in: Path, folder: Path) -> None:
        self._entries = recording.entries
        self._moved = (str(recorded_in), str(folder))
        self._connections: dict[int, sqlite3.Connection] = {}
        self.done = 0

    def until(self, end: int) -> None:
        """Send every entry up to `end` (exclusive)."""
        for entry in self._entries[self.done : end]:
            self._send(entry)
        self.done = max(self.done, end)

    def _send(self, entry: Entry) -> None:
        kind, number = entry[0], entry[1]
        if kind == "connect":
            old, new = self._moved
            args: list[Any] = [
                a.replace(old, new) if isinstance(a, str) else a for a in entry[2]
            ]
            kwargs: dict[str, Any] = {
                k: v.replace(old, new) if isinstance(v, str) else v
                for k, v in entry[3].items()
            }
            self._connections[number] = sqlite3.connect(*args, **kwargs)
            return
        connection = self._connections[number]
        if kind == "execute":
            connection.execute(entry[2], entry[3]).fetchall()
        elif kind == "executemany":
            connection.executemany(entry[2], entry[3])
        elif kind == "executescript":
            connection.executescript(entry[2])
        elif kind == "commit":
            connection.commit()
        else:
            connection.rollback()

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()


def row_counts(path: Path) -> dict[str, int]:
    """Rows per table of a SQLite file."""
    with sqlite3.connect(path) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE '%VIRTUAL%'"
            )
        ]
        return {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in names
        }


async def timed(times: Times, name: str, call: Callable[[], Any]) -> None:
    """Time one call (awaited if it gives an awaitable, as the peer harness does
    inside its event loop)."""
    began, cpu = time.perf_counter(), time.process_time()
    result = call()
    if asyncio.iscoroutine(result):
        await result
    times.setdefault(name, []).append(
        (time.perf_counter() - began, time.process_time() - cpu)
    )


Saves = Callable[[Path], tuple[Callable[[], None], list[Callable[[], object]]]]
"""Given a folder: (set-up, then one callable per save), run through sessiontrail."""


def w1_saves(mode: sessiontrail.Mode, sessions: int, appends: int) -> Saves:
    """W1's appends: one message appended and saved per call, round-robin."""

    def build(folder: Path) -> tuple[Callable[[], None], list[Callable[[], object]]]:
        trail = sessiontrail.connect(
            f"sqlite:///{folder / 'trail.db'}",
            projections=mode,
        )
        held: list[sessiontrail.Session] = []

        def setup() -> None:
            for number in range(sessions):
                session = sessiontrail.Session(session_id=f"s{number}", user_id="ann")
                trail.sessions.save(session)
                held.append(session)

        def append(number: int, turn: int) -> Callable[[], None]:
            def save() -> None:
                session = held[number]
                session.append_message(
                    role="user", content=f"[s{number}-m{turn}] " + "x" * 190
                )
                trail.sessions.save(session)

            return save

        return setup, [
            append(number, turn)
            for turn in range(appends)
            for number in range(sessions)
        ]

    return build


def langgraph_calls(threads: int, turns: int) -> list[tuple[str, tuple[Any, ...]]]:
    """The chat graph's saver calls (bench/langgraph_saver.py's workload)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from langgraph_saver import record

    return record(threads, turns)


def langgraph_saves(calls: Sequence[tuple[str, tuple[Any, ...]]]) -> Saves:
    """The chat graph's puts (and the pending writes between them) into TrailSaver."""

    def build(folder: Path) -> tuple[Callable[[], None], list[Callable[[], object]]]:
        saver = TrailSaver(sessiontrail.connect(f"sqlite:///{folder / 'trail.db'}"))

        def call(kind: str, args: tuple[Any, ...]) -> Callable[[], object]:
            if kind == "put":
                return lambda: saver.put(*args)
            return lambda: saver.put_writes(*args)

        return (lambda: None), [call(kind, args) for kind, args in calls]

    return build


def peer_calls(
    count: int,
    sessions: int,
    folder: Path,
    calls: Sequence[tuple[str, tuple[Any, ...]]] | None,
) -> dict[str, list[Callable[[], Any]]]:
    """The peers' own writes, one per save, on files of their own: SqliteSaver's
    of the LangGraph `calls` if given, else OpenAI's and a bare insert's."""
    if calls is not None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        theirs = SqliteSaver(sqlite3.connect(folder / "lg.db", check_same_thread=False))
        return {
            "SqliteSaver": [
                partial(theirs.put, *args)
                if kind == "put"
                else partial(theirs.put_writes, *args)
                for kind, args in calls
            ]
        }
    from agents import SQLiteSession

    openai = [
        SQLiteSession(f"s{n}", str(folder / "openai.db")) for n in range(sessions)
    ]
    raw = sqlite3.connect(folder / "raw.db")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, session TEXT, data TEXT)"
    )
    raw.commit()
    message: EasyInputMessageParam = {"role": "user", "content": "x" * 200}

    def add(number: int) -> Callable[[], Any]:
        return lambda: openai[number % sessions].add_items([message])

    def insert(number: int) -> Callable[[], None]:
        def call() -> None:
            raw.execute(
                "INSERT INTO messages (session, data) VALUES (?, ?)",
                (f"s{number % sessions}", json.dumps(message)),
            )
            raw.commit()

        return call

    return {
        "OpenAI add_items": [add(n) for n in range(count)],
        "raw WAL insert": [insert(n) for n in range(count)],
    }


async def interleaved(
    recording: Recording,
    replay: Replay,
    live: Sequence[Callable[[], object]],
    peers: dict[str, list[Callable[[], Any]]],
    times: Times,
) -> None:
    """Each save live, replayed and by the peers, in an order turning save by save."""
    for number, (began, ended) in enumerate(recording.saves):
        replay.until(began)  # what the run did between saves, untimed
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("sessiontrail", live[number]),
            ("its SQL alone", partial(replay.until, ended)),
            *((name, calls[number]) for name, calls in peers.items()),
        ]
        turn = number % len(steps)
        for name, step in steps[turn:] + steps[:turn]:
            await timed(times, name, step)


def measure(
    saves: Saves,
    peers_of: Callable[[int, Path], dict[str, list[Callable[[], Any]]]],
    root: Path,
) -> dict[str, Any]:
    """Record the workload, then time it live, its SQL replayed, and the peers'
    writes, save by save, interleaved."""
    recorded_in, replayed_in, live_in, peers_in = (
        Path(tempfile.mkdtemp(dir=root, prefix=prefix))
        for prefix in ("recorded-", "replayed-", "live-", "peers-")
    )
    recording = Recording()
    with patch.object(sqlite3, "connect", recorded_connections(recording)):
        setup, calls = saves(recorded_in)
        setup()
        for call in calls:
            with recording.save():
                call()
    live_setup, live_calls = saves(live_in)
    live_setup()
    peers = peers_of(len(calls), peers_in)
    replay = Replay(recording, recorded_in, replayed_in)
    times: Times = {}
    asyncio.run(interleaved(recording, replay, live_calls, peers, times))
    replay.until(len(recording.entries))
    replay.close()
    recorded_rows = row_counts(recorded_in / "trail.db")
    faithful = recorded_rows == row_counts(replayed_in / "trail.db")
    medians = {
        name: (
            1000 * statistics.median(wall for wall, _ in spent),
            1000 * statistics.median(cpu for _, cpu in spent),
        )
        for name, spent in times.items()
    }
    return {
        "saves": len(recording.saves),
        "statements per save": statistics.median(
            sum(1 for e in recording.entries[a:b] if e[0].startswith("execute"))
            for a, b in recording.saves
        ),
        "replay faithful": faithful,
        "tables": len(recorded_rows),
        "medians ms": medians,
    }


def report(workload: str, result: dict[str, Any]) -> None:
    medians: dict[str, tuple[float, float]] = result["medians ms"]
    print(
        f"\n{workload}: {result['saves']} saves, {result['statements per save']:.0f} "
        f"statements per save (median); replay faithful: {result['replay faithful']} "
        f"({result['tables']} tables' rows compared)"
    )
    names = list(medians)
    print(
        f"{'median ms per save':<22}{'wall':>8}{'CPU':>8}   "
        + "  ".join(f"{'x ' + n:>18}" for n in names[2:])
    )
    for name in names:
        wall, cpu = medians[name]
        ratios = "  ".join(
            f"{wall / medians[other][0]:>8.2f}x {cpu / medians[other][1]:>7.2f}x"
            for other in names[2:]
        )
        print(f"{name:<22}{wall:>8.3f}{cpu:>8.3f}   {ratios}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--appends", type=int, default=30)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--workloads", default="inline,worker,langgraph")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(dir=options.dir) as directory:
        for workload in options.workloads.split(","):
            calls = (
                langgraph_calls(options.threads, options.turns)
                if workload == "langgraph"
                else None
            )
            saves = (
                w1_saves(projection_mode(workload), options.sessions, options.appends)
                if calls is None
                else langgraph_saves(calls)
            )

            def peers_of(
                count: int,
                folder: Path,
                calls: Sequence[tuple[str, tuple[Any, ...]]] | None = calls,
            ) -> dict[str, list[Callable[[], Any]]]:
                return peer_calls(count, options.sessions, folder, calls)

            results[workload] = measure(saves, peers_of, Path(directory))
            report(workload, results[workload])
    if options.json_out:
        options.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
