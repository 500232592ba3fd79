"""Retention policies: how long sessions live after their last update.

A policy is a set of rules, each for every session (global), one user's sessions,
or the sessions whose metadata holds one key/value (a tenant, say). A rule says
after how many days without an update a session expires (None: never) and what
expiry means: a soft delete (`SessionDeleted`, history kept) or a purge.

The policy lives in the log, in a stream of its own: each change is a
`RulesSet` event holding the whole rule set, stamped with who set it and when,
so the current policy is the last event and its history is the stream's.

Which rule governs a session (`governing`): the most specific one that matches.
A metadata rule beats a user rule, which beats the global rule. When several
metadata rules match one session (two keys), the one keeping it longest wins,
and on equal days a soft delete wins over a purge: the milder outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, StrictInt

from .aggregate import Aggregate, AggregateSnapshot
from .event_model import CreatedEventModel, EventModel
from .search import canonical
from .values import Value

POLICY_NAMESPACE = UUID("2b7e1c54-8d3a-5f60-a1c9-6e4d0b3f7a12")
POLICY_STREAM = uuid5(POLICY_NAMESPACE, "retention-policy")
"""The one stream that holds the retention policy."""

Action = Literal["delete", "purge"]
Scope = Literal["global", "user", "metadata"]
RANK: dict[Scope, int] = {"metadata": 0, "user": 1, "global": 2}
"""Precedence: lower wins."""


class Rule(Value):
    """One retention rule: a scope, days after the last update, and an action."""

    days: StrictInt | None  # None: never expire. Strict: a request body's true is no 1
    action: Action = "delete"
    user_id: str | None = None
    key: str | None = None
    value: str | None = None

    @property
    def scope(self) -> Scope:
        if self.key is not None:
            return "metadata"
        return "user" if self.user_id is not None else "global"

    def same_scope(self, other: Rule) -> bool:
        """Whether `other` is the rule for this rule's scope (it would replace it)."""
        return (self.user_id, self.key, self.value) == (
            other.user_id,
            other.key,
            other.value,
        )

    def describe(self) -> str:
        """The rule's scope in words: `global`, `user alice`, `tenant=acme`."""
        if self.key is not None:
            return f"{self.key}={self.value}"
        return "global" if self.user_id is None else f"user {self.user_id}"

    def keeps_longer_than(self, other: Rule) -> bool:
        """Whether this rule keeps sessions longer than `other` (a tie: the soft
        delete counts as longer, being the milder outcome)."""
        if self.days != other.days:
            return other.days is not None and (
                self.days is None or self.days > other.days
            )
        return self.action == "delete" and other.action == "purge"


def governing(
    rules: Iterable[Rule], user_id: str | None, metadata: Mapping[str, str]
) -> Rule | None:
    """The rule that decides when a session of `user_id` with `metadata` (the
    canonical JSON of its top-level values) expires; None: no rule matches."""
    best: Rule | None = None
    for rule in rules:
        if not _matches(rule, user_id, metadata):
            continue
        if best is None or _beats(rule, best):
            best = rule
    return best


def _beats(rule: Rule, other: Rule) -> bool:
    """Whether `rule` governs over `other` when both match (precedence above)."""
    if RANK[rule.scope] != RANK[other.scope]:
        return RANK[rule.scope] < RANK[other.scope]
    return rule.keeps_longer_than(other)


def _matches(rule: Rule, user_id: str | None, metadata: Mapping[str, str]) -> bool:
    if rule.scope == "metadata":
        return rule.key is not None and metadata.get(rule.key) == canonical_value(rule)
    if rule.scope == "user":
        return rule.user_id == user_id
    return True


def canonical_value(rule: Rule) -> str:
    """A metadata rule's value as the read model stores metadata: JSON text."""
    return canonical(rule.value)


class PolicyState(BaseModel):
    """Every attribute of the policy, typed: what its snapshot stores (the log
    snapshots every stream at each hundredth version, this one included)."""

    model_config = ConfigDict(extra="forbid")

    created_on: datetime
    modified_on: datetime
    rules: list[Rule]


class RetentionPolicy(Aggregate):
    """The retention policy's stream: started once, then one event per change."""

    class Event(EventModel):
        """Base of retention policy events."""

    class Started(Event, CreatedEventModel):
        pass

    class RulesSet(Event):
        rules: list[Rule]

        def apply(self, aggregate: RetentionPolicy) -> None:
            aggregate.rules = list(self.rules)

    class Snapshot(AggregateSnapshot):
        state: PolicyState

    def __init__(self, actor: str) -> None:
        self.rules: list[Rule] = []

    def to_state(self) -> PolicyState:
        return PolicyState(
            created_on=self.created_on, modified_on=self.modified_on, rules=self.rules
        )

    def _restore(self, state: PolicyState) -> None:
        self.rules = list(state.rules)

    @classmethod
    def start(cls, actor: str) -> RetentionPolicy:
        return cls._create(cls.Started, id=POLICY_STREAM, actor=actor)

    def set_rule(self, rule: Rule, actor: str) -> None:
        """Add `rule`, replacing the rule of its scope; quiet if unchanged."""
        kept = [old for old in self.rules if not old.same_scope(rule)]
        self._set([*kept, rule], actor)

    def unset_rule(self, scope: Rule, actor: str) -> bool:
        """Remove the rule of `scope`'s scope; False if there was none."""
        kept = [old for old in self.rules if not old.same_scope(scope)]
        if len(kept) == len(self.rules):
            return False
        self._set(kept, actor)
        return True

    def _set(self, rules: list[Rule], actor: str) -> None:
        ordered = sorted(
            rules,
            key=lambda r: (RANK[r.scope], r.key or "", r.value or "", r.user_id or ""),
        )
        if ordered != self.rules:
            self.trigger_event(self.RulesSet, rules=ordered, actor=actor)
