"""What differs between two versions of a session: messages added and removed,
and the fields that changed (what `sessiontrail diff` and the HTTP diff show)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .session import Session

FIELDS = ("title", "pinned", "model", "metadata", "pending_question", "deleted")


def changes(before: Session | None, after: Session) -> dict[str, Any]:
    """What differs from `before` to `after`: messages added and removed, fields."""
    old_messages = {m.id: m for m in before.messages} if before else {}
    new_ids = {m.id for m in after.messages}
    fields = {}
    for name in FIELDS:
        old = getattr(before, name) if before else None
        new = getattr(after, name)
        if old != new and not (before is None and not new):
            fields[name] = [_plain(old), _plain(new)]
    return {
        "added": [m for m in after.messages if m.id not in old_messages],
        "removed": [m for key, m in old_messages.items() if key not in new_ids],
        "fields": fields,
    }


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def diff_json(change: dict[str, Any]) -> dict[str, Any]:
    """A `changes` result as JSON values."""
    return {
        "added": [m.model_dump(mode="json") for m in change["added"]],
        "removed": [m.model_dump(mode="json") for m in change["removed"]],
        "fields": change["fields"],
    }
