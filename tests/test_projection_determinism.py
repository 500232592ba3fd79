"""Read models depend on the log alone: inline, worker and rebuild agree row for row."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.session_commands import command, new_url, run

import sessiontrail
from sessiontrail import SessionTrail

READ_MODELS = ("audit", "qa", "search", "sessions", "usage")


def rows(trail: SessionTrail):
    return {name: trail.projections.rows(name) for name in READ_MODELS}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(command, max_size=30))
def test_inline_worker_and_rebuild_agree(
    backend: str, request: pytest.FixtureRequest, commands
):
    url = new_url(backend, request)
    with (
        sessiontrail.connect(url) as inline,
        sessiontrail.connect(url, projections="worker") as worker,
    ):
        for number, (name, target, arg) in enumerate(commands):
            if name == "catch_up":
                worker.projections.catch_up()
            else:  # writers alternate: inline catch-ups meet worker batches
                run(inline if number % 3 == 0 else worker, name, target, arg)
        worker.projections.catch_up()
        caught_up = rows(worker)
        for name in READ_MODELS:
            worker.projections.rebuild(name)
        assert rows(worker) == caught_up
        assert all(s.lag == 0 for s in inline.projections.status())
