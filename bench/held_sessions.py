"""A session its writer holds: what each save costs as the session grows.

    .venv/bin/python bench/held_sessions.py [--sizes 100,10000,50000]
        [--saves 300] [--projections worker|inline] [--dir /dev/shm]
        [--before PYTHON] [--rounds 3] [--json-out FILE] [--quick] [--usage]

An agent process keeps its conversation between turns: one `Session` object,
its whole transcript in memory, and each turn `append_message` + `save` through
a trail with the default cache. Per size, a fresh SQLite file in `--dir` (tmpfs
by default, so the CPU time is the process's own work, not the disk's) holds
one session of that many messages, built in memory and saved once; then
`--saves` turns are timed, CPU time per turn, median. With `--before`, each
cell also runs under that interpreter (another checkout, e.g. main before a
change), alternating with this one for `--rounds` rounds, and the report shows
the medians of both and their ratio. `--usage`: the agent also records the
model's token usage, one record per assistant message and one per timed turn
(a session of N messages then holds N/2 records).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import cell_result
from literals import Turn, projection_mode

if TYPE_CHECKING:
    from pydantic import JsonValue

    from sessiontrail import Mode

HERE = Path(__file__).resolve()
TEXT = "The agent summarises the last tool call and asks a follow-up. " * 3


USAGE: dict[str, JsonValue] = {
    "input_tokens": 812,
    "output_tokens": 96,
    "details": {"cached_tokens": 512},
}


def cell(
    size: int, saves: int, projections: Mode, directory: str, usage: bool
) -> float:
    """Median CPU ms of one held turn on a session of `size` messages."""
    import sessiontrail

    with tempfile.TemporaryDirectory(dir=directory) as folder:
        url = f"sqlite:///{Path(folder) / 'held.db'}"
        with sessiontrail.connect(url, projections=projections) as trail:
            held = sessiontrail.Session(session_id="held", user_id="ann")
            for number in range(size):
                role: Turn = "user" if number % 2 == 0 else "assistant"
                held.append_message(role=role, content=f"[{number}] {TEXT}")
                if usage and role == "assistant":
                    held.record_token_usage(USAGE)
            trail.sessions.save(held)
            spent = []
            for number in range(saves):
                began = time.process_time()
                held.append_message(role="user", content=f"[turn {number}] {TEXT}")
                if usage:
                    held.record_token_usage(USAGE)
                trail.sessions.save(held)
                spent.append(time.process_time() - began)
    return 1000 * statistics.median(spent)


def run_cell(python: str, size: int, options: argparse.Namespace) -> float:
    arguments = [
        str(size),
        str(options.saves),
        options.projections,
        options.dir,
        "usage" if options.usage else "",
    ]
    return float(cell_result(python, HERE, arguments))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100,10000,50000")
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--projections", choices=("worker", "inline"), default="worker")
    parser.add_argument("--dir", default="/dev/shm")
    parser.add_argument("--before", help="another interpreter, run alternately")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke sizes (CI)")
    parser.add_argument("--usage", action="store_true", help="record usage each turn")
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    if options.cell:
        size, saves, projections, directory, usage = options.cell
        mode = projection_mode(projections)
        print(cell(int(size), int(saves), mode, directory, usage == "usage"))
        return
    if options.quick:
        options.sizes, options.saves, options.rounds = "100,2000", 50, 1
    sizes = [int(size) for size in options.sizes.split(",")]
    pythons = {"this checkout": sys.executable}
    if options.before:
        pythons = {"before": options.before, **pythons}
    times: dict[str, dict[int, list[float]]] = {
        name: {size: [] for size in sizes} for name in pythons
    }
    for _ in range(options.rounds):
        for size in sizes:
            for name, python in pythons.items():
                times[name][size].append(run_cell(python, size, options))
    results: dict[str, Any] = {
        name: {str(size): statistics.median(spent) for size, spent in by_size.items()}
        for name, by_size in times.items()
    }
    print(
        f"held session, {options.projections} mode"
        f"{', usage recorded each turn' if options.usage else ''}, CPU ms per turn "
        f"(median of {options.saves} turns, median of {options.rounds} rounds)"
    )
    for name, by_size in results.items():
        cells = "  ".join(f"{size}: {ms:.3f}" for size, ms in by_size.items())
        largest = by_size[str(sizes[-1])] / by_size[str(sizes[0])]
        print(f"  {name:<14} {cells}   {sizes[-1]} / {sizes[0]}: {largest:.2f}x")
    if options.before:
        for size in sizes:
            ratio = results["this checkout"][str(size)] / results["before"][str(size)]
            print(f"  this checkout / before at {size}: {ratio:.2f}x")
    if options.json_out:
        options.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
