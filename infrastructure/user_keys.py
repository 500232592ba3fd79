"""Per-user data keys: what seals a user's content, and what erasure destroys.

One random 256-bit key per user, in the table `st_user_keys` of the events
database (a dict for memory://; each backend keeps its own), wrapped with
AES-GCM under the master key when one is configured. Destroying a user's key is
crypto-shredding: their sealed fields can never be opened again, while the
records (and their hash chains) stay. Keys are cached per process for
KEY_CACHE_SECONDS, so another process stops opening an erased user's content
within that time. An append checks, in its own transaction, that each key it
sealed with is still stored (`Sealing`, `KeyDestroyed`): a process that still
remembers an erased user's key cannot add content under it once the erasure
has deleted it.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pydantic_core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..domain.errors import KeyRequired
from ..domain.personal import kind, placeholders

KEY_CACHE_SECONDS = 5.0
TOKEN_KEY_INFO = b"sessiontrail search tokens"
KEYS_TABLE = "st_user_keys"
NONCE = 12
PACKED = "z"
"""In a sealed value: its fields were compressed (zlib) before they were encrypted."""
COMPRESS_FROM = 256  # bytes: smaller payloads rarely shrink enough to pay
RAW, WRAPPED = (
    b"\x00",
    b"\x01",
)  # how a data key is stored: as is, or under the master key


Sealed = Mapping[str, str]
"""The key id each user's content in an append was sealed with, by user id."""


class KeyTable(Protocol):
    """Where wrapped data keys live (each backend has its own: `backends/`)."""

    def get(self, user_id: str) -> tuple[str, bytes] | None:
        """The user's (key id, wrapped key), if they have one."""

    def add(self, user_id: str, key_id: str, wrapped: bytes) -> None:
        """Store a key unless the user has one already (the first writer wins)."""

    def delete(self, user_id: str) -> bool: ...

    shredded: bool
    """Whether the last delete's bytes have left the table's files."""


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
        self._token_keys: dict[str, bytes] = {}
        self._guard = threading.Lock()
        self._forgets = 0
        """How many times keys were forgotten or destroyed here: a fetch that
        read the key table before one of them does not remember what it read
        (it may be the key just destroyed)."""
        self._opened = threading.local()
        """Per thread, since `note_opened()`: by user, the key id that last
        opened their fields."""

    def seal(
        self, user_id: str, *, compress: bool = False
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A function sealing a dict of fields for `user_id` (a key is made if none).

        `compress`: fields whose JSON is long enough are compressed before they
        are encrypted (marked "z"), where it makes them smaller: ciphertext does
        not compress, so a record holding sealed values is not compressed whole."""
        return _sealer(user_id, *self._key_for_writing(user_id), compress=compress)

    @property
    def master_set(self) -> bool:
        """Whether data keys are wrapped under a master key (then read models seal)."""
        return self._master is not None

    def sealing(self, user_id: str) -> Sealing:
        """What seals one append's fields for `user_id`, with the key the first
        field needs (made if none; no key is made for an append with nothing to
        seal), compressing as `seal` does."""
        return Sealing(user_id, lambda: self._key_for_writing(user_id))

    def seal_if_kept(
        self, user_id: str
    ) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        """Like `seal`, but None if the user has no key (erased): what read models
        use, which must never give an erased user a new key."""
        found = self._fresh(user_id) or self._fetch(user_id)
        return None if found is None else _sealer(user_id, *found)

    def token_key(self, user_id: str) -> bytes | None:
        """A key derived from the user's data key (HKDF) for keyed search tokens;
        None if they have none (erased): their tokens then match nothing."""
        if self._fresh(user_id) is not None:
            with self._guard:
                token = self._token_keys.get(user_id)
            if token is not None:
                return token
        read = self._read(user_id)
        return None if read is None else read[2]

    def open(self, sealed: dict[str, Any]) -> dict[str, Any]:
        """The sealed fields, or their placeholders if the user's key is destroyed."""
        user_id, key_id = str(sealed.get("k", "")), str(sealed.get("i", ""))
        key = self._key_for_reading(user_id, key_id)
        if key is None:
            return placeholders(sealed.get("t", {}))
        try:
            data = base64.b64decode(sealed["c"])
            plain = key.decrypt(data[:NONCE], data[NONCE:], _aad(user_id, key_id))
            if sealed.get(PACKED):
                plain = zlib.decompress(plain)
            fields = pydantic_core.from_json(plain)
        except (InvalidTag, ValueError, KeyError, zlib.error) as exc:
            raise SealBroken(
                f"a sealed field of {user_id!r} does not open: {exc}"
            ) from None
        opened: dict[str, str] | None = getattr(self._opened, "keys", None)
        if opened is not None:
            opened[user_id] = key_id
        return dict(fields)

    def note_opened(self) -> None:
        """Start noting which key opens each user's fields in this thread (a
        load's: what its copy holds is readable only while that key is kept)."""
        self._opened.keys = {}

    def opened_with(self, user_id: str) -> str | None:
        """The id of the key that last opened `user_id`'s fields in this thread
        since `note_opened()` (None: none did)."""
        opened: dict[str, str] = getattr(self._opened, "keys", {})
        return opened.get(user_id)

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
        try:
            deleted = self._table.delete(user_id)
        except BaseException:
            self.forget(user_id)  # it may be deleted: ask the table next time
            raise
        with self._guard:
            self._forget(user_id)
            if found is not None:
                self._destroyed.add(found[0])
        return deleted

    @property
    def shredded(self) -> bool:
        """Whether the last destroyed key's bytes have left the key table's files."""
        return self._table.shredded

    def forget(self, user_id: str) -> None:
        """Drop what this process remembers of the user's key, so the next use
        reads the key table (after another process destroyed the key, a replay
        of the user's events must not open them with a remembered copy)."""
        with self._guard:
            self._forget(user_id)

    def _forget(self, user_id: str) -> None:
        """(Under the guard.) Drop the user's remembered key; fetches under way
        will not remember theirs."""
        self._current.pop(user_id, None)
        self._token_keys.pop(user_id, None)
        self._forgets += 1

    def _key_for_writing(self, user_id: str) -> tuple[str, AESGCM]:
        """The user's key, made if they have none: one read of the key table on
        a miss (two and a write for a new user: the read after the write finds
        the key another process may have stored first)."""
        cached = self._fresh(user_id)
        if cached is not None:
            return cached
        found = self._fetch(user_id)
        if found is None:
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
        read = self._read(user_id)
        return None if read is None else (read[0], read[1])

    def _read(self, user_id: str) -> tuple[str, AESGCM, bytes] | None:
        """The user's key id, key and search-token key as the table holds them
        now; remembered unless a key was forgotten or destroyed here while the
        row was read (what was read may be the key just destroyed)."""
        with self._guard:
            forgets = self._forgets
        row = self._table.get(user_id)
        if row is None:
            return None
        key_id, wrapped = row
        raw = self._unwrap(user_id, key_id, wrapped)
        key, token = AESGCM(raw), _derive(raw, TOKEN_KEY_INFO)
        with self._guard:
            if forgets == self._forgets:
                self._current[user_id] = (key_id, key, time.monotonic())
                self._token_keys[user_id] = token
        return key_id, key, token

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


class Sealing:
    """One append's sealer of one user's fields. `key_id` names the key it used
    (None: it sealed nothing): the append must find that key still stored, in
    its own transaction, or fail with KeyDestroyed."""

    __slots__ = ("_key", "_seal", "key_id", "user_id")

    def __init__(self, user_id: str, key: Callable[[], tuple[str, AESGCM]]) -> None:
        self.user_id = user_id
        self.key_id: str | None = None
        self._key = key
        self._seal: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __call__(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self._seal is None:
            key_id, key = self._key()
            self.key_id = key_id
            self._seal = _sealer(self.user_id, key_id, key, compress=True)
        return self._seal(fields)


class KeyDestroyed(Exception):
    """An append's content was sealed with a key no longer stored: its user was
    erased after the key was read. The append stored nothing; sealed again with
    the user's key as it is now, it can be retried."""

    def __init__(self, user_id: str) -> None:
        super().__init__(f"the key that sealed {user_id!r}'s content was destroyed")
        self.user_id = user_id


def check_kept(sealed: Sealed, stored: Callable[[str, str], bool]) -> None:
    """KeyDestroyed for the first user whose key `sealed` names is no longer
    stored (`stored(user_id, key_id)` asks the backend's key table)."""
    for user_id, key_id in sealed.items():
        if not stored(user_id, key_id):
            raise KeyDestroyed(user_id)


class SealBroken(Exception):
    """A sealed value failed authentication (the mapper names its record)."""


def packed_if_smaller(data: bytes) -> bytes | None:
    """`data` compressed (zlib), when it is long enough and that makes it smaller."""
    if len(data) < COMPRESS_FROM:
        return None
    packed = zlib.compress(data)
    return packed if len(packed) < len(data) else None


def _sealer(
    user_id: str, key_id: str, key: AESGCM, *, compress: bool = False
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function sealing a dict of fields with one key of `user_id` (with
    `compress`, as `UserKeys.seal` says)."""
    aad = _aad(user_id, key_id)

    def seal(fields: dict[str, Any]) -> dict[str, Any]:
        plain = pydantic_core.to_json(fields)
        packed = packed_if_smaller(plain) if compress else None
        nonce = os.urandom(NONCE)
        sealed = key.encrypt(nonce, packed or plain, aad)
        value: dict[str, Any] = {
            "k": user_id,
            "i": key_id,
            "t": {name: kind(value) for name, value in fields.items()},
            "c": base64.b64encode(nonce + sealed).decode(),
        }
        if packed is not None:
            value[PACKED] = 1
        return value

    return seal


def _derive(key: bytes, info: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from a data key (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def _aad(user_id: str, key_id: str) -> bytes:
    """What each ciphertext is bound to: it cannot be moved to another user."""
    return f"{user_id}\x00{key_id}".encode()
