"""`trail.retention`: retention policies, and expiring what they say has expired.

`apply` walks each rule's index range of sessions last updated before the rule's
cutoff (projections/retention_reads.py), oldest first, in pages of `batch`;
keeps those the rule governs (the most specific matching rule wins, see
domain/retention.py) and expires each one in its own write, re-checked at the
version it was selected at: a session updated since is left alone (reported as
skipped). It costs the sessions it expires, plus those in a rule's range that a
more specific rule keeps; never a scan of every session, never a rebuild.

A run keeps no state of its own: the log is the state. Killed midway, each
session is expired or untouched, and the next run's ranges no longer hold the
expired ones (a soft-deleted session leaves the live range), so it goes on with
the rest.

A session whose expiry fails in storage (StorageUnavailable: say SQLite's lock
was not free within its timeout) is kept, logged, listed as failed, and the
sweep goes on with the others; the next run tries it again.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field, StrictBool, StrictStr

from ..domain.errors import (
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
    StorageUnavailable,
)
from ..domain.retention import Action, RetentionPolicy, Rule, governing
from ..domain.validation import Actor, UserId, validated
from ..domain.values import HistoryEntry, Value
from ..infrastructure.repository import SessionRepository
from ..infrastructure.retention_policy import PolicyStore
from ..projections.columns import micros, moment
from ..projections.retention_reads import Candidate, Key, RetentionReads

logger = logging.getLogger(__name__)

MAX_DAYS = 36_500
DEFAULT_BATCH = 100
MAX_BATCH = 10_000
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
Batch = Annotated[int, Field(ge=1, le=MAX_BATCH)]
MetadataText = Annotated[StrictStr, Field(min_length=1, max_length=256)]
Progress = Callable[[int, int], None]
"""Told (sessions looked at, sessions in the ranges) after each page."""
Walk = tuple[Rule, int, int]
"""One range a sweep walks: a rule, its cutoff (micros) and deleted (0 or 1)."""
KEYED_METADATA = (
    "retention rules for metadata are not available under a master key: "
    "metadata values are sealed content, and the rules would need them in plaintext"
)


class Expiry(Value):
    """A session a rule expires: which, as selected, and what expiry means."""

    session_id: str
    user_id: str | None
    updated_at: datetime
    version: int
    action: Action
    rule: str  # the governing rule's scope in words ("global", "user alice")


class RetentionReport(Value):
    """What `apply` expired (or, in a dry run, would expire)."""

    as_of: datetime
    policy_version: int  # 0: no policy was ever set
    dry_run: bool
    expired: list[Expiry]
    skipped: list[Expiry]  # changed or gone since they were selected: kept
    failed: list[Expiry]  # storage failed while expiring them: kept
    remaining: bool  # stopped at `limit` with more to look at

    @property
    def deleted(self) -> int:
        return sum(1 for expiry in self.expired if expiry.action == "delete")

    @property
    def purged(self) -> int:
        return sum(1 for expiry in self.expired if expiry.action == "purge")


class RetentionPolicyView(Value):
    """The policy in force: its rules, and who set it when (None: never set)."""

    rules: list[Rule]
    version: int
    set_by: str | None
    set_at: datetime | None


class Retention:
    """Retention policies of one trail, and their sweeps."""

    def __init__(
        self,
        policies: PolicyStore,
        reads: RetentionReads,
        sessions: SessionRepository,
        *,
        keyed: bool,
    ) -> None:
        """`keyed`: the log is sealed under a master key (no metadata rules)."""
        self._policies = policies
        self._reads = reads
        self._sessions = sessions
        self._keyed = keyed

    def show(self) -> RetentionPolicyView:
        """The rules in force, most specific first."""
        policy = self._policies.load()
        if policy is None:
            return RetentionPolicyView(rules=[], version=0, set_by=None, set_at=None)
        changes = self.history()
        last = changes[-1] if changes else None
        return RetentionPolicyView(
            rules=policy.rules,
            version=policy.version,
            set_by=None if last is None else last.actor,
            set_at=None if last is None else last.timestamp,
        )

    def history(self) -> builtins.list[HistoryEntry]:
        """Every change of the policy, oldest first: who set which rules when."""
        return self._policies.history()

    @validated
    def set(
        self,
        days: Days | None,
        *,
        action: Action = "delete",
        user_id: UserId | None = None,
        key: MetadataText | None = None,
        value: MetadataText | None = None,
        actor: Actor = "system",
    ) -> RetentionPolicyView:
        """Sessions (of `user_id`, or whose metadata `key` is `value`, or all)
        expire `days` after their last update (None: never); expiry is a soft
        delete or a purge. Replaces the rule of the same scope."""
        rule = self._rule(days, action, user_id, key, value)
        if key is not None and self._keyed:
            raise InvalidInput(f"key: {KEYED_METADATA}")
        self._policies.change(lambda p: p.set_rule(rule, actor), actor)
        return self.show()

    @validated
    def unset(
        self,
        *,
        user_id: UserId | None = None,
        key: MetadataText | None = None,
        value: MetadataText | None = None,
        actor: Actor = "system",
    ) -> bool:
        """Remove the rule of one scope; False if there was none."""
        scope = self._rule(None, "delete", user_id, key, value)
        removed: list[bool] = []

        def unset(policy: RetentionPolicy) -> None:
            removed[:] = [policy.unset_rule(scope, actor)]

        self._policies.change(unset, actor)
        return removed == [True]

    def _rule(
        self,
        days: int | None,
        action: Action,
        user_id: str | None,
        key: str | None,
        value: str | None,
    ) -> Rule:
        """A rule from a call's arguments, refused at the door if they clash."""
        if (key is None) != (value is None):
            raise InvalidInput("key/value: a metadata rule needs both, others neither")
        if key is not None and user_id is not None:
            raise InvalidInput("user_id/key: a rule is for a user or a metadata value")
        return Rule(days=days, action=action, user_id=user_id, key=key, value=value)

    @validated
    def apply(
        self,
        *,
        dry_run: StrictBool = False,
        limit: Annotated[int, Field(ge=1)] | None = None,
        batch: Batch = DEFAULT_BATCH,
        actor: Actor = "retention",
        progress: Progress | None = None,
    ) -> RetentionReport:
        """Expire what the policy says has expired now (`dry_run`: only list it),
        in pages of `batch`, at most `limit` sessions (`remaining` says if more
        were left). See the module docstring for cost and crash behaviour."""
        policy = self._policies.load()
        rules = [] if policy is None else policy.rules
        self._metadata_followed(rules)
        as_of = datetime.now(UTC)
        walks = [
            (rule, micros(as_of - timedelta(days=rule.days)), deleted)
            for rule in rules
            if rule.days is not None
            for deleted in ((0,) if rule.action == "delete" else (0, 1))
        ]
        total = sum(self._reads.count(*walk) for walk in walks) if progress else 0
        keys = sorted({rule.key for rule in rules if rule.key is not None})
        expired: list[Expiry] = []
        skipped: list[Expiry] = []
        failed: list[Expiry] = []
        seen = 0
        for index, (rule, cutoff, deleted) in enumerate(walks):
            after: Key | None = None
            while limit is None or len(expired) + len(skipped) + len(failed) < limit:
                done = len(expired) + len(skipped) + len(failed)
                room = batch if limit is None else min(batch, limit - done)
                page = self._reads.page(rule, cutoff, deleted, after, room)
                if not page:
                    break
                after = page[-1][0]
                mine = self._governed(rule, rules, keys, [c for _, c in page])
                if dry_run:
                    expired += mine
                else:
                    outcome = self._expire_each(mine, actor)
                    expired += outcome.expired
                    skipped += outcome.skipped
                    failed += outcome.failed
                seen += len(page)
                if progress is not None:
                    progress(seen, max(total, seen))
            else:
                more = self._more(walks[index:], after)
                return self._report(
                    policy, as_of, dry_run, _Outcome(expired, skipped, failed), more
                )
        return self._report(
            policy, as_of, dry_run, _Outcome(expired, skipped, failed), False
        )

    def _more(self, walks: Sequence[Walk], after: Key | None) -> bool:
        """Whether a sweep stopped at its limit left sessions to look at: one
        more candidate past `after` in the first walk, or any in the others (one
        single-row read per walk, so the report is exact at no cost that grows)."""
        (rule, cutoff, deleted), *rest = walks
        return bool(self._reads.page(rule, cutoff, deleted, after, 1)) or any(
            self._reads.page(*walk, None, 1) for walk in rest
        )

    def _metadata_followed(self, rules: Sequence[Rule]) -> None:
        """InvalidInput naming the metadata rules under a master key (set before
        the key was configured): the sweep cannot see metadata, so a less
        specific rule would expire what they keep. Unsetting them is the way on."""
        metadata = [rule.describe() for rule in rules if rule.scope == "metadata"]
        if metadata and self._keyed:
            raise InvalidInput(
                f"key: the policy has metadata rules ({', '.join(metadata)}), but "
                f"{KEYED_METADATA}; unset them to apply the policy"
            )

    @validated
    def expire(
        self, sessions: builtins.list[Expiry], *, actor: Actor = "retention"
    ) -> RetentionReport:
        """Expire exactly these sessions (a dry run's list, once reviewed), each
        only if it is still at the version listed: one updated since is kept."""
        return self._report(
            self._policies.load(),
            datetime.now(UTC),
            False,
            self._expire_each(sessions, actor),
            False,
        )

    def _governed(
        self,
        rule: Rule,
        rules: Sequence[Rule],
        keys: Sequence[str],
        candidates: Sequence[Candidate],
    ) -> builtins.list[Expiry]:
        """The candidates `rule` governs (no more specific rule matches them)."""
        metadata = self._reads.metadata([c.stream for c in candidates], keys)
        return [
            Expiry(
                session_id=c.session_id,
                user_id=c.user_id,
                updated_at=_last_update(c.updated_at),
                version=c.version,
                action=rule.action,
                rule=rule.describe(),
            )
            for c in candidates
            if governing(rules, c.user_id, metadata[c.stream]) == rule
        ]

    def _expire_each(self, sessions: Sequence[Expiry], actor: str) -> _Outcome:
        """Expire each session in its own write; one failing does not stop the rest."""
        outcome = _Outcome([], [], [])
        for expiry in sessions:
            try:
                done = self._expire(expiry, actor)
            except StorageUnavailable:
                logger.warning("expiring %r failed", expiry.session_id, exc_info=True)
                outcome.failed.append(expiry)
                continue
            (outcome.expired if done else outcome.skipped).append(expiry)
        return outcome

    def _expire(self, expiry: Expiry, actor: str) -> bool:
        """Expire one session if it is still at the version selected."""
        try:
            if expiry.action == "delete":
                return self._sessions.delete(
                    expiry.session_id, actor=actor, if_version=expiry.version
                )
            self._sessions.purge(
                expiry.session_id,
                actor=actor,
                reason=_reason(expiry),
                if_version=expiry.version,
            )
        except (ConcurrencyConflict, SessionNotFound):
            return False
        return True

    @staticmethod
    def _report(
        policy: RetentionPolicy | None,
        as_of: datetime,
        dry_run: bool,
        outcome: _Outcome,
        remaining: bool,
    ) -> RetentionReport:
        return RetentionReport(
            as_of=as_of,
            policy_version=0 if policy is None else policy.version,
            dry_run=dry_run,
            expired=outcome.expired,
            skipped=outcome.skipped,
            failed=outcome.failed,
            remaining=remaining,
        )


@dataclass(frozen=True)
class _Outcome:
    """The sessions of a sweep: expired, kept as changed, kept as failed."""

    expired: builtins.list[Expiry]
    skipped: builtins.list[Expiry]
    failed: builtins.list[Expiry]


def _last_update(micros: int) -> datetime:
    """A candidate's last update as a UTC time. A candidate is older than its
    cutoff, so one UTC cannot hold is before year 1 (an event imported before
    imports refused such times): the earliest time UTC holds stands for it."""
    try:
        return moment(micros)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def _reason(expiry: Expiry) -> str:
    """What a purge by retention records as its reason."""
    return (
        f"retention rule {expiry.rule}: not updated since "
        f"{expiry.updated_at:%Y-%m-%d %H:%M} UTC"
    )
