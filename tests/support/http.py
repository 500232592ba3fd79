"""Tokens and clients for the HTTP API tests."""

from __future__ import annotations

import json
from pathlib import Path

from sessiontrail.server.auth import digest

TOKENS = {"ann": "ann-token-0123456789", "bob": "bob-token-0123456789"}
ADMIN = "admin-token-0123456789"


def write_tokens(path: Path) -> Path:
    """A tokens file for ann, bob and an admin (hashes only, as in production)."""
    entries = [
        {"sha256": digest(token), "user_id": user} for user, token in TOKENS.items()
    ]
    entries.append({"sha256": digest(ADMIN), "admin": True})
    path.write_text(json.dumps(entries))
    return path


def bearer(user: str) -> dict[str, str]:
    """The Authorization header of a user ("admin" for the admin token)."""
    token = ADMIN if user == "admin" else TOKENS[user]
    return {"Authorization": f"Bearer {token}"}
