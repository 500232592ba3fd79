"""What one inline save costs, read model by read model: CPU and pages written.

    .venv/bin/python bench/inline_cost.py --dir /dev/shm      # CPU (tmpfs)
    .venv/bin/python bench/inline_cost.py --dir /var/tmp       # pages, real disk
    .venv/bin/python bench/inline_cost.py --mode worker        # a worker-mode save

The W1 workload of the peer harness (sessions appended round-robin, one message
per save, inline read models), on one SQLite file. Reports per save:

- CPU (process time) of the whole save, and of each read model's handlers
  (`apply_batch` timed per read model; the rest is the common save path);
- the pages written to the write-ahead log, by read model and table: a reader
  holds the log's first snapshot open so no checkpoint resets the log, then the
  log's frames are read back and each page is named by `dbstat`.

One JSON document on stdout. `--repeats` runs the loop that many times in
fresh files and reports medians.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.wal_pages import pages_written

import sessiontrail
from sessiontrail.projections import batches, runner
from sessiontrail.trail import READ_MODELS

CONTENT = "x" * 40 + " lorem ipsum dolor sit amet consectetur adipiscing elit " * 3
"""About the harness's 200-character message, with a few distinct words."""
_PHYSICAL = re.compile(r"^(?:sqlite_autoindex_)?st_(.+?)_g\d+(?:_i\d+|_\d+|_[a-z]+)?$")


def _table_owners() -> dict[str, str]:
    """Logical table name -> the read model that writes it."""
    owners = {"search_words": "search"}
    for model in READ_MODELS:
        for table in model.tables:
            owners[table.name] = model.name
    return owners


def _timed_handlers(spent: dict[str, float]) -> Callable[[], None]:
    """Time each read model's batch of a save (`batches._apply_batch`) and the
    whole of the read models' part (`_apply_in_append`); returns what undoes it."""
    original = batches._apply_batch

    def timed(cur: Any, generation: Any, numbered: Any) -> None:
        start = time.process_time()
        try:
            original(cur, generation, numbered)
        finally:
            spent[generation.projection.name] += time.process_time() - start

    batches._apply_batch = timed
    in_append = runner.ProjectionRunner._apply_in_append

    def timed_in_append(self: Any, cur: Any, recent: Any) -> None:
        start = time.process_time()
        try:
            in_append(self, cur, recent)
        finally:
            spent["(all read models)"] += time.process_time() - start

    runner.ProjectionRunner._apply_in_append = timed_in_append  # type: ignore[method-assign]

    def undo() -> None:
        batches._apply_batch = original
        runner.ProjectionRunner._apply_in_append = in_append  # type: ignore[method-assign]

    return undo


def run_once(
    directory: str, sessions: int, messages: int, mode: sessiontrail.Mode = "inline"
) -> dict[str, Any]:
    """One W1 loop in a fresh file: CPU and pages per save."""
    spent: dict[str, float] = defaultdict(float)
    undo = _timed_handlers(spent)  # before connect: it binds the runner's hook
    try:
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            path = Path(tmp) / "trail.db"
            url = f"sqlite:///{path}"
            with sessiontrail.connect(url, projections=mode) as trail:
                handles = []
                for number in range(sessions):
                    session = sessiontrail.Session(session_id=f"s{number}", user_id="u")
                    trail.sessions.save(session)
                    handles.append(session)
                spent.clear()
                with pages_written(path) as by_table:
                    begin = time.process_time()
                    for turn in range(messages):
                        for session in handles:
                            text = f"{turn} {CONTENT}"
                            session.append_message(role="user", content=text)
                            trail.sessions.save(session)
                    cpu = time.process_time() - begin
    finally:
        undo()
    saves = sessions * messages
    owners = _table_owners()
    by_model: Counter[str] = Counter()
    for name, count in by_table.items():
        match = _PHYSICAL.match(name)
        by_model[owners.get(match.group(1), name) if match else name] += count
    return {
        "saves": saves,
        "cpu_ms_per_save": 1000 * cpu / saves,
        "handler_cpu_ms_per_save": {k: 1000 * v / saves for k, v in spent.items()},
        "pages_per_save": by_table.total() / saves,
        "pages_per_save_by_model": {k: v / saves for k, v in by_model.items()},
        "pages_per_save_by_table": {k: v / saves for k, v in by_table.items()},
    }


def _median(runs: list[dict[str, Any]], key: str) -> Any:
    if isinstance(runs[0][key], dict):
        names = {name for run in runs for name in run[key]}
        return {
            name: round(statistics.median(run[key].get(name, 0.0) for run in runs), 3)
            for name in sorted(names, key=lambda n: -runs[0][key].get(n, 0.0))
        }
    return round(statistics.median(run[key] for run in runs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--mode", choices=("inline", "worker"), default="inline", help="read models"
    )
    args = parser.parse_args()
    runs = [
        run_once(args.dir, args.sessions, args.messages, args.mode)
        for _ in range(args.repeats)
    ]
    print(json.dumps({key: _median(runs, key) for key in runs[0]}, indent=1))


if __name__ == "__main__":
    main()
