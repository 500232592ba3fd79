"""The session id of a LangGraph thread's namespace, and back.

LangGraph's savers compare thread ids (and checkpoint namespaces) exactly: "café"
with a composed é (Unicode NFC) and with an e plus a combining accent (NFD) are
two threads. Every other session id is one name in either form (session_ids.py),
so a thread's session id must never be two spellings of one name.

The rule. Let `esc(s)` write each "%" as "%25" and each "/" as "%2F", and
`full(s)` also each non-ASCII character as the %XX escapes of its UTF-8 bytes
(hex in capitals). The session of thread `t`, namespace `ns`, is

- plain: `langgraph/` + esc(t), then `/` + ns if ns is not "", when that id is
  in NFC (every ASCII id): the id such a thread had before this rule;
- escaped otherwise: `langgraph/` + full(t), then `%/` + full(ns) if ns is not
  "". The id is ASCII, hence NFC: the store keeps it exactly as written.

Injective, because `thread_of` recovers (t, ns) from every id the rule makes.
Call h the text between the prefix and the first "/" after it (all of it if
none). esc(t) and full(t) hold no "/" and never end in a bare "%" (each "%"
they write starts an escape), so h is esc(t) or full(t), except in an escaped
id with a namespace, where h is full(t) + "%": a bare "%" ending h says
"escaped, a namespace follows", which no plain id has. Percent-decoding h (as
UTF-8), less that "%", gives t in both forms: it undoes "%25", "%2F" and, in
full(t), the escaped bytes, which are whole characters; every other character
of h is t's own. After the "/", a plain id holds ns as it is, an escaped one
full(ns), decoded likewise. `thread_of` then makes the id again from what it
decoded and compares, so an id the rule does not make names no thread.

Before this rule a thread's session was its plain id whatever its form, kept
under exactly that spelling until session ids were stored in NFC (then under
the NFC form of it). A plain id that is not NFC is the thread's `legacy` id: a
stream under exactly that spelling is where the thread was stored then, read
and written while the thread has no session under its escaped id
(session_ids.py), so it goes on where it was. Plain ids that are not NFC and
ids of this rule (all NFC) never meet, so a legacy id too names one thread.
Where the store sent a thread's writes to another spelling of its id, the
thread of that spelling shares them, and nothing tells whose each one is: see
docs/langgraph.md.
"""

from __future__ import annotations

import unicodedata
import uuid
from urllib.parse import unquote

THREAD_PREFIX = "langgraph/"
"""Session ids of LangGraph threads start with this."""
_ESCAPED_NAMESPACE = "%/"
"""Between an escaped thread id and its escaped namespace."""


def thread_session_id(thread_id: str, checkpoint_ns: str = "") -> str:
    """The session of one namespace of a thread (the graph's own: ""); in NFC,
    so the store keeps it as it is."""
    return _ids(thread_id, checkpoint_ns)[0]


def legacy_session_id(thread_id: str, checkpoint_ns: str = "") -> str | None:
    """The id the thread's session had before this rule, where it differs (not
    NFC); None for every other thread."""
    return _ids(thread_id, checkpoint_ns)[1]


def thread_of(session_id: str) -> tuple[str, str] | None:
    """(thread id, namespace) whose session id, or legacy id, `session_id` is;
    None for other sessions."""
    found = _decoded(session_id)
    return None if found is None else found[0]


def thread_spellings(session_id: str) -> tuple[str, ...] | None:
    """Where the session of the thread `session_id` names may be stored, in the
    order to look: its id, then its legacy id if it has one. None if it names
    no thread."""
    found = _decoded(session_id)
    if found is None:
        return None
    current, legacy = found[1]
    return (current,) if legacy is None else (current, legacy)


def fork_id(session_id: str) -> str:
    """A fresh id for a fork of `session_id`: for a thread's session, the session
    of a new thread in the same namespace, so the fork is a thread too."""
    fresh = uuid.uuid4().hex
    thread = thread_of(session_id)
    return fresh if thread is None else thread_session_id(fresh, thread[1])


def _decoded(
    session_id: str,
) -> tuple[tuple[str, str], tuple[str, str | None]] | None:
    """(thread id, namespace) that `session_id` names, with its ids (`_ids`);
    None if it is neither of them."""
    if not session_id.startswith(THREAD_PREFIX):
        return None
    head, _, tail = session_id.removeprefix(THREAD_PREFIX).partition("/")
    escaped = head.endswith("%")
    try:
        thread_id = unquote(head.removesuffix("%"), errors="strict")
        checkpoint_ns = unquote(tail, errors="strict") if escaped else tail
    except UnicodeDecodeError:
        return None
    ids = _ids(thread_id, checkpoint_ns)
    if not thread_id or session_id not in ids:
        return None
    return (thread_id, checkpoint_ns), ids


def _ids(thread_id: str, checkpoint_ns: str) -> tuple[str, str | None]:
    """The thread's session id, and its legacy id (None: the same)."""
    plain = _plain(thread_id, checkpoint_ns)
    if plain.isascii() or unicodedata.is_normalized("NFC", plain):
        return plain, None
    suffix = _ESCAPED_NAMESPACE + _full(checkpoint_ns) if checkpoint_ns else ""
    return f"{THREAD_PREFIX}{_full(thread_id)}{suffix}", plain


def _plain(thread_id: str, checkpoint_ns: str) -> str:
    escaped = thread_id.replace("%", "%25").replace("/", "%2F")
    suffix = f"/{checkpoint_ns}" if checkpoint_ns else ""
    return f"{THREAD_PREFIX}{escaped}{suffix}"


def _full(text: str) -> str:
    """`text` with "%", "/" and every non-ASCII character as UTF-8 %XX escapes
    (other ASCII stays, control characters too: the id check refuses them)."""
    return "".join(
        char
        if char.isascii() and char not in "%/"
        else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in text
    )
