"""What a durable, sealed, chained append must do in Python, beside what a save does.

    .venv/bin/python bench/essential_append.py [--appends 3000] [--dir /dev/shm]

W1's append (one ~200-character message to a user's session, worker mode) done
two ways on one SQLite file each, interleaved append by append, CPU time per
append (the process's own: with `--dir` on tmpfs, as by default, the fsync
costs nothing and Python decides):

- sessiontrail: `session.append_message(...)` then `trail.sessions.save(session)`;
- the essentials: what the stored record needs and nothing more, with
  sessiontrail's own primitives: the input checked (role, text, valid Unicode,
  length), a message id and a time, the message's personal field sealed with
  the user's key (JSON, deflated when that pays, AES-GCM), the record's JSON,
  its hash-chain value over the record before it, and one INSERT of the framed
  record in its own transaction (WAL, synchronous FULL): the same bytes' worth
  of work as a save's record, without the layers that carry it there.

The ratio says how much of a save's CPU the guarantees themselves (sealed for
erasure, chained for tamper evidence, durable) take, and so how far a leaner
write path could go before it would have to give one of them up.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pydantic_core
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import sessiontrail
from sessiontrail.infrastructure.chain import GENESIS, digest, frame
from sessiontrail.infrastructure.user_keys import _sealer

ROLES = frozenset({"system", "user", "assistant", "tool"})
TOPIC = "sessiontrail.domain.session:Session.MessageAppended"


class Essentials:
    """Appends of one session's messages, each a sealed, chained, durable record."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version "
            "INTEGER, topic TEXT, state BLOB, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        self._seal = _sealer(
            "ann", "k1", AESGCM(AESGCM.generate_key(256)), compress=True
        )
        self._stream = uuid.uuid4()
        self._version = 0
        self._previous = GENESIS

    def append(self, role: str, content: str) -> None:
        if role not in ROLES or not isinstance(content, str):
            raise ValueError("role or content")
        if len(content) > 1_000_000:
            raise ValueError("content: too long")
        content.encode("utf-8")  # a lone surrogate raises
        now = datetime.now(UTC).isoformat()
        message = {
            "id": uuid.uuid4().hex,
            "role": role,
            "created_at": now,
            "metadata": {},
            "_s": self._seal({"content": content}),
        }
        body = b"\x00" + pydantic_core.to_json(
            {"message": message, "actor": "runtime", "timestamp": now}
        )
        self._version += 1
        value = digest(self._previous, self._stream, self._version, TOPIC, body)
        self._db.execute(
            "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
            (str(self._stream), self._version, TOPIC, frame(body, value)),
        )
        self._previous = value


def cpu_ms(call: Callable[[], None]) -> float:
    began = time.process_time()
    call()
    return 1000 * (time.process_time() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm"))
    options = parser.parse_args()
    text = "x" * 190
    with tempfile.TemporaryDirectory(dir=options.dir) as directory:
        folder = Path(directory)
        essentials = Essentials(folder / "essentials.db")
        with sessiontrail.connect(
            f"sqlite:///{folder / 'trail.db'}", projections="worker"
        ) as trail:
            session = sessiontrail.Session(session_id="s", user_id="ann")
            trail.sessions.save(session)

            def save(number: int) -> None:
                session.append_message(role="user", content=f"[m{number}] {text}")
                trail.sessions.save(session)

            spent: dict[str, list[float]] = {"sessiontrail": [], "essentials": []}
            for number in range(options.appends):
                steps = [
                    ("sessiontrail", lambda n=number: save(n)),
                    (
                        "essentials",
                        lambda n=number: essentials.append("user", f"[m{n}] {text}"),
                    ),
                ]
                for name, step in steps if number % 2 else steps[::-1]:
                    spent[name].append(cpu_ms(step))
    medians = {name: statistics.median(times) for name, times in spent.items()}
    print(f"{options.appends} appends each, {options.dir} (CPU ms per append, median)")
    for name, median in medians.items():
        print(f"{name:<14} {median:.4f}")
    ratio = medians["essentials"] / medians["sessiontrail"]
    print(f"essentials / sessiontrail: {ratio:.2f}x")


if __name__ == "__main__":
    main()
