"""Checking the log: every stream's hash chain, and the heads a checkpoint saw.

Both walks hold one page of records at a time (O(1) memory in the log's size).
Each stream reports only its first bad record, as a `StreamProblem` that converts
to the `ChecksumMismatch` naming it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from pydantic import Field, ValidationError

from ..domain.checkpoint import Checkpoint, CheckpointRecord, RootHash
from ..domain.errors import ChecksumMismatch, InvalidInput, SessiontrailError
from ..domain.event_model import SnapshotModel
from ..domain.purge import Purge
from ..domain.qa import QASession
from ..domain.session import Session
from ..domain.values import Value
from .chain import ChainWalk
from .event_store import SessionStore
from .log_reader import LogReader
from .verify_purges import PurgedEntry, PurgeLedger

PAGE = 1000
HEADS_PER_EVENT = 2000
Progress = Callable[[int, int], None]


class StreamProblem(Value):
    """The first bad record of one stream, and what is wrong with it."""

    stream: UUID
    version: int
    problem: str
    label: str = ""  # what the stream is, when its first record still reads

    def error(self) -> ChecksumMismatch:
        return ChecksumMismatch(str(self.stream), self.version, self.problem)


class VerifyReport(Value):
    """What a verify walked and found; `ok` when nothing is wrong."""

    streams: int
    events: int
    unchained: int  # records from before the chain existed: hashed, not checkable
    checkpoint: Checkpoint | None
    signature_checked: bool
    problems: list[StreamProblem]
    purged: list[PurgedEntry] = Field(default_factory=list)  # not problems

    @property
    def ok(self) -> bool:
        return not self.problems


def signing_key(master: str | None) -> bytes | None:
    """The checkpoint-signing key derived from the master key (None without one)."""
    if master is None:
        return None
    return hashlib.sha256(
        b"sessiontrail-checkpoint-signing:" + master.encode()
    ).digest()


class LogAuditor:
    """Takes checkpoints of the log and verifies the log against its chains."""

    def __init__(
        self, store: SessionStore, reader: LogReader, key: bytes | None
    ) -> None:
        self._store = store
        self._reader = reader
        self._key = key

    def checkpoint(self) -> Checkpoint:
        """Record the head of every stream now; keep the result somewhere else."""
        position = self._store.head()
        record = CheckpointRecord.start(position)
        self._store.record_aggregate(record)
        root = RootHash()
        page: list[tuple[UUID, int, bytes]] = []
        for stream in self._streams():
            if stream == record.id:
                continue
            last = self._reader.last_record(stream)
            if last is None:
                continue
            version = last.originator_version
            head = (stream, version, self._store.chain_value(stream, version))
            root.add(*head)
            page.append(head)
            if len(page) == HEADS_PER_EVENT:
                record.list_heads(page)
                self._store.record_aggregate(record)
                page = []
        if page:
            record.list_heads(page)
        record.seal(root)
        self._store.record_aggregate(record)
        checkpoint = Checkpoint(
            stream=record.id,
            position=position,
            streams=root.count,
            root=root.hexdigest(),
            taken_at=datetime.now(tz=UTC),
        )
        if self._key is not None:
            checkpoint = checkpoint.model_copy(
                update={"signature": self._sign(checkpoint)}
            )
        return checkpoint

    def verify(
        self, since: Checkpoint | None = None, progress: Progress | None = None
    ) -> VerifyReport:
        """Walk every stream's chain (and, given a checkpoint, the heads it saw)."""
        problems: dict[UUID, StreamProblem] = {}
        streams = events = unchained = 0
        total = self._store.head()
        purges = PurgeLedger(self._store.mapper)
        for stream in self._streams():
            counted, legacy, problem = self._walk(stream, purges)
            if problem is None:
                problem = self._snapshot_problem(stream)
            streams, events, unchained = (
                streams + 1,
                events + counted,
                unchained + legacy,
            )
            if problem is not None:
                _note(problems, problem)
            if progress is not None:
                progress(events, max(total, events))
        for purged in purges.damaged:
            _note(
                problems,
                StreamProblem(
                    stream=purged.stream,
                    version=purged.damaged_at,
                    problem=f"damaged before its purge: {purged.chain}",
                ),
            )
        checked = False
        if since is not None:
            checked = self._check_signature(since, problems)
            self._against(since, problems, purges)
        found = [
            problem.model_copy(update={"label": self._label(problem.stream)})
            for problem in sorted(
                problems.values(), key=lambda p: (str(p.stream), p.version)
            )
        ]
        return VerifyReport(
            streams=streams,
            events=events,
            unchained=unchained,
            checkpoint=since,
            signature_checked=checked,
            problems=found,
            purged=purges.entries,
        )

    def _label(self, stream: UUID) -> str:
        """'session chat-42', 'Q&A of chat-42 (alice)', ...; '' if unreadable."""
        try:
            first = next(self._reader.iter_events(stream, page=1), None)
        except SessiontrailError:
            return ""
        if isinstance(first, Session.Started):
            return f"session {first.session_id}"
        if isinstance(first, QASession.QASessionStarted):
            return f"Q&A of {first.session_id} ({first.user_id})"
        if isinstance(first, Purge.SessionPurged):
            return f"purge of session {first.session_id}"
        if isinstance(first, CheckpointRecord.Taken):
            return f"checkpoint at position {first.position}"
        return type(first).__qualname__ if first is not None else ""

    def _streams(self) -> Iterator[UUID]:
        after: UUID | None = None
        while True:
            page = self._reader.stream_ids(after, PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1]

    def _walk(
        self, stream: UUID, purges: PurgeLedger
    ) -> tuple[int, int, StreamProblem | None]:
        """(records, unchained records, first problem) of one stream's chain."""
        walk = ChainWalk(stream)
        try:
            while True:
                page = self._reader.records(stream, after=walk.expected - 1, limit=PAGE)
                if page and walk.expected == 1:
                    purges.note(page[0])
                for record in page:
                    walk.check(record)
                if len(page) < PAGE:
                    return walk.expected - 1, walk.unchained, None
        except ChecksumMismatch as exc:
            problem = StreamProblem(
                stream=stream, version=exc.version, problem=exc.problem
            )
            return walk.expected - 1, walk.unchained, problem

    def _snapshot_problem(self, stream: UUID) -> StreamProblem | None:
        """Each stored snapshot must equal the state its events replay to: a load
        starts from the snapshot, so an edited one would change what is read."""
        records = self._reader.snapshot_records(stream)
        if not records:
            return None
        wanted = {record.originator_version: record for record in records}
        aggregate: Any = None
        try:
            for event in self._reader.iter_events(stream):
                aggregate = event.mutate(aggregate)
                record = wanted.pop(event.originator_version, None)
                if record is None:
                    continue
                stored = cast(SnapshotModel, self._store.mapper.to_domain_event(record))
                if stored.state != type(stored).take(aggregate).state:
                    return StreamProblem(
                        stream=stream,
                        version=event.originator_version,
                        problem="its snapshot differs from replaying the log",
                    )
                if not wanted:
                    return None
        except SessiontrailError as exc:
            return StreamProblem(
                stream=stream,
                version=0,
                problem=f"cannot replay to its snapshots: {exc}",
            )
        version = min(wanted)
        return StreamProblem(
            stream=stream,
            version=version,
            problem="a snapshot past the end of its stream",
        )

    def _against(
        self,
        checkpoint: Checkpoint,
        problems: dict[UUID, StreamProblem],
        purges: PurgeLedger,
    ) -> None:
        """Every head the checkpoint saw must still be in the log, unchanged."""
        root = RootHash()
        sealed: CheckpointRecord.Sealed | None = None
        for event in self._reader.iter_events(checkpoint.stream):
            if isinstance(event, CheckpointRecord.HeadsListed):
                for stream, version, value in event.heads:
                    root.add(stream, version, bytes.fromhex(value))
                    found = self._head_problem(
                        stream, version, bytes.fromhex(value), purges
                    )
                    if found is not None:
                        _note(problems, found)
            elif isinstance(event, CheckpointRecord.Sealed):
                sealed = event
        if sealed is None:
            problem = "the checkpoint is not in the log (or was never completed)"
        elif not (sealed.root == root.hexdigest() == checkpoint.root):
            problem = "the checkpoint's stored heads do not add up to its root"
        else:
            return
        _note(
            problems,
            StreamProblem(stream=checkpoint.stream, version=1, problem=problem),
        )

    def _head_problem(
        self, stream: UUID, version: int, value: bytes, purges: PurgeLedger
    ) -> StreamProblem | None:
        """What is wrong with a head the checkpoint saw, unless a purge of the
        stream accounts for it."""
        problem = self._live_head_problem(stream, version, value)
        if problem is None:
            return None
        verdict = purges.head_verdict(stream, version, value)
        if verdict == "accounted":
            return None
        if verdict == "rewritten":
            return StreamProblem(
                stream=stream,
                version=version,
                problem="rewritten before its purge: the checkpoint saw another head",
            )
        return problem

    def _live_head_problem(
        self, stream: UUID, version: int, value: bytes
    ) -> StreamProblem | None:
        last = self._reader.last_record(stream)
        end = 0 if last is None else last.originator_version
        if end < version:
            return StreamProblem(
                stream=stream,
                version=end + 1,
                problem=f"truncated: the checkpoint saw version {version}, "
                f"the log ends at {end}",
            )
        if self._store.chain_value(stream, version) != value:
            return StreamProblem(
                stream=stream,
                version=version,
                problem="differs from the checkpoint: rewritten since it was taken",
            )
        return None

    def _check_signature(
        self, checkpoint: Checkpoint, problems: dict[UUID, StreamProblem]
    ) -> bool:
        if checkpoint.signature is None or self._key is None:
            return False
        if not hmac.compare_digest(checkpoint.signature, self._sign(checkpoint)):
            _note(
                problems,
                StreamProblem(
                    stream=checkpoint.stream,
                    version=1,
                    problem="the checkpoint's signature does not match this key",
                ),
            )
        return True

    def _sign(self, checkpoint: Checkpoint) -> str:
        assert self._key is not None
        return hmac.new(self._key, checkpoint.signed_text(), hashlib.sha256).hexdigest()


def _note(problems: dict[UUID, StreamProblem], problem: StreamProblem) -> None:
    """Keep each stream's earliest problem."""
    known = problems.get(problem.stream)
    if known is None or problem.version < known.version:
        problems[problem.stream] = problem


def checkpoint_from_json(text: str) -> Checkpoint:
    """A checkpoint an auditor kept, read back; InvalidInput if it is not one."""
    try:
        return Checkpoint.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidInput(f"checkpoint.{InvalidInput.from_validation(exc)}") from None
