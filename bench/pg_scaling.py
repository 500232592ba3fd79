"""PostgreSQL write scaling: N writer processes on N sessions against one writer.

    .venv/bin/python bench/pg_scaling.py [--writers 1,2,4,16] [--appends 600]
                                         [--json-out F]

Each writer is a spawned process with its own trail (its own connection pool)
appending and saving one message at a time to its own session, all released
together by a barrier; `--appends` is the total per run, shared among the
writers. Runs with inline read models (the default) and in worker mode (events
only). Prints aggregate appends/s per writer count, the ratio to one writer
(issue 9's target: 16 writers >= 3x), and what one save costs in CPU: this
process's and the PostgreSQL server's, which is what bounds the curve on a small
machine (a writer that never waits can only be sped up by another free core).
Every append is checked stored.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from harness import databases, postgres_cpu_seconds

import sessiontrail

Mode = str  # "inline" | "worker"


def write(url: str, session_id: str, count: int, mode: Mode, start: Any) -> None:
    """One writer process: wait for the others, then `count` saves of one append."""
    with sessiontrail.connect(url, projections=mode) as trail:  # type: ignore[arg-type]
        session = trail.sessions.load_or_create(session_id)
        start.wait(timeout=120)
        for number in range(count):
            session.append_message(role="user", content=f"{session_id}-{number}")
            trail.sessions.save(session)


def appends_per_s(url: str, writers: int, total: int, mode: Mode) -> float:
    """Aggregate appends/s of `writers` processes sharing `total` appends."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers + 1)
    count = total // writers
    ids = [f"{mode}-{writers}-{n}" for n in range(writers)]
    processes = [
        context.Process(target=write, args=(url, sid, count, mode, start))
        for sid in ids
    ]
    for process in processes:
        process.start()
    start.wait(timeout=120)
    began = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - began
    if any(process.exitcode for process in processes):
        raise SystemExit(f"a {mode} writer failed")
    with sessiontrail.connect(url) as trail:
        stored = sum(len(trail.sessions.load_merged(sid).messages) for sid in ids)
    assert stored == writers * count, f"lost writes: {stored} of {writers * count}"
    return writers * count / elapsed


def cpu_per_save_ms(url: str, mode: Mode, saves: int) -> dict[str, float]:
    """Wall, client CPU and server CPU per save of one writer, in milliseconds."""
    with sessiontrail.connect(url, projections=mode) as trail:  # type: ignore[arg-type]
        session = trail.sessions.load_or_create(f"{mode}-cpu")
        client, server = time.process_time(), postgres_cpu_seconds()
        wall = time.perf_counter()
        for number in range(saves):
            session.append_message(role="user", content=f"cpu-{number}")
            trail.sessions.save(session)
        return {
            "wall_ms": 1000 * (time.perf_counter() - wall) / saves,
            "client_cpu_ms": 1000 * (time.process_time() - client) / saves,
            "server_cpu_ms": 1000 * (postgres_cpu_seconds() - server) / saves,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", default="1,2,4,16")
    parser.add_argument("--appends", type=int, default=600)
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    counts = [int(part) for part in options.writers.split(",")]
    result: dict[str, Any] = {"cores": os.cpu_count(), "writers": counts}
    for _, url in databases("postgres"):
        for mode in ("inline", "worker"):
            curve = {n: appends_per_s(url, n, options.appends, mode) for n in counts}
            cpu = cpu_per_save_ms(url, mode, options.appends)
            result[mode] = {"appends_per_s": curve, "one_writer_cpu": cpu}
            one = curve[counts[0]]
            steps = ", ".join(
                f"{n}: {rate:,.0f}/s ({rate / one:.2f}x)" for n, rate in curve.items()
            )
            print(f"postgresql {mode}: writers {steps}")
            print(
                f"  one writer per save: {cpu['wall_ms']:.2f} ms wall, "
                f"{cpu['client_cpu_ms']:.2f} ms client CPU, "
                f"{cpu['server_cpu_ms']:.2f} ms server CPU "
                f"({os.cpu_count()} cores)",
                flush=True,
            )
    if options.json_out:
        options.json_out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
