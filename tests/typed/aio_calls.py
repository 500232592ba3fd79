"""Checked by the type check (scripts/check.sh), never run: the async facade keeps
the sync API's signatures, so editors complete them and mypy refuses a wrong call.
Each `type: ignore` must be needed (mypy strict warns about unused ones): if the
facade fell back to Any, those lines would fail the check."""

from __future__ import annotations

from sessiontrail import Session, aio
from sessiontrail.domain.values import Page, SaveResult


async def both_ways_to_open(url: str) -> None:
    async with aio.connect(url) as trail:
        session: Session = await trail.sessions.load_or_create("chat-1")
        saved: SaveResult = await trail.sessions.save(session)
        page: Page = await trail.sessions.list(limit=5, include_deleted=True)
        await trail.sessions.save("chat-1")  # type: ignore[arg-type]
        await trail.sessions.list(limitt=5)  # type: ignore[call-arg]
        wrong: int = await trail.sessions.save(session)  # type: ignore[assignment]
        print(saved, page, wrong)
    opened: aio.AsyncSessionTrail = await aio.connect(url, threads=2)
    await opened.close()
