"""LangGraph threads kept as sessions: the values their checkpoint and
pending-write events hold.

A thread's checkpoints live in the namespace LangGraph gives them ("" for the
graph itself, "node:<task id>" and deeper for subgraphs); each (thread, namespace)
is one session, whose id says which (thread_ids.py). Values are stored as
LangGraph's serializer wrote them (a type tag and bytes, never re-interpreted):
deflated when that makes a large value smaller, then base64 in pieces no longer
than any one stored string may be.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Self

from pydantic import PrivateAttr

from .errors import InvalidInput
from .limits import MAX_TEXT_CHARS
from .personal import ERASED
from .values import Value

COMPRESS_FROM = 256
"""Bytes from which a value is deflated (zlib's fastest level) when that makes it
smaller: a checkpoint's conversation grows with every step and is stored again
at each, and every byte is then sealed, framed and hashed."""
MAX_VALUE_BYTES = 64 * 1024 * 1024
"""The most bytes one value may hold as its serializer wrote it: refused above
this when put, and never inflated past it when read back (a stored or imported
value cannot make a reader inflate more)."""


class Serialized(Value):
    """A value as the saver's serializer wrote it: its type tag and its bytes
    (`data`, base64; deflated first when `compressed`).

    `type` and `data` are personal: once the user is erased, `type` reads
    "[erased]" and `data` is empty; `compressed` is not.
    """

    type: str
    data: list[str]
    compressed: bool
    _unpacked: tuple[str, bytes] | None = PrivateAttr(default=None)
    """What `unpack` gives, when this process packed it: kept, so the inline
    read models and the saver's memory do not decode what it just encoded."""

    @classmethod
    def pack(cls, typed: tuple[str, bytes | None], **fields: object) -> Self:
        """From a serializer's (type, bytes) pair (bytes may be None: none)."""
        data = typed[1] or b""
        if len(data) > MAX_VALUE_BYTES:
            name = fields.get("channel", "checkpoint")
            raise InvalidInput(
                f"{name}: {len(data):,} bytes, over the {MAX_VALUE_BYTES:,}-byte "
                "limit of one value"
            )
        compressed = False
        if len(data) >= COMPRESS_FROM:
            deflated = zlib.compress(data, 1)
            if len(deflated) < len(data):
                data, compressed = deflated, True
        text = base64.b64encode(data).decode("ascii")
        pieces = [
            text[start : start + MAX_TEXT_CHARS]
            for start in range(0, len(text), MAX_TEXT_CHARS)
        ]
        packed = cls.model_validate(
            {"type": typed[0], "data": pieces, "compressed": compressed, **fields}
        )
        packed._unpacked = (typed[0], typed[1] or b"")
        return packed

    def unpack(self) -> tuple[str, bytes]:
        """The (type, bytes) pair the serializer reads back."""
        if self._unpacked is not None:
            return self._unpacked
        try:
            data = base64.b64decode("".join(self.data))
        except binascii.Error:
            raise InvalidInput("data: not base64") from None
        if not self.compressed:
            return self.type, data
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(data, MAX_VALUE_BYTES + 1)
        except zlib.error:
            raise InvalidInput("data: not a whole deflated value") from None
        if len(raw) > MAX_VALUE_BYTES:
            raise InvalidInput(
                f"data: inflates past the {MAX_VALUE_BYTES:,}-byte limit of one value"
            )
        if not inflater.eof:
            raise InvalidInput("data: not a whole deflated value")
        return self.type, raw

    @property
    def name_shown(self) -> str | None:
        """What a refusal of this value names (see limits.py): a channel's value
        or write its channel, as the caller wrote it; None: its place."""
        channel = getattr(self, "channel", None)
        return channel if isinstance(channel, str) else None

    @property
    def erased(self) -> bool:
        """Whether its user was erased (the bytes are gone)."""
        return self.type == ERASED


class ChannelValue(Serialized):
    """One channel's value at one version, stored beside a checkpoint."""

    channel: str
    version: str


class TaskWrite(Serialized):
    """One pending write of a task: its slot (`idx`), channel and value."""

    idx: int
    channel: str
