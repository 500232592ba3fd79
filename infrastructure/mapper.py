"""Stored form of events: pydantic models as compact JSON, upcast on the way back."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

import pydantic_core
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import TopicError, get_topic, resolve_topic
from pydantic import BaseModel

from ..domain.errors import VersionIncompatible


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


class PydanticMapper(Mapper[UUID]):
    """Maps pydantic events and snapshots to stored events and back (never pickle)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        model = cast(BaseModel, domain_event)
        state = model.model_dump(
            mode="json", exclude={"originator_id", "originator_version"}
        )
        class_version = getattr(type(model), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(model)),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        where = (
            f"stream {stored_event.originator_id} "
            f"version {stored_event.originator_version}"
        )
        try:
            cls = resolve_topic(stored_event.topic)
        except TopicError:
            raise VersionIncompatible(
                f"unknown event type {stored_event.topic!r} at {where}; "
                "it was written by another version of sessiontrail"
            ) from None
        data = stored_event.state
        try:
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state: dict[str, Any] = self.transcoder.decode(data)
        except Exception as exc:
            raise MapperDeserialisationError(
                f"cannot read event {stored_event.topic} at {where}: {exc}"
            ) from exc
        upcast(cls, state, state.pop("class_version", 1), where)
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        return cast(DomainEventProtocol[UUID], cls.model_validate(state))
