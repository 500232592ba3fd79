"""Repro: on SQLite, every read of the read models in a process takes the file's
in-process write lock, which since the last stop is waited for at most the
busy timeout. An erasure rewrites the user's read-model rows holding that lock
for O(the user's data): a list of another user in the same process, run
meanwhile, fails as StorageUnavailable (a 503 over HTTP) instead of waiting,
although SQLite in WAL mode lets readers read while a writer writes.

The erasure is held inside its rewrite (a hook on the sessions read model's
`forget`, which runs under the lock) while the list runs: no timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.deadlines import outcomes_within

import sessiontrail
from sessiontrail.projections.sessions import SessionsProjection


@pytest.mark.parametrize("mode", ["inline", "worker"])
def test_a_list_during_another_users_erasure_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}?lock_timeout=0.2"
    with sessiontrail.connect(url, projections=mode) as trail:
        for user in ("big", "other"):
            s = trail.sessions.load_or_create(f"{user}-chat", user_id=user)
            s.append_message(role="user", content="hello")
            trail.sessions.save(s)
        trail.projections.catch_up()
        outcome: list[BaseException | None] = []
        forget = SessionsProjection.forget

        def forget_while_listing(
            self: Any, cur: Any, user_id: str, streams: Any
        ) -> None:
            forget(self, cur, user_id, streams)
            if user_id == "big" and not outcome:  # the erasure, holding the lock
                outcome.extend(
                    outcomes_within(30, lambda: trail.sessions.list(user_id="other"))
                )

        monkeypatch.setattr(SessionsProjection, "forget", forget_while_listing)
        trail.erase_user("big")
        trail.projections.catch_up()
        assert outcome == [None], f"the list failed: {outcome[0]!r}"
