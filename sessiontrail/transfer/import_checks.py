"""The input limits an imported event must meet: the ones the API checks.

An import builds events without running the commands that would have checked
their input, so each imported line is held to what its command takes: the
command's own input types, field by field (`SessionStart` for a new session, the
table below for the rest; the session and user ids and the actor as every call
checks them), and `check_payload`, the limits every command's event meets (string
lengths, valid Unicode, nesting, numbers within 64 bits and finite). And every
value a line gives must read back as given: "3" is not 3, nor "yes" true, so an
export writes back exactly what an import accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)

from ..domain.errors import InvalidInput, shown
from ..domain.event_model import EventModel
from ..domain.limits import check_payload, check_unicode
from ..domain.qa import QASession
from ..domain.qa_values import SessionQAUpdate, SessionTraceStep, TraceStepIn
from ..domain.session import ForkStart, Session, SessionStart
from ..domain.threads import Serialized
from ..domain.validation import (
    Actor,
    ItemId,
    JsonObject,
    MessageIn,
    ModelName,
    SessionId,
    Title,
    UserId,
)
from .portable import PortableEvent

_QUIET = ConfigDict(extra="ignore", allow_inf_nan=False)
_EntryIn = create_model(
    "QAEntryIn",
    __config__=_QUIET,
    id=(ItemId, ...),
    session_id=(SessionId, ...),
    user_id=(UserId, ...),
    feedback_score=(Annotated[int, Field(ge=1, le=5)] | None, None),
    memify_metadata=(JsonObject | None, None),
)


def _trace_id_given(step: SessionTraceStep) -> SessionTraceStep:
    if not step.trace_id:
        raise ValueError("trace_id must not be empty")
    return step


_FIELDS: dict[type[EventModel], dict[str, Any]] = {
    Session.MessageAppended: {"message": MessageIn},
    Session.TitleEdited: {"title": Title, "source": Actor},
    Session.MetadataEdited: {"changes": JsonObject},
    Session.ModelChanged: {"model": ModelName},
    Session.TokenUsageRecorded: {"record": JsonObject, "model": ModelName},
    QASession.QASessionStarted: {"user_id": UserId, "session_id": SessionId},
    QASession.QAEntryAdded: {"entry": _EntryIn},
    QASession.QAEntryUpdated: {"qa_id": ItemId, "changes": SessionQAUpdate},
    QASession.QAEntryDeleted: {"qa_id": ItemId},
    QASession.TraceStepRecorded: {
        "step": Annotated[TraceStepIn, AfterValidator(_trace_id_given)]
    },
}


def imported_event(record: Any) -> tuple[PortableEvent, EventModel]:
    """One line of an import (an export's JSON object) and the event it stands
    for; InvalidInput naming the field if the API would have refused it."""
    if isinstance(record, Mapping):
        check_unicode(record)  # first: later messages may quote the strings
    try:
        portable = PortableEvent.model_validate(record)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None
    event = portable.to_event()
    try:
        check_payload(event.payload())  # as a command's event: the same depths
    except InvalidInput as exc:
        raise InvalidInput(f"payload.{exc}") from None
    _values_read_back(event)
    line = {
        "session_id": portable.session_id,
        "user_id": portable.user_id,
        "actor": portable.actor,
        "payload": {name: _plain(value) for name, value in event.payload().items()},
    }
    try:
        _line_model(type(event)).model_validate(line)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from None
    _reads_back(record, portable, event)
    return portable, event


def _values_read_back(event: EventModel) -> None:
    """InvalidInput naming the first LangGraph value of `event` that would not read
    back (one inflating past the limit of one value, or not whole): the read
    model would skip the event for good, losing the checkpoint."""
    for name, field in event.payload().items():
        values = field if isinstance(field, list) else [field]
        for index, value in enumerate(values):
            if not isinstance(value, Serialized) or value.erased:
                continue
            where = f"payload.{name}" + (f".{index}" if field is values else "")
            try:
                value.unpack()
            except InvalidInput as exc:
                raise InvalidInput(f"{where}.{exc}") from None


def _reads_back(record: Any, portable: PortableEvent, event: EventModel) -> None:
    """InvalidInput naming the first value an export would not write back as the
    line gave it: "3" where a number goes, "yes" for true, a time in another
    form. (A field the line leaves out takes its default. A line of an older
    class_version is upcast: its payload is new by design, so only its envelope
    is compared.)"""
    kept = portable.model_dump(mode="json")
    if portable.class_version == type(event).class_version:
        kept["payload"] = event.json_payload()
    difference = _first_difference(record, kept, "")
    if difference is not None:
        path, value = difference
        shown_value = shown(json.dumps(value, default=str))
        raise InvalidInput(f"{path}: would read back as {shown_value}, not as given")


def _first_difference(given: Any, kept: Any, path: str) -> tuple[str, Any] | None:
    """(where, the value kept there) at the first value of `given` that `kept`
    holds differently, in value or JSON type; None when it holds them all."""
    if isinstance(given, dict) and isinstance(kept, dict):
        for key, value in given.items():
            where = f"{path}.{shown(key)}" if path else shown(key)
            found = _first_difference(value, kept.get(key), where)
            if found is not None:
                return found
        return None
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        for index, (one, other) in enumerate(zip(given, kept, strict=True)):
            found = _first_difference(one, other, f"{path}.{index}")
            if found is not None:
                return found
        return None
    return None if type(given) is type(kept) and given == kept else (path, kept)


@cache
def _line_model(event_class: type[EventModel]) -> type[BaseModel]:
    """A line of `event_class` as the API would take it: ids, actor, and what
    the command behind the event takes."""
    payload: type[BaseModel] = (
        ForkStart if event_class is Session.Forked else SessionStart
    )
    if not issubclass(event_class, Session.Started):
        fields: dict[str, Any] = {
            name: (kind, ...) for name, kind in _FIELDS.get(event_class, {}).items()
        }
        payload = create_model(
            f"{event_class.__qualname__}Input", __config__=_QUIET, **fields
        )
    return create_model(
        f"{event_class.__qualname__}Line",
        __config__=_QUIET,
        session_id=(SessionId, ...),
        user_id=(UserId | None, ...),
        actor=(Actor, ...),
        payload=(payload, ...),
    )


def _plain(value: Any) -> Any:
    """A field as the caller gave it: value objects as their fields."""
    return value.model_dump() if isinstance(value, BaseModel) else value
