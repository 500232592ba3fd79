"""Sessions stored as an earlier version stored them, under an id exactly as spelt."""

from __future__ import annotations

from sessiontrail.domain.aggregate import Aggregate
from sessiontrail.domain.session import Session, stream_id


def started_as_spelt(
    session_id: str, *, user_id: str | None, title: str = ""
) -> Session:
    """A new, unsaved session under `session_id` exactly as given, not in NFC
    (the door would make a new one NFC): its first event is built by hand."""
    session: Session = Aggregate._create.__func__(  # type: ignore[attr-defined]
        Session,
        Session.Started,
        id=stream_id(session_id),
        session_id=session_id,
        model="",
        user_id=user_id,
        title=title,
        metadata={},
        actor="runtime",
    )
    return session
