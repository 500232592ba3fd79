"""Client CPU per PostgreSQL save at one writer, before and after, side by side.

    .venv/bin/python bench/pg_save_cpu.py --before TREE [--mode inline|worker]
        [--saves 500] [--rounds 6]

bench/pg_scaling.py measures whole curves on a durable server, where the disk
and other writers move every figure; this measures one thing: the CPU time
(time.process_time) of a process saving one append at a time to its own
session, on a throwaway server without fsync. Each round runs this tree's code
and TREE's (a checkout with its .venv), in turns that swap every round, each on
a new schema; medians of the rounds. With `--child URL MODE SAVES` it is the
saving process itself, which prints "CPU-ms wall-ms" per save.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from literals import projection_mode
from support.postgres import running
from trees import child_output, in_turns

import sessiontrail

HERE = Path(__file__).resolve()
WARM_UP = 30
"""Saves before the clock starts: every pooled connection used, caches full."""


def child(url: str, mode: sessiontrail.Mode, saves: int) -> None:
    """Save `saves` appends to a new session; print CPU and wall ms per save."""
    with sessiontrail.connect(url, projections=mode) as trail:
        session_id = uuid.uuid4().hex
        session = trail.sessions.load_or_create(session_id)
        for count in range(WARM_UP + saves):
            if count == WARM_UP:
                cpu, wall = time.process_time(), time.monotonic()
            session.append_message(role="user", content=f"{session_id}-{count}")
            trail.sessions.save(session)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    print(f"{cpu / saves * 1000:.3f} {wall / saves * 1000:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path)
    parser.add_argument("--mode", choices=("inline", "worker"), default="worker")
    parser.add_argument("--saves", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--child", nargs=3, metavar=("URL", "MODE", "SAVES"))
    options = parser.parse_args()
    if options.child:
        url, mode, saves = options.child
        child(url, projection_mode(mode), int(saves))
        return
    trees = ["before", "after"] if options.before else ["after"]
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    with running() as server:
        for _, name, tree in in_turns(options.before, options.rounds):
            cpu_ms, wall_ms = child_output(
                tree,
                HERE,
                [server.url(server.new_schema()), options.mode, str(options.saves)],
            ).split()
            found[name].append((float(cpu_ms), float(wall_ms)))
    print(
        f"{options.mode}, {options.saves} saves x {options.rounds} rounds, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    for name, rounds in found.items():
        cpu = statistics.median(value for value, _ in rounds)
        wall = statistics.median(value for _, value in rounds)
        print(
            f"  {name}: client CPU {cpu:.3f} ms/save, wall {wall:.3f} ms/save "
            f"(rounds: {', '.join(f'{value:.3f}' for value, _ in rounds)})"
        )


if __name__ == "__main__":
    main()
