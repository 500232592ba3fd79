"""Read-model values sealed with their owner's data key, when a master key is set.

The log seals each user's personal fields with that user's data key
(`user_keys.py`); with a master key configured, the read models do the same, so
no title, preview, message, summary or state sits in a database file in
plaintext. Without a master key nothing is sealed and nothing changes.

Three forms, each chosen so an erased value (its key destroyed) reads exactly as
the log's does:
- a text value becomes one token, TOKEN followed by the sealed value's JSON; it
  opens to the text, or to "[erased]";
- a JSON object keeps its structure and seals the personal fields the log seals
  (`seal_state` with the event's own spec), so ids, roles and counters stay
  readable and an erased one holds the log's placeholders;
- raw bytes (a LangGraph value) become BLOB_TOKEN and the sealed value's JSON;
  they open to the bytes, or to none.
Anything that is not a token is plaintext, as written before a key was
configured: it reads as it is, and the next rebuild seals it.

Anonymous content (no user, or the default user) is sealed under a key of its
own (owner ""), which no user id can name. Sealing never makes a key for a user
who has none: such a user was erased, and their events only carry placeholders.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import BaseModel

from ..domain.personal import ERASED, SEALED, Seal, Spec, open_state, seal_state
from ..domain.qa import DEFAULT_USER
from . import search_tokens
from .user_keys import UserKeys

if TYPE_CHECKING:
    from .sql import Cursor

TOKEN = "\x1f\u00a7"
BLOB_TOKEN = TOKEN.encode()
ANONYMOUS = ""
"""The owner of content no user owns; user ids are never empty."""
_VALUE = ("v",)
_VALUE_SPEC: Spec = {"": _VALUE}
OWNERS_KEPT = 100_000
"""Streams whose owner a sealer remembers (owners never change)."""


class ColumnSealer:
    """Seals and opens read-model values; `PLAIN` (no keys) leaves them as they are."""

    def __init__(self, keys: UserKeys | None) -> None:
        self._keys = keys
        self.owners: dict[str, str | None] = {}
        """stream -> owner, remembered by the handlers that look owners up."""

    @property
    def active(self) -> bool:
        return self._keys is not None

    def prepare(self) -> None:
        """Make the key of anonymous content now: handlers run inside the read
        models' transaction, where SQLite could not write the key table."""
        if self._keys is not None:
            self._keys.seal(ANONYMOUS)

    def text(self, owner: str | None, value: str) -> str:
        """A text value as stored: sealed under `owner`'s key."""
        seal = self._seal(owner)
        if seal is None:
            return value
        return TOKEN + pydantic_core.to_json(seal({"v": value})).decode()

    def open_text(self, value: str) -> str:
        """A stored text value opened ("[erased]" once its key is gone)."""
        if self._keys is None or not value.startswith(TOKEN):
            return value
        return str(self._keys.open(pydantic_core.from_json(value[len(TOKEN) :]))["v"])

    def state(self, owner: str | None, state: dict[str, Any], spec: Spec) -> str:
        """A JSON object as stored (JSON text): the fields `spec` names sealed."""
        return _stored(state, spec, self._seal(owner))

    def model(self, owner: str | None, model: BaseModel, spec: Spec) -> str:
        """A value object as stored: its JSON, the fields `spec` names sealed."""
        seal = self._seal(owner)
        if seal is None:
            return model.model_dump_json()
        return _stored(model.model_dump(mode="json"), spec, seal)

    def open_state(self, text: str, spec: Spec) -> str:
        """A stored JSON object with its sealed fields opened, as JSON text."""
        if self._keys is None or SEALED not in text:
            return text
        state = pydantic_core.from_json(text)
        open_state(state, spec, self._keys.open)
        return pydantic_core.to_json(state).decode()

    def json(self, owner: str | None, value: Any) -> str:
        """Any JSON value as stored, sealed whole (state, metadata, a context)."""
        plain = json.dumps(value)
        if self._seal(owner) is None:
            return plain
        return self.text(owner, plain)

    def open_json(self, text: str) -> Any:
        """A value `json` stored; an erased one is None."""
        opened = self.open_text(text)
        if opened == ERASED and text.startswith(TOKEN):
            return None
        return json.loads(opened)

    def blob(self, owner: str | None, data: bytes) -> bytes:
        """Raw bytes as stored."""
        if self._seal(owner) is None:
            return data
        return BLOB_TOKEN + self.text(owner, base64.b64encode(data).decode()).encode()

    def open_blob(self, data: bytes) -> bytes:
        """Stored bytes opened (empty once their key is gone)."""
        if self._keys is None or not data.startswith(BLOB_TOKEN):
            return data
        opened = self.open_text(data[len(BLOB_TOKEN) :].decode())
        return b"" if opened == ERASED else base64.b64decode(opened)

    def tokens(
        self, owner: str | None, text: str, known: dict[str, str] | None = None
    ) -> list[str]:
        """The keyed search tokens of `text`'s words under `owner`'s key; none
        without a master key, for anonymous content, or once the key is gone.
        `known`: the tokens of words of `owner` met so far (`search_tokens`)."""
        key = self._token_key(owner)
        return [] if key is None else search_tokens.tokens(key, text, known)

    def token(self, owner: str | None, word: str) -> str | None:
        """The token one word (normalised here) has under `owner`'s key; None when
        it has no tokens, or the word is not one word."""
        key = self._token_key(owner)
        found = search_tokens.words(word)
        if key is None or len(found) != 1:
            return None
        return search_tokens.token(key, found[0])

    def value_token(self, owner: str | None, value: str) -> str | None:
        """The token of a whole value (not split into words, not normalised):
        equality search on sealed metadata. None as for `token`."""
        key = self._token_key(owner)
        return None if key is None else search_tokens.token(key, value)

    def _token_key(self, owner: str | None) -> bytes | None:
        if self._keys is None or owner in (None, DEFAULT_USER):
            return None
        return self._keys.token_key(str(owner))

    def _seal(self, owner: str | None) -> Seal | None:
        if self._keys is None:
            return None
        if owner in (None, DEFAULT_USER):  # the log leaves these unsealed
            return self._keys.seal_if_kept(ANONYMOUS)
        return self._keys.seal_if_kept(str(owner))

    def owner(self, cur: Cursor, table: str, stream: str) -> str | None:
        """The owner (user id) of `stream` as `table` records it, remembered."""
        if self._keys is None:
            return None
        if stream in self.owners:
            return self.owners[stream]
        row = cur.execute(
            f"SELECT user_id FROM {table} WHERE stream = ?", (stream,)
        ).fetchone()
        if row is None:  # not registered (yet): not remembered
            return None
        if len(self.owners) >= OWNERS_KEPT:
            self.owners.clear()
        owner: str | None = row[0]
        self.owners[stream] = owner
        return owner


def _stored(state: dict[str, Any], spec: Spec, seal: Seal | None) -> str:
    """A JSON object as stored: the fields `spec` names sealed with `seal`."""
    if seal is not None:
        seal_state(state, spec, seal)
    return pydantic_core.to_json(state).decode()


PLAIN = ColumnSealer(None)
