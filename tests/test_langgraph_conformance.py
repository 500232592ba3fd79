"""LangGraph's own conformance suite (langgraph-checkpoint-conformance) against
AsyncTrailSaver, on every backend: every base capability and copy_thread pass,
each on a fresh log, as the suite asks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import (
    BASE_CAPABILITIES,
    Capability,
)
from langgraph.checkpoint.conformance.report import CapabilityReport
from support.langgraph import url_of
from support.postgres import PostgresServer

from sessiontrail import aio
from sessiontrail.integrations.langgraph import AsyncTrailSaver


def conformance(
    backend: str, tmp_path: Path, server: PostgresServer | None
) -> CapabilityReport:
    logs = iter(range(1_000))

    @checkpointer_test(name=f"AsyncTrailSaver on {backend}")
    async def fresh_saver() -> AsyncIterator[AsyncTrailSaver]:
        folder = tmp_path / str(next(logs))
        folder.mkdir()
        async with await aio.connect(url_of(backend, folder, server)) as trail:
            yield AsyncTrailSaver(trail)

    return asyncio.run(validate(fresh_saver))


def test_the_conformance_suite_passes_every_base_capability_and_copy_thread(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server = (
        request.getfixturevalue("postgres_server") if backend == "postgres" else None
    )
    report = conformance(backend, tmp_path, server)
    checked = BASE_CAPABILITIES | {Capability.COPY_THREAD}
    results = {cap.value: report.results[cap.value] for cap in checked}
    assert {name: result.failures for name, result in results.items()} == {
        name: [] for name in results
    }
    assert all(result.passed for result in results.values())
    assert sum(result.tests_passed for result in results.values()) >= 50
