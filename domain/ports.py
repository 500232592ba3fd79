"""The ports the repository reads through; the projections package implements them."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from typing import Literal, Protocol
from uuid import UUID

from .search import SearchHit, SessionFilter
from .values import Message, MessagePage, Page, SessionSummary

Order = Literal["updated_desc", "updated_asc"]


class SessionReads(Protocol):
    """Session lists and transcript pages, served by read models, not replays."""

    def list(
        self,
        *,
        user_id: str | None,
        limit: int,
        cursor: str | None,
        order: Order,
        pinned_first: bool,
        include_deleted: bool,
        filters: SessionFilter = ...,
    ) -> Page: ...

    def list_paginated(
        self,
        *,
        offset: int,
        limit: int | None,
        user_id: str | None,
        order: Order,
        pinned_first: bool,
        include_deleted: bool,
        filters: SessionFilter = ...,
    ) -> builtins.list[SessionSummary]: ...

    def search(
        self, text: str, *, user_id: str | None, include_deleted: bool, limit: int
    ) -> builtins.list[SearchHit]: ...

    def messages(
        self,
        session_id: str,
        *,
        user_id: str | None,
        last_n: int | None,
        before: int | None,
    ) -> MessagePage: ...


class SessionLog(Protocol):
    """A stream's stored events: what a loaded session reads its transcript and
    token usage from when a caller asks for them (its loaded state leaves them
    out, so that loading and snapshots stay small however long the session)."""

    def events_until(self, stream: UUID, version: int) -> Sequence[object]:
        """The stream's events from the first to `version`, oldest first."""
        ...

    def head_at(self, stream: UUID, version: int) -> bytes | None:
        """The chain value of the stream's record at `version` (None when it has
        none, or one older than the chain): which session the stream holds, as a
        purge and a new start under the same id count the versions up again."""
        ...

    def key_of(self, user_id: str | None) -> str | None:
        """The id of the key the user's content is sealed with now: a transcript
        read under another one was read before their erasure. None: the user
        has no key now (erased, or none yet), and nothing vouches for a read;
        "": the user's content is not sealed (no user)."""
        ...


class TranscriptIndex(Protocol):
    """Id questions about a stored transcript, answered without reading it; each
    answers None when it cannot tell for that version (the session then reads
    its log)."""

    def held_ids(
        self, stream: UUID, version: int, ids: Collection[str]
    ) -> set[str] | None:
        """Which of `ids` the stream's transcript holds at `version`."""
        ...

    def last(
        self, stream: UUID, version: int, count: int
    ) -> builtins.list[Message] | None:
        """The newest `count` messages of the transcript at `version`, in order."""
        ...

    def cut(self, stream: UUID, version: int) -> bool | None:
        """Whether the transcript at `version` ever lost a message (truncated)."""
        ...
