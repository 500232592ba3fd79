"""The ports the repository reads through; the projections package implements them."""

from __future__ import annotations

import builtins
from typing import Literal, Protocol

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
    ) -> builtins.list[SessionSummary]: ...

    def messages(
        self,
        session_id: str,
        *,
        user_id: str | None,
        last_n: int | None,
        before: int | None,
    ) -> MessagePage: ...
