"""Stored form of events: pydantic models as compact JSON, upcast on the way back."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

import pydantic_core
from cryptography.exceptions import InvalidTag
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    StoredEvent,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import TopicError, get_topic, resolve_topic
from pydantic import BaseModel, ValidationError

from ..domain.errors import ChecksumMismatch, KeyRequired, VersionIncompatible
from ..domain.personal import open_state, seal_state
from ..domain.qa import DEFAULT_USER, QASession
from ..domain.session import Session
from .chain import frame, unframe
from .keys import KEY_VARIABLE
from .user_keys import COMPRESS_FROM, SealBroken, Sealing, UserKeys


class JsonTranscoder(Transcoder):
    """JSON bytes for values pydantic has already turned into JSON types."""

    def encode(self, obj: Any) -> bytes:
        return pydantic_core.to_json(obj)

    def decode(self, data: bytes) -> Any:
        return pydantic_core.from_json(data)

    def register(self, transcoding: Transcoding) -> None:
        raise NotImplementedError("types are declared on the pydantic models instead")


def upcast(cls: type, state: dict[str, Any], from_version: int, where: str) -> None:
    """Bring `state`, stored by `cls` at `from_version`, up to the current version."""
    known_version = getattr(cls, "class_version", 1)
    if from_version > known_version:
        raise VersionIncompatible(
            f"{cls.__qualname__} v{from_version} at {where} is newer than this "
            f"sessiontrail reads (v{known_version}); upgrade sessiontrail"
        )
    for version in range(from_version, known_version):
        getattr(cls, f"upcast_v{version}_v{version + 1}")(state)


COMPRESSED = 1
ENCRYPTED = 2


class PydanticMapper(Mapper[UUID]):
    """Maps pydantic events and snapshots to stored events and back (never pickle).

    Stored bytes: the chain frame (chain.py) around one flags byte and the payload,
    compressed when that makes it smaller and encrypted when a key is configured;
    the flags say which, so records written before a key was set stay readable.
    A record whose personal fields are sealed is not compressed whole: its sealed
    values are ciphertext, compressed (when that pays) before they were sealed.
    """

    keys: UserKeys | None = None  # set by the store: seals users' personal fields

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        """The stored form of an event or a snapshot whose owner it names itself."""
        return self.stored(domain_event, owner_of(domain_event))

    def stored(
        self,
        domain_event: DomainEventProtocol[UUID],
        owner: str | None,
        sealing: Sealing | None = None,
    ) -> StoredEvent:
        """The stored form; `owner`'s personal fields sealed with their key (by
        `sealing` when given: an append's, which names the key it used)."""
        model = cast(BaseModel, domain_event)
        state = model.model_dump(
            mode="json", exclude={"originator_id", "originator_version"}
        )
        spec = getattr(type(model), "personal", None)
        sealed = False
        if owner is not None and spec and self.keys is not None:
            seal = (
                sealing if sealing is not None else self.keys.seal(owner, compress=True)
            )
            sealed = seal_state(state, spec, seal)
        class_version = getattr(type(model), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        data = self.transcoder.encode(state)
        flags = 0
        if self.compressor and not sealed and len(data) >= COMPRESS_FROM:
            packed = self.compressor.compress(data)
            if len(packed) < len(data):
                data, flags = packed, flags | COMPRESSED
        if self.cipher:
            data, flags = self.cipher.encrypt(data), flags | ENCRYPTED
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(model)),
            state=frame(bytes([flags]) + data),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        stream, version = stored_event.originator_id, stored_event.originator_version
        where = f"stream {stream} version {version}"
        try:
            cls = resolve_topic(stored_event.topic)
        except TopicError:
            raise VersionIncompatible(
                f"unknown event type {stored_event.topic!r} at {where}; "
                "it was written by another version of sessiontrail"
            ) from None
        state = self._decoded(stored_event)
        spec = getattr(cls, "personal", None)
        if spec and self.keys is not None:
            try:
                open_state(state, spec, self.keys.open)
            except SealBroken as exc:
                raise ChecksumMismatch(str(stream), version, str(exc)) from None
        upcast(cls, state, state.pop("class_version", 1), where)
        state["originator_id"] = stream
        state["originator_version"] = version
        try:
            return cast("DomainEventProtocol[UUID]", cls.model_validate(state))
        except ValidationError as exc:
            raise ChecksumMismatch(
                str(stream), version, f"{cls.__qualname__} does not validate: {exc}"
            ) from None

    def _decoded(self, stored_event: StoredEvent) -> dict[str, Any]:
        """The JSON state of a record; a record that cannot be read is named."""
        stream, version = stored_event.originator_id, stored_event.originator_version
        chained, body = unframe(stored_event.state)
        flags, data = (body[0], body[1:]) if chained is not None and body else (0, body)
        if flags & ENCRYPTED and not self.cipher:
            raise KeyRequired(
                f"stream {stream} version {version} is encrypted: "
                f"give the key (connect(key=...) or ${KEY_VARIABLE})"
            )
        try:
            if flags & ENCRYPTED:
                assert self.cipher is not None
                data = self.cipher.decrypt(data)
            if flags & COMPRESSED:
                assert self.compressor is not None
                data = self.compressor.decompress(data)
            decoded = self.transcoder.decode(data)
        except InvalidTag:
            raise ChecksumMismatch(
                str(stream),
                version,
                "cannot decrypt: wrong key, or the record was altered",
            ) from None
        except Exception as exc:
            raise ChecksumMismatch(
                str(stream), version, f"cannot decode: {exc}"
            ) from None
        if not isinstance(decoded, dict):
            raise ChecksumMismatch(str(stream), version, "cannot decode: not an object")
        return decoded


def content_owner(user_id: str | None) -> str | None:
    """The user whose key seals a stream's content: none for anonymous streams."""
    return None if user_id in (None, DEFAULT_USER) else user_id


def owner_of(model: Any) -> str | None:
    """The owner an event or snapshot names itself (its stream's first event, or a
    snapshot of the whole state); None for every other event."""
    if isinstance(model, Session.Started | QASession.QASessionStarted):
        return content_owner(model.user_id)
    if isinstance(model, Session.Snapshot | QASession.Snapshot):
        return content_owner(model.state.user_id)
    return None
