"""What a session search or a filtered list asks for, and what a search finds.

The words of a search are its runs of letters and digits (`words`): text with
none is refused, naming `text`, rather than matching everything or nothing.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, JsonValue, Strict

from .errors import InvalidInput
from .values import SessionSummary, Value

MAX_SEARCH_CHARS = 1000
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words `text` searches for; InvalidInput naming `text` when it has none."""
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidInput(f"text: at most {MAX_SEARCH_CHARS} characters")
    found = _WORD.findall(text)
    if not found:
        raise InvalidInput(f"text: {text!r} holds no word to search for")
    return found


def canonical(value: JsonValue) -> str:
    """A metadata value as the search read model stores it, so equal values
    compare equal as text (keys sorted, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _checked(text: str) -> str:
    words(text)
    return text


SearchText = Annotated[str, Strict(), AfterValidator(_checked)]
"""Search text as an argument: it must hold a word (InvalidInput names it)."""


def parse_meta(items: list[str]) -> dict[str, JsonValue] | None:
    """`KEY=VALUE` texts (the CLI's --meta, the HTTP `meta` parameter) as a
    metadata filter: VALUE is read as JSON when it is a JSON scalar (`3`, `true`,
    `"3"`), else as text; None when there are none."""
    if not items:
        return None
    wanted: dict[str, JsonValue] = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise InvalidInput(f"meta: {item!r} is not KEY=VALUE")
        wanted[key] = _scalar(text)
    return wanted


def _scalar(text: str) -> JsonValue:
    try:
        value: JsonValue = json.loads(text)
    except ValueError:
        return text
    return value if not isinstance(value, dict | list) else text


class SessionFilter(Value):
    """Which sessions a list keeps: every given condition holds.

    `text`: every word appears in the title or in one message; `metadata`:
    top-level keys equal to these values; `since`/`until`: last updated in
    [since, until).
    """

    text: str | None = None
    model: str | None = None
    pinned: bool | None = None
    metadata: dict[str, JsonValue] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None

    @property
    def searches(self) -> bool:
        """Whether the filter reads the search read model (text or metadata)."""
        return self.text is not None or bool(self.metadata)


NO_FILTER = SessionFilter()
"""A list that keeps every session."""


class SearchHit(Value):
    """One session a search found: its summary, the ids of its matching messages
    (oldest first; the title matching adds none) and a snippet of the best match
    with the matched words between `**`."""

    session: SessionSummary
    message_ids: list[str]
    title_matched: bool
    snippet: str


def session_filter(
    text: str | None,
    model: str | None,
    pinned: bool | None,
    metadata: dict[str, JsonValue] | None,
    since: AwareDatetime | None,
    until: AwareDatetime | None,
) -> SessionFilter:
    """The filter of a list call's arguments; InvalidInput naming a bad one."""
    if since is not None and until is not None and since >= until:
        raise InvalidInput("since/until: since must be before until")
    return SessionFilter(
        text=text,
        model=model,
        pinned=pinned,
        metadata=metadata,
        since=since,
        until=until,
    )
