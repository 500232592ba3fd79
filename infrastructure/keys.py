"""The master key: where it comes from, its form, and the check that it fits the log.

A key is 16, 24 or 32 random bytes in base64 (`new_key()`), given to `connect` or
in $SESSIONTRAIL_KEY. With a key, payloads are sealed with AES-GCM. The first trail
opened with a key stores a small encrypted check record; later opens decrypt it, so
a wrong key fails at `connect` instead of on some later read.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from ..domain.errors import InvalidInput

KEY_VARIABLE = "SESSIONTRAIL_KEY"
KEY_SIZES = (16, 24, 32)
CIPHER_ENV = {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher"}
COMPRESSOR_ENV = {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}


def new_key() -> str:
    """A fresh 256-bit key in base64: keep it somewhere other than the database."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def resolve_key(key: str | None) -> str | None:
    """The key to use: the argument, else $SESSIONTRAIL_KEY, else none."""
    return key or os.environ.get(KEY_VARIABLE) or None


def key_env(key: str) -> dict[str, str]:
    """eventsourcing's cipher settings for `key`; a malformed key is InvalidInput
    (the message never repeats the key)."""
    try:
        raw = base64.b64decode(key.encode(), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidInput(
            "key: not base64; make one with sessiontrail.new_key()"
        ) from None
    if len(raw) not in KEY_SIZES:
        raise InvalidInput(
            f"key: {len(raw)} bytes; AES needs 16, 24 or 32 (sessiontrail.new_key())"
        )
    return {**CIPHER_ENV, "CIPHER_KEY": key}


def master_key(key: str | None) -> bytes | None:
    """The raw bytes of a (validated) base64 master key."""
    return None if key is None else base64.b64decode(key)
