"""A LangGraph conversation's token usage in its session's usage ledger.

A chat model's reply (an `ai` message) carries what the call cost in
`usage_metadata` (`input_tokens`, `output_tokens`, `total_tokens` and their
details). When the mirror appends such a message to the transcript, it also
records that as a token-usage record, so `trail.usage` and `sessiontrail usage`
count a LangGraph app's tokens as any other's: the usage metadata as it is,
with `message_id` (the message's id) and `model` (the model the reply names in
its `response_metadata`, `model_name` or `model`, when it does and a model can
be named so: else the record counts under the session's model, and the write
goes on, as LangGraph's own savers store the reply).

One model call, one record: a message the transcript held before (cut back by
time travel, then put back when the thread returns to a later checkpoint, or a
branch switched to and back) comes back with the same id, and a record of that
id already in the ledger is not written again. Telling so reads the session's
usage records once, when the saver does not remember them from its previous
step (as it reads the transcript then: see langgraph_memo.py); a step it
remembers costs O(its new messages).
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage

from ..domain.session import Session
from ..domain.validation import is_model_name


def usage_record(value: Any, message_id: str) -> dict[str, Any] | None:
    """The token-usage record of a LangChain message; None if it has none."""
    if not isinstance(value, AIMessage) or not value.usage_metadata:
        return None
    record = json.loads(json.dumps(dict(value.usage_metadata), default=str))
    if not isinstance(record, dict):
        return None
    record["message_id"] = message_id
    metadata = value.response_metadata or {}
    model = metadata.get("model_name") or metadata.get("model")
    if isinstance(model, str) and model and is_model_name(model):
        record["model"] = model  # else counted under the session's model
    return record


class Counted:
    """Which messages of a session already have a usage record, read from the
    session's ledger when first asked, only if the transcript ever lost a
    message (else none appended now can have one); kept up to date by `first`."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._ids: set[str] | None = None

    def first(self, message_id: str) -> bool:
        """Whether no usage record of this message is in the ledger yet (it is
        counted as recorded from now on)."""
        if self._ids is None:
            if not self._session.ever_cut():
                self._ids = set()
            else:
                ids = (record.get("message_id") for record in self._session.token_usage)
                self._ids = {each for each in ids if isinstance(each, str)}
        if message_id in self._ids:
            return False
        self._ids.add(message_id)
        return True
