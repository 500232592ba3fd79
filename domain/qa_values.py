"""The values a Q&A session holds and the update its entries take:
entries, graph element ids, trace steps, and an update as given and as recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, JsonValue, SerializerFunctionWrapHandler, model_serializer

from .validation import printable_field
from .values import Arguments, Value


class GraphElementIds(Value):
    """The knowledge-graph nodes and edges an answer used."""

    node_ids: list[str] = Field(default_factory=list)
    edge_ids: list[str] = Field(default_factory=list)


class SessionQAEntry(Value):
    """One question and its answer, with the feedback it got (stored form)."""

    id: str
    session_id: str
    user_id: str
    question: str
    answer: str
    context: str | None = None
    created_at: datetime
    feedback_text: str | None = None
    feedback_score: int | None = None
    used_graph_element_ids: GraphElementIds | None = None
    memify_metadata: dict[str, JsonValue] | None = None


class SessionTraceStep(Value):
    """One agent step: what ran, with which memory, and what came of it."""

    trace_id: str
    origin_function: str = ""
    status: str = ""
    memory_query: str = ""
    memory_context: str = ""
    method_params: dict[str, JsonValue] = Field(default_factory=dict)
    method_return_value: JsonValue = None
    error_message: str = ""
    session_feedback: str = ""


TraceStepIn = Annotated[SessionTraceStep, printable_field("trace_id")]
"""A trace step as input: its id is one line, as every id is."""


class SessionQAUpdate(Arguments):
    """A three-state update: a field left out stays, None clears it, a value sets it.

    Clearing `question` or `answer` makes it "" (an entry always has both).
    """

    question: str | None = None
    answer: str | None = None
    context: str | None = None
    feedback_text: str | None = None
    feedback_score: Annotated[int, Field(ge=1, le=5)] | None = None
    used_graph_element_ids: GraphElementIds | None = None
    memify_metadata: dict[str, JsonValue] | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given, as stored JSON values."""
        given = self.model_dump(mode="json", include=self.model_fields_set)
        for name in ("question", "answer"):
            if name in given and given[name] is None:
                given[name] = ""
        return given


class QAEntryChanges(Value):
    """What one update of an entry set, as recorded: only the fields it names are
    stored and assigned (None clears one). Structure only: the limits are
    SessionQAUpdate's, checked before the event exists."""

    question: str = ""
    answer: str = ""
    context: str | None = None
    feedback_text: str | None = None
    feedback_score: int | None = None
    used_graph_element_ids: GraphElementIds | None = None
    memify_metadata: dict[str, JsonValue] | None = None

    @model_serializer(mode="wrap")
    def _named_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {name: dumped[name] for name in dumped if name in self.model_fields_set}

    def applied_to(self, entry: SessionQAEntry) -> SessionQAEntry:
        """The entry with these fields set, as they were recorded."""
        named = {name: getattr(self, name) for name in self.model_fields_set}
        return entry.model_copy(update=named)
