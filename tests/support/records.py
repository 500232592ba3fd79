"""Reading stored records' bytes in tests, as an attacker or a foreign writer would."""

from __future__ import annotations

import json
import zlib
from typing import Any

from sessiontrail.infrastructure.chain import unframe
from sessiontrail.infrastructure.mapper import COMPRESSED, ENCRYPTED


def payload(state: bytes) -> dict[str, Any]:
    """The JSON payload of an unencrypted stored record (chained or legacy)."""
    value, body = unframe(state)
    if value is None:
        return json.loads(body)
    flags, data = body[0], body[1:]
    assert not flags & ENCRYPTED, "an encrypted record"
    return json.loads(zlib.decompress(data) if flags & COMPRESSED else data)
