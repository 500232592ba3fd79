"""Two users' first writes to one thread at once: the rule that a config
naming a user adds no namespace to another user's thread is checked against
the read model before the write, with nothing held between check and write."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.langgraph import checkpoint, config

import sessiontrail
from sessiontrail import ConcurrencyConflict
from sessiontrail.integrations.langgraph import TrailSaver


@pytest.mark.xfail(
    strict=True,
    reason="known gap: the owner check and the write are not one step",
)
def test_a_namespace_written_while_the_owner_starts_the_thread_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ann's first checkpoint of thread t commits just after bob's saver has
    read the thread's owners (none yet) and before it writes his namespace of
    t: bob's write must still be refused, or his checkpoints sit in ann's
    thread (go with her copies and deletes)."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with (
        sessiontrail.connect(url) as bobs,
        sessiontrail.connect(url) as anns,
    ):
        read_owners = bobs.langgraph.owners

        def owners_then_ann_starts(thread_id: str) -> set[str | None]:
            seen = read_owners(thread_id)
            TrailSaver(anns).put(
                config("t", "", user_id="ann"), checkpoint({"c": [1]}), {}, {"c": 1}
            )
            return seen

        monkeypatch.setattr(bobs.langgraph, "owners", owners_then_ann_starts)
        with pytest.raises(ConcurrencyConflict, match="in use"):
            TrailSaver(bobs).put(
                config("t", "node:1", user_id="bob"),
                checkpoint({"c": [2]}),
                {},
                {"c": 1},
            )
