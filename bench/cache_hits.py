"""A cached session's transcript, read on each cache hit, after the writes that
replace the cached copy.

    .venv/bin/python bench/cache_hits.py [--sizes 100,5000] [--hits 20]
        [--before PYTHON] [--json-out FILE] [--quick]

A web app keeps one trail per process and shows a session on each request:
`trail.sessions.load(id).messages`, served from the trail's cache. Two writes
replace the cached copy with a session that has not read its transcript: a
turn saved by this process on a session it loaded (from a snapshot, as every
session past 100 events loads), and `append_token_usage`. Per size and write,
a fresh SQLite file on tmpfs holds one session of that many messages, written
by another trail; this trail makes the write, then times `--hits` cache hits,
CPU time per hit, median. With `--before`, every cell also runs under that
interpreter (another checkout), alternating, and the report shows both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import cell_result

HERE = Path(__file__).resolve()
WRITES = ("turn", "usage")


def cell(size: int, write: str, hits: int) -> float:
    """Median CPU ms of a cache hit's `load(...).messages` after `write`."""
    import sessiontrail

    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        url = f"sqlite:///{Path(folder) / 'hits.db'}"
        with sessiontrail.connect(url) as other:
            session = sessiontrail.Session(session_id="shown", user_id="ann")
            for number in range(size):
                session.append_message(role="user", content=f"[{number}] a turn")
            other.sessions.save(session)
        with sessiontrail.connect(url) as trail:
            if write == "turn":
                turn = trail.sessions.load("shown", user_id="ann")
                assert turn is not None
                turn.append_message(role="assistant", content="the reply")
                trail.sessions.save(turn)
            else:
                trail.sessions.append_token_usage("shown", {"tokens": 3}, user_id="ann")
            spent = []
            for _ in range(hits):
                began = time.process_time()
                shown = trail.sessions.load("shown", user_id="ann")
                assert shown is not None and len(shown.messages) >= size
                spent.append(time.process_time() - began)
    return 1000 * statistics.median(spent)


def run_cell(python: str, size: int, write: str, hits: int) -> float:
    return float(cell_result(python, HERE, [str(size), write, str(hits)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100,5000")
    parser.add_argument("--hits", type=int, default=20)
    parser.add_argument("--before", help="another interpreter, run alternately")
    parser.add_argument("--quick", action="store_true", help="smoke sizes (CI)")
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    if options.cell:
        size, write, hits = options.cell
        print(cell(int(size), write, int(hits)))
        return
    if options.quick:
        options.sizes, options.hits = "100,500", 5
    sizes = [int(size) for size in options.sizes.split(",")]
    pythons = {"this checkout": sys.executable}
    if options.before:
        pythons = {"before": options.before, **pythons}
    results: dict[str, Any] = {name: {} for name in pythons}
    print(f"CPU ms per cache hit of load(...).messages, median of {options.hits}")
    for write in WRITES:
        for size in sizes:
            for name, python in pythons.items():
                spent = run_cell(python, size, write, options.hits)
                results[name][f"{write} {size}"] = spent
                where = f"after a {write:<5} {size:>7} messages"
                print(f"  {where}  {name:<14} {spent:9.3f}")
    if options.json_out:
        options.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
