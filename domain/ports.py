"""The ports the repository reads through; the projections package implements them."""

from __future__ import annotations

import builtins
from typing import Literal, Protocol

from .search import SearchHit, SessionFilter
from .values import MessagePage, Page, SessionSummary

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
