"""The in-memory backend: private per trail, or shared in-process by name
(`memory://NAME`): the events in eventsourcing's in-memory recorders, the users'
keys in a dict, the read models in an in-memory SQLite database.
"""

from __future__ import annotations

import contextlib
import threading
from typing import ClassVar
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
)
from eventsourcing.popo import (
    POPOAggregateRecorder,
    POPOApplicationRecorder,
    POPOFactory,
)

from ..settings import Settings, checked_options
from ..sql import Cursor, ProjectionDatabase
from .base import Backend
from .sqlite import SQLiteDatabase

MEMORY_NAME = "MEMORY_NAME"
FACTORY = "sessiontrail.infrastructure.backends.memory:MemoryFactory"

_shared_lock = threading.Lock()
_shared: dict[str, dict[str, AggregateRecorder]] = {}


class MemoryFactory(POPOFactory):
    """eventsourcing's in-memory recorders; trails opened on one name share them."""

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return self._recorder(purpose, POPOAggregateRecorder)

    def application_recorder(self) -> ApplicationRecorder:
        recorder = self._recorder("application", POPOApplicationRecorder)
        assert isinstance(recorder, ApplicationRecorder)
        return recorder

    def _recorder(
        self, purpose: str, recorder_class: type[POPOAggregateRecorder]
    ) -> AggregateRecorder:
        name = self.env.get(MEMORY_NAME, "")
        if not name:
            return recorder_class()
        with _shared_lock:
            recorders = _shared.setdefault(name, {})
            return recorders.setdefault(purpose, recorder_class())


class MemoryBackend(Backend):
    """A log in this process: `memory://` (private) or `memory://NAME` (shared)."""

    name = "memory"
    schemes = ("memory",)

    @classmethod
    def parse(cls, url: str) -> Settings:
        checked_options(url, {})
        parts = urlsplit(url)
        env = {
            "PERSISTENCE_MODULE": FACTORY,
            MEMORY_NAME: parts.netloc + parts.path,
        }
        return Settings(url, cls.name, env)

    @property
    def shared_name(self) -> str:
        """The name trails share the log by ('' for a private log)."""
        return self.env.get(MEMORY_NAME, "")

    def key_table(self, recorder: AggregateRecorder) -> MemoryKeys:
        return MemoryKeys(self.shared_name)

    def prune_snapshots(
        self, recorder: AggregateRecorder, stream: UUID, version: int
    ) -> None:
        """Keeps them: each is small, and they go away with the process."""

    def stream_ids(
        self, recorder: AggregateRecorder, after: UUID | None, limit: int
    ) -> list[UUID]:
        assert isinstance(recorder, POPOAggregateRecorder)
        index = recorder._stored_events_index  # a defaultdict: reads add empty keys
        known = sorted(UUID(key) for key, versions in index.items() if versions)
        return [stream for stream in known if after is None or stream > after][:limit]

    def open_read_models(self, recorder: ApplicationRecorder) -> MemoryDatabase:
        return MemoryDatabase(self.shared_name)


class MemoryKeys:
    """Keys of a memory:// log (shared by every trail on the same name)."""

    _shared: ClassVar[dict[str, dict[str, tuple[str, bytes]]]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str) -> None:
        with self._guard:
            self._keys = self._shared.setdefault(name, {}) if name else {}

    def get(self, user_id: str) -> tuple[str, bytes] | None:
        return self._keys.get(user_id)

    def add(self, user_id: str, key_id: str, wrapped: bytes) -> None:
        with self._guard:
            self._keys.setdefault(user_id, (key_id, wrapped))

    def delete(self, user_id: str) -> bool:
        with self._guard:
            return self._keys.pop(user_id, None) is not None


class _SharedMemory:
    """In-memory SQLite databases shared in process by name; freed with the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[SQLiteDatabase, int]] = {}

    def acquire(self, name: str) -> SQLiteDatabase:
        with self._lock:
            database, users = self._open.get(name) or (SQLiteDatabase.in_memory(), 0)
            self._open[name] = (database, users + 1)
            return database

    def release(self, name: str) -> None:
        with self._lock:
            database, users = self._open[name]
            if users == 1:
                del self._open[name]
                database.close()
            else:
                self._open[name] = (database, users - 1)


_shared_memory = _SharedMemory()


class MemoryDatabase(ProjectionDatabase):
    """The read models of a memory:// log: private, or shared by its name. They
    are not in the log's database, so a read asks the store for the head."""

    dialect = "sqlite"

    def __init__(self, name: str) -> None:
        self._name = name
        self._database = (
            _shared_memory.acquire(name) if name else SQLiteDatabase.in_memory()
        )
        self._closed = False

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.write()

    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.read()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._name:
            _shared_memory.release(self._name)
        else:
            self._database.close()
