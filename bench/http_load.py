"""A bounded load test of `sessiontrail serve` on loopback: requests/s for appends
and reads with 1 and 16 clients.

    .venv/bin/python bench/http_load.py [--seconds 5] [--clients 1,16] [--json-out F]

Starts the installed `sessiontrail serve` over a fresh SQLite file on a free
127.0.0.1 port, runs each phase for `--seconds` (every client a thread with its
own keep-alive connection and its own session: POST a message, or GET the latest
20), checks every response, stops the server and prints a table. Nothing leaves
the machine and nothing runs past the phases.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.http import bearer, serving


def phase(base: str, clients: int, seconds: float, kind: str) -> float:
    """Requests/s of `clients` threads doing `kind` for `seconds`."""
    counts = [0] * clients
    failures: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(number: int) -> None:
        session = f"{kind}-{clients}-{number}"
        with httpx.Client(base_url=base, headers=bearer("ann"), timeout=30) as http:
            http.post("/v1/sessions", json={"session_id": session}).raise_for_status()
            http.post(
                f"/v1/sessions/{session}/messages",
                json={"role": "user", "content": "seed"},
            ).raise_for_status()
            start.wait()
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                if kind == "appends":
                    response = http.post(
                        f"/v1/sessions/{session}/messages",
                        json={"role": "user", "content": f"message {counts[number]}"},
                    )
                else:
                    response = http.get(f"/v1/sessions/{session}/messages?last_n=20")
                if response.status_code not in (200, 201):
                    failures.append(f"{response.status_code} {response.text[:100]}")
                    return
                counts[number] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    if failures:
        raise SystemExit(f"{kind} with {clients} clients failed: {failures[0]}")
    return sum(counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    counts = [int(part) for part in options.clients.split(",")]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        with serving(f"sqlite:///{root / 'serve.db'}", root) as (http, _):
            base = str(http.base_url)
            for kind in ("appends", "reads"):
                results[kind] = {
                    str(n): phase(base, n, options.seconds, kind) for n in counts
                }
    print(f"{'requests/s':<12}" + "".join(f"{f'{n} clients':>14}" for n in counts))
    for kind, row in results.items():
        print(f"{kind:<12}" + "".join(f"{row[str(n)]:>14,.0f}" for n in counts))
    if options.json_out:
        options.json_out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
