"""Planting events in the log as a writer from before the input limits would have
stored them: through the mapper and the hash chain (so the log still verifies),
straight into the recorder, with no check and no read-model catch-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from sessiontrail import SessionTrail
from sessiontrail.domain.event_model import EventModel
from sessiontrail.domain.session import Session, stream_id
from sessiontrail.infrastructure.chain import link
from sessiontrail.infrastructure.mapper import PydanticMapper, content_owner

HUGE = 10**400  # a 401-digit integer: no float, no 64-bit column holds it


def plant(
    trail: SessionTrail,
    stream: UUID,
    event_class: type[EventModel],
    *,
    owner: str | None,
    **fields: Any,
) -> int:
    """Append one `event_class` event to `stream` (`owner`'s content sealed with
    their key, as their writes are); returns its log position."""
    store = trail.store
    version = store.stream_version(stream)
    event = event_class(
        originator_id=stream,
        originator_version=version + 1,
        timestamp=datetime.now(tz=UTC),
        actor="runtime",
        **fields,
    )
    mapper = cast(PydanticMapper, store.mapper)
    record = mapper.stored(event, content_owner(owner))
    linked, _ = link(record, store.chain_value(stream, version))
    [position] = store.recorder.insert_events([linked])
    return position


def plant_in_session(
    trail: SessionTrail, session_id: str, event_class: type[EventModel], **fields: Any
) -> int:
    """`plant` into a stored session's stream."""
    head = trail.store.load(stream_id(session_id))
    assert head is not None, f"plant into an existing session, not {session_id!r}"
    return plant(trail, head.id, event_class, owner=head.user_id, **fields)


def plant_usage(trail: SessionTrail, session_id: str, record: dict[str, Any]) -> int:
    """A token-usage record no read model can add up (e.g. `{"t": HUGE}`)."""
    return plant_in_session(
        trail, session_id, Session.TokenUsageRecorded, record=record, model=""
    )
