"""Search under a master key: the keyed token SQL of text and metadata filters.

The search read model then holds, per document, the tokens of its words under
its owner's token key (`search_tokens`), and metadata keys and values as tokens.
A query word is normalised as the documents' words were (`search_tokens.words`)
and turned into a token with each owner's key the query may see: the asking
user's, or with no user given, every owner's (one HMAC per word per owner). An
erased owner has no key, so no token of theirs can be made: nothing matches.
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue

from ...domain.errors import InvalidInput
from ...domain.search import canonical
from ...infrastructure import search_tokens
from ...infrastructure.sql import Cursor
from ..search import SearchProjection, token_owner

NOTHING = "SELECT stream FROM {table} WHERE 1 = 0"
"""A set of streams that is empty (no owner can make the query's tokens)."""


def check_keyed(cur: Cursor, search: SearchProjection) -> None:
    """InvalidInput when the live search generation was built without a master
    key: it has words, not tokens, and must be rebuilt to be searched under one."""
    row = cur.execute(f"SELECT keyed FROM {search.table('search_config')}").fetchone()
    if row is None or not row[0]:
        raise InvalidInput(
            "text/metadata: the search read model was built without a master key; "
            "rebuild it to search under one (sessiontrail projections rebuild search)"
        )


def owners(cur: Cursor, search: SearchProjection, user_id: str | None) -> list[str]:
    """The owners whose tokens a query of `user_id` (None: anyone's) may match."""
    if user_id is not None:
        return [token_owner(user_id)]
    rows = cur.execute(
        f"SELECT DISTINCT user_id FROM {search.table('search_sessions')}"
    ).fetchall()
    return sorted({token_owner(row[0]) for row in rows})


def word_tokens(cur: Cursor, text: str, who: list[str]) -> list[list[str]]:
    """Per distinct normalised word of `text`, its tokens under each owner's key
    (an erased owner adds none)."""
    found = [list[str]() for _ in search_tokens.words(text)]
    for owner in who:
        for number, token in enumerate(cur.sealer.tokens(owner, text)):
            found[number].append(token)
    return found


def text_matches(
    cur: Cursor, search: SearchProjection, text: str, user_id: str | None
) -> tuple[str, list[Any]]:
    """SQL of (doc, stream) of the documents holding a token of every word; its
    one WHERE may be extended with `AND` conditions on `t`."""
    tokens = search.table("search_tokens")
    per_word = word_tokens(cur, text, owners(cur, search, user_id))
    if not per_word or not all(per_word):
        return f"SELECT t.doc, t.stream FROM {tokens} t WHERE 1 = 0", []
    first, *others = per_word
    sql = f"SELECT t.doc, t.stream FROM {tokens} t WHERE t.token IN ({_marks(first)})"
    params: list[Any] = [*first]
    for each in others:
        sql += (
            f" AND EXISTS (SELECT 1 FROM {tokens} o WHERE o.doc = t.doc "
            f"AND o.token IN ({_marks(each)}))"
        )
        params += each
    return sql, params


def metadata_matches(
    cur: Cursor,
    search: SearchProjection,
    key: str,
    value: JsonValue,
    user_id: str | None,
) -> tuple[str, list[Any]]:
    """SQL of the streams whose metadata `key` equals `value`, by tokens."""
    table = search.table("search_metadata")
    keys, values = [], []
    for owner in owners(cur, search, user_id):
        key_token = cur.sealer.value_token(owner, key)
        value_token = cur.sealer.value_token(owner, canonical(value))
        if key_token is not None and value_token is not None:
            keys.append(key_token)
            values.append(value_token)
    if not keys:
        return NOTHING.format(table=table), []
    return (
        f"SELECT stream FROM {table} "
        f"WHERE key IN ({_marks(keys)}) AND value IN ({_marks(values)})",
        [*keys, *values],
    )


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))
