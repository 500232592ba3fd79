"""sessiontrail: an event-sourced session log for AI chat and agent applications.

import sessiontrail
with sessiontrail.connect("sqlite:///trail.db") as trail:
    s = trail.sessions.load_or_create("chat-42", model="gpt-4o", user_id="alice")
    s.append_message(role="user", content="hello")
    trail.sessions.save(s)
"""

from .domain.checkpoint import Checkpoint
from .domain.errors import (
    ChecksumMismatch,
    ConcurrencyConflict,
    InvalidInput,
    KeyRequired,
    SessionNotFound,
    SessiontrailError,
    StorageUnavailable,
    VersionIncompatible,
)
from .domain.purge import PurgeReport
from .domain.qa_values import (
    GraphElementIds,
    SessionQAEntry,
    SessionQAUpdate,
    SessionTraceStep,
)
from .domain.session import Session
from .domain.values import (
    DroppedEdit,
    HistoryEntry,
    Message,
    MessagePage,
    Page,
    PendingQuestion,
    ProjectionStatus,
    SaveResult,
    SessionSummary,
    SyncStatus,
    ToolCall,
)
from .infrastructure.keys import new_key
from .infrastructure.repository import SessionRepository
from .infrastructure.verify import StreamProblem, VerifyReport
from .infrastructure.verify_purges import PurgedEntry
from .privacy.compaction import CompactReport
from .privacy.erasure import ErasureReport
from .projections.audit import AuditEntry, AuditPage
from .projections.usage import UsageRecord
from .stores.assets import SessionAsset, SessionMeta
from .stores.transcripts import ListOptions, SessionRecord
from .trail import Mode, SessionTrail, connect
from .transfer.export import ExportFormat
from .transfer.importer import ImportReport

__all__ = [
    "AuditEntry",
    "AuditPage",
    "Checkpoint",
    "ChecksumMismatch",
    "CompactReport",
    "ConcurrencyConflict",
    "DroppedEdit",
    "ErasureReport",
    "ExportFormat",
    "GraphElementIds",
    "HistoryEntry",
    "ImportReport",
    "InvalidInput",
    "KeyRequired",
    "ListOptions",
    "Message",
    "MessagePage",
    "Mode",
    "Page",
    "PendingQuestion",
    "ProjectionStatus",
    "PurgeReport",
    "PurgedEntry",
    "SaveResult",
    "Session",
    "SessionAsset",
    "SessionMeta",
    "SessionNotFound",
    "SessionQAEntry",
    "SessionQAUpdate",
    "SessionRecord",
    "SessionRepository",
    "SessionSummary",
    "SessionTraceStep",
    "SessionTrail",
    "SessiontrailError",
    "StorageUnavailable",
    "StreamProblem",
    "SyncStatus",
    "ToolCall",
    "UsageRecord",
    "VerifyReport",
    "VersionIncompatible",
    "connect",
    "new_key",
]
