"""SessionTrail: one open session log, and `connect`, the way to open one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Literal, Self

from pydantic import StrictBool, StrictStr

from .domain.checkpoint import Checkpoint
from .domain.errors import StorageUnavailable
from .domain.session import Session
from .domain.validation import Count, Url, validated
from .infrastructure.backends import backend_for, parse_url
from .infrastructure.cache import MAX_MESSAGES, UNKNOWN, SessionCache
from .infrastructure.event_store import SessionStore, storage_errors
from .infrastructure.history import SessionHistory
from .infrastructure.keys import COMPRESSOR_ENV, key_env, resolve_key
from .infrastructure.log_reader import LogReader
from .infrastructure.mapper import content_owner
from .infrastructure.purge_watch import PurgeWatch
from .infrastructure.qa_repository import QARepository
from .infrastructure.repository import SessionRepository
from .infrastructure.retention_policy import PolicyStore
from .infrastructure.sealed_columns import ColumnSealer
from .infrastructure.sealed_database import SealedDatabase
from .infrastructure.session_memories import SessionMemories
from .infrastructure.session_writer import SessionWriter
from .infrastructure.settings import BackendName, Settings, resolve_url
from .infrastructure.sql import Cursor, ProjectionDatabase
from .infrastructure.verify import LogAuditor, VerifyReport, signing_key
from .privacy.compaction import CompactReport, compact
from .privacy.erasure import Eraser, ErasureReport
from .privacy.purge import Purger
from .privacy.retention import Retention
from .projections.adk import AdkProjection
from .projections.adk_reads import AdkReads
from .projections.audit import AuditProjection, AuditTimeline
from .projections.inline import RefreshedReads, UnmovedLog
from .projections.langgraph import LangGraphProjection
from .projections.langgraph_reads import LangGraphReads
from .projections.projection import Projection
from .projections.qa import QAProjection, QAReads
from .projections.retention import RetentionProjection
from .projections.retention_reads import RetentionReads
from .projections.runner import ProjectionRunner
from .projections.search import SealedSearchProjection, SearchProjection
from .projections.session_list.reader import SessionIndex
from .projections.sessions import SessionsProjection
from .projections.skips import Skips
from .projections.title_tokens import SessionSearch, TitleTokensProjection
from .projections.transcript_index import TranscriptIds
from .projections.transcript_pages import TranscriptPages
from .projections.usage import UsageLedger, UsageProjection
from .stores.assets import AssetStore
from .stores.qa import QAService
from .stores.transcripts import TranscriptStore
from .transfer.export import Exporter
from .transfer.importer import Importer

DEFAULT_CACHE_SIZE = 1000
DEFAULT_CACHE_MESSAGES = MAX_MESSAGES
READ_MODELS: tuple[type[Projection], ...] = (
    SessionsProjection,
    UsageProjection,
    AuditProjection,
    QAProjection,
    AdkProjection,
    LangGraphProjection,
    TitleTokensProjection,
    SearchProjection,
    RetentionProjection,
)

Mode = Literal["inline", "worker"]


def _read_models(keyed: bool) -> tuple[type[Projection], ...]:
    """The read models of a trail; under a master key, search keeps no content."""
    if not keyed:
        return READ_MODELS
    return tuple(
        SealedSearchProjection if model is SearchProjection else model
        for model in READ_MODELS
    )


class SessionTrail:
    """An open session log: `sessions` is the repository; close it when done.

    `projections="inline"` (the default) brings the read models up to date inside
    every write, and reads catch up first if the log moved on (a writer killed
    before its catch-up), so lists read every committed write. `"worker"` leaves
    that to a separate `sessiontrail projections run` process (or
    `trail.projections.run`).
    """

    def __init__(
        self,
        settings: Settings,
        cache_size: int = DEFAULT_CACHE_SIZE,
        projections: Mode = "inline",
        cache_messages: int = DEFAULT_CACHE_MESSAGES,
    ) -> None:
        self.settings = settings
        skips = Skips()
        backend = backend_for(settings)
        with storage_errors(f"open {settings.url}"), backend.opening():
            self.store = SessionStore(backend)
            self.store.check_key()
            self.read_models = backend.open_read_models(self.store.recorder)
            near = backend.reads_near_appends(self.store.recorder, self.read_models)
            keyed = self.store.keys.master_set
            if keyed:
                sealer = ColumnSealer(self.store.keys)
                sealer.prepare()
                self.read_models = SealedDatabase(self.read_models, sealer)
                if near is not None:
                    near = SealedDatabase(near[0], sealer), near[1]
            self.projections = ProjectionRunner(
                self.store,
                self.read_models,
                _read_models(keyed),
                skips,
                projections,
                wait=backend.wait_bound(),
                lock_timeout=backend.lock_timeout(),
            )
            self.projections.prepare()
        self.store.after_opening()
        self._closed = False
        if projections == "inline":
            self.projections.upgrade()
            self.projections.catch_up()
        after_write = self.projections.after_write if projections == "inline" else None
        readable: ProjectionDatabase = self.read_models
        if projections == "inline":
            readable = RefreshedReads(
                self.read_models,
                self.projections.lagging,
                self.projections.catch_up_unless_running,
            )
        # What reads that must see this process's writes read: in worker mode
        # they first bring the sessions and ADK read models up to the log.
        own_writes, transcripts = readable, self.read_models
        adk_catch_up: Callable[[], object] = self.projections.catch_up
        if projections == "worker":
            adapters = self._runner(
                (SessionsProjection, AdkProjection), skips, backend.lock_timeout()
            )
            own_writes = transcripts = _refreshed(self.read_models, adapters)
            adk_catch_up = adapters.catch_up
        self.store.transcript_index = TranscriptIds(transcripts)
        self._cache = cache = SessionCache(
            cache_size,
            self._key_stamp,
            lambda: watch.check(),
            self._read_under,
            max_messages=cache_messages,
        )
        self.memories = memories = SessionMemories(cache)
        """Where adapters keeping sessions' content register it, so an erasure
        or a purge drops it with the cache's copies."""
        watch = PurgeWatch(self.store, memories.evict)
        reader = LogReader(self.store)
        writer = SessionWriter(self.store, after_write)
        self.sessions = SessionRepository(
            self.store,
            cache,
            SessionIndex(readable, skips),
            writer,
            SessionHistory(self.store, reader),
            Purger(
                self.store,
                reader,
                writer.holding,
                self.projections,
                memories.evict,
                self._truncate_log,
            ),
        )
        self.transcripts = TranscriptStore(self.sessions)
        self.assets = AssetStore(self.sessions, self.projections)
        self.qa = QAService(
            QARepository(self.store, reader, after_write),
            QAReads(readable, self.store),
        )
        self._auditor = LogAuditor(
            self.store, reader, signing_key(settings.env.get("CIPHER_KEY"))
        )
        self.exporter = Exporter(self.store, reader, QAReads(readable, self.store))
        self._eraser = Eraser(
            self.store, self.projections, memories.clear, self.read_models.compact
        )
        self.importer = Importer(
            self.store, reader, self.sessions, after_write, cache.evict
        )
        self.retention = Retention(
            PolicyStore(self.store),
            RetentionReads(readable),
            self.sessions,
            keyed=keyed,
        )
        self.usage = UsageLedger(readable, self.store.ids)
        self.audit = AuditTimeline(readable, self.store.ids)
        self.search = SessionSearch(readable)  # words of titles, under a key
        adapter_pages = SessionIndex(own_writes, skips)
        self.adk = AdkReads(  # what the ADK adapter reads
            own_writes, self.store.ids, adapter_pages, adk_catch_up
        )
        self.transcript_pages = TranscriptPages(  # what the adapters' reads read
            adapter_pages, self.store.ids
        )
        self.langgraph = LangGraphReads(  # what the LangGraph saver reads
            _refreshed(
                self.read_models,
                self._runner((LangGraphProjection,), skips, backend.lock_timeout()),
            )
            if projections == "worker"
            else readable
            if near is None
            else self._near_appends(*near),
            self.store.ids,
        )

    def _near_appends(
        self, database: ProjectionDatabase, marker: Callable[[Cursor], int]
    ) -> ProjectionDatabase:
        """Inline reads on the connection appends use, for a reader that reads
        its own writes at once (the LangGraph saver): that connection's pages
        are warm, and its lag check reads none while only this process wrote."""
        check = UnmovedLog(
            self.projections.lagging, self.projections.has_applied, marker
        )
        self.store.on_commit(check.committed)
        return RefreshedReads(database, check, lambda: self.projections.catch_up())

    def _runner(
        self,
        projections: tuple[type[Projection], ...],
        skips: Skips,
        lock_timeout: float,
    ) -> ProjectionRunner:
        """A catch-up of these read models alone, for an adapter that must read
        its own writes in worker mode too (the worker applies the others;
        either applies each event once)."""
        return ProjectionRunner(
            self.store,
            self.read_models,
            projections,
            skips,
            "worker",
            lock_timeout=lock_timeout,
        )

    def checkpoint(self) -> Checkpoint:
        """Anchor the log: every stream's head now, under one root hash (signed
        when a key is configured). Keep the result outside the database."""
        return self._auditor.checkpoint()

    @validated
    def verify(
        self,
        since_checkpoint: Checkpoint | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """Re-walk every stream's hash chain and, given a checkpoint, check that
        the log still holds every head it saw; `report.problems` names each
        stream's first bad record (`problem.error()` is its ChecksumMismatch)."""
        return self._auditor.verify(since_checkpoint, progress)

    def erase_user(
        self, user_id: str, *, actor: str = "system", wait: float = 0.0
    ) -> ErasureReport:
        """Crypto-shred everything `user_id` wrote: their content reads "[erased]"
        everywhere, the audit trail and the hash chains stay (see privacy/erasure.py).
        On SQLite, `wait` up to that many seconds for other connections' reads to
        end, so no file keeps the erased bytes (`report.log_compacted`)."""
        return self._eraser.erase_user(user_id, actor=actor, wait=wait)

    @validated
    def compact(self, *, full: StrictBool = False) -> CompactReport:
        """Give the disk back after purges; afterwards no file holds a purged
        byte. SQLite: VACUUM, holding the write lock while it rewrites the file
        (O(the remaining file)). PostgreSQL: VACUUM (ANALYZE), which blocks no
        one but leaves the bytes in the table files; `full=True`: VACUUM FULL,
        which removes them and locks each table while it rewrites it."""
        return compact(self.read_models, full)

    def _truncate_log(self) -> bool:
        """SQLite: truncate the write-ahead log so it keeps no purged bytes
        (False while a reader elsewhere holds it); nothing to do elsewhere."""
        return self.backend != "sqlite" or self.read_models.compact()

    def _key_stamp(self, session: Session) -> object:
        """What a cached session is only served while it holds: its user's key."""
        owner = content_owner(session.user_id)
        if owner is None:
            return None
        try:
            with storage_errors(f"read the key of {owner!r}"):
                return self.store.keys.key_id(owner)
        except StorageUnavailable:
            return UNKNOWN

    def _read_under(self, session: Session) -> object:
        """The key a session's content was read or sealed with, which its cached
        copy must still be the user's key to be served (the user's key now when
        it holds nothing opened)."""
        if session.read_under is not None:  # set only for a user's content
            return session.read_under
        return self._key_stamp(session)

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def backend(self) -> BackendName:
        return self.settings.backend

    def close(self) -> None:
        """Release the connections; idempotent."""
        if not self._closed:
            self._closed = True
            self.read_models.close()
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SessionTrail({self.url!r})"


def _refreshed(
    database: ProjectionDatabase, runner: ProjectionRunner
) -> ProjectionDatabase:
    """Reads of `database` that first bring the runner's read models up to the
    log's head."""
    return RefreshedReads(database, runner.lagging, runner.catch_up)


@validated
def connect(
    url: Url | None = None,
    *,
    cache_size: Count = DEFAULT_CACHE_SIZE,
    cache_messages: Count = DEFAULT_CACHE_MESSAGES,
    projections: Mode = "inline",
    key: StrictStr | None = None,
) -> SessionTrail:
    """Open the log at `url` (sqlite:///PATH, postgresql://..., memory://[NAME]).

    Without a URL: $SESSIONTRAIL_URL, else sqlite:///sessiontrail.db.
    The session cache keeps at most `cache_size` sessions (0: no cache) and
    `cache_messages` messages in them together, dropping the least recently
    used beyond either (the newest copy stays, however long).
    `projections`: "inline" (read-your-writes) or "worker" (see SessionTrail).
    `key` (else $SESSIONTRAIL_KEY): encrypt payloads at rest with AES-GCM; a log
    that holds encrypted records cannot be opened without it (KeyRequired).
    """
    settings = parse_url(resolve_url(url))
    master = resolve_key(key)
    env = {**settings.env, **COMPRESSOR_ENV, **(key_env(master) if master else {})}
    return SessionTrail(
        replace(settings, env=env),
        cache_size=cache_size,
        projections=projections,
        cache_messages=cache_messages,
    )
