"""One-line summaries of events, for audit timelines in the CLI and the read model."""

from __future__ import annotations

from typing import Any

from .values import one_line


def clip(text: str, width: int = 80) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    text = one_line(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def message_summary(role: str, content: str) -> str:
    """A message's summary, from its role and content (a message of tool calls
    only has none)."""
    return f"{role}: {clip(content or '(tool call)', 50)}"


def summarize(event: str, payload: dict[str, Any]) -> str:
    """A one-line summary of what an event changed."""
    p = payload
    match event:
        case "Started":
            return f"started (model {p['model'] or '-'})"
        case "MessageAppended":
            return message_summary(p["message"]["role"], str(p["message"]["content"]))
        case "TranscriptTruncated":
            return f"removed {len(p['removed_ids'])} message(s)"
        case "TitleEdited":
            return f"title → {p['title']!r} (v{p['title_version']})"
        case "PinChanged":
            return "pinned" if p["pinned"] else "unpinned"
        case "MetadataEdited":
            return "metadata " + ", ".join(sorted(p["changes"]))
        case "EditDropped":
            return f"{p['edit']} not applied: a newer edit was stored"
        case "ModelChanged":
            return f"model → {p['model']}"
        case "QuestionPending":
            return "asks: " + clip(p["question"]["question"], 50)
        case "QuestionResolved":
            return f"question {p['tool_call_id']} answered"
        case "TokenUsageRecorded":
            record = p["record"]
            figures = ", ".join(
                f"{key} {value}" for key, value in record.items() if key != "model"
            )
            model = record.get("model") or p.get("model") or "usage"
            return clip(f"{model}: {figures}", 60)
        case "CheckpointSaved":
            outline = p["metadata"]
            return clip(
                f"checkpoint {p['checkpoint_id']} "
                f"({outline.get('source', '-')}, step {outline.get('step', '-')})"
            )
        case "WritesSaved":
            channels = ", ".join(write["channel"] for write in p["writes"])
            return clip(f"task {p['task_id']} wrote {channels}")
        case "SessionPurged":
            counts = ", ".join(
                f"{'Q&A ' if s['kind'] == 'qa' else ''}{s['events']} events"
                for s in p["streams"]
            )
            reason = f" (reason: {clip(p['reason'], 40)})" if p["reason"] else ""
            return f"purged: {counts}{reason}"
        case "UserErased":
            return "user erased: their data key destroyed"
        case "CheckpointsCleared":
            return f"checkpoints cleared (up to v{p['through_version']})"
        case _:
            return event.removeprefix("Session").lower() if not p else clip(str(p), 60)
