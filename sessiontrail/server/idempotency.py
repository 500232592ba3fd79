"""Idempotency-Key: a retried POST finds what its first request made.

The id a POST creates derives from the caller, the key and the target, so a
retry lands on the same session or message; a retry whose body differs from the
first request's is refused (the key was reused for another request).
"""

from __future__ import annotations

import json
import uuid

from ..domain.errors import InvalidInput
from .auth import Caller

IDEMPOTENCY = uuid.UUID("5b0c3f0e-8a7e-4c55-9d2a-7f3f3b1d2c11")
"""Namespace of the ids derived from Idempotency-Key headers."""
MAX_KEY_CHARS = 200


def derived_id(who: Caller, key: str | None, *scope: str) -> str | None:
    """An id that is the same for the same caller, key and target (None without
    a key)."""
    if not key:
        return None
    if len(key) > MAX_KEY_CHARS:
        raise InvalidInput(f"Idempotency-Key: at most {MAX_KEY_CHARS} characters")
    return uuid.uuid5(IDEMPOTENCY, json.dumps([who.user_id, key, *scope])).hex


def reused(key: str | None) -> InvalidInput:
    """A retry whose body is not the first request's: the key was reused."""
    return InvalidInput(
        f"Idempotency-Key: {key!r} was already used for a different request; "
        "use a new key for a new request"
    )
