"""sessiontrail: an event-sourced session log for AI chat and agent applications.

import sessiontrail
with sessiontrail.connect("sqlite:///trail.db") as trail:
    s = trail.sessions.load_or_create("chat-42", model="gpt-4o", user_id="alice")
    s.append_message(role="user", content="hello")
    trail.sessions.save(s)
"""

from .domain.errors import (
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
    SessiontrailError,
    StorageUnavailable,
)
from .domain.session import Session
from .domain.values import (
    HistoryEntry,
    Message,
    PendingQuestion,
    SessionSummary,
    ToolCall,
)
from .infrastructure.repository import SessionRepository
from .trail import SessionTrail, connect

__all__ = [
    "ConcurrencyConflict",
    "HistoryEntry",
    "InvalidInput",
    "Message",
    "PendingQuestion",
    "Session",
    "SessionNotFound",
    "SessionRepository",
    "SessionSummary",
    "SessionTrail",
    "SessiontrailError",
    "StorageUnavailable",
    "ToolCall",
    "connect",
]
