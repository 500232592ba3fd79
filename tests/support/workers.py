"""Functions that run in child processes (spawn needs them importable by name)."""

from __future__ import annotations

import sessiontrail


def append_messages(url: str, session_id: str, contents: list[str]) -> int:
    """Open a trail of its own, save one message at a time; return the last version."""
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create(session_id)
        for content in contents:
            session.append_message(role="user", content=content)
            trail.sessions.save(session)
        return session.version
