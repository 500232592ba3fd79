"""Checked by the type check (scripts/check.sh), never run: the adapters are
what the frameworks' own types say a store is, so an app that annotates them
with the framework's type passes mypy."""

from __future__ import annotations

from agents.memory import Session as AgentsSession

from sessiontrail import SessionTrail
from sessiontrail.integrations.openai_agents import TrailSession


def an_sdk_session(trail: SessionTrail) -> AgentsSession:
    session: AgentsSession = TrailSession("chat-1", trail)
    return session
