"""Per-user data keys: what seals a user's content, and what erasure destroys.

One random 256-bit key per user, in the table `st_user_keys` of the events
database (a dict for memory://), wrapped with AES-GCM under the master key when
one is configured. Destroying a user's key is crypto-shredding: their sealed
fields can never be opened again, while the records (and their hash chains) stay.
Keys are cached per process for KEY_CACHE_SECONDS, so another process stops
opening an erased user's content within that time.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar, Protocol

import pydantic_core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import AggregateRecorder
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg.sql import SQL, Identifier

from ..domain.errors import KeyRequired
from ..domain.personal import kind, placeholders

KEY_CACHE_SECONDS = 5.0
TABLE = "st_user_keys"
NONCE = 12
RAW, WRAPPED = (
    b"\x00",
    b"\x01",
)  # how a data key is stored: as is, or under the master key


class KeyTable(Protocol):
    """Where wrapped data keys live."""

    def get(self, user_id: str) -> tuple[str, bytes] | None:
        """The user's (key id, wrapped key), if they have one."""

    def add(self, user_id: str, key_id: str, wrapped: bytes) -> None:
        """Store a key unless the user has one already (the first writer wins)."""

    def delete(self, user_id: str) -> bool: ...


class SQLiteKeys:
    """The key table in the SQLite file; deletes overwrite the freed bytes."""

    def __init__(self, recorder: SQLiteAggregateRecorder, lock: Any) -> None:
        self._datastore = recorder.datastore
        self._lock = lock
        with self._lock, self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} "
                "(user_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
                "wrapped BLOB NOT NULL)"
            )

    def get(self, user_id: str) -> tuple[str, bytes] | None:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT key_id, wrapped FROM {TABLE} WHERE user_id = ?", (user_id,)
            )
            row = cursor.fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def add(self, user_id: str, key_id: str, wrapped: bytes) -> None:
        with self._lock, self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (user_id, key_id, wrapped) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO NOTHING",
                (user_id, key_id, wrapped),
            )

    def delete(self, user_id: str) -> bool:
        with self._lock, self._datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")
            cursor.execute(f"DELETE FROM {TABLE} WHERE user_id = ?", (user_id,))
            cursor.execute("SELECT changes()")
            row = cursor.fetchone()
            return bool(row and row[0])


class PostgresKeys:
    """The key table in the events schema; a delete is followed by VACUUM FULL,
    which rewrites the table so the dead row's bytes leave the data files."""

    def __init__(self, recorder: PostgresAggregateRecorder) -> None:
        self._datastore = recorder.datastore
        self._table = SQL("{}.{}").format(
            Identifier(self._datastore.schema), Identifier(TABLE)
        )
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} "
                    "(user_id text PRIMARY KEY, key_id text NOT NULL, "
                    "wrapped bytea NOT NULL)"
                ).format(self._table)
            )

    def get(self, user_id: str) -> tuple[str, bytes] | None:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL("SELECT key_id, wrapped FROM {} WHERE user_id = %s").format(
                    self._table
                ),
                (user_id,),
            )
            row = cursor.fetchone()
        return None if row is None else (row["key_id"], bytes(row["wrapped"]))

    def add(self, user_id: str, key_id: str, wrapped: bytes) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "INSERT INTO {} (user_id, key_id, wrapped) VALUES (%s, %s, %s) "
                    "ON CONFLICT (user_id) DO NOTHING"
                ).format(self._table),
                (user_id, key_id, wrapped),
            )

    def delete(self, user_id: str) -> bool:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL("DELETE FROM {} WHERE user_id = %s").format(self._table), (user_id,)
            )
            deleted = bool(cursor.rowcount)
        with self._datastore.get_connection() as connection:
            previous = connection.autocommit  # eventsourcing's pool: already True
            connection.autocommit = True  # VACUUM cannot run inside a transaction
            try:
                connection.execute(SQL("VACUUM FULL {}").format(self._table))
            finally:
                connection.autocommit = previous
        return deleted


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


def key_table(
    recorder: AggregateRecorder,
    memory_name: str,
    lock: AbstractContextManager[Any] | None,
) -> KeyTable:
    if isinstance(recorder, SQLiteAggregateRecorder):
        return SQLiteKeys(recorder, lock or nullcontext())
    if isinstance(recorder, PostgresAggregateRecorder):
        return PostgresKeys(recorder)
    return MemoryKeys(memory_name)


class UserKeys:
    """Seals and opens personal fields with their user's key (domain/personal.py).

    A sealed value names its user and key id. A key id once seen missing from the
    table is remembered as destroyed (ids are random, never reused), so reading an
    erased user's records costs no queries after the first.
    """

    def __init__(self, table: KeyTable, master: bytes | None) -> None:
        self._table = table
        self._master = AESGCM(master) if master else None
        self._current: dict[str, tuple[str, AESGCM, float]] = {}
        self._destroyed: set[str] = set()
        self._guard = threading.Lock()

    def seal(self, user_id: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A function sealing a dict of fields for `user_id` (a key is made if none)."""
        key_id, key = self._key_for_writing(user_id)

        def seal(fields: dict[str, Any]) -> dict[str, Any]:
            nonce = os.urandom(NONCE)
            sealed = key.encrypt(
                nonce, pydantic_core.to_json(fields), _aad(user_id, key_id)
            )
            return {
                "k": user_id,
                "i": key_id,
                "t": {name: kind(value) for name, value in fields.items()},
                "c": base64.b64encode(nonce + sealed).decode(),
            }

        return seal

    def open(self, sealed: dict[str, Any]) -> dict[str, Any]:
        """The sealed fields, or their placeholders if the user's key is destroyed."""
        user_id, key_id = str(sealed.get("k", "")), str(sealed.get("i", ""))
        key = self._key_for_reading(user_id, key_id)
        if key is None:
            return placeholders(sealed.get("t", {}))
        try:
            data = base64.b64decode(sealed["c"])
            plain = key.decrypt(data[:NONCE], data[NONCE:], _aad(user_id, key_id))
            fields = pydantic_core.from_json(plain)
        except (InvalidTag, ValueError, KeyError) as exc:
            raise SealBroken(
                f"a sealed field of {user_id!r} does not open: {exc}"
            ) from None
        return dict(fields)

    def key_id(self, user_id: str) -> str | None:
        """The id of the user's current key (None: they have none), as of at
        most KEY_CACHE_SECONDS ago: what tells a cache the user was erased."""
        cached = self._fresh(user_id)
        if cached is not None:
            return cached[0]
        found = self._fetch(user_id)
        return None if found is None else found[0]

    def destroy(self, user_id: str) -> bool:
        """Destroy the user's key (crypto-shredding); True if there was one."""
        found = self._table.get(user_id)
        deleted = self._table.delete(user_id)
        with self._guard:
            self._current.pop(user_id, None)
            if found is not None:
                self._destroyed.add(found[0])
        return deleted

    def _key_for_writing(self, user_id: str) -> tuple[str, AESGCM]:
        cached = self._fresh(user_id)
        if cached is not None:
            return cached
        if self._table.get(user_id) is None:
            key_id = uuid.uuid4().hex
            self._table.add(user_id, key_id, self._wrap(user_id, key_id))
        found = self._fetch(user_id)
        assert found is not None, "a key was just stored"
        return found

    def _key_for_reading(self, user_id: str, key_id: str) -> AESGCM | None:
        if key_id in self._destroyed:
            return None
        cached = self._fresh(user_id)
        if cached is not None and cached[0] == key_id:
            return cached[1]
        found = self._fetch(user_id)
        if found is not None and found[0] == key_id:
            return found[1]
        with self._guard:
            self._destroyed.add(key_id)
        return None

    def _fresh(self, user_id: str) -> tuple[str, AESGCM] | None:
        cached = self._current.get(user_id)
        if cached is None or time.monotonic() - cached[2] > KEY_CACHE_SECONDS:
            return None
        return cached[0], cached[1]

    def _fetch(self, user_id: str) -> tuple[str, AESGCM] | None:
        row = self._table.get(user_id)
        if row is None:
            return None
        key_id, wrapped = row
        key = AESGCM(self._unwrap(user_id, key_id, wrapped))
        with self._guard:
            self._current[user_id] = (key_id, key, time.monotonic())
        return key_id, key

    def _wrap(self, user_id: str, key_id: str) -> bytes:
        """A new data key as stored: RAW + key, or WRAPPED + nonce + sealed key."""
        key = AESGCM.generate_key(256)
        if self._master is None:
            return RAW + key
        nonce = os.urandom(NONCE)
        return WRAPPED + nonce + self._master.encrypt(nonce, key, _aad(user_id, key_id))

    def _unwrap(self, user_id: str, key_id: str, stored: bytes) -> bytes:
        form, body = stored[:1], stored[1:]
        if form == RAW:
            return body  # made before a master key was configured
        if self._master is None:
            raise KeyRequired(f"the data key of {user_id!r} is wrapped: give the key")
        try:
            return self._master.decrypt(
                body[:NONCE], body[NONCE:], _aad(user_id, key_id)
            )
        except InvalidTag:
            raise KeyRequired(
                f"the key does not open the data key of {user_id!r}"
            ) from None


class SealBroken(Exception):
    """A sealed value failed authentication (the mapper names its record)."""


def _aad(user_id: str, key_id: str) -> bytes:
    """What each ciphertext is bound to: it cannot be moved to another user."""
    return f"{user_id}\x00{key_id}".encode()
