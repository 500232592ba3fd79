"""The in-memory backend: private per trail, or shared in-process by name
(`memory://NAME`): the events in eventsourcing's in-memory recorders, the users'
keys in a dict, the read models in an in-memory SQLite database.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    IntegrityError,
    Notification,
    StoredEvent,
)
from eventsourcing.popo import (
    POPOAggregateRecorder,
    POPOApplicationRecorder,
    POPOFactory,
)

from ..chain import predecessors, unframe
from ..log_position import LogPosition
from ..settings import Settings, checked_options
from ..sql import Cursor, ProjectionDatabase
from ..user_keys import Sealed, check_kept
from .base import Backend, Purged
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
        recorder = self._recorder("application", MemoryRecorder)
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


class MemoryRecorder(POPOApplicationRecorder):
    """eventsourcing's in-memory log, with purges: a purged record's slot stays
    (notification ids are list places) but is emptied and never listed again;
    and an append continuing a stream must still find the record it follows."""

    def __init__(self) -> None:
        super().__init__()
        self._purged: set[int] = set()

    def _assert_uniqueness(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        for (stream, version), previous in predecessors(stored_events).items():
            found = self._stored_events_index.get(str(stream), {}).get(version - 1)
            if found is None:
                raise IntegrityError(f"stream {stream}: version {version - 1} is gone")
            value, _ = unframe(self._stored_events[found].state)
            if value is not None and value != previous:
                raise IntegrityError(f"stream {stream}: version {version - 1} changed")

    def purge(
        self,
        expected: Mapping[UUID, int],
        snapshots: POPOAggregateRecorder | None,
        records: Sequence[StoredEvent],
    ) -> tuple[dict[UUID, int], list[int]]:
        """Delete the streams (each must end at its expected version) and their
        snapshots, and insert `records`, all under the lock; (deleted, ids)."""
        with self._database_lock:
            deleted: dict[UUID, int] = {}
            for stream, last in expected.items():
                versions = self._stored_events_index.get(str(stream), {})
                if max(versions, default=0) != last:
                    raise IntegrityError(f"stream {stream} moved on")
                for place in versions.values():
                    self._purged.add(place + 1)
                    gone = self._stored_events[place]
                    self._stored_events[place] = StoredEvent(
                        gone.originator_id, gone.originator_version, gone.topic, b""
                    )
                deleted[stream] = len(versions)
                self._stored_events_index.pop(str(stream), None)
                if snapshots is not None:
                    snapshots._stored_events_index.pop(str(stream), None)
            self._assert_uniqueness(records)
            ids = self._update_table(records) or []
        self._notify_listeners()
        return deleted, list(ids)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """eventsourcing's, passing over purged records."""
        found: list[Notification] = []
        first = 1 if start is None else start + (0 if inclusive_of_start else 1)
        while len(found) < limit:
            page = super().select_notifications(
                first, limit, stop, topics, inclusive_of_start=True
            )
            found += [n for n in page if n.id not in self._purged][: limit - len(found)]
            if len(page) < limit:
                break
            first = page[-1].id + 1
        return found


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
        return self._keys

    @functools.cached_property
    def _keys(self) -> MemoryKeys:
        return MemoryKeys(self.shared_name)

    def insert(
        self,
        recorder: ApplicationRecorder,
        records: Sequence[StoredEvent],
        sealed: Sealed,
    ) -> list[LogPosition]:
        """Inserted while the keys `sealed` names are held still (KeyDestroyed
        if one is gone): no erasure in this process comes between."""
        with self._keys.kept(sealed):
            return super().insert(recorder, records, sealed)

    def prune_snapshots(
        self, recorder: AggregateRecorder, stream: UUID, version: int
    ) -> None:
        """Forgets the stream's snapshots older than `version` (their objects stay
        in the recorder's list, unreachable, until the process ends)."""
        assert isinstance(recorder, POPOAggregateRecorder)
        with recorder._database_lock:
            versions = recorder._stored_events_index.get(str(stream), {})
            for older in [kept for kept in versions if kept < version]:
                del versions[older]

    def stream_ids(
        self, recorder: AggregateRecorder, after: UUID | None, limit: int
    ) -> list[UUID]:
        assert isinstance(recorder, POPOAggregateRecorder)
        index = recorder._stored_events_index  # a defaultdict: reads add empty keys
        known = sorted(UUID(key) for key, versions in index.items() if versions)
        return [stream for stream in known if after is None or stream > after][:limit]

    def open_read_models(self, recorder: ApplicationRecorder) -> MemoryDatabase:
        return MemoryDatabase(self.shared_name)

    def purge(
        self,
        recorder: ApplicationRecorder,
        snapshots: AggregateRecorder | None,
        expected: Mapping[UUID, int],
        records: Sequence[StoredEvent],
    ) -> Purged:
        assert isinstance(recorder, MemoryRecorder)
        assert snapshots is None or isinstance(snapshots, POPOAggregateRecorder)
        deleted, ids = recorder.purge(expected, snapshots, records)
        return Purged(deleted, [LogPosition(0, ident) for ident in ids])


class MemoryKeys:
    """Keys of a memory:// log (shared by every trail on the same name)."""

    shredded = True  # nothing is on disk

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

    @contextlib.contextmanager
    def kept(self, sealed: Sealed) -> Iterator[None]:
        """Hold every key still (none is deleted meanwhile), once each key
        `sealed` names is found: else KeyDestroyed."""
        with self._guard:
            check_kept(
                sealed,
                lambda user_id, key_id: (self._keys.get(user_id) or ("",))[0] == key_id,
            )
            yield


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
