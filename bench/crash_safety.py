"""Long crash run: kill -9 a writer N times per backend, then check the store.

    .venv/bin/python bench/crash_safety.py --kills 200        # SQLite and PostgreSQL
    .venv/bin/python bench/crash_safety.py --kills 20 --backends sqlite   # short

PostgreSQL is a throwaway server started here (binaries as for the tests).
Prints one line per backend; exits 1 if any promise was broken.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from crash.harness import run
from support.postgres import PostgresServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    broken = False
    for backend in args.backends.split(","):
        server = None
        if backend == "postgres":
            server = PostgresServer()
            server.start()
            url = server.url(server.new_schema())
        else:
            url = f"sqlite:///{tempfile.mkdtemp()}/crash.db"
        started = time.monotonic()
        try:
            report = run(url, kills=args.kills, seed=args.seed)
        finally:
            if server is not None:
                server.stop()
        broken |= bool(report.problems)
        print(
            f"{backend}: {report.kills} kills, {report.acknowledged} acknowledged, "
            f"{report.stored_pairs} stored, problems: {report.problems or 'none'} "
            f"({time.monotonic() - started:.0f} s)"
        )
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
