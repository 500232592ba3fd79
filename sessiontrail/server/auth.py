"""Bearer tokens for the HTTP API, kept only as SHA-256 hashes.

A tokens file is JSON: `[{"sha256": HEX, "user_id": "ann"}, {"sha256": HEX,
"admin": true}]`; `sessiontrail token USER --tokens FILE` adds one and prints the
token. A user token sees that user's sessions only; an admin token reads
across users and runs verify and projection operations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..domain.errors import InvalidInput


@dataclass(frozen=True)
class Caller:
    """Who a request is from: a user (their sessions only) or an admin."""

    user_id: str | None
    admin: bool = False


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
        if not isinstance(raw, list):
            raise InvalidInput(f"tokens file {path}: expected a JSON list")
        entries: dict[str, Caller] = {}
        for number, entry in enumerate(raw):
            hashed = entry.get("sha256") if isinstance(entry, dict) else None
            admin = isinstance(entry, dict) and entry.get("admin") is True
            user = entry.get("user_id") if isinstance(entry, dict) else None
            if not (isinstance(hashed, str) and len(hashed) == 64):
                raise InvalidInput(f"tokens file {path}: [{number}].sha256 missing")
            if not admin and not (isinstance(user, str) and user):
                raise InvalidInput(
                    f"tokens file {path}: [{number}] needs user_id or admin: true"
                )
            entries[hashed.lower()] = Caller(
                user if isinstance(user, str) else None, admin
            )
        return cls(entries)

    def caller(self, token: str) -> Caller | None:
        """The caller a presented token stands for (compared in constant time)."""
        presented = digest(token)
        for hashed, caller in self._entries.items():
            if hmac.compare_digest(hashed, presented):
                return caller
        return None
