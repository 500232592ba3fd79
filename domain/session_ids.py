"""Which spelling of a session id names a session: the rule, without I/O.

"Café" typed on one keyboard is four code points (é composed, Unicode NFC) and on
another five (e + a combining accent, NFD); people see one name. A new session is
stored under the NFC spelling of its id, so both reach it. Sessions stored before
that rule keep their spelling: an id is looked up as given first (a stream under
exactly that spelling is the session, as it always was), then as NFC, then as NFD
(where a session created under the old rule from NFD input lives). An id that
reads the same in NFC and NFD, every ASCII id among them, has one spelling and
needs no look-up at all.

A LangGraph thread's session id is the exception (thread_ids.py): LangGraph
compares thread ids exactly, so the id names one stream, its own spelling, or
else (for a thread stored before its id was escaped) the spelling its thread had
then; ASCII thread ids need no look-up either.

User ids are not normalised: they are compared exactly as given, as keys and
erasures name them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from .thread_ids import thread_spellings


def nfc(session_id: str) -> str:
    """The spelling a new session is stored under."""
    return unicodedata.normalize("NFC", session_id)


def spellings(session_id: str) -> tuple[str, ...]:
    """The spellings to look for, in order: as given, NFC, NFD (without repeats)."""
    if session_id.isascii():
        return (session_id,)
    candidates = (session_id, nfc(session_id), unicodedata.normalize("NFD", session_id))
    return tuple(dict.fromkeys(candidates))


def stored_spelling(session_id: str, holds: Callable[[str], bool]) -> str:
    """The spelling whose stream holds the session `session_id` names: the first of
    `spellings` that `holds` (a look-up per spelling tried, none when there is one
    spelling); the NFC spelling of the first, where a new session goes, when
    none does. A thread's session id has its own candidates (thread_ids.py)."""
    candidates = thread_spellings(session_id) or spellings(session_id)
    if len(candidates) == 1:
        return candidates[0]
    return next((each for each in candidates if holds(each)), nfc(candidates[0]))
