"""Merge-on-write: re-apply a writer's unsaved events on top of what others stored.

The rules, per event kind:
- appends (messages, token usage) commute: all are kept, in commit order; a message
  whose id the head already holds is the same message (a retried save) and is skipped,
  with the token-usage record the same save made for it (one naming it as its
  `message_id`, as the adapters write them), so one model call is counted once;
- a truncation removes the messages it named, so it never removes a concurrent append;
  a writer that restored a deleted session (a LangGraph thread id used again) and
  truncated it finds, when another writer restored it first, that the messages it
  named were the deleted session's: the head's under those ids came after (LangGraph
  ids repeat from run to run), so the truncation keeps only the ids of messages the
  writer itself appended before it, and is dropped if none (a deleted session's
  message another writer's restore kept then stays: nothing is lost);
- metadata-group edits (title, pin, metadata) carry the metadata_version they produce;
  if another writer moved metadata_version since this writer's edits were based, the
  stored, newer human edit wins and this writer's metadata edits are dropped; each
  dropped edit is recorded as an EditDropped event (it changes no state), so the
  history keeps both and the save can tell its caller what it did not apply;
- an EditDropped already pending is kept (it records what happened);
- LangGraph checkpoints, pending writes and clearings are appends: all are kept
  (LangGraph's own savers keep both branches of two runs on one thread);
- model and pending-question changes are last-writer-wins; resolving a question only
  resolves the question it answered;
- nothing is written into a session that was deleted meanwhile or that turned out to
  be someone else's.

`RULES` names the rule of every Session event type: a new event type needs one
(tests/test_merge.py fails until it has), so none is kept by default unawares.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import JsonValue

from .errors import ConcurrencyConflict, SessionNotFound
from .session import Session


def rebase(writer: Session, head: Session) -> list[Session.Event]:
    """Re-apply `writer`'s pending events onto `head` (the stored state, no pending).

    `head` gets the surviving events as its own pending events, and an EditDropped
    event in place of each dropped metadata edit; the dropped events are returned.
    """
    pending = [
        event for event in writer.pending_events if isinstance(event, Session.Event)
    ]
    _check_same_session(writer, head, pending)
    base_metadata_version = _metadata_base(pending)
    metadata_is_stale = (
        base_metadata_version is not None
        and head.metadata_version != base_metadata_version
    )
    restored_first = _restored_by_another(pending, head)
    appended: set[str] = set()  # ids of the writer's own messages, so far
    skipped: set[str] = set()  # ids of its messages the head already holds
    dropped: list[Session.Event] = []
    for event in pending:
        keep = RULES[type(event)]
        if isinstance(event, Session.MessageAppended):
            appended.add(event.message.id)
        if isinstance(event, Session.METADATA_EVENTS) and metadata_is_stale:
            dropped.append(event)
            _record_dropped(event, head)
        elif isinstance(event, Session.TranscriptTruncated) and restored_first:
            own = [i for i in event.removed_ids if i in appended]
            if own:
                _truncate(head, event, own)
            else:
                dropped.append(event)
        elif _for_skipped(event, skipped):
            dropped.append(event)
        elif keep(event, head):
            _reapply(event, head)
        else:
            dropped.append(event)
            if isinstance(event, Session.MessageAppended):
                skipped.add(event.message.id)
    return dropped


def _for_skipped(event: Session.Event, skipped: set[str]) -> bool:
    """Whether `event` is the usage record of a message the merge skipped as
    already stored (the record came with it, so it is stored already too)."""
    if not isinstance(event, Session.TokenUsageRecorded):
        return False
    message_id = event.record.get("message_id")
    return isinstance(message_id, str) and message_id in skipped


def _check_same_session(
    writer: Session, head: Session, pending: list[Session.Event]
) -> None:
    creating = bool(pending) and isinstance(pending[0], Session.Started)
    if creating and (head.deleted or head.user_id != writer.user_id):
        raise ConcurrencyConflict(f"session id {writer.session_id!r} is already in use")
    restoring = any(isinstance(event, Session.SessionRestored) for event in pending)
    if head.deleted and not restoring:
        raise SessionNotFound(
            f"session {writer.session_id!r} was deleted meanwhile; nothing was written"
        )


def _restored_by_another(pending: list[Session.Event], head: Session) -> bool:
    """Whether the writer restored the session and another writer restored it
    first: the writer's truncations named the deleted session's messages."""
    restoring = any(isinstance(event, Session.SessionRestored) for event in pending)
    return restoring and not head.deleted


def _metadata_base(pending: list[Session.Event]) -> int | None:
    """The metadata_version the writer's first metadata edit was based on."""
    for event in pending:
        if isinstance(event, Session.METADATA_EVENTS):
            return event.metadata_version - 1
    return None


def _reapply(event: Session.Event, head: Session) -> None:
    """Trigger the same event on the head (a truncation: of the messages it named
    that the head still holds, and the count they leave)."""
    if isinstance(event, Session.TranscriptTruncated):
        _truncate(head, event, event.removed_ids)
        return
    head.trigger_event(
        type(event),
        timestamp=_not_before(event, head),
        actor=event.actor,
        **event.payload(),
    )


def _truncate(
    head: Session, event: Session.TranscriptTruncated, ids: list[str]
) -> None:
    """Remove from the head those of `ids` it still holds, as `event` did."""
    held = head._held(ids)
    head._remove_messages(
        [message_id for message_id in ids if message_id in held],
        actor=event.actor,
        timestamp=_not_before(event, head),
    )


def _not_before(event: Session.Event, head: Session) -> datetime:
    """The event's time, or the head's when later: a stream never goes back in time."""
    return max(event.timestamp, head.modified_on)


def _record_dropped(event: Session.Event, head: Session) -> None:
    """Note on the head what a dropped metadata edit tried, who tried it, and the
    metadata_version it was made on."""
    assert isinstance(event, Session.METADATA_EVENTS)
    head.trigger_event(
        Session.EditDropped,
        timestamp=_not_before(event, head),
        actor=event.actor,
        edit=type(event).__name__,
        changes=_attempted(event),
        based_on=event.metadata_version - 1,
    )


def _attempted(event: Session.Event) -> dict[str, JsonValue]:
    """What a metadata-group edit set, in the words of the session's fields."""
    if isinstance(event, Session.TitleEdited):
        return {"title": event.title}
    if isinstance(event, Session.PinChanged):
        return {"pinned": event.pinned}
    assert isinstance(event, Session.MetadataEdited)
    return {"metadata": event.changes}


def _always(event: Session.Event, head: Session) -> bool:
    return True


def _new_message(event: Session.Event, head: Session) -> bool:
    """A message whose id was generated (not given) is new: generated ids are
    random, so only given ids are looked up in the head's transcript."""
    assert isinstance(event, Session.MessageAppended)
    if "id" not in event.message.model_fields_set:
        return True
    return not head._held([event.message.id])


def _still_truncates(event: Session.Event, head: Session) -> bool:
    assert isinstance(event, Session.TranscriptTruncated)
    return bool(head._held(event.removed_ids))


def _same_question(event: Session.Event, head: Session) -> bool:
    assert isinstance(event, Session.QuestionResolved)
    question = head.pending_question
    return question is not None and question.tool_call_id == event.tool_call_id


def _changes_model(event: Session.Event, head: Session) -> bool:
    assert isinstance(event, Session.ModelChanged)
    return event.model != head.model


def _never(event: Session.Event, head: Session) -> bool:
    return False


def _is_deleted(event: Session.Event, head: Session) -> bool:
    return head.deleted


def _is_live(event: Session.Event, head: Session) -> bool:
    return not head.deleted


Rule = Callable[[Session.Event, Session], bool]
"""Whether a pending event is re-applied on the stored head (else dropped)."""

RULES: dict[type[Session.Event], Rule] = {
    Session.Started: _never,
    Session.Forked: _never,
    Session.MessageAppended: _new_message,
    Session.TranscriptTruncated: _still_truncates,
    Session.TitleEdited: _always,  # metadata edits: unless stale, checked above
    Session.PinChanged: _always,
    Session.MetadataEdited: _always,
    Session.EditDropped: _always,
    Session.ModelChanged: _changes_model,
    Session.QuestionPending: _always,  # the last writer's question wins
    Session.QuestionResolved: _same_question,
    Session.TokenUsageRecorded: _always,
    Session.SessionDeleted: _is_live,
    Session.SessionRestored: _is_deleted,
    Session.CheckpointSaved: _always,
    Session.WritesSaved: _always,
    Session.CheckpointsCleared: _always,
}
