"""The token-usage ledger: every record, totals per session and per model."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sessiontrail import InvalidInput, SessionNotFound, SessionTrail
from sessiontrail.domain.session import Session
from sessiontrail.infrastructure.log_position import LOG_START
from sessiontrail.infrastructure.sql import Cursor, Params
from sessiontrail.projections.batches import BatchApplier
from sessiontrail.projections.usage import UsageProjection


def start(trail: SessionTrail, session_id: str, model: str, user_id: str = "alice"):
    session = trail.sessions.load_or_create(session_id, model=model, user_id=user_id)
    trail.sessions.save(session)
    return session


def test_records_are_kept_verbatim_with_their_model(trail: SessionTrail):
    start(trail, "a", "gpt-4o")
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "note": "first"}
    trail.sessions.append_token_usage("a", usage)
    trail.sessions.append_token_usage("a", '{"total_tokens": 3, "model": "o3"}')

    records = trail.usage.records("a")
    assert [r.record for r in records] == [usage, {"total_tokens": 3, "model": "o3"}]
    assert [r.model for r in records] == ["gpt-4o", "o3"]
    assert records[0].recorded_at <= records[1].recorded_at


def test_totals_add_every_numeric_field_per_session(trail: SessionTrail):
    start(trail, "a", "gpt-4o")
    trail.sessions.append_token_usage(
        "a",
        {
            "input_tokens": 7,
            "output_tokens": 2,
            "cost": 0.25,
            "cached": True,
            "details": {"reasoning_tokens": 4},
        },
    )
    trail.sessions.append_token_usage("a", {"input_tokens": 3, "cost": 0.5})

    assert trail.usage.session_totals("a") == {
        "cost": 0.75,
        "details.reasoning_tokens": 4,
        "input_tokens": 10,
        "output_tokens": 2,
        "records": 2,
    }


def test_totals_per_model_follow_model_switches(trail: SessionTrail):
    session = start(trail, "a", "gpt-4o")
    start(trail, "b", "gpt-4o", user_id="bob")
    trail.sessions.append_token_usage("a", {"total_tokens": 10})
    trail.sessions.append_token_usage("b", {"total_tokens": 1})
    session = trail.sessions.load("a")
    assert session is not None
    session.set_model("o3")
    trail.sessions.save(session)
    trail.sessions.append_token_usage("a", {"total_tokens": 100})

    assert trail.usage.model_totals() == {
        "gpt-4o": {"records": 2, "total_tokens": 11},
        "o3": {"records": 1, "total_tokens": 100},
    }


def test_usage_is_private_to_its_user(trail: SessionTrail):
    start(trail, "a", "m")
    trail.sessions.append_token_usage("a", {"total_tokens": 1})
    assert len(trail.usage.records("a", user_id="alice")) == 1
    with pytest.raises(SessionNotFound):
        trail.usage.records("a", user_id="bob")
    with pytest.raises(SessionNotFound):
        trail.usage.session_totals("missing")


class Noting(Cursor):
    """A cursor that notes each statement it runs (on the cursor it wraps)."""

    def __init__(self, inner: Cursor) -> None:
        super().__init__(None, inner.dialect)
        self.sealer = inner.sealer
        self._inner = inner
        self.statements: list[str] = []

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        self.statements.append(sql)
        return self._inner.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if rows:
            self.statements.append(sql)
        self._inner.executemany(sql, rows)


def test_appended_messages_cost_the_ledger_no_statement(trail: SessionTrail):
    session = start(trail, "a", "gpt-4o")
    session.append_message(role="user", content="hello")
    session.append_message(role="assistant", content="hi")
    trail.sessions.save(session)
    applier = BatchApplier(trail.store)
    appended = [
        (log.notification_id, event)
        for log, notification in applier.notifications(LOG_START)
        if isinstance(
            event := trail.store.mapper.to_domain_event(notification),
            Session.MessageAppended,
        )
    ]

    with trail.read_models.write() as cur:
        noting = Noting(cur)
        UsageProjection.live(cur)[0].apply_batch(noting, appended)

    assert len(appended) == 2
    assert noting.statements == []


@pytest.mark.parametrize("model", ["o3\x00mini", "o3\nmini", "m" * 257])
def test_a_record_whose_model_no_session_could_name_is_refused(
    trail: SessionTrail, model: str
) -> None:
    """The ledger counts a record under its own `model`: it is held to what a
    session's model may be, at the door, naming it; nothing is written."""
    start(trail, "a", "gpt-4o")
    with pytest.raises(InvalidInput, match=r"^record: Value error, model: "):
        trail.sessions.append_token_usage("a", {"total_tokens": 1, "model": model})

    assert trail.usage.records("a") == []
    assert trail.usage.model_totals() == {}
