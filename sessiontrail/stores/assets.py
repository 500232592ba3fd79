"""The asset-store API: whole session assets (transcript, title, state), newest first.

An asset's `state` is the session's metadata: each key set, changed or dropped by
a save is one MetadataEdited change, so state edits have an audit trail too.
"""

from __future__ import annotations

import builtins
from datetime import datetime

from pydantic import Field, JsonValue

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.session import Session
from ..domain.validation import SessionId, validated
from ..domain.values import Arguments, Message, SyncStatus, Value
from ..infrastructure.repository import SessionRepository
from ..projections.runner import ProjectionRunner


class SessionAsset(Arguments):
    """A whole session as the asset-store API stores it; `version` is the log's,
    set on load.

    `created_at`, `updated_at` and `version` are the store's to set: `save` ignores
    what the caller passes there.
    """

    id: str
    title: str = ""
    messages: list[Message] = Field(default_factory=list)
    state: dict[str, JsonValue] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0


class SessionMeta(Value):
    """What `list` returns per session: no messages, no state."""

    id: str
    title: str
    message_count: int
    created_at: datetime
    updated_at: datetime
    version: int


def _asset(session: Session) -> SessionAsset:
    return SessionAsset(
        id=session.session_id,
        title=session.title,
        messages=session.messages,
        state=session.metadata,
        created_at=session.created_at,
        updated_at=session.updated_at,
        version=session.version,
    )


class AssetStore:
    """save / load / list / delete / exists / sync_status, as the asset-store API
    defines them."""

    def __init__(
        self, repository: SessionRepository, projections: ProjectionRunner
    ) -> None:
        self._repository = repository
        self._projections = projections

    def save(self, asset: SessionAsset) -> None:
        """Overwrite the session with the asset, recorded as the fewest events
        against the stored session (messages built without ids match the stored
        ones at their positions by their fields, as in `transcripts.save`)."""
        if not isinstance(asset, SessionAsset):
            raise InvalidInput(
                f"asset: expected a SessionAsset, got {type(asset).__name__}"
            )
        nulls = sorted(key for key, value in asset.state.items() if value is None)
        if nulls:
            raise InvalidInput(f"state: null values are not stored: {', '.join(nulls)}")
        title = asset.title or None
        if title is None:  # read the stored title, not a cached copy's
            stored = self._repository.load_merged(asset.id)
            if stored is not None and stored.title:
                raise InvalidInput("title: a stored title cannot be cleared")
        self._repository.overwrite(
            asset.id, asset.messages, title=title, metadata=asset.state
        )

    @validated
    def load(self, id: SessionId) -> SessionAsset:
        """The asset; SessionNotFound for an unknown or deleted id."""
        session = self._repository.try_load(id)
        if session is None:
            raise SessionNotFound(f"no session {id!r}")
        return _asset(session)

    def list(self) -> builtins.list[SessionMeta]:
        """Every live session, newest first; unreadable rows skipped and counted."""
        return [
            SessionMeta(
                id=summary.session_id,
                title=summary.title,
                message_count=summary.message_count,
                created_at=summary.created_at,
                updated_at=summary.updated_at,
                version=summary.version,
            )
            for summary in self._repository.list_paginated(order="updated_desc")
        ]

    @validated
    def delete(self, id: SessionId) -> None:
        """Soft-delete; SessionNotFound for an unknown (or already deleted) id."""
        if not self._repository.delete(id):
            raise SessionNotFound(f"no session {id!r}")

    @validated
    def exists(self, id: SessionId) -> bool:
        return self._repository.exists(id)

    def sync_status(self) -> SyncStatus:
        """The read models against the log head; offline if storage is unreachable."""
        return self._projections.sync_status()
