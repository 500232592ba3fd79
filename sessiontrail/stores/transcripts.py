"""The transcript-store API: whole transcripts in and out, on the event log.

`save(id, messages)` overwrites, but is recorded as the fewest events that turn the
stored transcript into the given one, so `history` shows what changed.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import SkipValidation, ValidationError

from ..domain.errors import InvalidInput
from ..domain.validation import Count, SessionId, validated
from ..domain.values import Arguments, Message, SessionSummary, Value
from ..infrastructure.repository import SessionRepository


class SessionRecord(Value):
    """What the transcript store's list returns per session: no message content."""

    id: str
    message_count: int
    created_at: datetime
    updated_at: datetime


class ListOptions(Arguments):
    """An offset window: past the end is empty, `limit=None` means all."""

    offset: Count = 0
    limit: Count | None = None


def _record(summary: SessionSummary) -> SessionRecord:
    return SessionRecord(
        id=summary.session_id,
        message_count=summary.message_count,
        created_at=summary.created_at,
        updated_at=summary.updated_at,
    )


def as_messages(items: Sequence[Message | Mapping[str, Any]]) -> list[Message]:
    """Messages from Message objects or plain mappings (`{"role", "content"}`),
    each bad one named by its index. A mapping without an id is matched to the
    stored message at its position when saved (see `Session.replace_messages`)."""
    messages = []
    for index, item in enumerate(items):
        if isinstance(item, Message):
            messages.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InvalidInput(f"messages.{index}: expected a message or a mapping")
        try:
            messages.append(Message.model_validate(dict(item)))
        except ValidationError as exc:
            problem = InvalidInput.from_validation(exc)
            raise InvalidInput(f"messages.{index}.{problem}") from None
    return messages


class TranscriptStore:
    """load / save / list / list_paginated / delete, as the transcript-store API
    defines them."""

    def __init__(self, repository: SessionRepository) -> None:
        self._repository = repository

    @validated
    def load(self, id: SessionId) -> builtins.list[Message] | None:
        """The transcript; None for an unknown (or deleted) id: a fresh session."""
        session = self._repository.try_load(id)
        return None if session is None else list(session.messages)

    @validated
    def save(
        self,
        id: SessionId,
        messages: SkipValidation[Sequence[Message | Mapping[str, Any]]],
    ) -> None:
        """Make the stored transcript exactly `messages`, atomically.

        Creates the session when absent (an id deleted before is restored, its
        history continuing) and keeps `created_at`. Recorded as: truncate to the
        longest common prefix with the stored transcript, then append the rest;
        a message given without an id (a mapping, or a Message built without
        `id=`) is the stored one at its position when its fields are equal, so
        saving the whole transcript each turn records only the new messages.
        The list is authoritative: a message another writer stored since the
        caller read the transcript, and missing from `messages`, is removed by
        that truncation — visible in `history`, recoverable with `at`.
        """
        if not isinstance(messages, Iterable) or isinstance(
            messages, str | bytes | Mapping
        ):
            raise InvalidInput("messages: expected a list of messages")
        self._repository.overwrite(id, as_messages(messages))

    def list(self) -> builtins.list[SessionRecord]:
        """Every live session, newest last (by updated_at)."""
        return self.list_paginated(ListOptions())

    @validated
    def list_paginated(self, options: ListOptions) -> builtins.list[SessionRecord]:
        """A window of `list`, cut by the read model's query, not in memory."""
        summaries = self._repository.list_paginated(
            options.offset, options.limit, order="updated_asc"
        )
        return [_record(summary) for summary in summaries]

    @validated
    def delete(self, id: SessionId) -> None:
        """Soft-delete; an unknown id is a no-op."""
        self._repository.delete(id)
