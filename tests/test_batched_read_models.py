"""Every read model's batch path writes the rows its event-by-event path writes.

Catch-ups and rebuilds hand a read model a whole batch (`apply_batch`); a batch
an event breaks is redone event by event (`apply`). Both must leave the same
rows, whatever the log and wherever the batches split it. Under a master key
sealed values differ in their random nonces, so the rows are compared opened.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.session_commands import command, new_url, run

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain.personal import HIDDEN, SEALED
from sessiontrail.infrastructure.log_position import LOG_START
from sessiontrail.infrastructure.sealed_columns import BLOB_TOKEN, TOKEN
from sessiontrail.infrastructure.sql import Cursor
from sessiontrail.infrastructure.user_keys import UserKeys
from sessiontrail.projections import sessions
from sessiontrail.projections.batches import BatchApplier, Generation
from sessiontrail.projections.projection import Projection

EVENT_BY_EVENT, BATCHED = 900, 901
"""Generation numbers of the two copies each read model is built into."""
KEY = sessiontrail.new_key()


def opened(cur: Cursor, keys: UserKeys, cell: object) -> object:
    """A stored value with whatever is sealed in it opened, with whose key sealed
    it (the same value sealed twice differs in its nonce)."""
    if isinstance(cell, bytes) and cell.startswith(BLOB_TOKEN):
        owner = json.loads(cell[len(BLOB_TOKEN) + len(TOKEN.encode()) :])["k"]
        return owner, cur.sealer.open_blob(cell)
    if isinstance(cell, str) and cell.startswith(TOKEN):
        return json.loads(cell[len(TOKEN) :])["k"], cur.sealer.open_text(cell)
    if isinstance(cell, str) and SEALED in cell:
        return json.dumps(opened_state(keys, json.loads(cell)), sort_keys=True)
    return cell


def opened_state(keys: UserKeys, state: Any) -> Any:
    """A JSON value with each sealed object's fields put back."""
    if isinstance(state, list):
        return [opened_state(keys, item) for item in state]
    if not isinstance(state, dict):
        return state
    if SEALED in state:
        sealed = state.pop(SEALED)
        fields = keys.open(sealed)
        state |= fields.pop(HIDDEN, {}) | fields | {SEALED: sealed["k"]}
    return {name: opened_state(keys, value) for name, value in state.items()}


def build(
    trail: SessionTrail, cur: Cursor, projection: Projection, batch: int | None
) -> dict[str, list[tuple[object, ...]]]:
    """Fill `projection` from the whole log: in batches of `batch` notifications,
    or with None event by event; its rows, table by table, sorted."""
    applier = BatchApplier(trail.store)
    notifications = applier.notifications(LOG_START, 10_000)
    generation = Generation(projection, projection.version, 0, 0)
    projection.create(cur)
    step = batch or len(notifications) or 1
    for start in range(0, len(notifications), step):
        chunk = notifications[start : start + step]
        applier.apply(cur, [generation], chunk, guarded=batch is None)
    rows = {}
    for table in projection.tables:
        physical = projection.table(table.name)
        rows[table.name] = [
            tuple(opened(cur, trail.store.keys, cell) for cell in row)
            for row in cur.execute(f"SELECT * FROM {physical}").fetchall()
        ]
    return {name: sorted(found, key=repr) for name, found in rows.items()}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(commands=st.lists(command, max_size=40), batch=st.integers(1, 30))
@example(  # every kind of change, in one batch
    commands=[
        ("append", ("a", "alice"), "hello"),
        ("append", ("a", "alice"), "again"),
        ("pin", ("a", "alice"), True),
        ("title", ("b", "alice"), "Zé"),
        ("pin", ("a", "alice"), False),
        ("model", ("a", "alice"), "x"),
        ("usage", ("a", "alice"), 7),
        ("truncate", ("a", "alice"), 1),
        ("append", ("a", "alice"), "after"),
        ("delete", ("b", "alice"), None),
        ("restore", ("b", "alice"), None),
    ],
    batch=30,
)
@example(  # a pin undone, one event a batch
    commands=[("pin", ("c", "bob"), True), ("pin", ("c", "bob"), False)], batch=1
)
@example(  # retitled within a batch, and in a later one; metadata twice a batch
    commands=[
        ("start", ("a", "alice"), "first"),
        ("title", ("a", "alice"), "a"),
        ("title", ("a", "alice"), "b"),
        ("title", ("b", "alice"), "x"),
        ("metadata", ("b", "alice"), {"k": "x"}),
        ("metadata", ("b", "alice"), {"k": None, "l": "y"}),
        ("title", ("b", "alice"), "Zé"),
        ("start", ("d", None), "no one's"),
        ("append", ("d", None), "no one's words"),
    ],
    batch=3,
)
@pytest.mark.parametrize("key", [None, KEY], ids=["no key", "key"])
def test_batches_write_what_events_one_by_one_write(
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
    commands,
    batch: int,
):
    # The session index prunes its old moves every few events, all of them old.
    monkeypatch.setattr(sessions, "PRUNE_EVERY", 3)
    monkeypatch.setattr(sessions, "MOVES_KEPT", timedelta(0))
    url = new_url(backend, request)
    with sessiontrail.connect(url, projections="worker", key=key) as trail:
        for name, target, arg in commands:
            if name != "catch_up":
                run(trail, name, target, arg)
        for status in trail.projections.status():
            projection_class = trail.projections.projection(status.name)
            with trail.read_models.write() as cur:
                one_by_one = build(trail, cur, projection_class(EVENT_BY_EVENT), None)
                batched = build(trail, cur, projection_class(BATCHED), batch)
                projection_class(EVENT_BY_EVENT).drop(cur)
                projection_class(BATCHED).drop(cur)
            assert batched == one_by_one, status.name
