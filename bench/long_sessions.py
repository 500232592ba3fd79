"""Long sessions: what a turn, a whole transcript and the disk cost as a session grows.

    .venv/bin/python bench/long_sessions.py [--sizes 100,1000,10000,50000]
        [--backend sqlite|postgres|both] [--before PYTHON [--before-sizes 100,10000]]
        [--repeats 21] [--json-out FILE] [--quick]

`--quick` (bench/all.py --quick, in CI): SQLite, 100 and 1,000 messages, 5 repeats.

Per size, a fresh database holding one session of that many messages, written 100
per save as an agent's turns are. Then, through a trail opened as a stateless web
worker opens one (`connect(url, cache_size=0)`, so every call reads storage):
- turn: `sessions.load` + `append_message` + `sessions.save` (median of --repeats);
- held turn: `append_message` + `sessions.save` on a session an agent holds, its
  transcript read once (`session.messages`), through a trail with the default
  cache, as one agent process keeps its conversation between turns;
- the same append through the OpenAI Agents SDK adapter (`TrailSession.add_items`
  of one item), the ADK adapter (`append_event`) and the HTTP API
  (`POST /v1/sessions/{id}/messages`, in process), each on its own session of that
  length;
- load-all: `sessions.load(id).messages` (median of 5), beside a raw SELECT of the
  same rows from the transcript table, decoded from JSON;
- bytes on disk per message, and the snapshots' share of them.
Each (backend, size) cell runs in a fresh process. With --before, every cell also
runs under that interpreter (another checkout of sessiontrail, e.g. main before
this change), interleaved with this one, and the report shows both and the ratio.
Absolute times drift on shared machines; ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import cell_result, median_ms

if TYPE_CHECKING:
    from openai.types.responses import EasyInputMessageParam

HERE = Path(__file__).resolve()
TEXT = (
    "The quick brown fox jumps over the lazy dog while the agent summarises the "
    "previous tool call, cites two sources and asks a follow-up question. "
) * 2
PER_SAVE = 100
USER = "ann"
TOKEN = "ann-token-0123456789"


def fill(trail: Any, session_id: str, size: int, metadata: Any = None) -> None:
    """Append `size` messages to a stored session, PER_SAVE per save."""
    session = trail.sessions.load(session_id, user_id=USER)
    for number in range(size):
        role = "user" if number % 2 == 0 else "assistant"
        session.append_message(
            role=role, content=f"[{number}] {TEXT[:200]}", metadata=metadata
        )
        if number % PER_SAVE == PER_SAVE - 1:
            trail.sessions.save(session)
    trail.sessions.save(session)


def build(url: str, size: int) -> None:
    """The four sessions of one cell: plain, OpenAI's, ADK's, the HTTP API's."""

    import sessiontrail
    from sessiontrail.integrations.adk import TrailSessionService, trail_session_id

    with sessiontrail.connect(url) as trail:
        for session_id in ("plain", "openai", "http"):
            trail.sessions.save(
                sessiontrail.Session(session_id=session_id, user_id=USER)
            )
            fill(trail, session_id, size)
        service = TrailSessionService(trail)
        asyncio.run(
            service.create_session(app_name="bench", user_id=USER, session_id="adk")
        )
        fill(trail, trail_session_id("bench", USER, "adk"), size)


def measure(url: str, size: int, repeats: int) -> dict[str, float]:
    from fastapi.testclient import TestClient
    from google.adk.events import Event
    from google.genai import types

    import sessiontrail
    from sessiontrail.integrations.adk import TrailSessionService
    from sessiontrail.integrations.openai_agents import TrailSession
    from sessiontrail.server.app import create_app
    from sessiontrail.server.auth import Tokens, digest

    out: dict[str, float] = {}
    with sessiontrail.connect(url, cache_size=0) as trail:

        def turn() -> None:
            session = trail.sessions.load("plain", user_id=USER)
            assert session is not None
            session.append_message(role="user", content=TEXT[:200])
            trail.sessions.save(session)

        turn()
        out["turn_ms"] = median_ms(turn, repeats)
        out["load_ms"] = median_ms(
            lambda: trail.sessions.load("plain", user_id=USER), repeats
        )

        def load_all() -> object:
            session = trail.sessions.load("plain", user_id=USER)
            assert session is not None
            return session.messages

        out["load_all_ms"] = median_ms(load_all, 5)

    with sessiontrail.connect(url) as trail:
        held = trail.sessions.load("plain", user_id=USER)
        assert held is not None and len(held.messages) >= size  # now held

        def held_turn() -> None:
            held.append_message(role="user", content=TEXT[:200])
            trail.sessions.save(held)

        held_turn()
        out["held_turn_ms"] = median_ms(held_turn, repeats)

    with sessiontrail.connect(url, cache_size=0) as trail:
        openai = TrailSession("openai", trail, user_id=USER)
        item: EasyInputMessageParam = {"role": "user", "content": TEXT[:200]}

        def add() -> None:
            asyncio.run(openai.add_items([item]))

        add()
        out["openai_add_items_ms"] = median_ms(add, repeats)

        service = TrailSessionService(trail)
        adk = asyncio.run(
            service.get_session(app_name="bench", user_id=USER, session_id="adk")
        )
        assert adk is not None

        def adk_append() -> None:
            event = Event(
                author="user",
                invocation_id="bench",
                content=types.Content(role="user", parts=[types.Part(text=TEXT[:200])]),
            )
            asyncio.run(service.append_event(adk, event))

        adk_append()
        out["adk_append_event_ms"] = median_ms(adk_append, repeats)

        with tempfile.TemporaryDirectory() as directory:
            tokens = Path(directory) / "tokens.json"
            tokens.write_text(json.dumps([{"sha256": digest(TOKEN), "user_id": USER}]))
            with TestClient(create_app(trail, Tokens.load(tokens))) as client:
                headers = {"Authorization": f"Bearer {TOKEN}"}

                def post() -> None:
                    response = client.post(
                        "/v1/sessions/http/messages",
                        json={"role": "user", "content": TEXT[:200]},
                        headers=headers,
                    )
                    assert response.status_code == 201, response.text

                post()
                out["http_append_ms"] = median_ms(post, repeats)
    return out


def raw_select_ms(path: str) -> float:
    """The transcript rows of the plain session, straight from SQLite."""
    from sessiontrail.domain.session import stream_id

    connection = sqlite3.connect(path)
    generation = connection.execute(
        "SELECT generation FROM st_projections WHERE name = 'sessions'"
    ).fetchone()[0]
    stream = str(stream_id("plain"))

    def select() -> list[Any]:
        rows = connection.execute(
            f"SELECT message FROM st_messages_g{generation} WHERE stream = ? "
            "ORDER BY position",
            (stream,),
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    try:
        return median_ms(select, 5)
    finally:
        connection.close()


def sqlite_sizes(path: str) -> dict[str, int]:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = dict(
        connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
    )
    connection.close()
    snapshots = sum(v for k, v in pages.items() if "snapshots" in k)
    return {"db_bytes": os.path.getsize(path), "snapshot_bytes": snapshots}


def postgres_sizes(url: str) -> dict[str, int]:
    import psycopg

    from sessiontrail.infrastructure.backends import parse_url

    env = parse_url(url).env
    schema = env.get("POSTGRES_SCHEMA", "public")
    with psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
    ) as connection:
        rows = connection.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchall()
    sizes: dict[str, int] = dict(rows)
    return {
        "db_bytes": sum(sizes.values()),
        "snapshot_bytes": sum(v for k, v in sizes.items() if "snapshots" in k),
    }


def cell(backend: str, url: str, size: int, repeats: int) -> dict[str, Any]:
    """One (backend, size) measurement, in this process."""
    started = time.perf_counter()
    build(url, size)
    figures: dict[str, Any] = {"build_s": time.perf_counter() - started}
    figures.update(measure(url, size, repeats))
    if backend == "sqlite":
        path = url.removeprefix("sqlite:///")
        figures["raw_select_ms"] = raw_select_ms(path)
        figures.update(sqlite_sizes(path))
    else:
        figures.update(postgres_sizes(url))
    figures["bytes_per_message"] = figures["db_bytes"] / (4 * size)
    return figures


@contextmanager
def databases(backend: str) -> Iterator[Callable[[], str]]:
    """A maker of fresh database URLs on one backend."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            count = iter(range(10**6))
            yield lambda: f"sqlite:///{Path(directory) / f'long-{next(count)}.db'}"
        return
    sys.path.insert(0, str(HERE.parent.parent / "tests"))
    from support.postgres import running

    with running() as server:
        yield lambda: server.url(server.new_schema())


def run_cell(python: str, backend: str, url: str, size: int, repeats: int) -> Any:
    arguments = [backend, url, str(size), str(repeats)]
    return json.loads(cell_result(python, HERE, arguments))


COLUMNS = (
    ("turn_ms", "turn ms"),
    ("held_turn_ms", "held turn ms"),
    ("openai_add_items_ms", "OpenAI add ms"),
    ("adk_append_event_ms", "ADK append ms"),
    ("http_append_ms", "HTTP POST ms"),
    ("load_ms", "load ms"),
    ("load_all_ms", "all msgs ms"),
    ("raw_select_ms", "raw SELECT ms"),
    ("bytes_per_message", "bytes/msg"),
    ("snapshot_bytes", "snapshot bytes"),
)


def report(results: dict[str, Any], sizes: list[int]) -> list[str]:
    lines = []
    for backend, by_tree in results.items():
        for tree, by_size in by_tree.items():
            lines.append(f"{backend}, {tree}:")
            lines.append(
                "  " + f"{'messages':>9}" + "".join(f"{t:>15}" for _, t in COLUMNS)
            )
            for size in sizes:
                row = by_size.get(str(size))
                if row is None:
                    continue
                cells = "".join(
                    f"{row[k]:>15,.2f}" if k in row else f"{'-':>15}"
                    for k, _ in COLUMNS
                )
                lines.append(f"  {size:>9,}{cells}")
            measured = sorted(int(s) for s in by_size)
            first, last = str(measured[0]), str(measured[-1])
            if first != last:
                lines.append(f"  ratio {last} / {first} messages:")
                for key, title in COLUMNS[:6]:
                    if key in by_size[first] and key in by_size[last]:
                        ratio = by_size[last][key] / by_size[first][key]
                        lines.append(f"    {title:<15} {ratio:6.2f}x")
                small, large = by_size[first], by_size[last]
                per = (large["db_bytes"] / int(last)) / (small["db_bytes"] / int(first))
                lines.append(f"    {'bytes/message':<15} {per:6.2f}x")
                lines.append(
                    f"    snapshot share at {last}: "
                    f"{large['snapshot_bytes'] / large['db_bytes']:.1%}"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100,1000,10000,50000")
    parser.add_argument("--quick", action="store_true", help="smoke sizes (CI)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="both"
    )
    parser.add_argument(
        "--before", help="another checkout's Python, run beside this one"
    )
    parser.add_argument("--before-sizes", default="100,10000")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    if options.cell:
        backend, url, size, repeats = options.cell
        print(json.dumps(cell(backend, url, int(size), int(repeats))))
        return
    if options.quick:
        options.sizes, options.backend, options.repeats = "100,1000", "sqlite", 5
        options.before_sizes = "100,1000"
    sizes = [int(s) for s in options.sizes.split(",")]
    before_sizes = [int(s) for s in options.before_sizes.split(",")]
    trees = {"this checkout": sys.executable}
    if options.before:
        trees = {"before": options.before, **trees}
    backends = (
        ["sqlite", "postgresql"]
        if options.backend == "both"
        else ["postgresql" if options.backend == "postgres" else "sqlite"]
    )
    results: dict[str, Any] = {}
    for backend in backends:
        with databases("sqlite" if backend == "sqlite" else "postgres") as fresh:
            for size in sizes:
                for tree, python in trees.items():
                    if tree == "before" and size not in before_sizes:
                        continue
                    figures = run_cell(python, backend, fresh(), size, options.repeats)
                    results.setdefault(backend, {}).setdefault(tree, {})[str(size)] = (
                        figures
                    )
                    print(
                        f"{backend} {tree} {size}: {json.dumps(figures)}",
                        file=sys.stderr,
                        flush=True,
                    )
    print("\n".join(report(results, sizes)))
    if options.json_out:
        options.json_out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
