"""The input limits an imported event must meet: the ones the API checks.

An import builds events without running the commands that would have checked
their input, so each imported event is held to what its command takes: the
command's own input types, field by field (`SessionStart` for a new session, the
table below for the rest), and `check_payload`, the limits every command's event
meets (string lengths, valid Unicode, nesting, numbers within 64 bits and finite).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .domain.errors import InvalidInput
from .domain.event_model import EventModel
from .domain.limits import check_payload
from .domain.qa import QASession
from .domain.session import Session, SessionStart
from .domain.validation import (
    Actor,
    JsonObject,
    ModelName,
    SessionId,
    Title,
    UserId,
)
from .infrastructure.portable import StreamOwner
from .qa import QAId, SessionQAUpdate

_QUIET = ConfigDict(extra="ignore", allow_inf_nan=False)
_EntryIn = create_model(
    "QAEntryIn",
    __config__=_QUIET,
    id=(QAId, ...),
    session_id=(SessionId, ...),
    user_id=(UserId, ...),
    feedback_score=(Annotated[int, Field(ge=1, le=5)] | None, None),
    memify_metadata=(JsonObject | None, None),
)
_StepIn = create_model(
    "TraceStepIn", __config__=_QUIET, trace_id=(str, Field(min_length=1))
)
_FIELDS: dict[type[EventModel], dict[str, Any]] = {
    Session.TitleEdited: {"title": Title, "source": Actor},
    Session.MetadataEdited: {"changes": JsonObject},
    Session.ModelChanged: {"model": ModelName},
    Session.TokenUsageRecorded: {"record": JsonObject, "model": ModelName},
    QASession.QASessionStarted: {"user_id": UserId, "session_id": SessionId},
    QASession.QAEntryAdded: {"entry": _EntryIn},
    QASession.QAEntryUpdated: {"qa_id": QAId, "changes": SessionQAUpdate},
    QASession.QAEntryDeleted: {"qa_id": QAId},
    QASession.TraceStepRecorded: {"step": _StepIn},
}


class _OwnerIn(BaseModel):
    """Whose stream an imported line names, as the API's ids are checked."""

    model_config = _QUIET

    session_id: SessionId
    user_id: UserId | None


def check_owner(portable: StreamOwner) -> None:
    """InvalidInput naming the field if a line's session or user id is not one
    the API would take."""
    try:
        _OwnerIn.model_validate(portable.model_dump())
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None


def check_imported(event: EventModel) -> None:
    """InvalidInput naming the field if `event` breaks a limit the API would have
    refused it for."""
    payload = event.payload()
    check_payload(payload)
    given = {name: _plain(value) for name, value in payload.items()}
    try:
        _input_model(type(event)).model_validate({**given, "actor": event.actor})
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None


@cache
def _input_model(event_class: type[EventModel]) -> type[BaseModel]:
    """What the command behind `event_class` takes, as one model."""
    if event_class is Session.Started:
        return SessionStart
    fields: dict[str, Any] = {
        name: (kind, ...) for name, kind in _FIELDS.get(event_class, {}).items()
    }
    return create_model(
        f"{event_class.__qualname__}Input",
        __config__=_QUIET,
        actor=(Actor, ...),
        **fields,
    )


def _plain(value: Any) -> Any:
    """A field as the caller gave it: value objects as their fields."""
    return value.model_dump() if isinstance(value, BaseModel) else value
