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
branch switched to and back) comes back with the same id, and is not recorded
again. That holds for a reply a copy of the thread (`copy_thread`, a fork) was
made with: the copy has none of the source's records, and the call was counted
there. Telling so costs one indexed row on a thread whose transcript never
lost a message (`Session.ever_cut`). On one that did, a step that appends a
reply looks its id up among the ids the transcript lost: O(lost ids), read
from the log (O(the thread's events)) once per loaded session, so once per
thread while the saver holds its session between steps (langgraph_memo.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage

from ..domain.errors import InvalidInput
from ..domain.session import Session
from ..domain.validation import is_model_name

logger = logging.getLogger(__name__)


def usage_record(value: Any, message_id: str) -> dict[str, Any] | None:
    """The token-usage record of a LangChain message; None if it has none (or
    usage metadata that is not an object: LangChain checks it only when the
    message is built, and LangGraph's savers store whatever an app set since)."""
    usage = value.usage_metadata if isinstance(value, AIMessage) else None
    if not isinstance(usage, Mapping) or not usage:
        return None
    record: dict[str, Any] = json.loads(json.dumps(dict(usage), default=str))
    record["message_id"] = message_id
    metadata = value.response_metadata or {}
    model = metadata.get("model_name") or metadata.get("model")
    if isinstance(model, str) and model and is_model_name(model):
        record["model"] = model  # else counted under the session's model
    return record


def record_usage(session: Session, record: dict[str, Any], actor: str) -> None:
    """Add `record` to the session's usage ledger; one the ledger cannot hold (a
    number not finite or past 64 bits, nesting too deep, text too long) is left
    out with a warning naming the message and the field. Refusing the put
    instead would refuse the thread's every resume: LangGraph stored the reply
    as a pending write before it puts the checkpoint that holds it."""
    try:
        session.record_token_usage(record, actor=actor)
    except InvalidInput as refused:
        logger.warning(
            "the usage_metadata of message %r is not in the usage ledger: %s",
            record["message_id"],
            refused,
        )


class Counted:
    """Which messages appended to a session now were in its transcript before
    (their model call counted already, here or in the thread copied), read when
    first asked, only if the transcript ever lost a message (else none appended
    now was in it); kept up to date by `first`."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._ids: set[str] | None = None

    def first(self, message_id: str) -> bool:
        """Whether this message is new to the transcript, so its usage is
        recorded (it counts as recorded from now on)."""
        if self._ids is None:
            cut = self._session.ever_cut()
            self._ids = self._session.lost_ids() if cut else set()
        if message_id in self._ids:
            return False
        self._ids.add(message_id)
        return True
