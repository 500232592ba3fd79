"""sessiontrail beside the peer stores, in one run of the shared peer harness.

    bash bench/peers_setup.sh        # the peers' venv (/tmp/peers-venv) + sessiontrail
    /tmp/peers-venv/bin/python bench/peers.py --peers sessiontrail,openai,adk_db,raw_wal
    /tmp/peers-venv/bin/python bench/peers.py --scale 0.05 --repeats 1     # smoke

This imports the team's peer harness (bench/peer_harness/bench_peers.py, a
verbatim copy of ../shared/peers so that a clean checkout has it), registers one
more `Peer`, and runs its `main()`; every cell (and every W4 writer process)
re-runs this file, so the new peer exists there too. Every flag of the harness
applies. The harness imports the other peers' packages only when they run.

How sessiontrail is driven, as its users would: SQLite file, WAL, synchronous
FULL, inline read models (each append brings them up to date before returning).
An append is `session.append_message(...)` then `trail.sessions.save(session)` on
the handle's Session object (merge-on-write absorbs other writers' appends);
loads read the transcript read model (`sessions.messages`), not the in-process
cache; the list reads the session index.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).resolve().parent / "peer_harness"
sys.path.insert(0, str(HARNESS))

import bench_peers  # noqa: E402 - the harness is a script, not a package

import sessiontrail  # noqa: E402


class SessiontrailPeer(bench_peers.Peer):
    """sessiontrail on a SQLite file, through its public API."""

    name = "sessiontrail"
    mode: sessiontrail.Mode = "inline"
    blocking = True  # plain sqlite3 underneath: W4 tasks run appends in threads

    async def open(self) -> None:
        self.url = f"sqlite:///{Path(self.dirpath) / 'sessiontrail.db'}"
        self.trail = sessiontrail.connect(self.url, projections=self.mode)
        self._trails = [self.trail]

    async def close(self) -> None:
        for trail in self._trails:
            trail.close()

    async def create(self, session_id: str) -> Any:
        session = sessiontrail.Session(session_id=session_id, user_id=bench_peers.USER)
        self.trail.sessions.save(session)
        return (self.trail, session, threading.Lock())

    async def handle(self, session_id: str) -> Any:
        trail = sessiontrail.connect(self.url, projections=self.mode)
        self._trails.append(trail)
        session = trail.sessions.load(session_id, user_id=bench_peers.USER)
        return (trail, session, threading.Lock())

    def append_sync(self, handle: Any, msg: dict[str, str]) -> None:
        trail, session, lock = handle
        with lock:  # a Session object shared by threads is used by one at a time
            session.append_message(role=msg["role"], content=msg["content"])
            trail.sessions.save(session)

    async def append(self, handle: Any, msg: dict[str, str]) -> None:
        self.append_sync(handle, msg)

    async def seed(self, handle: Any, msgs: list[dict[str, str]]) -> None:
        trail, session, _ = handle
        for msg in msgs:
            session.append_message(role=msg["role"], content=msg["content"])
        trail.sessions.save(session)

    async def load_all(self, session_id: str) -> list[str]:
        page = self.trail.sessions.messages(session_id)  # every message
        return [message.content for message in page.items]

    async def load_recent(self, session_id: str, n: int) -> list[str]:
        page = self.trail.sessions.messages(session_id, last_n=n)
        return [message.content for message in page.items]

    async def list_sessions(self) -> int:
        return len(self.trail.sessions.list_paginated(user_id=bench_peers.USER))

    @staticmethod
    def versions() -> dict[str, str]:
        from importlib.metadata import version

        return {
            "sessiontrail": version("sessiontrail"),
            "eventsourcing": version("eventsourcing"),
        }


class SessiontrailWorkerPeer(SessiontrailPeer):
    """The same, with read models left to a worker: saves write events only.

    Reads first bring the read models up to date in this process (what the worker
    would have done), so they show every acknowledged append."""

    name = "sessiontrail_worker"
    mode = "worker"

    async def load_all(self, session_id: str) -> list[str]:
        self.trail.projections.catch_up()
        return await super().load_all(session_id)

    async def load_recent(self, session_id: str, n: int) -> list[str]:
        self.trail.projections.catch_up()
        return await super().load_recent(session_id, n)

    async def list_sessions(self) -> int:
        self.trail.projections.catch_up()
        return await super().list_sessions()


for peer in (SessiontrailPeer, SessiontrailWorkerPeer):
    bench_peers.PEERS[peer.name] = peer
bench_peers.__file__ = __file__  # cells re-run this file, which registers the peer

if __name__ == "__main__":
    bench_peers.main()
