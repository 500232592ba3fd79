"""Bearer tokens for the HTTP API, kept only as SHA-256 hashes.

A tokens file is JSON: `[{"sha256": HEX, "user_id": "ann"}, {"sha256": HEX,
"admin": true, "name": "dana"}]`; `sessiontrail token USER --tokens FILE` adds one
and prints the token. A user token sees that user's sessions only; an admin token
reads across users and runs verify, projection and erasure operations.

Every write records who made it (its actor): a user token's user id, an admin
token's `admin:NAME` (NAME from the file, else the first 8 hex digits of the
token's hash, which tell tokens apart and reveal nothing of them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..domain.errors import InvalidInput
from ..domain.limits import MAX_ACTOR_CHARS

MAX_NAME_CHARS = MAX_ACTOR_CHARS - len("admin:")


@dataclass(frozen=True)
class Caller:
    """Who a request is from: a user (their sessions only) or an admin."""

    user_id: str | None
    admin: bool = False
    name: str = ""  # an admin's name, as the tokens file gives it

    @property
    def actor(self) -> str:
        """Who the audit trail says made this caller's writes."""
        if self.admin:
            return f"admin:{self.name}"
        assert self.user_id is not None, "a user token names its user"
        return self.user_id


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class Tokens:
    """The configured tokens; `caller(token)` is None for an unknown one."""

    def __init__(self, entries: dict[str, Caller]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> Tokens:
        """Read a tokens file; InvalidInput naming the entry that is wrong."""
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InvalidInput(f"tokens file {path}: {error}") from None
        return cls.parse(raw, path)

    @classmethod
    def parse(cls, raw: object, path: Path) -> Tokens:
        """The tokens of a tokens file's JSON; InvalidInput naming a bad entry."""
        if not isinstance(raw, list):
            raise InvalidInput(f"tokens file {path}: expected a JSON list")
        entries: dict[str, Caller] = {}
        for number, entry in enumerate(raw):
            hashed = entry.get("sha256") if isinstance(entry, dict) else None
            admin = isinstance(entry, dict) and entry.get("admin") is True
            user = entry.get("user_id") if isinstance(entry, dict) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            if not (isinstance(hashed, str) and len(hashed) == 64):
                raise InvalidInput(f"tokens file {path}: [{number}].sha256 missing")
            if not admin and not (isinstance(user, str) and user):
                raise InvalidInput(
                    f"tokens file {path}: [{number}] needs user_id or admin: true"
                )
            if name is not None and not _fits_actor(name):
                raise InvalidInput(
                    f"tokens file {path}: [{number}].name must be 1 to "
                    f"{MAX_NAME_CHARS} printable characters"
                )
            entries[hashed.lower()] = Caller(
                user if isinstance(user, str) else None,
                admin,
                (name or hashed.lower()[:8]) if admin else "",
            )
        return cls(entries)

    def caller(self, token: str) -> Caller | None:
        """The caller a presented token stands for (compared in constant time)."""
        presented = digest(token)
        for hashed, caller in self._entries.items():
            if hmac.compare_digest(hashed, presented):
                return caller
        return None


def _fits_actor(name: object) -> bool:
    """Whether `name` can stand in the audit trail as `admin:NAME`."""
    return (
        isinstance(name, str)
        and 0 < len(name.strip()) == len(name) <= MAX_NAME_CHARS
        and name.isprintable()
    )
